"""`userseg value` through Typer's runner: the table, --json, --holdout-from, --out, exit codes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from userseg.cli import app
from userseg.value.simulate import simulate_events

runner = CliRunner()
BG = {"r": 0.75, "alpha": 20.0, "a": 0.8, "b": 2.5}
GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
FLAGS = ["--user-id", "user_id", "--time", "ts", "--amount", "amount"]


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _ingest(tmp: Path, log: pd.DataFrame, name: str) -> Path:
    csv = tmp / f"{name}.csv"
    log.assign(ts=log["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(csv, index=False)
    db = tmp / f"{name}.duckdb"
    res = run("ingest", csv, "--db", db, *FLAGS)
    assert res.exit_code == 0, res.output
    return db


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory) -> Path:
    log = simulate_events(3000, BG, GG, start=dt.date(2023, 1, 1), end=dt.date(2024, 7, 1), seed=5)
    return _ingest(tmp_path_factory.mktemp("value"), log, "shop")


def test_value_table(shop_db) -> None:
    res = run("value", "--db", shop_db, "--as-of", "2024-07-01", "--horizon-days", "90")
    assert res.exit_code == 0, res.output
    out = res.stdout
    for text in ("BG/NBD", "Gamma-Gamma", "P(alive)", "high value", "at risk", "independence"):
        assert text in out, text
    assert "90 days" in out


def test_value_json_and_out_file(shop_db, tmp_path) -> None:
    out = tmp_path / "values.csv"
    res = run("value", "--db", shop_db, "--as-of", "2024-07-01", "--json", "--out", out, "--top", 3)
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["as_of"] == "2024-07-01" and d["horizon_days"] == 365
    assert set(d["transactions"]["params"]) == {"r", "alpha", "a", "b"}
    assert set(d["spend"]["params"]) == {"p", "q", "gamma"}
    assert len(d["top"]) == 3 and d["top"][0]["value"] >= d["top"][1]["value"]
    assert {t["tier"] for t in d["tiers"]["summary"]} == {
        "high value",
        "potential high value",
        "at risk",
        "low value",
    }
    frame = pd.read_csv(out)
    assert len(frame) == d["n_customers"]
    assert {"user_id", "expected_purchases", "p_alive", "value", "tier"} <= set(frame.columns)


def test_value_holdout(shop_db) -> None:
    res = run("value", "--db", shop_db, "--as-of", "2024-07-01", "--holdout-from", "2024-01-01")
    assert res.exit_code == 0, res.output
    assert "decile" in res.stdout and "MAE" in res.stdout and "total relative error" in res.stdout
    res = run(
        "value", "--db", shop_db, "--as-of", "2024-07-01", "--holdout-from", "2024-01-01", "--json"
    )
    d = json.loads(res.stdout)
    assert len(d["deciles"]) == 10
    assert sum(r["actual_total"] for r in d["deciles"]) == d["actual_total"]
    assert abs(d["total_relative_error"]) < 0.2


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--horizon-days", "0"], "horizon_days=0 should be > 0"),
        (["--horizon-days", "-7"], "horizon_days=-7 should be > 0"),
        (["--discount-rate", "-1"], "discount_rate"),
        (["--as-of", "2001-01-01"], "before the first purchase"),
        (["--as-of", "2024-13-01"], "--as-of must be a date"),
        (["--holdout-from", "2025-01-01"], "holdout"),
        (["--holdout-from", "2001-01-01"], "before the first purchase"),
    ],
)
def test_value_bad_input_exits_2(shop_db, args, match) -> None:
    res = run("value", "--db", shop_db, *args)
    assert res.exit_code == 2, res.output
    assert match in res.output.replace("\n", " ")
    assert "Traceback" not in res.output


def test_value_bad_input_json_error_shape(shop_db) -> None:
    res = run("value", "--db", shop_db, "--horizon-days", "0", "--json")
    assert res.exit_code == 2
    assert json.loads(res.stdout)["error"]["code"] == "config_error"


def test_value_without_repeat_buyers_exits_2(tmp_path) -> None:
    log = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "amount": [10.0, 20.0, 30.0],
        }
    )
    db = _ingest(tmp_path, log, "once")
    res = run("value", "--db", db)
    assert res.exit_code == 2
    assert "no customer has a repeat purchase" in res.output.replace("\n", " ")


def test_value_missing_database_and_bad_out(tmp_path, shop_db) -> None:
    res = run("value", "--db", tmp_path / "nope.duckdb")
    assert res.exit_code == 2 and "not found" in res.output
    assert not (tmp_path / "nope.duckdb").exists()
    bad = tmp_path / "values.xlsx"
    res = run("value", "--db", shop_db, "--out", bad)
    assert res.exit_code == 2 and ".csv or .parquet" in res.output
    assert not bad.exists()
