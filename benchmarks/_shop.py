"""A large synthetic shop event log, written in chunks of users so that memory stays flat.

``userseg.demo`` simulates personas for the end-to-end tests; at 10 million
users it would need tens of gigabytes. This generator keeps only one chunk of
users (100,000 by default, ~3 M events) in memory at a time and streams it to
Parquet (typed: timestamps, exact decimal amounts, float ratings) and/or CSV
(text, as an export writes it). About 30 events per user, with sessions,
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
import pyarrow.csv as pacsv
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


def _as_text(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    """The CSV form: every column text, dates as an export writes them, a few bad amounts."""
    cols = {}
    for name in table.column_names:
        col = table[name]
        if name == "timestamp":
            col = pc.strftime(col, format="%Y-%m-%d %H:%M:%S")
        cols[name] = pc.cast(col, pa.string())
    amount = cols["amount"].combine_chunks().to_numpy(zero_copy_only=False).copy()
    bad = rng.choice(len(amount), size=max(1, len(amount) // 500_000), replace=False)
    amount[bad] = "abc"
    cols["amount"] = pa.array(amount, pa.string())
    return pa.table(cols)


def write_shop(
    out: str | Path,
    n_users: int,
    *,
    formats: tuple[str, ...] = ("parquet", "csv"),
    chunk_users: int = 100_000,
    seed: int = 0,
    log: bool = True,
) -> dict[str, Path]:
    """Write ``events.parquet`` and/or ``events.csv`` for ``n_users`` users into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {f: out / f"events.{f}" for f in formats}
    tmp = {f: p.with_name(p.name + ".tmp") for f, p in paths.items()}
    pq_writer = csv_writer = None
    rng = np.random.default_rng(seed + 10**6)
    t0, n_events = time.perf_counter(), 0
    try:
        for c, first in enumerate(range(0, n_users, chunk_users)):
            table = chunk(first, min(chunk_users, n_users - first), n_events, seed + c)
            n_events += len(table)
            if "parquet" in paths:
                if pq_writer is None:
                    pq_writer = pq.ParquetWriter(tmp["parquet"], table.schema)
                pq_writer.write_table(table, row_group_size=1 << 20)
            if "csv" in paths:
                text = _as_text(table, rng)
                if csv_writer is None:
                    csv_writer = pacsv.CSVWriter(tmp["csv"], text.schema)
                csv_writer.write_table(text)
            if log:
                print(
                    f"  generated {min(first + chunk_users, n_users):,} users, {n_events:,} events "
                    f"({time.perf_counter() - t0:.0f}s)",
                    flush=True,
                )
    finally:
        for w in (pq_writer, csv_writer):
            if w is not None:
                w.close()
    for f, p in paths.items():
        tmp[f].replace(p)
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
