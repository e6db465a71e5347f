"""Numba kernels of the k-means core: fused assignment + update passes, never an n × k matrix.

Private module: every function assumes validated input (C-contiguous ``X`` of
float32 or float64, centres of the same dtype, ``labels`` int32, bounds float32)
and says nothing about bad input.

Layout of the work
------------------
Rows are cut into ``n_chunks`` contiguous chunks whose boundaries depend only on
``n`` (:func:`chunk_bounds`), and each chunk writes its own float64 partial sums.
The caller adds the partials in chunk order, so the result is bitwise the same
whatever the number of threads or their scheduling: the same ``random_state``
gives the same partition on a laptop and on a server.

The full pass (:func:`full_pass`) computes every point-to-centre distance. A
block of ``BLOCK`` rows is transposed into a small buffer first, so that the
innermost loop runs over points with unit stride and compiles to SIMD; looping
over centres inside a row would leave only ``d`` lanes and horizontal sums.
Distances are accumulated in the data's dtype as ``sum((x - c)**2)`` (no
``|x|² - 2x·c + |c|²`` cancellation, so no centring copy of the data is needed);
sums per cluster are accumulated in float64, as running totals that later
passes update with the rows that changed cluster only (``FLAG_DELTA``).

The bounded pass (:func:`bounded_pass`) is Hamerly's algorithm: one upper bound
on the distance to the assigned centre and one lower bound on the distance to
any other centre, both float32 (8 bytes a row, whatever the data dtype), stored
relative to the centres' cumulative movement so that a row whose bounds hold is
neither read nor written. The bound test runs branch-free over runs of rows;
the rows whose bounds fail are gathered into blocks and searched with the same
SIMD block code as the full pass. Bounds are rounded outwards (``_REL``) so
float32 storage never makes them unsafe.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "BLOCK",
    "bounded_pass",
    "chunk_bounds",
    "farthest_rows",
    "full_pass",
    "kmeans_plusplus",
    "pairwise_distances",
]

# Rows per transposed block: 256 rows x 16 float32 features = 16 KiB, which stays
# in L1 while every centre is compared against it.
BLOCK = 256
# Rows whose bounds are tested in one branch-free loop by the bounded pass.
_SCAN = 1024

# Relative margin applied when a float64 bound is stored as float32, so that a
# stored upper bound is never below, and a stored lower bound never above, the
# exact value (float32 rounding is 6e-8 relative).
_REL = 1e-6
_UP = 1.0 + _REL
_DOWN = 1.0 - _REL

# "contract" lets LLVM fuse a*b+c into FMA; "reassoc" lets it vectorise the
# per-row reduction over features. No "nnan"/"ninf": +inf is used as a sentinel.
_FASTMATH = {"contract", "reassoc"}

FLAG_UPDATE = 1  # accumulate per-cluster weights and coordinate sums
FLAG_BOUNDS = 2  # write Hamerly bounds (distance to best and second-best centre)
FLAG_STATS = 4  # accumulate per-cluster sum of w*d² and w*d
FLAG_DELTA = 8  # accumulate only the changes of the rows that moved (running totals)


def chunk_bounds(n: int, k: int, d: int) -> np.ndarray:
    """Row boundaries of the chunks (a function of the shape only, never of the threads).

    Many chunks balance the load when the other core is busy; the float64
    partials (``n_chunks * k * d * 8`` bytes) are capped at about 16 MB.
    """
    per_chunk_bytes = max(1, k * (d + 4)) * 8
    by_memory = max(1, (16 << 20) // per_chunk_bytes)
    by_rows = max(1, -(-n // (4 * BLOCK)))  # at least 4 blocks a chunk
    n_chunks = int(max(1, min(256, by_memory, by_rows)))
    return np.linspace(0, n, n_chunks + 1).astype(np.int64)


@njit(cache=True, fastmath=_FASTMATH)
def _transpose_rows(X, i0, m, XT):
    """Copy rows ``i0 .. i0+m`` of X into the columns of ``XT`` (d, BLOCK)."""
    d = X.shape[1]
    if m == BLOCK:
        # A literal trip count lets LLVM vectorise the copy.
        Xb = X[i0 : i0 + BLOCK]
        for f in range(d):
            row = XT[f]
            for p in range(BLOCK):
                row[p] = Xb[p, f]
    else:
        for f in range(d):
            row = XT[f]
            for p in range(m):
                row[p] = X[i0 + p, f]


@njit(cache=True, fastmath=_FASTMATH)
def _transpose_gather(X, idx, m, XT):
    """Copy rows ``idx[:m]`` of X into the columns of ``XT`` (d, BLOCK)."""
    d = X.shape[1]
    for p in range(m):
        xr = X[idx[p]]
        for f in range(d):
            XT[f, p] = xr[f]


@njit(cache=True, fastmath=_FASTMATH)
def _search_block(XT, C, acc, best, second, best_j, track_second):
    """Nearest (and second-nearest) centre of each column of ``XT``; squared distances.

    The loops over the ``BLOCK`` columns have unit stride and a literal trip
    count, which is what makes them SIMD; columns past the valid ones hold
    stale finite values and are ignored by the caller.
    """
    d = XT.shape[0]
    k = C.shape[0]
    for p in range(BLOCK):
        best[p] = np.inf
        second[p] = np.inf
        best_j[p] = 0
    for j in range(k):
        cf = C[j, 0]
        row = XT[0]
        for p in range(BLOCK):
            t = row[p] - cf
            acc[p] = t * t
        for f in range(1, d):
            cf = C[j, f]
            row = XT[f]
            for p in range(BLOCK):
                t = row[p] - cf
                acc[p] += t * t
        if track_second:
            for p in range(BLOCK):
                a = acc[p]
                b = best[p]
                closer = a < b
                second[p] = b if closer else min(second[p], a)
                best[p] = a if closer else b
                best_j[p] = j if closer else best_j[p]
        else:
            for p in range(BLOCK):
                a = acc[p]
                closer = a < best[p]
                best[p] = a if closer else best[p]
                best_j[p] = j if closer else best_j[p]


@njit(cache=True, fastmath=_FASTMATH)
def _sqdist(x, c):
    """Squared distance of two rows; four partial sums break the add latency chain."""
    d = x.shape[0]
    a0 = x[0] * 0
    a1 = a0
    a2 = a0
    a3 = a0
    f = 0
    while f + 4 <= d:
        t0 = x[f] - c[f]
        t1 = x[f + 1] - c[f + 1]
        t2 = x[f + 2] - c[f + 2]
        t3 = x[f + 3] - c[f + 3]
        a0 += t0 * t0
        a1 += t1 * t1
        a2 += t2 * t2
        a3 += t3 * t3
        f += 4
    while f < d:
        t0 = x[f] - c[f]
        a0 += t0 * t0
        f += 1
    return max(np.float64((a0 + a1) + (a2 + a3)), 0.0)


@njit(cache=True, fastmath=_FASTMATH)
def _add_row(dst, x, wi):
    for f in range(x.shape[0]):
        dst[f] += wi * x[f]


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def full_pass(X, w, C, bounds, labels, upper, lower, sums, counts, sq_sums, dist_sums, flags):
    """Assign every row to its nearest centre and accumulate what ``flags`` asks for.

    Parameters (all outputs are per chunk; the caller reduces over axis 0)
    ----------
    X : (n, d) float32/float64, C-contiguous
    w : (n,) same dtype, or (0,) for unit weights
    C : (k, d) same dtype
    bounds : (n_chunks + 1,) int64 from :func:`chunk_bounds`
    labels : (n,) int32, overwritten; the old values count the changed rows
    upper, lower : (n,) float32, written when ``FLAG_BOUNDS`` (else may be (0,))
    sums : (n_chunks, k, d) float64; counts : (n_chunks, k) float64  (``FLAG_UPDATE``)
    sq_sums, dist_sums : (n_chunks, k) float64                   (``FLAG_STATS``)
    flags : ``FLAG_UPDATE`` adds every row to its cluster; ``FLAG_DELTA`` instead
        adds only the moves (minus at the old label, plus at the new one), for
        a caller that keeps running totals: after the first pass few rows move,
        and the per-row scatter into the sums is the costliest part left.

    Returns
    -------
    n_changed : int
        Rows whose label differs from the value ``labels`` held on entry.
    """
    d = X.shape[1]
    n_chunks = bounds.shape[0] - 1
    weighted = w.shape[0] > 0
    do_update = (flags & FLAG_UPDATE) != 0
    do_bounds = (flags & FLAG_BOUNDS) != 0
    do_stats = (flags & FLAG_STATS) != 0
    do_delta = (flags & FLAG_DELTA) != 0
    n_changed = 0
    for c in prange(n_chunks):
        XT = np.zeros((d, BLOCK), dtype=X.dtype)
        acc = np.empty(BLOCK, dtype=X.dtype)
        best = np.empty(BLOCK, dtype=X.dtype)
        second = np.empty(BLOCK, dtype=X.dtype)
        best_j = np.empty(BLOCK, dtype=np.int32)
        dist = np.empty(BLOCK, dtype=X.dtype)
        changed = 0
        stop = bounds[c + 1]
        for i0 in range(bounds[c], stop, BLOCK):
            m = min(BLOCK, stop - i0)
            _transpose_rows(X, i0, m, XT)
            _search_block(XT, C, acc, best, second, best_j, do_bounds)
            if do_stats or do_bounds:
                # Square roots over the whole block compile to SIMD; one a row would not.
                for p in range(BLOCK):
                    best[p] = max(best[p], best[p] * 0)
                    dist[p] = np.sqrt(best[p])
            if do_bounds:
                for p in range(BLOCK):
                    acc[p] = np.sqrt(second[p])
                for p in range(m):
                    upper[i0 + p] = np.float32(dist[p] * _UP)
                    lower[i0 + p] = np.float32(acc[p] * _DOWN)
            for p in range(m):
                i = i0 + p
                b = best_j[p]
                old = labels[i]
                wi = w[i] if weighted else 1.0
                if old != b:
                    changed += 1
                    labels[i] = b
                    if do_delta:
                        if old >= 0:
                            counts[c, old] -= wi
                            _add_row(sums[c, old], X[i], -wi)
                        counts[c, b] += wi
                        _add_row(sums[c, b], X[i], wi)
                if do_update:
                    counts[c, b] += wi
                    _add_row(sums[c, b], X[i], wi)
                if do_stats:
                    sq_sums[c, b] += wi * best[p]
                    dist_sums[c, b] += wi * dist[p]
        n_changed += changed
    return n_changed


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def bounded_pass(
    X,
    w,
    C,
    bounds,
    labels,
    upper,
    lower,
    drift,
    max_drift,
    half_sep,
    sums,
    counts,
    sq_sums,
    dist_sums,
    final,
):
    """One Hamerly iteration (``final=False``) or the final statistics pass (``final=True``).

    Bounds are stored relative to the centres' cumulative movement, so that a
    row whose bounds hold costs a 12-byte read and no write: ``drift[j]`` is
    the total distance centre ``j`` moved since the bounds were first set and
    ``max_drift`` the sum, over passes, of the largest move. The upper bound
    on the distance to the assigned centre ``a`` is ``upper[i] + drift[a]``
    and the lower bound on the distance to any other centre is
    ``lower[i] - max_drift``. ``half_sep[j]`` is half the distance from centre
    ``j`` to its nearest other centre (Hamerly's second test).

    In both modes ``sums``/``counts`` (per chunk) receive the *changes* of the
    rows that moved (minus at the old label, plus at the new one); the caller
    keeps the running totals, so no pass after the first adds up every row.

    ``final=False``: only rows whose bounds fail are read.

    ``final=True``: every row's exact distance to its centre is computed and
    ``sq_sums``/``dist_sums`` accumulate ``w*d²`` and ``w*d`` per cluster, which
    with the running totals give labels, inertia and :class:`PartitionStats`.
    All four outputs are (n_chunks, ...) in both modes.

    Returns the number of rows whose label changed and the number of rows
    searched (whose bounds failed), which sizes the next pass's thread count.
    """
    d = X.shape[1]
    n_chunks = bounds.shape[0] - 1
    n_changed = 0
    n_searched = 0
    for c in prange(n_chunks):
        changed, searched = _bounded_chunk(
            X,
            w,
            C,
            bounds[c],
            bounds[c + 1],
            labels,
            upper,
            lower,
            drift,
            max_drift,
            half_sep,
            sums[c],
            counts[c],
            sq_sums[c],
            dist_sums[c],
            final,
            d,
        )
        n_changed += changed
        n_searched += searched
    return n_changed, n_searched


@njit(cache=True, fastmath=_FASTMATH)
def _bounded_chunk(
    X,
    w,
    C,
    start,
    stop,
    labels,
    upper,
    lower,
    drift,
    max_drift,
    half_sep,
    sums,
    counts,
    sq_sums,
    dist_sums,
    final,
    d,
):
    """:func:`bounded_pass` on rows ``start .. stop`` (one chunk, one thread).

    A row whose bounds fail goes straight to the block search: Hamerly's
    intermediate step (recompute the distance to the assigned centre, test
    again) made a 1M x 16, k=32 fit 30 % slower, most rows failing again; the
    final pass needs that distance anyway, so there it comes first.
    """
    weighted = w.shape[0] > 0
    XT = np.zeros((d, BLOCK), dtype=X.dtype)
    acc = np.empty(BLOCK, dtype=X.dtype)
    best = np.empty(BLOCK, dtype=X.dtype)
    second = np.empty(BLOCK, dtype=X.dtype)
    best_j = np.empty(BLOCK, dtype=np.int32)
    pending = np.empty(BLOCK, dtype=np.int64)
    fails = np.ones(_SCAN, dtype=np.bool_)
    # float32 copies of the per-centre terms: the bound test runs 8 lanes wide.
    # Its float32 rounding (6e-8 of the operands) is covered by margins of 1e-6
    # of the operands, which only ever send a row to an exact search it did
    # not need; the bounds stay bounds.
    k = C.shape[0]
    drift32 = np.empty(k, dtype=np.float32)
    half32 = np.empty(k, dtype=np.float32)
    for j in range(k):
        drift32[j] = drift[j] * _UP
        half32[j] = half_sep[j] * _DOWN
    max32 = np.float32(max_drift * _UP)
    rel32 = np.float32(_REL)
    n_pending = 0
    changed = 0
    searched = 0
    for s0 in range(start, stop, _SCAN):
        m = min(_SCAN, stop - s0)
        if not final:
            # The bound test of a run of rows in one loop without branches (SIMD,
            # with gathers of the per-centre terms); the rows that fail are then
            # handled one by one.
            for p in range(m):
                i = s0 + p
                a = labels[i]
                ui = upper[i]
                li = lower[i]
                da = drift32[a]
                u = ui + da + (abs(ui) + da) * rel32
                lo = li - max32 - (abs(li) + max32) * rel32
                fails[p] = u > max(lo, half32[a])
        for p in range(m):
            if not fails[p]:
                continue
            i = s0 + p
            a = labels[i]
            if final:
                z = max(np.float64(lower[i]) - max_drift, half_sep[a])
                d2 = _sqdist(X[i], C[a])
                u = np.sqrt(d2)
                rel = u - drift[a]
                upper[i] = np.float32(rel + abs(rel) * _REL)
                if u <= z:
                    wi = w[i] if weighted else 1.0
                    sq_sums[a] += wi * d2
                    dist_sums[a] += wi * u
                    continue
            pending[n_pending] = i
            n_pending += 1
            searched += 1
            if n_pending == BLOCK:
                changed += _search_pending(
                    X,
                    w,
                    C,
                    pending,
                    n_pending,
                    labels,
                    upper,
                    lower,
                    drift,
                    max_drift,
                    sums,
                    counts,
                    sq_sums,
                    dist_sums,
                    final,
                    weighted,
                    XT,
                    acc,
                    best,
                    second,
                    best_j,
                )
                n_pending = 0
    if n_pending > 0:
        changed += _search_pending(
            X,
            w,
            C,
            pending,
            n_pending,
            labels,
            upper,
            lower,
            drift,
            max_drift,
            sums,
            counts,
            sq_sums,
            dist_sums,
            final,
            weighted,
            XT,
            acc,
            best,
            second,
            best_j,
        )
    return changed, searched


@njit(cache=True, fastmath=_FASTMATH)
def _search_pending(
    X,
    w,
    C,
    pending,
    n_pending,
    labels,
    upper,
    lower,
    drift,
    max_drift,
    sums,
    counts,
    sq_sums,
    dist_sums,
    final,
    weighted,
    XT,
    acc,
    best,
    second,
    best_j,
):
    """Full search of the rows in ``pending[:n_pending]``; new bounds, moves, statistics."""
    _transpose_gather(X, pending, n_pending, XT)
    _search_block(XT, C, acc, best, second, best_j, True)
    for q in range(BLOCK):  # SIMD square roots for the whole block
        best[q] = max(best[q], best[q] * 0)
        acc[q] = np.sqrt(best[q])
        second[q] = np.sqrt(second[q])
    changed = 0
    for q in range(n_pending):
        r = pending[q]
        a = labels[r]
        jb = best_j[q]
        u = np.float64(acc[q])
        rel = u - drift[jb]
        upper[r] = np.float32(rel + abs(rel) * _REL)
        rel = np.float64(second[q]) + max_drift
        lower[r] = np.float32(rel - abs(rel) * _REL)
        wi = w[r] if weighted else 1.0
        if jb != a:
            changed += 1
            labels[r] = jb
            counts[a] -= wi
            counts[jb] += wi
            _add_row(sums[a], X[r], -wi)
            _add_row(sums[jb], X[r], wi)
        if final:
            sq_sums[jb] += wi * np.float64(best[q])
            dist_sums[jb] += wi * u
    return changed


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def farthest_rows(X, C, labels, bounds, m, out_idx, out_d2):
    """The ``m`` rows farthest from their assigned centre, per chunk (empty-cluster relocation).

    ``out_idx``/``out_d2`` are (n_chunks, m); each chunk keeps its top ``m`` in
    descending order (ties: lower row first), so the caller merges
    ``n_chunks * m`` candidates instead of holding a distance per row.
    """
    n_chunks = bounds.shape[0] - 1
    for c in prange(n_chunks):
        top_i = out_idx[c]
        top_d = out_d2[c]
        for q in range(m):
            top_i[q] = -1
            top_d[q] = -1.0
        for i in range(bounds[c], bounds[c + 1]):
            d2 = _sqdist(X[i], C[labels[i]])
            if d2 > top_d[m - 1]:
                q = m - 1
                while q > 0 and top_d[q - 1] < d2:
                    top_d[q] = top_d[q - 1]
                    top_i[q] = top_i[q - 1]
                    q -= 1
                top_d[q] = d2
                top_i[q] = i


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def pairwise_distances(X, C, out, squared):
    """Euclidean (or squared) distances of every row to every centre into ``out`` (n, k)."""
    n = X.shape[0]
    k = C.shape[0]
    for i in prange(n):
        xr = X[i]
        for j in range(k):
            d2 = _sqdist(xr, C[j])
            out[i, j] = d2 if squared else np.sqrt(d2)


@njit(cache=True, fastmath=_FASTMATH)
def kmeans_plusplus(X, w, first, uniforms, out_idx):
    """Greedy k-means++ (scikit-learn's algorithm) with pre-drawn random numbers.

    ``first`` is the index of the first centre; ``uniforms`` (k-1, n_trials)
    holds the uniform draws of each later step (drawn at once they are the
    same stream as scikit-learn's per-step draws). Each step samples
    ``n_trials`` candidates with probability proportional to ``w * D²`` and
    keeps the one that lowers the potential most. Serial, on a transposed
    copy of the (small) init sample so that the loops over rows are SIMD; a
    parallel region per step would cost more than the work.
    """
    n, d = X.shape
    k = out_idx.shape[0]
    n_trials = uniforms.shape[1]
    XT = np.empty((d, n))
    for i in range(n):
        for f in range(d):
            XT[f, i] = X[i, f]
    closest = np.empty(n)
    cand_d = np.empty((n_trials, n))
    cum = np.empty(n)
    cand = np.empty(n_trials, dtype=np.int64)
    out_idx[0] = first
    _sq_to_row(XT, first, closest)
    pot = 0.0
    for i in range(n):
        pot += w[i] * closest[i]
    for c in range(1, k):
        total = 0.0
        for i in range(n):
            total += w[i] * closest[i]
            cum[i] = total
        for t in range(n_trials):
            # searchsorted(cum, u * pot, side="left"), clipped to the last row
            target = uniforms[c - 1, t] * pot
            lo, hi = 0, n
            while lo < hi:
                mid = (lo + hi) >> 1
                if cum[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid
            cand[t] = min(lo, n - 1)
        best_t = 0
        best_pot = np.inf
        for t in range(n_trials):
            row = cand_d[t]
            _sq_to_row(XT, cand[t], row)
            p = 0.0
            for i in range(n):
                d2 = min(row[i], closest[i])
                row[i] = d2
                p += w[i] * d2
            if p < best_pot:
                best_pot = p
                best_t = t
        pot = best_pot
        closest[:] = cand_d[best_t]
        out_idx[c] = cand[best_t]


@njit(cache=True, fastmath=_FASTMATH)
def _sq_to_row(XT, r, out):
    """Squared distances of every column of ``XT`` to column ``r`` (float64)."""
    d, n = XT.shape
    for i in range(n):
        out[i] = 0.0
    for f in range(d):
        row = XT[f]
        cf = row[r]
        for i in range(n):
            t = row[i] - cf
            out[i] += t * t
