"""Features older than the data: every command that reads them says so, or rebuilds them.

A trial appended a later period of a purchase log (``ingest --mode append``) without
running ``features``: ``drift`` advised a refit from the new events while
``fit --previous latest`` silently refitted the old feature table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from userseg.cli import app

runner = CliRunner()
FLAGS = ["--user-id", "customer", "--time", "ts", "--amount", "value", "--event-id", "line"]


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _purchases(users: range, start: str, days: int, seed: int, first_line: int) -> pd.DataFrame:
    """Order lines of ``users`` over ``days`` days: light, regular and big spenders."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in users:
        kind = u % 3
        n = [1, 5, 12][kind] + int(rng.poisson(1))
        for _ in range(n):
            rows.append(
                {
                    "customer": f"c{u}",
                    "ts": pd.Timestamp(start)
                    + pd.Timedelta(minutes=int(rng.integers(0, days * 1440))),
                    "value": round(float([15, 60, 300][kind] * rng.lognormal(0, 0.2)), 2),
                }
            )
    out = pd.DataFrame(rows).sort_values("ts", kind="stable")
    out["line"] = np.arange(first_line, first_line + len(out))
    out["ts"] = out.ts.dt.strftime("%Y-%m-%d %H:%M:%S")
    return out


@pytest.fixture
def shop(tmp_path) -> tuple[Path, Path, Path]:
    """A first period imported, featured and fitted (run 1); a later period on disk."""
    first = _purchases(range(400), "2024-01-01", 180, seed=1, first_line=0)
    later = _purchases(range(300, 500), "2024-07-01", 60, seed=2, first_line=100_000)
    p1, p2 = tmp_path / "h1.csv", tmp_path / "h2.csv"
    first.to_csv(p1, index=False)
    later.to_csv(p2, index=False)
    db = tmp_path / "shop.duckdb"
    assert run("ingest", p1, "--db", db, *FLAGS).exit_code == 0
    assert run("features", "--db", db).exit_code == 0
    res = run("fit", "--db", db, "--k", "3", "--stability-runs", "0", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["features_stale"] is None
    return db, p1, p2


def test_commands_that_read_features_say_when_the_data_changed_after(shop, tmp_path) -> None:
    db, p1, p2 = shop
    res = run("ingest", p2, "--db", db, *FLAGS, "--mode", "append", "--json")
    assert res.exit_code == 0, res.output
    added = json.loads(res.stdout)["rows_loaded"]

    # fit on the old feature table: a warning line, the field in --json, and a note kept
    # with the run (the report shows it).
    res = run("fit", "--db", db, "--k", "3", "--stability-runs", "0", "--previous", "latest")
    assert res.exit_code == 0, res.output
    assert "warning: the data changed after feature set 1 was built" in " ".join(res.stdout.split())
    res = run("fit", "--db", db, "--k", "3", "--stability-runs", "0", "--json")
    stale = json.loads(res.stdout)["features_stale"]
    assert stale["feature_set_id"] == 1
    [change] = stale["changes"]
    assert change["table"] == "events" and change["rows_now"] - change["rows_then"] == added
    assert f"{added:,} rows added by import 2" in change["change"]
    assert "--rebuild-features" in stale["message"]
    assert any("feature set 1" in n for n in json.loads(res.stdout)["notes"])
    report = tmp_path / "r.html"
    assert run("report", "--db", db, "--out", report).exit_code == 0
    assert "the data changed after feature set 1 was built" in report.read_text()
    res = run("rules", "--db", db)
    assert res.exit_code == 0 and "warning:" in res.stdout

    # drift reads the new events; it says the feature table (its users) is older.
    res = run("drift", "--db", db, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["features_stale"]["feature_set_id"] == 1
    res = run("select", "--db", db, "--json")
    assert json.loads(res.stdout)["features_stale"]["feature_set_id"] == 1

    # fit --rebuild-features builds them again (same settings) and fits the new users.
    res = run(
        "fit", "--db", db, "--k", "3", "--stability-runs", "0", "--rebuild-features", "--json"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["features_stale"] is None and out["features_rebuilt"] == 2
    assert out["n_users"] == 500 and out["feature_set_id"] == 2
    for command in ("select", "drift"):
        res = run(command, "--db", db, "--json")
        assert json.loads(res.stdout)["features_stale"] is None, command

    # Importing rows already there (an overlapping export) changes nothing: no warning.
    res = run("ingest", p1, "--db", db, *FLAGS, "--mode", "append", "--json")
    assert json.loads(res.stdout)["rows_loaded"] == 0
    res = run("select", "--db", db, "--json")
    assert json.loads(res.stdout)["features_stale"] is None


def test_events_recorded_live_make_the_feature_table_stale(shop) -> None:
    from userseg.jobs import pipeline
    from userseg.jobs.live import LiveScorer
    from userseg.store import feature_freshness, latest_feature_set

    db, _, _ = shop
    con = pipeline.open_db(db)
    try:
        LiveScorer(con).record(
            [
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": "c1",
                    "messageId": "m1",
                    "timestamp": "2024-06-30T10:00:00Z",
                    "properties": {"revenue": 20.0},
                },
            ]
        )
        fresh = feature_freshness(con, latest_feature_set(con))
    finally:
        con.close()
    assert fresh.stale
    assert fresh.changes[0]["change"] == "1 row added by `stream` or the service"
