"""The whole segmentation report on 100,000 users, stability included (issue 4: ≤ 60 s).

Data: the demo shop (``userseg.demo``), imported and featured once (timed
separately). Then, side by side in one process:

* **peer** — what a data scientist writes by hand with scikit-learn: scaled
  features, ``KMeans(n_init=4)`` for k = 2..10 and ``silhouette_score`` on a
  20,000-user sample to pick k; no stability, rules, structure check or report;
* **userseg** — ``pipeline.fit`` (choice of k by three metrics and stability,
  structure check, 20 stability refits, rules, selection ranking, map) and
  ``pipeline.report`` (the HTML report and heatmap).

Run: ``python benchmarks/bench_report.py [--users 100000] [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Measurement, measure, ratio_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 users")
    args = parser.parse_args()
    n = 10_000 if args.quick else args.users

    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    from userseg import demo
    from userseg.config import Source
    from userseg.features.build import load_features
    from userseg.jobs import pipeline
    from userseg.store import latest_feature_set

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = demo.write_demo(Path(tmp) / "data", n, seed=0)
        t1 = time.perf_counter()
        db = pipeline.open_db(Path(tmp) / "bench.duckdb")
        pipeline.ingest(db, Source(path=str(paths["events"])), kind="events",
                        mapping=demo.EVENT_MAPPING)
        pipeline.ingest(db, Source(path=str(paths["users"])), kind="users",
                        mapping=demo.USER_MAPPING)
        t2 = time.perf_counter()
        fs = pipeline.features(db)
        t3 = time.perf_counter()
        print(f"setup ({n:,} users): generate {t1 - t0:.1f}s, ingest {t2 - t1:.1f}s, "
              f"features {t3 - t2:.1f}s ({len(fs.features)} features)")

        frame = load_features(db, latest_feature_set(db))
        numeric = frame.select_dtypes("number").fillna(0.0).to_numpy(np.float64)

        def peer() -> int:
            X = StandardScaler().fit_transform(numeric)
            best, best_k = -1.0, 2
            for k in range(2, 11):
                labels = SkKMeans(k, n_init=4, random_state=0).fit_predict(X)
                s = silhouette_score(X, labels, sample_size=min(20_000, len(X)), random_state=0)
                if s > best:
                    best, best_k = s, k
            return best_k

        def ours() -> tuple[int, dict]:
            run_id, seg = pipeline.fit(db)
            pipeline.report(db, run_id, Path(tmp) / "report.html")
            return seg.n_segments_, seg.timings_

        p = measure("sklearn", peer)
        u = measure("userseg", ours)
        k_ours, timings = u.result
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in timings.items() if k != "total")
        u_fit = Measurement("userseg", u.seconds, u.peak_mb)
        print(ratio_line(f"report {n:,} users (k 2..10)", p, u_fit,
                         f"| k: sklearn {p.result}, userseg {k_ours}"))
        print(f"  userseg stages: {stages}")
        verdict = "met" if u.seconds <= 60 else "MISSED"
        print(f"  target: whole report incl. stability <= 60 s: {u.seconds:.1f}s {verdict}")
        db.close()


if __name__ == "__main__":
    main()
