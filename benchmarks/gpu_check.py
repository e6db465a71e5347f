"""GPU check: the torch k-means backend on CUDA against the Numba kernels, 10M x 16.

One prepared script for a machine with an NVIDIA GPU (install the CUDA build of
torch there: ``pip install torch==2.13.0``; the project's CPU pin is for machines
without one). It prints, from one run, side by side:

* the Numba Lloyd (``USERSEG_KMEANS_BACKEND=numba``) and the torch Lloyd on the GPU
  from the same k-means++ centres: seconds (GPU time includes the copy of the data
  to the device and back), iterations, inertia, and the share of identical labels;
* the embedded ``KMeans`` as a user calls it, once with the GPU chosen by itself
  (``auto``: n >= 1M and CUDA present) and once forced onto the CPU.

    python benchmarks/gpu_check.py [--n 10000000] [--d 16] [--k 8] [--dtype float32]

Without CUDA it says so and exits 3 (nothing to measure); it never falls back silently.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import blobs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    import torch

    from userseg.cluster import KMeans, torch_kmeans
    from userseg.cluster.kmeans import tolerance as _tolerance

    if not torch.cuda.is_available():
        print(f"no CUDA device (torch {torch.__version__}): nothing to measure on a GPU")
        return 3
    print(
        f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, "
        f"{os.cpu_count()} CPU cores; n={args.n:,} d={args.d} k={args.k} {args.dtype}"
    )
    X, _ = blobs(args.n, args.d, args.k, sigma=3.75, dtype=np.dtype(args.dtype), seed=0)
    rs = np.random.RandomState(0)
    tol = _tolerance(X, 1e-4, rs)
    init = KMeans(args.k, random_state=0, n_init=1, max_iter=1).fit(X[:200_000]).cluster_centers_

    # warm both paths (Numba compile/cache load, CUDA context) on a slice
    os.environ["USERSEG_KMEANS_BACKEND"] = "numba"
    KMeans(args.k, init=init, n_init=1, algorithm="lloyd").fit(X[:100_000])
    torch_kmeans.lloyd(X[:100_000], init, device="cuda", tol=tol)
    torch.cuda.synchronize()

    t0 = time.perf_counter()
    ref = KMeans(args.k, init=init, n_init=1, algorithm="lloyd").fit(X)
    t_numba = time.perf_counter() - t0
    t0 = time.perf_counter()
    gpu = torch_kmeans.lloyd(X, init, device="cuda", tol=tol)
    torch.cuda.synchronize()
    t_gpu = time.perf_counter() - t0
    same = float(np.mean(gpu.labels == ref.labels_))
    print(
        f"lloyd numba (CPU)  {t_numba:8.2f} s  n_iter {ref.n_iter_:3d}  inertia {ref.inertia_:.6e}"
    )
    print(
        f"lloyd torch (cuda) {t_gpu:8.2f} s  n_iter {gpu.n_iter:3d}  inertia {gpu.inertia:.6e}  "
        f"same labels {same:.6f}"
    )
    print(
        f"ratio numba/torch-cuda: {t_numba / t_gpu:.2f}x; inertia rel diff "
        f"{abs(gpu.inertia - ref.inertia_) / ref.inertia_:.2e}"
    )

    results = {}
    for mode in ("auto", "numba"):
        os.environ["USERSEG_KMEANS_BACKEND"] = mode
        t0 = time.perf_counter()
        km = KMeans(args.k, random_state=0, n_init=1, algorithm="lloyd").fit(X)
        results[mode] = (time.perf_counter() - t0, km.inertia_)
        print(
            f"KMeans backend={mode:5s} {results[mode][0]:8.2f} s  inertia {km.inertia_:.6e}"
            f"  (auto uses the GPU: {torch_kmeans.use_gpu(len(X)) if mode == 'auto' else False})"
        )
    print(f"ratio KMeans cpu/auto: {results['numba'][0] / results['auto'][0]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
