"""The front door at scale (issue 17): ``userseg ingest`` + ``userseg features`` against plain SQL.

Data: a synthetic shop (``_shop.py``), ~30 events per user, written once per size
as Parquet (typed) and CSV (text) and kept in ``--data`` between runs. Each
step runs in its own process, as a user runs it, and its wall time and peak
resident memory (``wait4``'s ``ru_maxrss`` of that child) are measured:

* **peer** — plain DuckDB SQL computing the same features straight from the
  file (the population figures, then one ``GROUP BY user_id`` with the same
  recency, frequency, spend, activity, funnel, returns, rating and category
  shares, smoothed alike), into a table; no validation, no duplicates removed,
  DuckDB's default memory limit (80 % of the machine);
* **userseg** — ``userseg ingest FILE`` (validated, typed, duplicates dropped,
  one transaction) then ``userseg features``, both under ``--memory-limit``.

Goals: ingest + features ≤ 2 × the peer's time; peak memory ≤ 2 GB and under the
configured limit (plus the interpreter's own ~0.3 GB).

Run: ``python benchmarks/bench_ingest.py [--users 1000000,3000000] [--formats parquet,csv]
[--memory-limit 1.5GB] [--data /tmp/userseg-bench-shop] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shop import MAPPING, copies_of, write_shop

FLAGS = {
    "user_id": "--user-id",
    "time": "--time",
    "event": "--event",
    "amount": "--amount",
    "category": "--category",
    "session": "--session",
    "rating": "--rating",
    "order_id": "--order-id",
    "event_id": "--event-id",
}


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run ``cmd``; its wall seconds, its peak resident memory (MB) and its stdout."""
    with tempfile.TemporaryFile(mode="w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the largest
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}… failed ({proc.returncode}):\n{text[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, text


# -- the peer: the same features in one plain SQL query ------------------------------------

_PEER = r'''
import sys, duckdb
src, db = sys.argv[1], sys.argv[2]
rel = (f"read_parquet('{src}')" if src.endswith(".parquet")
       else f"read_csv('{src}', ignore_errors = true)")
con = duckdb.connect(db)
con.execute("SET TimeZone = 'UTC'")
as_of, start, v, c, p, r = con.execute(f"""
    SELECT max(timestamp)::DATE + 1, min(timestamp),
           count(*) FILTER (WHERE event_type = 'view'),
           count(*) FILTER (WHERE event_type = 'add_to_cart'),
           count(*) FILTER (WHERE event_type = 'purchase'),
           count(*) FILTER (WHERE event_type = 'refund') FROM {rel}""").fetchone()
cats = con.execute(f"SELECT category, count(*) FROM {rel} WHERE category IS NOT NULL "
                   "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
total, top = sum(n for _, n in cats), cats[:8]
other = sum(n for _, n in cats[8:]) / total
a = 5.0
rate = lambda num, den, pop: f"({num} + {a * pop!r}) / ({den} + {a})"
cut = f"TIMESTAMP '{as_of}'"
days = lambda x: f"(epoch({cut}) - epoch({x})) / 86400.0"
kind = lambda k: f"count(*) FILTER (WHERE event_type = '{k}')"
freq = ("(count(DISTINCT order_id) FILTER (WHERE event_type = 'purchase') + "
        "count(*) FILTER (WHERE event_type = 'purchase' AND order_id IS NULL))")
top_list = ", ".join("'" + k + "'" for k, _ in top)
cols = [
    days("max(timestamp)") + " AS recency_days",
    "coalesce(" + days("max(timestamp) FILTER (WHERE event_type = 'purchase')")
    + f", {(as_of - start.date()).days}) AS days_since_purchase",
    f"{freq} AS frequency",
    "coalesce(sum(amount) FILTER (WHERE event_type IN ('purchase', 'refund')), 0) AS monetary",
    f"coalesce(sum(amount) FILTER (WHERE event_type = 'purchase') / nullif({freq}, 0), 0)"
    " AS avg_order_value",
    days("min(timestamp)") + " AS tenure_days",
    "count(*) AS n_events",
    "count(DISTINCT CAST(timestamp AS DATE)) AS active_days",
    "count(DISTINCT session_id) AS sessions",
    rate(kind("add_to_cart"), kind("view"), c / v) + " AS view_to_cart",
    rate(kind("purchase"), kind("add_to_cart"), p / c) + " AS cart_to_purchase",
    rate(kind("purchase"), kind("view"), p / v) + " AS view_to_purchase",
    rate(kind("refund"), kind("purchase"), r / p) + " AS return_rate",
    "avg(rating) AS avg_rating",
    *(rate(f"count(*) FILTER (WHERE category = '{k}')", "count(category)", n / total)
      + f" AS share_{k}" for k, n in top),
    rate(f"count(*) FILTER (WHERE category NOT IN ({top_list}))", "count(category)", other)
    + " AS share_other",
]
con.execute(f"CREATE TABLE features AS SELECT user_id, {', '.join(cols)} FROM {rel} "
            f"WHERE timestamp < {cut} GROUP BY user_id")
print(con.execute("SELECT count(*) FROM features").fetchone()[0])
'''


def peer(src: Path, work: Path) -> tuple[float, float, int]:
    db = work / "peer.duckdb"
    _clean(db)
    seconds, peak, out = run_child([sys.executable, "-c", _PEER, str(src), str(db)])
    _clean(db)
    return seconds, peak, int(out.strip().splitlines()[-1])


def ours(src: Path, work: Path, limit: str) -> dict[str, float]:
    db = work / "userseg.duckdb"
    _clean(db)
    flags = [a for role, col in MAPPING.items() for a in (FLAGS[role], col)]
    base = [sys.executable, "-m", "userseg"]
    mem = ["--memory-limit", limit]
    cmd = [*base, "ingest", str(src), "--db", str(db), *flags, *mem, "--json"]
    t_in, m_in, out = run_child(cmd)
    rep = json.loads(out[out.index("{") :])
    t_ft, m_ft, out = run_child([*base, "features", "--db", str(db), *mem, "--json"])
    fs = json.loads(out[out.index("{") :])
    size = db.stat().st_size / 2**20
    _clean(db)
    return {
        "ingest": t_in,
        "ingest_mb": m_in,
        "features": t_ft,
        "features_mb": m_ft,
        "rows": rep["rows_loaded"],
        "users": fs["n_users"],
        "db_mb": size,
    }


def user_table(n: int, folder: Path, fmt: str, limit: str) -> None:
    """A user table of ``n`` rows × 16 columns: ``ingest --kind users`` vs a plain copy."""
    src = folder / f"users.{fmt}"
    if not src.exists():
        import duckdb

        cols = ", ".join(
            [
                "'c' || i AS customer_id",
                *(f"round(random() * {10 ** (k % 5 + 1)}, 2) AS num_{k}" for k in range(10)),
                *(f"['a', 'b', 'c', 'd', 'e'][1 + (i + {k}) % 5] AS cat_{k}" for k in range(4)),
                "DATE '2015-01-01' + CAST(i % 3650 AS INTEGER) AS signup",
                "CASE WHEN i % 50 = 0 THEN NULL ELSE 1940 + i % 60 END AS year_birth",
            ]
        )
        con = duckdb.connect()
        con.execute("SET preserve_insertion_order = false")
        tmp = src.with_name(src.name + ".tmp")
        con.execute(f"COPY (SELECT {cols} FROM range({n}) t(i)) TO '{tmp}' (FORMAT {fmt})")
        con.close()
        tmp.replace(src)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        db = Path(tmp) / "users.duckdb"
        rel = f"read_{'parquet' if fmt == 'parquet' else 'csv'}('{src}')"
        code = (
            f"import duckdb; con = duckdb.connect('{Path(tmp) / 'peer.duckdb'}'); "
            f'con.execute("CREATE TABLE users AS SELECT * FROM {rel}")'
        )
        p_s, p_mb, _ = run_child([sys.executable, "-c", code])
        cmd = [sys.executable, "-m", "userseg", "ingest", str(src), "--kind", "users"]
        u_s, u_mb, _ = run_child([*cmd, "--db", str(db), "--memory-limit", limit, "--json"])
    print(
        f"{f'users {n / 1e6:.0f}M x 16 {fmt}':<34} plain copy {p_s:7.1f}s {p_mb:7.0f}MB | "
        f"userseg ingest --kind users {u_s:7.1f}s {u_mb:7.0f}MB | userseg/peer time "
        f"{u_s / p_s:5.2f}x",
        flush=True,
    )


def assign(src: Path, work: Path, limit: str, k: int = 6) -> None:
    """``userseg assign`` of every user's feature row after ingest, features and fit."""
    db = work / "assign.duckdb"
    _clean(db)
    flags = [a for role, col in MAPPING.items() for a in (FLAGS[role], col)]
    base = [sys.executable, "-m", "userseg"]
    run_child([*base, "ingest", str(src), "--db", str(db), *flags, "--memory-limit", limit])
    run_child([*base, "features", "--db", str(db), "--memory-limit", limit])
    f_s, f_mb, _ = run_child([*base, "fit", "--db", str(db), "--k", str(k)])
    rows = work / "users.parquet"
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    n = con.execute("SELECT count(*) FROM features").fetchone()[0]
    con.execute(f"COPY features TO '{rows}' (FORMAT parquet)")
    con.close()
    out = work / "scored.parquet"
    a_s, a_mb, _ = run_child([*base, "assign", str(rows), "--db", str(db), "--out", str(out)])
    print(
        f"{f'assign {n:,} users':<34} fit --k {k} {f_s:7.1f}s {f_mb:7.0f}MB | "
        f"userseg assign {a_s:7.1f}s {a_mb:7.0f}MB",
        flush=True,
    )
    _clean(db)


def _clean(db: Path) -> None:
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.rmtree(str(db) + ".tmp", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", default="1000000,3000000")
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument("--memory-limit", default="1.5GB")
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "userseg-bench-shop"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="100,000 users, 3 repeats")
    parser.add_argument(
        "--user-table", type=int, default=0, help="also a user table of N rows x 16 columns"
    )
    parser.add_argument(
        "--assign", action="store_true", help="also fit and assign every user (first size)"
    )
    args = parser.parse_args()
    sizes = [100_000] if args.quick else [int(u) for u in args.users.split(",")]
    repeats = 3 if args.quick else args.repeats
    formats = tuple(args.formats.split(","))
    from userseg.io.database import parse_memory_limit

    limit_mb = parse_memory_limit(args.memory_limit) / 2**20
    print(f"memory limit {args.memory_limit}; {os.cpu_count()} cores; medians of {repeats}")
    for n in sizes:
        folder = Path(args.data) / f"{n}"
        missing = [f for f in formats if not (folder / f"events.{f}").exists()]
        if missing:
            t0 = time.perf_counter()
            # a multiple of a size already written: copies of it with ids moved (minutes
            # instead of half an hour of Python per 3M users on a busy machine)
            bases = [b for b in sizes if b < n and n % b == 0]
            base = Path(args.data) / f"{bases[0]}" if bases else None
            if base is not None and (base / "events.parquet").exists():
                copies_of(base, folder, n // bases[0], formats=tuple(missing))
                how = f" ({n // bases[0]} copies of the {bases[0]:,}-user log, ids moved)"
            else:
                write_shop(folder, n, formats=tuple(missing), log=False)
                how = ""
            took = time.perf_counter() - t0
            print(f"generated {n:,} users as {', '.join(missing)} in {took:.0f}s{how}")
        for fmt in formats:
            src = folder / f"events.{fmt}"
            with tempfile.TemporaryDirectory(dir=folder) as tmp:
                work = Path(tmp)
                runs_p, runs_u = [], []
                for _ in range(repeats):  # interleaved: the machine is shared and noisy
                    runs_p.append(peer(src, work))
                    runs_u.append(ours(src, work, args.memory_limit))
            p_s = statistics.median(r[0] for r in runs_p)
            p_mb = max(r[1] for r in runs_p)
            u = {k: statistics.median(r[k] for r in runs_u) for k in runs_u[0]}
            u_mb = max(max(r["ingest_mb"], r["features_mb"]) for r in runs_u)
            total = u["ingest"] + u["features"]
            ratio = total / p_s
            case = f"{n:,} users / {u['rows'] / 1e6:.1f}M events {fmt}"
            print(
                f"{case:<34} plain SQL {p_s:8.1f}s {p_mb:7.0f}MB | userseg ingest "
                f"{u['ingest']:7.1f}s + features {u['features']:6.1f}s = {total:7.1f}s "
                f"{u_mb:7.0f}MB | userseg/peer time {ratio:5.2f}x"
            )
            ok_t = "met" if ratio <= 2 else "MISSED"
            ok_m = "met" if u_mb <= min(2048, limit_mb + 400) else "MISSED"
            print(
                f"  goals: time <= 2x peer {ok_t}; peak <= 2 GB and the limit {ok_m} "
                f"(ingest {max(r['ingest_mb'] for r in runs_u):.0f}MB, features "
                f"{max(r['features_mb'] for r in runs_u):.0f}MB); database {u['db_mb']:.0f}MB; "
                f"{runs_p[0][2]:,} peer users, {int(u['users']):,} userseg users",
                flush=True,
            )
        if args.assign and n == sizes[0]:
            with tempfile.TemporaryDirectory(dir=folder) as tmp:
                assign(folder / f"events.{formats[0]}", Path(tmp), args.memory_limit)
    if args.user_table:
        folder = Path(args.data) / "users"
        folder.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            user_table(args.user_table, folder, fmt, args.memory_limit)


if __name__ == "__main__":
    main()
