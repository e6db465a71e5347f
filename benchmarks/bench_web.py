"""Web app pages on a stored run of 10 million users (issue 15: every page ≤ 300 ms server time).

The stored aggregates of two runs of 10M users each (8 segments, 16 features,
the second a refit of the first with its matching and migration matrix, a
5,000-point user map, drift checks) are written directly into a fresh
database, with 20M assignment rows (the members sample reads them), an audience
of every user of the second run (10M member rows: its page counts them per
segment) and a measured campaign on it (the segment page shows its lift). Then,
side by side in one process:

* **peer** — the static HTML report of the same run (``explain.report.write_report``:
  heatmap PNG, Plotly figures, the Plotly bundle inlined), what people get today;
* **userseg web** — each page through the app in-process (ASGI, no network): the
  server's time to answer, signed in with an API key; median and worst of the
  repeats after one warm-up request.

Run: ``python benchmarks/bench_web.py [--users 10000000] [--repeats 15] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

K, D, MAP_POINTS = 8, 16, 5000


def _profile(seg: int, size: int, n: int, rng: np.random.Generator) -> dict:
    feats = [f"feature_{j:02d}" for j in range(D)]
    z = rng.normal(0, 1.2, D)
    pop = rng.uniform(1, 100, D)
    means = pop * (1 + 0.2 * z)
    order = np.argsort(-np.abs(z))
    return {
        "segment": seg,
        "size": size,
        "share": size / n,
        "means": dict(zip(feats, means.tolist(), strict=True)),
        "zscores": dict(zip(feats, z.tolist(), strict=True)),
        "categories": {},
        "distinctions": [
            {
                "feature": feats[j],
                "z": float(z[j]),
                "direction": "higher" if z[j] > 0 else "lower",
                "segment_value": float(means[j]),
                "population_value": float(pop[j]),
                "level": None,
                "text": f"{feats[j]} {'higher' if z[j] > 0 else 'lower'} than average",
            }
            for j in order[:5]
        ],
        "name": f"Segment {seg}",
        "name_source": "generated",
        "population": dict(zip(feats, pop.tolist(), strict=True)),
        "stability": float(rng.uniform(0.7, 0.95)),
        "stable": True,
        "rule": {
            "text": f"{feats[order[0]]} > 3.5",
            "where": f'"{feats[order[0]]}" > 3.5',
            "precision": 0.9,
            "recall": 0.8,
        },
        "facts": {},
        "outcome": None,
    }


def _model(rng: np.random.Generator) -> tuple[dict, dict]:
    """A real fitted model (the service loads it to serve /v1/assign) with a 5,000-point map."""
    import pandas as pd

    from userseg import Segmenter

    centres = rng.normal(0, 4, (K, D))
    X = centres[rng.integers(0, K, 20_000)] + rng.normal(size=(20_000, D))
    frame = pd.DataFrame(X, columns=[f"feature_{j:02d}" for j in range(D)])
    seg = Segmenter(
        K, stability_runs=0, check_structure=False, rules=False, map_sample=MAP_POINTS
    ).fit(frame)
    params, arrays = seg.to_state()
    return json.loads(json.dumps(params, default=float)), arrays


def build(path: Path, n: int) -> float:
    """Write two stored runs of ``n`` users; returns the seconds it took."""
    from userseg.store import open_database

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    db = open_database(path)
    db.execute("SET memory_limit = '4GB'")
    sizes = rng.multinomial(n, np.full(K, 1 / K))
    params, arrays = _model(rng)
    k_table = [
        {
            "k": k,
            "silhouette": 0.2 + 0.02 * k,
            "silhouette_low": 0.19 + 0.02 * k,
            "silhouette_high": 0.21 + 0.02 * k,
            "calinski_harabasz": 1e5 / k,
            "davies_bouldin": 1.5,
            "mean_rank": 2.0,
        }
        for k in range(2, 11)
    ]
    # every field the static report reads, so the peer renders the same run in full
    metrics = {
        "silhouette": 0.31,
        "silhouette_exact": False,
        "silhouette_low": 0.30,
        "silhouette_high": 0.32,
        "calinski_harabasz": 12345.0,
        "davies_bouldin": 1.2,
        "noise_share": 0.0,
        "structure": {
            "has_structure": True,
            "verdict": "clear segments: gap excess 0.2",
            "excess": 0.2,
            "z": 5.0,
            "min_z": 2.0,
            "n_references": 10,
            "n_used": 20000,
            "reference": "pca",
            "reference_silhouette_mean": 0.12,
            "silhouette": 0.31,
        },
        "stability": {
            "summary": "7 of 8 segments stable (mean Jaccard 0.86)",
            "mean": 0.86,
            "threshold": 0.6,
        },
    }
    for run in (1, 2):
        db.execute(
            "INSERT INTO userseg_runs VALUES (?, current_timestamp, 'kmeans', ?, ?, NULL, '{}', "
            "'bench', ?, ?, '{}', 'bench', '[]')",
            [
                run,
                K,
                n,
                json.dumps(metrics),
                json.dumps({"chosen": K, "table": k_table, "reason": "best silhouette"}),
            ],
        )
        db.execute(
            "INSERT INTO userseg_models VALUES (?, ?, 'segmenter', ?)",
            [run, params["format_version"], json.dumps(params)],
        )
        for name, arr in arrays.items():
            db.execute(
                "INSERT INTO userseg_model_arrays VALUES (?, ?, ?, ?, ?)",
                [run, name, arr.dtype.str, json.dumps(list(arr.shape)), arr.tobytes()],
            )
        for seg in range(K):
            p = _profile(seg, int(sizes[seg]), n, rng)
            db.execute(
                "INSERT INTO userseg_profiles VALUES (?, ?, ?, 'generated', ?, ?, ?)",
                [run, seg, p["name"], p["size"], p["share"], json.dumps(p)],
            )
        db.execute(
            f"INSERT INTO userseg_assignments SELECT {run}, 'u' || i::VARCHAR, "
            f"(hash(i + {run}) % {K})::INTEGER, random() FROM range({n}) t(i)"
        )
        db.execute(
            "INSERT INTO userseg_drift_reports VALUES (?, current_timestamp, false, ?)",
            [run, json.dumps({"reasons": ["no feature moved much"]})],
        )
    counts = rng.multinomial(n, np.full((K + 1) * (K + 1), 1 / (K + 1) ** 2)).reshape(K + 1, K + 1)
    matching = {
        "ids": list(range(K)),
        "matches": [
            {
                "status": "kept",
                "segment": s,
                "previous_segment": s,
                "name": f"Segment {s}",
                "jaccard": 0.8,
                "detail": "",
            }
            for s in range(K)
        ],
        "migration": {
            "rows": [str(s) for s in range(K)] + ["(new users)"],
            "columns": [str(s) for s in range(K)] + ["(left)"],
            "counts": counts.tolist(),
        },
        "shared_users": n,
        "method": "members",
        "previous_run_id": 1,
        "run_id": 2,
    }
    db.execute("INSERT INTO userseg_run_matchings VALUES (2, 1, ?)", [json.dumps(matching)])
    _audience_and_campaign(db, n)
    db.execute("CHECKPOINT")
    db.close()
    return time.perf_counter() - t0


def _audience_and_campaign(db, n: int) -> None:
    """An audience of every user of run 2 (``n`` member rows) and a measured campaign on it:
    the audience page counts members per segment, the segment page shows the lift."""
    db.execute(
        "INSERT INTO userseg_audiences VALUES (1, 'everyone', current_timestamp, '2', NULL, "
        "NULL, NULL)"
    )
    db.execute(
        "INSERT INTO userseg_audience_members SELECT 1, 1, user_id, segment "
        "FROM userseg_assignments WHERE run_id = 2"
    )
    # the sizes per segment, stored with the version as the product stores them
    sizes = dict(
        db.rows(
            "SELECT segment::VARCHAR, count(*) FROM userseg_audience_members GROUP BY segment"
        )
    )
    db.execute(
        "INSERT INTO userseg_audience_versions VALUES (1, 1, current_timestamp, 2, NULL, ?, ?)",
        [n, json.dumps({"run": "2", "run_id": 2, "sizes": sizes})],
    )
    rows = [
        {
            "segment": seg,
            "metric": metric,
            "n_treatment": n // K * 9 // 10,
            "n_control": n // K // 10,
            "treatment": base * 1.1,
            "control": base,
            "abs_lift": base * 0.1,
            "abs_low": base * 0.05,
            "abs_high": base * 0.15,
            "rel_lift": 0.1,
            "rel_low": 0.05,
            "rel_high": 0.15,
            "p_adjusted": 0.001,
            "significant": True,
            "note": None,
        }
        for seg in [*range(K), "all"]
        for metric, base in (("conversion", 0.1), ("revenue", 25.0))
    ]
    db.execute(
        "INSERT INTO userseg_campaigns VALUES (1, 'spring', current_timestamp, 1, 1, 0.1, "
        "current_timestamp, 'running', NULL, '{}')"
    )
    db.execute(
        "INSERT INTO userseg_campaign_measurements VALUES (1, current_timestamp, 'events', ?, "
        "'{}')",
        [json.dumps({"correction": "holm", "rows": rows})],
    )


def peer_report(path: Path, out: Path) -> float:
    """Seconds to write run 2's static report (what `userseg report` writes) from the store."""
    from userseg.explain.report import ReportInput, matching_section, write_report
    from userseg.store import get_matching, get_run, load_profiles, open_database, run_map

    t0 = time.perf_counter()
    db = open_database(path)
    run = get_run(db, 2)
    profiles = load_profiles(db, 2)
    m = run_map(db, 2)
    names = {p.segment: p.name for p in profiles}
    data = ReportInput(
        title="bench",
        run=run.to_dict(),
        profiles=profiles,
        user_map={
            "x": m["x"],
            "y": m["y"],
            "names": [names[int(s)] for s in m["segment"]],
            "method": "pca",
            "explained": 0.61,
        },
    )
    data.sections.append(matching_section(get_matching(db, 2)))
    write_report(data, out)
    db.close()
    return time.perf_counter() - t0


async def time_pages(path: Path, repeats: int) -> dict[str, list[float]]:
    import httpx

    from userseg.serve.app import build_app
    from userseg.serve.auth import Keyring, create_key
    from userseg.serve.service import Service
    from userseg.store import open_database

    db = open_database(path)
    _, secret = create_key(db, "bench")  # no scope set: an admin key
    db.close()
    # The web app's share of the service only (pages use the database, its lock and the
    # keys; the run here is stored aggregates without a feature table to score users with).
    db = open_database(path)
    lock = threading.Lock()
    service = Service(
        db=db,
        scorer=None,
        fast=None,
        keyring=Keyring(db, lock),
        limiter=None,
        auth_failures=None,
        lock=lock,
        owns_db=True,
        max_body_bytes=1_000_000,
    )
    app = build_app(service)
    pages = {
        "runs": "/web/runs",
        "run": "/web/runs/2",
        "segment": "/web/runs/2/segments/3",
        "compare": "/web/compare?a=1&b=2",
        "drift": "/web/drift",
        "keys": "/web/keys",
        "refresh": "/web/refresh",
        "audiences": "/web/audiences",
        "audience": "/web/audiences/1",
    }
    out: dict[str, list[float]] = {}
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
        form = await c.get("/web/signin")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)[1]
        r = await c.post("/web/signin", data={"csrf": token, "key": secret})
        assert r.status_code == 303, r.text
        for name, url in pages.items():
            first = await c.get(url)  # warm-up: templates compiled, caches filled
            assert first.status_code == 200, (url, first.text[:300])
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                resp = await c.get(url)
                times.append(time.perf_counter() - t0)
                assert resp.status_code == 200
            out[name] = times
    app.state.service.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="1M users, 5 repeats")
    args = parser.parse_args()
    n, repeats = (1_000_000, 5) if args.quick else (args.users, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "web.duckdb"
        built = build(path, n)
        print(f"setup: two stored runs of {n:,} users written in {built:.1f}s")
        peer = peer_report(path, Path(tmp) / "report.html")
        times = asyncio.run(time_pages(path, repeats))
    print(f"peer (static report of one run, `userseg report`): {peer * 1000:,.0f} ms")
    print(f"{'page':<10}{'median ms':>11}{'worst ms':>10}{'peer/median':>13}  ≤ 300 ms")
    worst_all = 0.0
    for name, ts in times.items():
        med, worst = statistics.median(ts), max(ts)
        worst_all = max(worst_all, worst)
        print(
            f"{name:<10}{med * 1000:>11.1f}{worst * 1000:>10.1f}{peer / med:>12.0f}x  "
            f"{'yes' if worst <= 0.3 else 'NO'}"
        )
    print(
        f"every page ≤ 300 ms (worst of {repeats} repeats): "
        f"{'yes' if worst_all <= 0.3 else 'no'} (worst {worst_all * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
