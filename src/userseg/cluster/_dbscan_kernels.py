"""Numba kernels behind :class:`userseg.cluster.DBSCAN`.

Private: the points arrive permuted into spatial blocks (the leaves of a k-d
tree), so block ``b`` is the row range ``starts[b]:ends[b]`` of ``Xp`` (n, d)
and of its transpose ``XT`` (d, n). Only pairs of blocks whose bounding boxes
come within ``eps`` are ever compared, one block pair at a time, so memory
stays O(n) whatever the neighbourhood sizes. Inputs are assumed valid.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def block_boxes(Xp, starts, ends):  # pragma: no cover - compiled
    """Tight bounding box (lo, hi) of every block."""
    L = starts.size
    d = Xp.shape[1]
    lo = np.empty((L, d))
    hi = np.empty((L, d))
    for b in range(L):
        for f in range(d):
            lo[b, f] = np.inf
            hi[b, f] = -np.inf
        for i in range(starts[b], ends[b]):
            for f in range(d):
                v = Xp[i, f]
                lo[b, f] = min(lo[b, f], v)
                hi[b, f] = max(hi[b, f], v)
    return lo, hi


@njit(cache=True, nogil=True)
def _box_gap2(lo, hi, a, b):  # pragma: no cover - compiled
    g = 0.0
    for f in range(lo.shape[1]):
        t = max(lo[b, f] - hi[a, f], lo[a, f] - hi[b, f], 0.0)
        g += t * t
    return g


@njit(cache=True, nogil=True)
def _point_box(Xp, i, lo, hi, b):  # pragma: no cover - compiled
    """Squared distance from point i to the nearest and to the farthest point of box b."""
    near = 0.0
    far = 0.0
    for f in range(Xp.shape[1]):
        x = Xp[i, f]
        t = max(lo[b, f] - x, x - hi[b, f], 0.0)
        near += t * t
        u = max(abs(x - lo[b, f]), abs(hi[b, f] - x))
        far += u * u
    return near, far


@njit(cache=True, nogil=True)
def node_boxes(lo, hi, left, right, leaf_of):  # pragma: no cover - compiled
    """Boxes of the tree's nodes from its leaves' boxes (children follow parents)."""
    N = left.size
    d = lo.shape[1]
    nlo = np.empty((N, d))
    nhi = np.empty((N, d))
    for u in range(N - 1, -1, -1):
        if left[u] < 0:
            nlo[u] = lo[leaf_of[u]]
            nhi[u] = hi[leaf_of[u]]
        else:
            for f in range(d):
                nlo[u, f] = min(nlo[left[u], f], nlo[right[u], f])
                nhi[u, f] = max(nhi[left[u], f], nhi[right[u], f])
    return nlo, nhi


@njit(cache=True, nogil=True)
def block_pairs(nlo, nhi, left, right, size, leaf_of, eps2):  # pragma: no cover - compiled
    """Leaf pairs (a <= b) whose boxes are within eps, by a dual-tree walk from the root.

    A pair of nodes farther apart than eps is dropped with all its descendants,
    so the cost follows the number of close pairs, not the square of the leaves.
    """
    cap = 1024
    pa = np.empty(cap, dtype=np.int64)
    pb = np.empty(cap, dtype=np.int64)
    k = 0
    su = np.empty(256, dtype=np.int64)
    sv = np.empty(256, dtype=np.int64)
    top = 0
    su[0] = 0
    sv[0] = 0
    top = 1
    while top > 0:
        top -= 1
        u = su[top]
        v = sv[top]
        if u != v and _box_gap2(nlo, nhi, u, v) > eps2:
            continue
        if top + 3 >= su.size:
            su = np.concatenate((su, np.empty(su.size, dtype=np.int64)))
            sv = np.concatenate((sv, np.empty(sv.size, dtype=np.int64)))
        lu = left[u] < 0
        lv = left[v] < 0
        if lu and lv:
            if k == cap:
                cap *= 2
                pa = np.concatenate((pa, np.empty(cap - k, dtype=np.int64)))
                pb = np.concatenate((pb, np.empty(cap - k, dtype=np.int64)))
            a = leaf_of[u]
            b = leaf_of[v]
            pa[k] = min(a, b)
            pb[k] = max(a, b)
            k += 1
        elif u == v:
            su[top] = left[u]
            sv[top] = left[u]
            su[top + 1] = left[u]
            sv[top + 1] = right[u]
            su[top + 2] = right[u]
            sv[top + 2] = right[u]
            top += 3
        elif lu or (not lv and size[v] > size[u]):
            su[top] = u
            sv[top] = left[v]
            su[top + 1] = u
            sv[top + 1] = right[v]
            top += 2
        else:
            su[top] = left[u]
            sv[top] = v
            su[top + 1] = right[u]
            sv[top + 1] = v
            top += 2
    return pa[:k], pb[:k]


@njit(cache=True, nogil=True)
def adjacency(pa, pb, Xp, starts, ends, L):  # pragma: no cover - compiled
    """Both directions of the block pairs as CSR, each list sorted by centroid distance.

    Visiting the nearest blocks first lets a point reach ``min_samples``
    neighbours, and stop, after a few blocks. (Box gaps cannot order them: in
    16 dimensions most candidate boxes touch.)
    """
    d = Xp.shape[1]
    cen = np.zeros((L, d))
    for b in range(L):
        for i in range(starts[b], ends[b]):
            for f in range(d):
                cen[b, f] += Xp[i, f]
        for f in range(d):
            cen[b, f] /= max(ends[b] - starts[b], 1)
    deg = np.zeros(L, dtype=np.int64)
    for p in range(pa.size):
        deg[pa[p]] += 1
        if pa[p] != pb[p]:
            deg[pb[p]] += 1
    ptr = np.zeros(L + 1, dtype=np.int64)
    for b in range(L):
        ptr[b + 1] = ptr[b] + deg[b]
    adj = np.empty(ptr[L], dtype=np.int64)
    key = np.empty(ptr[L])
    fill = ptr[:-1].copy()
    for p in range(pa.size):
        a = pa[p]
        b = pb[p]
        g = 0.0
        if a != b:
            for f in range(d):
                u = cen[a, f] - cen[b, f]
                g += u * u
        else:
            g = -1.0
        adj[fill[a]] = b
        key[fill[a]] = g
        fill[a] += 1
        if a != b:
            adj[fill[b]] = a
            key[fill[b]] = g
            fill[b] += 1
    for b in range(L):
        s = ptr[b]
        e = ptr[b + 1]
        order = np.argsort(key[s:e])
        adj[s:e] = adj[s:e][order]
    return ptr, adj


@njit(fastmath=True, cache=True, nogil=True, inline="always")
def _row(Xp, XT, i, sb, nb, t):  # pragma: no cover - compiled
    """t[:nb] = squared distances from point i to the points sb:sb+nb (vectorised)."""
    t[:nb] = 0.0
    for f in range(Xp.shape[1]):
        q = Xp[i, f]
        y = XT[f, sb : sb + nb]
        tt = t[:nb]
        for j in range(nb):
            u = q - y[j]
            tt[j] += u * u


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def core_points(
    Xp, XT, starts, ends, lo, hi, ptr, adj, eps2, w, min_samples, nbr, max_block
):  # pragma: no cover
    """Which points have total sample weight >= min_samples within eps (itself included).

    Parallel over blocks; a block writes only its own points. Each point scans
    the blocks in order of distance and stops as soon as it is known to be
    core, so inside a dense cluster a point costs a few blocks, not all of
    them; only sparse points scan every candidate block. With negative
    weights (allowed, as in scikit-learn) a point never stops early.

    The first ``K = nbr.shape[1]`` neighbours each point meets (itself
    excluded) are written to ``nbr`` (-1 pads); ``found`` counts them all. A
    non-core point scanned every block, so when ``found <= K`` its list is
    complete: its border label needs no second scan. The lists also seed the
    union-find with short edges.
    """
    n = Xp.shape[0]
    L = starts.size
    K = nbr.shape[1]
    early = True
    for i in range(n):
        if w[i] < 0:
            early = False
            break
    core = np.zeros(n, dtype=np.bool_)
    found = np.zeros(n, dtype=np.int64)
    for a in prange(L):
        sa = starts[a]
        na = ends[a] - sa
        tmp = np.empty(max_block, dtype=XT.dtype)
        acc = np.zeros(na)
        active = np.ones(na, dtype=np.bool_)
        left = na
        for k in range(ptr[a], ptr[a + 1]):
            if left == 0:
                break
            b = adj[k]
            sb = starts[b]
            nb = ends[b] - sb
            wb = w[sb : sb + nb]
            for li in range(na):
                if not active[li]:
                    continue
                i = sa + li
                near, far = _point_box(Xp, i, lo, hi, b)
                if near > eps2:
                    continue
                s = 0.0
                if far <= eps2:
                    for j in range(nb):
                        s += wb[j]
                        if sb + j != i:
                            if found[i] < K:
                                nbr[i, found[i]] = sb + j
                            found[i] += 1
                else:
                    _row(Xp, XT, i, sb, nb, tmp)
                    for j in range(nb):
                        if tmp[j] <= eps2:
                            s += wb[j]
                            if sb + j != i:
                                if found[i] < K:
                                    nbr[i, found[i]] = sb + j
                                found[i] += 1
                acc[li] += s
                if early and acc[li] >= min_samples:
                    active[li] = False
                    left -= 1
        for li in range(na):
            core[sa + li] = acc[li] >= min_samples
    return core, found


@njit(cache=True, nogil=True)
def _find(parent, i):  # pragma: no cover - compiled
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving
        i = parent[i]
    return i


@njit(cache=True, nogil=True)
def _union(parent, i, j):  # pragma: no cover - compiled
    ri = _find(parent, i)
    rj = _find(parent, j)
    if ri == rj:
        return False
    if ri < rj:  # the smaller index becomes the root: deterministic
        parent[rj] = ri
    else:
        parent[ri] = rj
    return True


@njit(cache=True, nogil=True)
def _block_root(parent, core, starts, ends, joined, b):  # pragma: no cover - compiled
    """Root shared by all core points of block b, or -1 (several roots).

    Components only ever merge, so once a block is joined it stays joined:
    ``joined[b]`` remembers one of its cores and later checks cost one find.
    """
    if joined[b] >= 0:
        return _find(parent, joined[b])
    r = -1
    first = -1
    for i in range(starts[b], ends[b]):
        if core[i]:
            ri = _find(parent, i)
            if r == -1:
                r = ri
                first = i
            elif ri != r:
                return -1
    joined[b] = first
    return r


@njit(fastmath=True, cache=True, nogil=True)
def union_cores(
    Xp, XT, starts, ends, lo, hi, ptr, adj, eps2, core, nbr, max_block
):  # pragma: no cover
    """Union-find over core-core pairs within eps; returns each point's root.

    Sequential (union-find does not parallelise without atomics), so it does
    as little distance work as it can while staying exact: a block pair whose
    cores already form one component is skipped outright, and within a pair
    a core is compared only with the other block's cores that are not yet in
    its component. The neighbours met while finding the core points are
    joined first (no distances), so most components have formed before the
    exact sweep starts and nearly all of its work is skipped.
    """
    n, d = Xp.shape
    parent = np.arange(n)
    for i in range(n):
        if core[i]:
            for k in range(nbr.shape[1]):
                j = nbr[i, k]
                if j < 0:
                    break
                if core[j]:
                    _union(parent, i, j)
    L = starts.size
    joined = np.full(L, -1)
    ncore = np.zeros(L, dtype=np.int64)
    for b in range(L):
        for i in range(starts[b], ends[b]):
            ncore[b] += core[i]
    tmp = np.empty(max_block, dtype=XT.dtype)
    rb = np.empty(max_block, dtype=np.int64)
    cand = np.empty(max_block, dtype=np.int64)
    for sweep in range(2):  # sweep 0: pairs inside a block; sweep 1: between blocks
        for a in range(L):
            if ncore[a] == 0:
                continue
            for k in range(ptr[a], ptr[a + 1]):
                b = adj[k]
                if b < a or (a == b) != (sweep == 0) or ncore[b] == 0:
                    continue
                if sweep == 1:
                    ra = _block_root(parent, core, starts, ends, joined, a)
                    if ra >= 0 and ra == _block_root(parent, core, starts, ends, joined, b):
                        continue
                sb = starts[b]
                nb = ends[b] - sb
                stale = True
                for i in range(starts[a], ends[a]):
                    if not core[i] or _point_box(Xp, i, lo, hi, b)[0] > eps2:
                        continue
                    if stale:
                        for j in range(nb):
                            rb[j] = _find(parent, sb + j) if core[sb + j] else -1
                        stale = False
                    ri = _find(parent, i)
                    m = 0
                    for j in range(nb):
                        if rb[j] >= 0 and rb[j] != ri:
                            cand[m] = j
                            m += 1
                    if m == 0:
                        continue
                    if 4 * m >= nb:
                        _row(Xp, XT, i, sb, nb, tmp)
                        for c in range(m):
                            j = cand[c]
                            if tmp[j] <= eps2:
                                stale |= _union(parent, i, sb + j)
                    else:
                        for c in range(m):
                            j = cand[c]
                            s = 0.0
                            for f in range(d):
                                u = Xp[i, f] - Xp[sb + j, f]
                                s += u * u
                            if s <= eps2:
                                stale |= _union(parent, i, sb + j)
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def border_labels(
    Xp, XT, starts, ends, lo, hi, ptr, adj, eps2, core, label, nbr, found, max_block
):  # pragma: no cover
    """Label of every non-core point: the smallest cluster label among its core
    neighbours within eps, else -1.

    That is exactly scikit-learn's result: it grows clusters one at a time in
    the order of their first core point, and a border point keeps the first
    cluster that reaches it. A point whose neighbour list is complete
    (``found <= K``) is labelled from it; the others scan their blocks again,
    skipping those whose smallest core label cannot improve on the best so
    far. Parallel over blocks; a block writes only its own points.
    """
    L = starts.size
    K = nbr.shape[1]
    big = np.iinfo(np.int64).max
    minlab = np.full(L, big)
    for b in range(L):
        for i in range(starts[b], ends[b]):
            if core[i] and label[i] < minlab[b]:
                minlab[b] = label[i]
    out = label.copy()
    for a in prange(L):
        sa = starts[a]
        tmp = np.empty(max_block, dtype=XT.dtype)
        for i in range(sa, ends[a]):
            if core[i]:
                continue
            best = big
            if found[i] <= K:
                for k in range(found[i]):
                    j = nbr[i, k]
                    if core[j] and label[j] < best:
                        best = label[j]
            else:
                for k in range(ptr[a], ptr[a + 1]):
                    b = adj[k]
                    if minlab[b] >= best or _point_box(Xp, i, lo, hi, b)[0] > eps2:
                        continue
                    sb = starts[b]
                    nb = ends[b] - sb
                    _row(Xp, XT, i, sb, nb, tmp)
                    for j in range(nb):
                        if tmp[j] <= eps2 and core[sb + j] and label[sb + j] < best:
                            best = label[sb + j]
            out[i] = best if best != big else -1
    return out


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def kth_distance(qidx, Xp, XT, starts, ends, lo, hi, block_of, k):  # pragma: no cover - compiled
    """Squared distance from each query point ``Xp[qidx]`` to its k-th nearest point.

    The query's own block gives a first k-th distance; every other block is
    skipped when its box is already farther than the current k-th distance,
    so only the query's region is scanned. Used on a sample of a few thousand
    points for ``eps="auto"``.
    """
    m = qidx.size
    L = starts.size
    mb = 0
    for b in range(L):
        mb = max(mb, ends[b] - starts[b])
    out = np.empty(m)
    for qq in prange(m):
        i = qidx[qq]
        own = block_of[i]
        best = np.full(k, np.inf)
        tmp = np.empty(mb, dtype=XT.dtype)
        for r in range(-1, L):
            b = own if r < 0 else r
            if r == own:
                continue
            if r >= 0 and _point_box(Xp, i, lo, hi, b)[0] > best[k - 1]:
                continue
            sb = starts[b]
            nb = ends[b] - sb
            _row(Xp, XT, i, sb, nb, tmp)
            thr = best[k - 1]
            c = 0
            for j in range(nb):
                c += tmp[j] < thr
            if c == 0:
                continue
            for j in range(nb):
                v = tmp[j]
                if v < best[k - 1]:
                    p = k - 1
                    while p > 0 and best[p - 1] > v:
                        best[p] = best[p - 1]
                        p -= 1
                    best[p] = v
        out[qq] = best[k - 1]
    return out
