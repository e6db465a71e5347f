"""k-means: userseg against scikit-learn, MiniBatchKMeans and faiss, side by side in one process.

Cases (the targets of issue 3):

* ``k8``    n x 16 float32, k=8, for each ``--sizes``: time, memory beyond the
  data, inertia and n_iter of every method; target at 10M: >= 5x faster than
  scikit-learn at equal or lower inertia (0.01 %) and <= 0.2 GB extra memory.
* ``k32``   1M x 16, k=32: >= 3x faster than scikit-learn, inertia no worse
  than faiss on all points.
* ``pass``  one fused Lloyd pass (assign + update) at 10M x 16 against one
  ``X.sum()`` of the same array: <= 2x.
* ``sweep`` k = 2..12 at 1M x 16 with :func:`userseg.cluster.sweep_k` (fits,
  silhouette, CH, DB) and :func:`~userseg.cluster.sweep.settle_k` (the close calls
  reseeded), as the pipeline runs them, against one scikit-learn fit at the chosen k: <= 3x.
* ``compile`` the first call's Numba compile time and the cached load, each in
  a fresh interpreter.
* ``study`` (not run by default) how sweep_k should reuse seeding across k:
  one k-means++ ordering (prefixes), independent seedings, or k+1 from k.

Data: Gaussian blobs, d=16, 8 centres drawn N(0, 4²), sigma=3.75: scikit-learn's
Lloyd needs 13 iterations at 10M (seed 0; 10-52 at 2M over seeds 0-2, where
sigma=3.5 gave 5 at 10M); every n_iter is printed. Every inertia is measured on
the full data at the returned centres, so sub-sampling peers are scored like
the others.

    python benchmarks/bench_kmeans.py [--quick] [--sizes 1000000,10000000] [--sections k8,pass]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Measurement, blobs, exact_rss, measure, ratio_line

SIGMA = 3.75
SEED = 0


def _inertia(X: np.ndarray, centers: np.ndarray) -> float:
    from userseg.cluster import kmeans as _km

    _, inertia = _km._assign(X, np.empty(0, X.dtype), np.ascontiguousarray(centers, X.dtype))
    return inertia


# MiniBatchKMeans runs thousands of small OpenMP regions; on this shared two-core
# machine each costs milliseconds, and at 10M it had not finished after 13 minutes.
MINIBATCH_MAX_N = 1_000_000


def _peers(k: int, n: int, d: int, *, minibatch: bool = True) -> dict[str, object]:
    """name -> callable(X) returning (centers, n_iter) for each peer that is installed."""
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.cluster import MiniBatchKMeans

    peers: dict[str, object] = {
        "sklearn": lambda X: _sk(SkKMeans(k, n_init=1, random_state=SEED, algorithm="lloyd"), X)
    }
    if minibatch and n <= MINIBATCH_MAX_N:
        peers["minibatch"] = lambda X: _sk(MiniBatchKMeans(k, random_state=SEED), X)
    elif minibatch:
        print(f"  (MiniBatchKMeans skipped above n={MINIBATCH_MAX_N:,}: at 10M it ran over 13 "
              "minutes here, its per-batch OpenMP regions stalling on the shared cores)")
    try:
        import faiss  # noqa: F401
    except ImportError:
        print("  (faiss-cpu not installed: faiss peers skipped)")
        return peers
    peers["faiss-sub"] = lambda X: _faiss(X, k, None)
    peers["faiss-all"] = lambda X: _faiss(X, k, n)
    return peers


def _sk(model: object, X: np.ndarray) -> tuple[np.ndarray, int]:
    model.fit(X)
    return model.cluster_centers_, model.n_iter_


def _faiss(X: np.ndarray, k: int, max_points: int | None) -> tuple[np.ndarray, int]:
    import faiss

    kw = {"seed": SEED}
    if max_points is not None:
        kw["max_points_per_centroid"] = max_points  # train on every row
    km = faiss.Kmeans(X.shape[1], k, **kw)
    km.train(X)
    return km.centroids, km.cp.niter


def compare(case: str, X: np.ndarray, k: int, repeats: int, *, minibatch: bool = True,
            peer_repeats: int = 1) -> tuple[Measurement, dict[str, Measurement]]:
    """Fit userseg and every peer on X; print one ratio line per peer."""
    from userseg.cluster import KMeans
    from userseg.errors import ConvergenceWarning

    KMeans(k, random_state=SEED).fit(X[:20_000])  # load the compiled kernels first
    with warnings.catch_warnings():  # n_iter is printed; a max_iter warning adds nothing
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = measure("userseg", lambda: KMeans(k, random_state=SEED).fit(X), repeats=repeats)
    ours_inertia = ours.result.inertia_
    print(f"  userseg   {ours.seconds:8.3f}s {ours.peak_mb:8.1f}MB inertia {ours_inertia:.6e} "
          f"n_iter {ours.result.n_iter_}")
    results = {}
    for name, fit in _peers(k, X.shape[0], X.shape[1], minibatch=minibatch).items():
        m = measure(name, lambda fit=fit: fit(X), repeats=peer_repeats)
        centers, n_iter = m.result
        inertia = _inertia(X, centers)
        m.result = inertia
        results[name] = m
        print(ratio_line(case, m, ours,
                         f"| inertia peer/userseg {inertia / ours_inertia:.6f} n_iter {n_iter}"))
    return ours, results


def case_k8(n: int, repeats: int) -> None:
    X, _ = blobs(n, sigma=SIGMA, seed=SEED)
    print(f"\n== k-means {n:,} x 16 float32, k=8 (data {X.nbytes / 2**20:.0f} MB)")
    ours, peers = compare(f"kmeans n={n:,} k=8", X, 8, repeats, peer_repeats=1)
    sk = peers["sklearn"]
    speed = sk.seconds / ours.seconds
    excess = ours.result.inertia_ / sk.result - 1
    print(f"  TARGET >=5x sklearn at inertia within +0.01%, <=200 MB: {speed:.1f}x, "
          f"inertia {100 * excess:+.4f}%, {ours.peak_mb:.0f} MB -> "
          f"{'met' if speed >= 5 and excess <= 1e-4 and ours.peak_mb <= 200 else 'MISSED'}")


def case_k32(n: int, repeats: int) -> None:
    X, _ = blobs(n, sigma=SIGMA, seed=SEED)
    print(f"\n== k-means {n:,} x 16 float32, k=32")
    ours, peers = compare(f"kmeans n={n:,} k=32", X, 32, repeats, peer_repeats=1)
    speed = peers["sklearn"].seconds / ours.seconds
    faiss_all = peers.get("faiss-all")
    vs_faiss = ours.result.inertia_ / faiss_all.result - 1 if faiss_all else float("nan")
    print(f"  TARGET >=3x sklearn, inertia <= faiss-all: {speed:.1f}x, inertia vs faiss-all "
          f"{100 * vs_faiss:+.4f}% -> {'met' if speed >= 3 and vs_faiss <= 0 else 'MISSED'}")


def case_pass(n: int, repeats: int) -> None:
    """One fused Lloyd pass against one numpy sum of the same array, alternated, medians.

    The pass computes every row's distance to every centre and updates the
    centre sums; as in :func:`userseg.cluster.kmeans._lloyd`, a steady-state
    pass updates them with the rows that changed cluster only, and the first
    pass (every row added) is shown too.
    """
    from userseg.cluster import KMeans
    from userseg.cluster import _kmeans_kernels as K
    from userseg.cluster import kmeans as _km

    X, _ = blobs(n, sigma=SIGMA, seed=SEED)
    k, d = 8, X.shape[1]
    centers = KMeans(k, random_state=SEED).fit(X[:200_000]).cluster_centers_
    bounds = K.chunk_bounds(n, k, d)
    labels = np.full(n, -1, dtype=np.int32)
    sums = np.zeros((bounds.size - 1, k, d))
    counts = np.zeros((bounds.size - 1, k))
    none32, none2d, w = np.empty(0, np.float32), np.empty((0, 0)), np.empty(0, X.dtype)

    def one_pass(flags: int) -> float:
        sums[:] = 0.0
        counts[:] = 0.0
        t0 = time.perf_counter()
        with _km._threads(n * d * k):
            K.full_pass(X, w, centers, bounds, labels, none32, none32, sums, counts,
                        none2d, none2d, flags)
        return time.perf_counter() - t0

    t_first, t_pass, t_sum = [], [], []
    for _ in range(repeats):
        labels[:] = -1
        t_first.append(one_pass(K.FLAG_DELTA))  # every label changes: every row added
        t0 = time.perf_counter()
        X.sum()
        t_sum.append(time.perf_counter() - t0)
        t_pass.append(one_pass(K.FLAG_DELTA))
    p, s, f = (float(np.median(t)) for t in (t_pass, t_sum, t_first))
    print(f"\n== one Lloyd pass {n:,} x 16 float32, k=8 (all distances + centre sums, fused)")
    print(f"  X.sum() {s:.3f}s ({X.nbytes / s / 1e9:.1f} GB/s) | userseg pass {p:.3f}s "
          f"({X.nbytes / p / 1e9:.1f} GB/s) | pass/sum {p / s:.2f} | first pass (every row "
          f"added to the sums) {f:.3f}s = {f / s:.2f}x sum  (medians of {repeats})")
    print(f"  TARGET pass <= 2x sum: {p / s:.2f}x -> {'met' if p / s <= 2 else 'MISSED'}")


def case_sweep(n: int, repeats: int) -> None:
    from sklearn.cluster import KMeans as SkKMeans

    from userseg.cluster import sweep_k
    from userseg.cluster.sweep import settle_k
    from userseg.errors import ConvergenceWarning
    from userseg.evaluate.choose import choose_k

    X, _ = blobs(n, sigma=SIGMA, seed=SEED)
    ks = range(2, 13)
    sweep_k(X[:20_000], [2, 3], random_state=SEED)  # compiled kernels, silhouette included

    def automatic(**kw):  # what the pipeline does: sweep, settle the close calls, choose k
        res = sweep_k(X, ks, random_state=SEED, **kw)  # by consensus, finish that k
        k = choose_k(settle_k(res, choose_k))[0]
        return res, k, res.refine(k, X)

    # Interleaved (ours, theirs, ours, theirs, ...) so that both sides see the same
    # load on this shared machine; each side's median is reported.
    ours_runs, sk_runs = [], []
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours_runs.append(measure("userseg", automatic))
        k = ours_runs[-1].result[1]
        sk_runs.append(
            measure("sklearn", lambda k=k: SkKMeans(k, n_init=1, random_state=SEED).fit(X))
        )
    ours, sk = _median_run(ours_runs), _median_run(sk_runs)
    res, k, final = ours.result
    print(f"\n== automatic k, k = 2..12, {n:,} x 16 float32 (sweep_k: fits + silhouette + CH + DB, "
          "close calls reseeded (settle_k), choice of k, the chosen k run to convergence)")
    for row in res.metrics:
        print(f"  k={row['k']:>2} inertia {row['inertia']:.5e} silhouette {row['silhouette']:.4f} "
              f"[{row['silhouette_low']:.4f}, {row['silhouette_high']:.4f}] "
              f"CH {row['calinski_harabasz']:.1f} DB {row['davies_bouldin']:.3f} "
              f"n_iter {row['n_iter']:>3} {row['seconds']:.3f}s"
              + (" (reseeded)" if row.get("reseeded") else ""))
    inertia_ratio = sk.result.inertia_ / final.inertia_
    print(ratio_line(f"sweep k=2..12 n={n:,} (chosen k={k})", sk, ours,
                     f"| inertia sklearn/userseg at k={k} {inertia_ratio:.6f}"))
    ratio = ours.seconds / sk.seconds
    print(f"  TARGET sweep <= 3x one sklearn fit at k={k}: {ratio:.2f}x -> "
          f"{'met' if ratio <= 3 else 'MISSED'}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = measure("userseg", lambda: automatic(candidate_max_iter=None))
    print(f"  (every candidate run to convergence instead: {full.seconds:.2f}s = "
          f"{full.seconds / sk.seconds:.2f}x, chosen k={full.result[1]})")
    # Where the time goes, and what other settings (not the defaults) would change.
    from userseg.cluster.sweep import SWEEP_SILHOUETTE_REFERENCE, SWEEP_SILHOUETTE_SAMPLE
    from userseg.evaluate.silhouette import silhouette

    t0 = time.perf_counter()
    for model in res.models.values():  # the estimate the sweep makes for each k
        silhouette(X, model.labels_, sample_size=SWEEP_SILHOUETTE_SAMPLE,
                   reference_size=SWEEP_SILHOUETTE_REFERENCE,
                   random_state=SEED)
    t_sil = time.perf_counter() - t0
    print(f"  where the time goes: silhouette ({SWEEP_SILHOUETTE_SAMPLE:,}-user estimate a k) "
          f"{t_sil:.2f}s of the sweep's {ours.seconds:.2f}s; times of the {repeats} interleaved "
          f"runs: userseg {', '.join(f'{m.seconds:.2f}' for m in ours_runs)}s, sklearn "
          f"{', '.join(f'{m.seconds:.2f}' for m in sk_runs)}s")


def _median_run(runs: list[Measurement]) -> Measurement:
    """The run with the median time (odd counts), keeping its result and memory."""
    return sorted(runs, key=lambda m: m.seconds)[len(runs) // 2]


_COMPILE_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
from userseg.cluster import KMeans
t1 = time.perf_counter()
X = np.random.default_rng(0).normal(size=(60_000, 8))

def work():
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        for algorithm in ("hamerly", "lloyd"):
            km = KMeans(5, random_state=0, algorithm=algorithm).fit(Xd)
            km.predict(Xd[:10]); km.transform(Xd[:10]); km.score(Xd[:10])

work()
t2 = time.perf_counter()
work()
t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def case_compile() -> None:
    """First call (compile) and cached load, each in a fresh interpreter."""
    print("\n== Numba compile: first call vs cached (fresh interpreter each; float32 + float64, "
          "lloyd + hamerly, predict/transform/score)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("empty cache (compiles, writes the cache)", "cache present (loads it)"):
            out = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            imp, first, warm = (float(v) for v in out)
            print(f"  {label:<42} import {imp:5.2f}s | first fits {first:6.2f}s, same fits "
                  f"again {warm:5.2f}s -> compile/load {first - warm:6.2f}s")


def case_study(n: int) -> None:
    """How sweep_k should reuse seeding across k (the measurement behind its design)."""
    from sklearn.cluster import KMeans as SkKMeans

    from userseg.cluster import kmeans as _km

    X, _ = blobs(n, sigma=SIGMA, seed=SEED)
    ks = list(range(2, 13))
    w = np.empty(0, X.dtype)
    best = {k: SkKMeans(k, n_init=5, random_state=SEED).fit(X).inertia_ for k in ks}
    print(f"\n== sweep seeding study, k = 2..12, {n:,} x 16 (inertia vs scikit-learn best of 5)")
    for strategy in ("prefix", "independent", "k+1 from k"):
        excess, times = [], []
        for seed in range(5):
            rs = np.random.RandomState(seed)
            t0 = time.perf_counter()
            Xs, ws = _km.draw_sample(X, w, _km.seeding_sample_size(None, ks[-1], n), rs)
            tol = _km.tolerance(Xs, 1e-4, rs)
            order = _km.kmeans_plusplus(Xs, ws, ks[-1], rs, 2 + int(math.log(ks[-1])))
            prev = None
            for k in ks:
                if strategy == "prefix":
                    seeds = np.ascontiguousarray(Xs[order[:k]])
                elif strategy == "independent" or prev is None:
                    seeds = _km.seed_centers(Xs, ws, k, "k-means++", rs)
                else:  # one greedy k-means++ step from the k-1 solution
                    d2 = _km._distances(Xs, prev, squared=True).min(axis=1).astype(float)
                    cand = np.minimum(np.searchsorted(np.cumsum(d2),
                                                      rs.uniform(size=3) * d2.sum()), len(Xs) - 1)
                    dc = np.minimum(d2[:, None], _km._distances(Xs, Xs[cand], squared=True))
                    seeds = np.vstack([prev, Xs[cand[np.argmin(dc.sum(0))]][None]])
                run = _km.fit_from_seeds(X, w, Xs, ws, [seeds], 300, tol, "hamerly")
                prev = _km.fit_from(Xs, ws, seeds, 300, tol, "hamerly").centers
                excess.append(run.inertia / best[k] - 1)
            times.append(time.perf_counter() - t0)
        print(f"  {strategy:<12} mean excess inertia {100 * np.mean(excess):+.2f}%  "
              f"worst {100 * np.max(excess):+.1f}%  sweep time {np.median(times):.2f}s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated n for the k=8 case (default 1000000,10000000)")
    parser.add_argument("--sections", default="compile,k8,k32,pass,sweep",
                        help="comma-separated among compile,k8,k32,pass,sweep,study")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of userseg's fit")
    args = parser.parse_args(argv)
    exact_rss()
    quick = args.quick
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [100_000] if quick else [1_000_000, 10_000_000])
    big = 1_000_000 if quick else 10_000_000
    mid = 100_000 if quick else 1_000_000
    repeats = args.repeats or (1 if quick else 3)
    sections = set(args.sections.split(","))

    import numba
    import sklearn

    print(f"bench_kmeans: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba {numba.__version__} ({numba.get_num_threads()} threads), sklearn "
          f"{sklearn.__version__}, numpy {np.__version__}; sigma={SIGMA}, seed={SEED}")
    print("  time = median of repeats (userseg), one run (peers); memory = peak RSS rise during "
          "the fit, beyond the data")
    if "compile" in sections:
        case_compile()
    if "k8" in sections:
        for n in sizes:
            case_k8(n, repeats)
    if "k32" in sections:
        case_k32(mid, repeats)
    if "pass" in sections:
        case_pass(big, 5)
    if "sweep" in sections:
        case_sweep(mid, 3 if repeats > 1 else 1)
    if "study" in sections:
        case_study(100_000 if quick else 300_000)


if __name__ == "__main__":
    main()
