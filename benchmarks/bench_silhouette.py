"""Silhouette at 10M users: userseg's stratified estimate against scikit-learn's sampled score.

For each data set (Gaussian blobs, d=16, k=8 -- well separated sigma=1, and
overlapping sigma=3.5 as in ``bench_kmeans.py``; the labels are the true ones):

* userseg ``silhouette(X, labels)`` with its defaults: time, memory beyond the
  data, value, 95 % interval, half-width, points used (target at 10M: <= 0.5 s,
  half-width <= 0.0025);
* scikit-learn ``silhouette_score(X, labels, sample_size=s)`` with the same
  number of scored points, and with the sample size that matches userseg's
  interval width. scikit-learn reports no interval: its spread is measured
  from repeated seeds at the first size, and the matched size follows from
  standard error ~ 1/sqrt(sample size).

    python benchmarks/bench_silhouette.py [--quick] [--n 10000000] [--repeats 10]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import blobs, measure, ratio_line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200k users, fewer repeats")
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=10, help="seeds to measure sklearn's spread")
    ap.add_argument("--max-matched", type=int, default=60_000, help="cap on the matched size")
    args = ap.parse_args(argv)
    n = 200_000 if args.quick else args.n
    repeats = 4 if args.quick else args.repeats

    from sklearn.metrics import silhouette_score

    from userseg.evaluate import silhouette

    Xw, yw = blobs(5000, seed=1)
    silhouette(Xw, yw, sample_size=1000, random_state=0)  # compile (cached on disk) first
    silhouette(Xw, yw)

    for case, sigma in (("separated sigma=1", 1.0), ("overlapping sigma=3.5", 3.5)):
        X, y = blobs(n, sigma=sigma)
        ours = measure("userseg", lambda X=X, y=y: silhouette(X, y, random_state=0), repeats=3)
        r = ours.result
        print(
            f"silhouette {n:,} x 16 {case}: userseg {r.value:.4f} "
            f"[{r.low:.4f}, {r.high:.4f}] half-width {r.half_width:.4f} "
            f"(se {r.std_error:.5f}, dof {r.dof:.0f}), {r.n_used} scored + {r.n_reference} "
            f"reference points, {ours.seconds:.3f}s, {ours.peak_mb:.1f}MB | targets <= 0.5 s: "
            f"{'met' if ours.seconds <= 0.5 else 'MISSED'}, half-width <= 0.0025: "
            f"{'met' if r.half_width <= 0.0025 else 'MISSED'}",
            flush=True,
        )
        s = r.n_used
        sk = measure(
            "sklearn", lambda X=X, y=y, s=s: silhouette_score(X, y, sample_size=s, random_state=0)
        )
        vals = [sk.result] + [
            silhouette_score(X, y, sample_size=s, random_state=seed) for seed in range(1, repeats)
        ]
        sd = float(np.std(vals, ddof=1))
        print(
            ratio_line(
                f"  same sample size ({s:,})",
                sk,
                ours,
                f"| sklearn {sk.result:.4f}, its spread over {repeats} seeds: sd {sd:.5f} "
                f"(~half-width {1.96 * sd:.4f}, no interval reported); inside ours: "
                f"{sum(r.low <= v <= r.high for v in vals)}/{len(vals)}",
            ),
            flush=True,
        )
        matched = math.ceil(s * (sd / r.std_error) ** 2) if r.std_error > 0 else s
        capped = min(max(matched, 2), args.max_matched, n)
        sk2 = measure(
            "sklearn",
            lambda X=X, y=y, m=capped: silhouette_score(X, y, sample_size=m, random_state=0),
        )
        note = "" if capped == matched else f" (capped from {matched:,})"
        line = ratio_line(f"  matched CI width ({capped:,}){note}", sk2, ours)
        print(f"{line}| sklearn {sk2.result:.4f}", flush=True)
        del X, y
    return 0


if __name__ == "__main__":
    sys.exit(main())
