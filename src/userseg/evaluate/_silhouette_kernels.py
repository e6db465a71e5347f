"""Numba kernels behind :func:`userseg.evaluate.silhouette`.

Private: inputs are assumed valid (C-contiguous, finite, codes in ``0..k-1``
or negative for noise); :mod:`userseg.evaluate.silhouette` checks them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Distances to one block of references are kept in a small scratch buffer so
# the inner loops stay in L1 and vectorise; 2048 float64 = 16 KiB.
_BLOCK = 2048


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def segment_distance_sums(Q, YT, seg, out):  # pragma: no cover - compiled
    """``out[i, s] += sum_{j in segment s} ||Q[i] - YT[:, j]||``.

    ``YT`` is the (d, R) transpose of the references, sorted so that segment
    ``s`` is the column range ``seg[s]:seg[s + 1]``. Differences are taken
    directly (no ``|x|² + |y|² - 2x·y`` trick), so a point's distance to itself
    is exactly zero and close pairs keep their precision. Never builds a
    distance matrix: one scratch row of ``_BLOCK`` values per thread.
    """
    m, d = Q.shape
    R = YT.shape[1]
    S = seg.size - 1
    for i in prange(m):
        tmp = np.empty(_BLOCK, dtype=YT.dtype)
        s = 0
        for b0 in range(0, R, _BLOCK):
            b1 = min(R, b0 + _BLOCK)
            L = b1 - b0
            # Slice views (not offset indexing) let LLVM vectorise: ~3x faster.
            t0 = tmp[:L]
            t0[:] = 0.0
            for f in range(d):
                q = Q[i, f]
                y = YT[f, b0:b1]
                for j in range(L):
                    t = q - y[j]
                    t0[j] += t * t
            while s < S and seg[s + 1] <= b0:
                s += 1
            ss = s
            while ss < S and seg[ss] < b1:
                lo = max(seg[ss], b0) - b0
                hi = min(seg[ss + 1], b1) - b0
                acc = 0.0
                for j in range(lo, hi):
                    acc += np.sqrt(t0[j])
                out[i, ss] += acc
                ss += 1


@njit(cache=True, nogil=True)
def count_labels(labels, n_values):  # pragma: no cover - compiled
    """Counts of the label values ``0..n_values-1``; negative labels (noise) are skipped."""
    count = np.zeros(n_values, dtype=np.int64)
    for p in range(labels.size):
        v = labels[p]
        if v >= 0:
            count[v] += 1
    return count


@njit(cache=True, nogil=True)
def pick_ranks(labels, lut, ranks, ptr, out):  # pragma: no cover - compiled
    """One pass over the labels: ``out[q] = position of the ranks[q]-th member of its cluster``.

    ``lut`` maps a label value to its cluster code (-1: not sampled).
    ``ranks[ptr[c]:ptr[c + 1]]`` are sorted member ranks wanted from cluster
    ``c``; a rank ``r`` is the r-th point (in data order) of cluster ``c``.
    Noise (negative labels) is skipped. Cost: one sequential read of the labels,
    so a stratified sample of 10M labels takes tens of milliseconds with no sort.
    """
    k = ptr.size - 1
    count = np.zeros(k, dtype=np.int64)
    nxt = ptr[:-1].copy()
    for p in range(labels.size):
        v = labels[p]
        if v < 0:
            continue
        c = lut[v]
        if c < 0:
            continue
        r = count[c]
        count[c] = r + 1
        q = nxt[c]
        if q < ptr[c + 1] and ranks[q] == r:
            out[q] = p
            nxt[c] = q + 1


@njit(cache=True, nogil=True)
def sil_value(a, b, singleton):  # pragma: no cover - compiled
    """Silhouette of one point from its a and b (0 for singletons and a == b == 0, as sklearn)."""
    if singleton:
        return 0.0
    den = max(a, b)
    if den <= 0.0:
        return 0.0
    return (b - a) / den


@njit(cache=True, nogil=True)
def point_silhouettes(
    T, counts, own, self_in_ref, singleton, s_out, a_out, b1, arg1, b2
):  # pragma: no cover - compiled
    """Per-point silhouettes from per-cluster distance sums ``T`` (m, k).

    ``counts[c]`` references of cluster c; a query that is itself among the
    references of its own cluster (``self_in_ref``) is not counted in its own
    mean. Also returns the smallest and second-smallest other-cluster mean
    distance (and the argmin), which the reference jackknife reuses.
    """
    m, k = T.shape
    for i in range(m):
        o = own[i]
        a = T[i, o] / max(counts[o] - self_in_ref[i], 1)
        m1 = np.inf
        m2 = np.inf
        am = -1
        for c in range(k):
            if c == o or counts[c] == 0:
                continue
            v = T[i, c] / counts[c]
            if v < m1:
                m2 = m1
                m1 = v
                am = c
            elif v < m2:
                m2 = v
        a_out[i] = a
        b1[i] = m1
        arg1[i] = am
        b2[i] = m2
        s_out[i] = sil_value(a, m1, singleton[o])


@njit(parallel=True, cache=True, nogil=True)
def reference_jackknife(
    out, seg_cluster, seg_count, T, counts, own, weight, s, a, b1, arg1, b2, singleton, delta
):  # pragma: no cover - compiled
    """Change of the estimate when one reference group is left out.

    For every segment ``g`` that is a jackknife group of a sampled reference
    set (``seg_cluster[g] >= 0``), ``delta[g] = sum_i weight[i] * (s_i' - s_i)``
    where ``s_i'`` is query i's silhouette without that group's references.
    Only the left-out group's cluster mean changes, so ``b_i'`` follows from the
    precomputed smallest and second-smallest other-cluster means: O(m) per group.
    """
    m = out.shape[0]
    G = seg_cluster.size
    for g in prange(G):
        h = seg_cluster[g]
        if h < 0:
            delta[g] = 0.0
            continue
        cnt = counts[h] - seg_count[g]
        acc = 0.0
        for i in range(m):
            dn = (T[i, h] - out[i, g]) / cnt
            if own[i] == h:
                sp = sil_value(dn, b1[i], singleton[h])
            else:
                bex = b2[i] if arg1[i] == h else b1[i]
                sp = sil_value(a[i], min(bex, dn), singleton[own[i]])
            acc += weight[i] * (sp - s[i])
        delta[g] = acc
