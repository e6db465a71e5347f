"""Numba kernels behind :class:`userseg.cluster.KPrototypes`.

Private: ``Xn`` (n, p) float64 numeric part, ``Xc`` (n, q) int64 categorical
codes (column j in ``0..m_j-1``, -1 for a category unseen in training);
``C`` (k, p) numeric centres, ``M`` (k, q) modes. Inputs are assumed valid.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def _assign(Xn, Xc, C, M, gamma, labels, cost):  # pragma: no cover - compiled
    """Nearest prototype of every point (squared Euclidean + gamma x mismatches).

    Writes ``labels`` and each point's ``cost``; returns how many labels changed.
    Ties go to the lower cluster index.
    """
    n = Xn.shape[0]
    p = Xn.shape[1]
    q = Xc.shape[1]
    k = C.shape[0]
    changed = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        best = np.inf
        bl = 0
        for c in range(k):
            s = 0.0
            for f in range(p):
                u = Xn[i, f] - C[c, f]
                s += u * u
            mis = 0
            for j in range(q):
                mis += Xc[i, j] != M[c, j]
            s += gamma * mis
            if s < best:
                best = s
                bl = c
        if labels[i] != bl:
            changed[i] = 1
            labels[i] = bl
        cost[i] = best
    return changed.sum()


@njit(cache=True, nogil=True)
def update(Xn, Xc, labels, k, offsets, n_cats, C, M):  # pragma: no cover - compiled
    """Means of the numeric part and modes of the categorical part, per cluster.

    One pass over the data; returns the cluster sizes. An empty cluster keeps
    its prototype (the caller reseeds it). Mode ties go to the category
    that sorts first, so the result does not depend on the data order.
    """
    n = Xn.shape[0]
    p = Xn.shape[1]
    q = Xc.shape[1]
    sums = np.zeros((k, p))
    counts = np.zeros(k, dtype=np.int64)
    cat = np.zeros((k, n_cats), dtype=np.int64)
    for i in range(n):
        c = labels[i]
        counts[c] += 1
        for f in range(p):
            sums[c, f] += Xn[i, f]
        for j in range(q):
            cat[c, offsets[j] + Xc[i, j]] += 1
    for c in range(k):
        if counts[c] == 0:
            continue
        for f in range(p):
            C[c, f] = sums[c, f] / counts[c]
        for j in range(q):
            best = -1
            bm = 0
            for m in range(offsets[j + 1] - offsets[j]):
                v = cat[c, offsets[j] + m]
                if v > best:
                    best = v
                    bm = m
            M[c, j] = bm
    return counts


def _min_cost_to(Xn, Xc, cn, cc, gamma, best):  # pragma: no cover - compiled
    """``best[i] = min(best[i], cost(x_i, centre))`` for one candidate centre (seeding)."""
    n = Xn.shape[0]
    for i in prange(n):
        s = 0.0
        for f in range(Xn.shape[1]):
            u = Xn[i, f] - cn[f]
            s += u * u
        mis = 0
        for j in range(Xc.shape[1]):
            mis += Xc[i, j] != cc[j]
        s += gamma * mis
        if s < best[i]:
            best[i] = s


# Each kernel in a serial and a two-thread build: waking the second thread
# costs milliseconds on a busy machine, more than a pass over a few thousand
# users, so small inputs run serially (see :func:`pick`).
assign_serial = njit(fastmath=True, cache=True, nogil=True)(_assign)
assign_parallel = njit(parallel=True, fastmath=True, cache=True, nogil=True)(_assign)
min_cost_to_serial = njit(fastmath=True, cache=True, nogil=True)(_min_cost_to)
min_cost_to_parallel = njit(parallel=True, fastmath=True, cache=True, nogil=True)(_min_cost_to)
PARALLEL_MIN_WORK = 20_000_000  # point x cluster x attribute operations per pass (measured)


def pick(work: int) -> tuple:
    """(assign, min_cost_to) kernels for a pass of ``work`` elementary operations."""
    if work >= PARALLEL_MIN_WORK:
        return assign_parallel, min_cost_to_parallel
    return assign_serial, min_cost_to_serial
