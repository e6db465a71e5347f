"""A large synthetic shop event log, written in chunks of users so that memory stays flat.

``userseg.demo`` simulates personas for the end-to-end tests; at 10 million
users it would need tens of gigabytes. This generator keeps only one chunk of
users (100,000 by default, ~3 M events) in memory at a time and streams it to
Parquet (typed: timestamps, exact decimal amounts, float ratings); the CSV (text,
as an export writes it) is converted from that Parquet by DuckDB, which costs a
fraction of formatting it in Python. About 30 events per user, with sessions,
orders, refunds, ratings and 20 categories; a few rows are as messy as a real
export (exact duplicates, missing user ids, a clock error in the future, and
in CSV a few non-numeric amounts).

    python benchmarks/_shop.py --users 1000000 --out /tmp/shop  # events.parquet + events.csv
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

END = dt.datetime(2026, 6, 30, 20, 0)
DAYS = 365
KINDS = np.array(["view", "add_to_cart", "purchase", "refund", "rating"], dtype=object)
KIND_P = np.array([0.70, 0.15, 0.10, 0.01, 0.04])
CATEGORIES = np.array([f"category_{i:02d}" for i in range(20)], dtype=object)
CAT_P = 1.0 / np.arange(1, 21)
CAT_P /= CAT_P.sum()

#: the column mapping of the generated log, as ``userseg ingest`` flags
MAPPING = {
    "user_id": "user_id",
    "time": "timestamp",
    "event": "event_type",
    "amount": "amount",
    "category": "category",
    "session": "session_id",
    "rating": "rating",
    "order_id": "order_id",
    "event_id": "event_id",
}


def _text(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def chunk(first_user: int, n_users: int, first_event: int, seed: int) -> pa.Table:
    """Events of users ``first_user .. first_user + n_users - 1``, typed, in time order."""
    rng = np.random.default_rng(seed)
    per_user = 1 + rng.poisson(rng.gamma(2.0, 14.5, n_users))
    n = int(per_user.sum())
    user = np.repeat(np.arange(n_users), per_user)
    start = rng.uniform(0, DAYS, n_users)  # days before END the user became active
    stop = start * rng.uniform(0, 1, n_users) ** 2  # ... and was last active
    days_before = stop[user] + rng.uniform(0, 1, n) * (start - stop)[user]
    end = np.datetime64(END, "s")
    ts = end - (days_before * 86400).astype("timedelta64[s]")
    n_sess = np.maximum(1, per_user // 6)
    sess_base = np.cumsum(n_sess) - n_sess
    session = first_user * 8 + sess_base[user] + (rng.uniform(0, 1, n) * n_sess[user]).astype(int)
    kind = rng.choice(len(KINDS), size=n, p=KIND_P)
    money = np.round(rng.lognormal(3.5, 0.8, n), 2)
    has_money = (kind == 2) | (kind == 3)
    amount = pa.array(
        np.where(kind == 3, -money, money).astype(str), pa.string(), mask=~has_money
    ).cast(pa.decimal128(12, 2))
    rating = pa.array(rng.integers(1, 6, n).astype(np.float64), mask=kind != 4)
    order = pa.array(first_event + np.arange(n), mask=~has_money)
    category = CATEGORIES[rng.choice(len(CATEGORIES), size=n, p=CAT_P)]
    o = np.argsort(ts, kind="stable")
    table = pa.table(
        {
            "event_id": _text("e", first_event + np.arange(n)),
            "user_id": _text("u", (first_user + user)[o]),
            "timestamp": pa.array(ts[o], pa.timestamp("s")),
            "event_type": pa.array(KINDS[kind[o]], pa.string()),
            "amount": amount.take(o),
            "category": pa.array(category[o], pa.string()),
            "session_id": _text("s", session[o]),
            "order_id": pc.binary_join_element_wise("o", pc.cast(order.take(o), pa.string()), ""),
            "rating": rating.take(o),
        }
    )
    # As messy as an export: 0.1 % exact duplicates, a few anonymous and future rows.
    dup = np.sort(rng.choice(n, size=max(1, n // 1000), replace=False))
    idx = np.sort(np.concatenate([np.arange(n), dup]))
    table = table.take(idx)
    n = len(idx)
    few = rng.choice(n, size=2 * max(1, n // 200_000), replace=False)
    k = len(few) // 2
    uid = table["user_id"].combine_chunks().to_numpy(zero_copy_only=False).copy()
    uid[few[:k]] = None
    tsa = table["timestamp"].combine_chunks().to_numpy().copy()
    tsa[few[k:]] = np.datetime64("2099-01-01T00:00:00")
    table = table.set_column(1, "user_id", pa.array(uid, pa.string()))
    return table.set_column(2, "timestamp", pa.array(tsa, pa.timestamp("s")))


def _csv_from_parquet(parquet: Path, csv: Path) -> None:
    """The CSV form, written by DuckDB from the Parquet (in parallel, streaming): every
    column text, dates as an export writes them, one amount in 500,000 not a number."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET memory_limit = '1GB'")
    con.execute(f"""
        COPY (SELECT * REPLACE (
                  strftime("timestamp", '%Y-%m-%d %H:%M:%S') AS "timestamp",
                  CASE WHEN hash(event_id, 'bad') % 500000 = 0 THEN 'abc'
                       ELSE CAST(amount AS VARCHAR) END AS amount)
              FROM read_parquet('{parquet}'))
        TO '{csv}' (FORMAT csv, HEADER true)""")
    con.close()


def write_shop(
    out: str | Path,
    n_users: int,
    *,
    formats: tuple[str, ...] = ("parquet", "csv"),
    chunk_users: int = 100_000,
    seed: int = 0,
    log: bool = True,
) -> dict[str, Path]:
    """Write ``events.parquet`` (and, if asked, ``events.csv`` from it) for ``n_users`` users."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {f: out / f"events.{f}" for f in formats}
    parquet = out / "events.parquet"
    t0, n_events = time.perf_counter(), 0
    if not parquet.exists():
        tmp = parquet.with_name(parquet.name + ".tmp")
        writer = None
        try:
            for c, first in enumerate(range(0, n_users, chunk_users)):
                table = chunk(first, min(chunk_users, n_users - first), n_events, seed + c)
                n_events += len(table)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table, row_group_size=1 << 20)
                if log:
                    print(
                        f"  generated {min(first + chunk_users, n_users):,} users, "
                        f"{n_events:,} events ({time.perf_counter() - t0:.0f}s)",
                        flush=True,
                    )
        finally:
            if writer is not None:
                writer.close()
        tmp.replace(parquet)
    if "csv" in paths and not paths["csv"].exists():
        tmp = paths["csv"].with_name("events.csv.tmp")
        _csv_from_parquet(parquet, tmp)
        tmp.replace(paths["csv"])
    return paths  # (the Parquet stays, as the CSV's source, even when only CSV was asked for)


def copies_of(
    base: str | Path,
    out: str | Path,
    copies: int,
    *,
    formats: tuple[str, ...] = ("parquet", "csv"),
) -> dict[str, Path]:
    """Write a log ``copies`` times the size of ``base``'s ``events.parquet`` into ``out``.

    Copy ``k`` is the base log with every user, event, session and order id moved
    past the previous copies', so the result is the same shop with ``copies`` times
    the users, written by DuckDB in one streaming pass (generating 3 M users in
    Python takes half an hour on a busy two-core machine). The base is itself
    blocks of 100,000 users in time order, so the result has the same structure.
    """
    import duckdb

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parquet = out / "events.parquet"
    if not parquet.exists():
        con = duckdb.connect()
        con.execute("SET memory_limit = '1GB'")
        src = f"read_parquet('{Path(base) / 'events.parquet'}')"
        ids = (("event_id", "e"), ("user_id", "u"), ("session_id", "s"), ("order_id", "o"))
        steps = con.execute(
            "SELECT "
            + ", ".join(f"max(CAST(substr({col}, 2) AS BIGINT)) + 1" for col, _ in ids)
            + f" FROM {src}"
        ).fetchone()
        copy = [
            "SELECT * REPLACE ("
            + ", ".join(
                f"'{pre}' || (CAST(substr({col}, 2) AS BIGINT) + {k * step}) AS {col}"
                for (col, pre), step in zip(ids, steps, strict=True)
            )
            + f") FROM {src}"
            for k in range(copies)
        ]
        tmp = parquet.with_name(parquet.name + ".tmp")
        con.execute(
            f"COPY ({' UNION ALL '.join(copy)}) TO '{tmp}' (FORMAT parquet, ROW_GROUP_SIZE 1048576)"
        )
        con.close()
        tmp.replace(parquet)
    paths = {f: out / f"events.{f}" for f in formats}
    if "csv" in paths and not paths["csv"].exists():
        tmp = paths["csv"].with_name("events.csv.tmp")
        _csv_from_parquet(parquet, tmp)
        tmp.replace(paths["csv"])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--out", required=True)
    parser.add_argument("--formats", default="parquet,csv")
    args = parser.parse_args()
    write_shop(args.out, args.users, formats=tuple(args.formats.split(",")))


if __name__ == "__main__":
    main()
