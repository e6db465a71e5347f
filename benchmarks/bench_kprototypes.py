"""Mixed numeric + categorical data: userseg KPrototypes against the kmodes package's.

Data: ``n`` users, k=8 planted segments; 4 numeric attributes (segment centres
drawn N(0, 2²), unit noise) and 3 categorical ones (region: 8 values,
channel: 4, gender: 3), each following the segment 70 % of the time and
random otherwise; categories are text, as in a user table.

Both run the same objective (squared Euclidean + gamma x mismatches, gamma =
half the mean numeric std for both) from one seeding (``n_init=1``; kmodes
takes minutes per run at 100k, so more are not affordable) and userseg also
with its default ``n_init=10``. Printed: time, memory beyond the data, final
cost (lower is better), ARI against the planted segments, iterations.

    python benchmarks/bench_kprototypes.py [--quick] [--sizes 20000,100000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Measurement, measure, ratio_line

K = 8


def mixed(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Object array: 4 numeric columns then 3 text categorical ones; and the planted labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    num = rng.normal(0.0, 2.0, (K, 4))[y] + rng.normal(size=(n, 4))
    X = np.empty((n, 7), dtype=object)
    X[:, :4] = num
    for j, (prefix, m) in enumerate((("region", 8), ("channel", 4), ("gender", 3))):
        follow = rng.random(n) < 0.7
        codes = np.where(follow, (y * (j + 1) + j) % m, rng.integers(0, m, n))
        X[:, 4 + j] = np.array([f"{prefix}{c}" for c in range(m)], dtype=object)[codes]
    return X, y


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2k users, a smoke run")
    ap.add_argument("--sizes", default="20000,100000")
    args = ap.parse_args(argv)
    sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",")]

    from sklearn.metrics import adjusted_rand_score

    from userseg.cluster import KPrototypes

    try:
        from kmodes.kprototypes import KPrototypes as KmKPrototypes
    except ImportError:
        KmKPrototypes = None
        print("kmodes not installed (pip install kmodes): userseg only")
    cat = [4, 5, 6]
    KPrototypes(K, categorical=cat, random_state=0).fit(mixed(3000, seed=9)[0])  # compile first

    for n in sizes:
        X, y = mixed(n)
        runs: dict[str, Measurement] = {}
        for n_init in (1, 10):
            m = measure(
                "userseg",
                lambda X=X, i=n_init: KPrototypes(K, categorical=cat, n_init=i, random_state=0).fit(
                    X
                ),
            )
            runs[f"userseg n_init={n_init}"] = m
        if KmKPrototypes is not None:
            km = measure(
                "kmodes",
                lambda X=X: KmKPrototypes(K, n_init=1, init="Cao", random_state=0).fit(
                    X, categorical=cat
                ),
            )
            ours = runs["userseg n_init=1"]
            a, b = km.result, ours.result
            ari_a, ari_b = adjusted_rand_score(y, a.labels_), adjusted_rand_score(y, b.labels_)
            print(
                ratio_line(
                    f"k-prototypes {n:,} x 7 k={K} n_init=1",
                    km,
                    ours,
                    f"| cost kmodes {a.cost_:.1f} vs userseg {b.cost_:.1f} "
                    f"(gamma {a.gamma:.4f} / {b.gamma_:.4f}), ARI(truth) "
                    f"{ari_a:.3f} / {ari_b:.3f}, "
                    f"iterations {a.n_iter_} / {b.n_iter_}",
                ),
                flush=True,
            )
        m = runs["userseg n_init=10"]
        print(
            f"k-prototypes {n:,} x 7 k={K} n_init=10    userseg {m.seconds:8.3f}s "
            f"{m.peak_mb:8.1f}MB | cost {m.result.cost_:.1f}, ARI(truth) "
            f"{adjusted_rand_score(y, m.result.labels_):.3f}",
            flush=True,
        )
        del X, y
    return 0


if __name__ == "__main__":
    sys.exit(main())
