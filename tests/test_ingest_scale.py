"""The front door at scale (issue 17): bounded memory, typed reads, progress, incremental."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from userseg.config import EventMapping, FeatureConfig, RowPolicy, Source
from userseg.features.build import build_features
from userseg.io import Database, ingest_events

psutil = pytest.importorskip("psutil")

NOW = dt.datetime(2025, 1, 1)
MAP = EventMapping(
    user_id="user", time="ts", event="type", amount="amount", category="cat", event_id="id"
)


def _events_sql(n: int, users: int, offset: int = 0) -> str:
    """SQL of ``n`` generated events of ``users`` users (a shop log, typed as Parquet keeps it)."""
    return f"""
        SELECT 'e' || (i + {offset}) AS id,
               'u' || ((i * 7919) % {users}) AS "user",
               TIMESTAMP '2024-01-01' + INTERVAL (i % 31536000) SECOND AS ts,
               ['view', 'view', 'add_to_cart', 'purchase', 'refund'][1 + i % 5] AS "type",
               CASE WHEN i % 5 = 3 THEN CAST(1 + (i % 997) / 100 AS DECIMAL(10, 2))
                    WHEN i % 5 = 4 THEN CAST(-(1 + (i % 89) / 100) AS DECIMAL(10, 2)) END
                   AS amount,
               -- category k holds (2k + 1) of every 169 events: a clear ranking, no ties
               'cat' || CAST(floor(sqrt(i % 169)) AS INTEGER) AS cat
        FROM range({offset}, {offset} + {n}) t(i)"""


def _write(path: Path, sql: str) -> Path:
    fmt = "parquet" if path.suffix == ".parquet" else "csv"
    con = duckdb.connect()
    con.execute(f"COPY ({sql}) TO '{path}' (FORMAT {fmt})")
    con.close()
    return path


def _peak_rss_mb(cmd: list[str]) -> tuple[int, float, str]:
    """Run ``cmd``; its exit status, its peak resident memory (MB, sampled) and its output."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.02)
    out = proc.communicate()[0]
    return proc.returncode, peak / 2**20, out


@pytest.mark.slow
def test_a_memory_limit_is_honoured_on_a_5m_row_import(tmp_path) -> None:
    # The trial's import grew to 18.6 GB at 30M events (DuckDB's default limit is 80 % of
    # the machine, and every stage was a table held in memory). Under --memory-limit the
    # process stays near the limit and DuckDB spills the rest beside the database.
    src = _write(tmp_path / "events.parquet", _events_sql(5_000_000, 200_000))
    db = tmp_path / "shop.duckdb"
    limit_mb = 400
    userseg = [sys.executable, "-m", "userseg"]
    flags = [
        "--user-id",
        "user",
        "--time",
        "ts",
        "--event",
        "type",
        "--amount",
        "amount",
        "--category",
        "cat",
        "--event-id",
        "id",
        "--memory-limit",
        f"{limit_mb}MB",
    ]
    code, peak, out = _peak_rss_mb([*userseg, "ingest", str(src), "--db", str(db), *flags])
    assert code == 0, out
    assert "5,000,000 of 5,000,000 rows loaded" in out
    # the interpreter with userseg's libraries takes ~300 MB before DuckDB allocates anything
    assert peak < limit_mb + 450, f"ingest peaked at {peak:.0f} MB under a {limit_mb} MB limit"
    code, peak, out = _peak_rss_mb(
        [*userseg, "features", "--db", str(db), "--memory-limit", f"{limit_mb}MB", "--json"]
    )
    assert code == 0, out
    assert peak < limit_mb + 450, f"features peaked at {peak:.0f} MB under a {limit_mb} MB limit"


def test_memory_limit_setting_is_parsed_and_applied(tmp_path) -> None:
    from userseg.errors import ConfigError
    from userseg.io.database import parse_memory_limit

    db = Database(tmp_path / "x.duckdb", memory_limit="300MB")
    assert db.scalar("SELECT current_setting('memory_limit')") == "286.1 MiB"
    assert db.scalar("SELECT current_setting('temp_directory')").endswith("x.duckdb.tmp")
    db.close()
    assert parse_memory_limit("1.5GB") == 1_500_000_000
    assert parse_memory_limit("2GiB") == 2 * 2**30
    with pytest.raises(ConfigError, match="memory limit must be a size"):
        parse_memory_limit("lots")
    with pytest.raises(ConfigError, match="at least 64MB"):
        parse_memory_limit("1MB")


def test_typed_parquet_is_read_as_typed_and_money_stays_exact(tmp_path) -> None:
    # no detour through text: timestamps (zoned ones in UTC), exact decimals, integer ids,
    # and a NaN in a float rating is still a bad value
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    src = tmp_path / "typed.parquet"
    con.execute(f"""COPY (SELECT * FROM (VALUES
        (17850, TIMESTAMPTZ '2024-03-01 10:00:00+02', 'purchase', 19.99::DECIMAL(12, 2), 4.0),
        (17850, TIMESTAMPTZ '2024-03-02 10:00:00+00', 'purchase', 0.10::DECIMAL(12, 2),
         'nan'::DOUBLE),
        (42, TIMESTAMPTZ '2024-03-03 10:00:00+00', 'refund', 5.25::DECIMAL(12, 2), NULL)
        ) t(customer, at_time, kind, paid, stars)) TO '{src}' (FORMAT parquet)""")
    db = Database(":memory:")
    m = EventMapping(
        user_id="customer", time="at_time", event="kind", amount="paid", rating="stars"
    )
    rep = ingest_events(
        db,
        Source(path=str(src)),
        m,
        RowPolicy(now=NOW, on_bad_value="impute", max_bad_fraction=0.5),
    )
    assert rep.rows_loaded == 3
    bad = [i for i in rep.issues if i.kind == "bad_number"]
    assert bad[0].column == "stars" and bad[0].examples[0]["value"] == "nan"
    rows = db.rows("SELECT user_id, ts, amount, rating FROM events ORDER BY ts")
    assert rows[0] == ("17850", dt.datetime(2024, 3, 1, 8), Decimal("19.99"), 4.0)
    assert rows[2][0] == "42" and rows[2][2] == Decimal("-5.25")
    assert db.scalar("SELECT sum(amount) FROM events") == Decimal("14.84")


def test_progress_is_reported_with_rows_per_second(tmp_path) -> None:
    src = _write(tmp_path / "e.csv", _events_sql(300_000, 5_000))
    calls = []
    db = Database(":memory:")
    ingest_events(
        db,
        Source(path=str(src)),
        MAP,
        RowPolicy(now=NOW),
        progress=lambda stage, frac, rate: calls.append((stage, frac, rate)),
    )
    stages = [c[0] for c in calls]
    assert stages[0] == "checking" and "writing" in stages
    fractions = [c[1] for c in calls]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any(rate and rate > 1000 for _, _, rate in calls)


def _features(db: Database) -> list[tuple]:
    return db.rows("SELECT * FROM features ORDER BY user_id")


def test_features_after_an_append_recompute_only_the_touched_users(tmp_path) -> None:
    day1 = _write(tmp_path / "day1.parquet", _events_sql(60_000, 3_000))
    # day 2: new events of 40 users (some new), later than day 1's
    day2 = _write(
        tmp_path / "day2.parquet",
        "SELECT 'n' || i AS id, 'u' || (i % 40 * 97) AS \"user\", "
        "TIMESTAMP '2025-01-02' + INTERVAL (i) MINUTE AS ts, 'purchase' AS \"type\", "
        "CAST(2.50 AS DECIMAL(10, 2)) AS amount, 'cat' || (i % 13) AS cat FROM range(500) t(i)",
    )
    db = Database(tmp_path / "inc.duckdb")
    policy = RowPolicy(now=dt.datetime(2025, 2, 1))
    ingest_events(db, Source(path=str(day1)), MAP, policy)
    first = build_features(db)
    assert not any("recomputed" in n for n in first.notes)
    ingest_events(db, Source(path=str(day2)), MAP, policy, mode="append")
    again = build_features(db)
    note = [n for n in again.notes if "recomputed" in n]
    assert note and note[0].startswith("features of 40 users with new events recomputed")
    # exactly what a build from scratch gives (the spec, as-of date and every value)
    fresh = Database(tmp_path / "fresh.duckdb")
    ingest_events(fresh, Source(path=str(day1)), MAP, policy)
    ingest_events(fresh, Source(path=str(day2)), MAP, policy, mode="append")
    db.execute("DROP TABLE userseg_user_stats")  # no kept statistics: a full build
    scratch = build_features(fresh, FeatureConfig())
    assert again.as_of == scratch.as_of == dt.date(2025, 1, 3)
    assert again.spec == scratch.spec
    assert _features(db) == _features(fresh)


def test_kept_statistics_are_dropped_when_the_events_change_behind_their_back(tmp_path) -> None:
    day1 = _write(tmp_path / "day1.csv", _events_sql(5_000, 300))
    db = Database(tmp_path / "x.duckdb")
    ingest_events(db, Source(path=str(day1)), MAP, RowPolicy(now=NOW))
    build_features(db)
    before = db.scalar("SELECT monetary FROM features WHERE user_id = 'u1'")
    # a row written by hand, not through userseg: the counts no longer match the log
    db.execute(
        "INSERT INTO events SELECT 'u1', TIMESTAMP '2024-12-31', 'purchase', 'purchase', 1000, "
        "NULL, 'cat1', NULL, NULL, NULL, 'manual'"
    )
    again = build_features(db)
    assert not any("recomputed" in n for n in again.notes)  # rebuilt from scratch
    assert db.scalar("SELECT monetary FROM features WHERE user_id = 'u1'") == before + 1000
    # a replacing import voids the kept statistics too
    ingest_events(db, Source(path=str(day1)), MAP, RowPolicy(now=NOW))
    third = build_features(db)
    assert not any("recomputed" in n for n in third.notes)
    assert db.scalar("SELECT monetary FROM features WHERE user_id = 'u1'") == before


def test_rows_keep_the_source_order(tmp_path) -> None:
    src = _write(
        tmp_path / "e.csv", _events_sql(20_000, 500) + " UNION ALL " + _events_sql(10, 500)
    )
    db = Database(":memory:")
    ingest_events(db, Source(path=str(src)), MAP, RowPolicy(now=NOW))
    ids = [r[0] for r in db.rows("SELECT event_id FROM events")]
    assert ids == [f"e{i}" for i in range(20_000)]  # the 10 repeated ids dropped, order kept


def test_os_environment_sets_the_default_limit(monkeypatch) -> None:
    monkeypatch.setenv("USERSEG_MEMORY_LIMIT", "700MB")
    db = Database(":memory:")
    assert db.memory_limit == 700_000_000
    assert os.environ["USERSEG_MEMORY_LIMIT"] == "700MB"
