"""Campaign outcomes from the event log (DuckDB) or from a frame; unknown users counted."""

from __future__ import annotations

import datetime as dt
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from userseg.activate.outcomes import for_lift, outcomes_from_events, outcomes_from_frame
from userseg.errors import ConfigError, DataError, DataQualityWarning, SchemaError

START = dt.date(2024, 3, 1)


def _events_db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = [
        # user, ts, event, amount
        ("a", "2024-02-10 10:00", "purchase", "20.00"),  # pre-period
        ("a", "2024-03-02 09:00", "purchase", "35.50"),  # in window
        ("a", "2024-03-05 09:00", "refund", "-5.50"),  # in window, a return
        ("b", "2024-03-01 00:00", "view", None),  # in window, not a conversion
        ("b", "2024-04-01 00:00", "purchase", "99.00"),  # after the window (30 days)
        ("c", "2024-02-29 23:59:59", "purchase", "10.00"),  # pre-period, the last second
        ("c", "2024-03-30 23:59:59", "purchase", "1.25"),  # last second of the window
        ("x", "2024-03-03 12:00", "purchase", "500.00"),  # not in the campaign
    ]
    con.execute(
        "CREATE TABLE events (user_id VARCHAR, ts TIMESTAMP, event VARCHAR, "
        "event_raw VARCHAR, amount DECIMAL(38, 8))"
    )
    for u, ts, ev, amt in rows:
        con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)", [u, ts, ev, ev, amt])
    return con


def test_outcomes_from_the_event_log_in_a_window_after_the_start() -> None:
    con = _events_db()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = outcomes_from_events(con, ["a", "b", "c", "d"], START, days=30)
    f = out.frame.set_index("user_id")
    assert list(out.frame["user_id"]) == ["a", "b", "c", "d"]  # the campaign's order
    assert f["converted"].to_dict() == {"a": True, "b": False, "c": True, "d": False}
    assert f["revenue"].to_dict() == pytest.approx({"a": 30.0, "b": 0.0, "c": 1.25, "d": 0.0})
    # pre-period (same length, just before the start) for CUPED
    assert f["pre_revenue"].to_dict() == pytest.approx({"a": 20.0, "b": 0.0, "c": 10.0, "d": 0.0})
    r = out.report
    assert r["source"] == "events" and r["n_users"] == 4 and r["n_converted"] == 2
    assert r["n_without_events"] == 1 and r["examples_without_events"] == ["d"]
    assert r["window"] == ["2024-03-01T00:00:00", "2024-03-31T00:00:00"]
    assert r["pre_window"] == ["2024-01-31T00:00:00", "2024-03-01T00:00:00"]
    assert r["window_complete"] is True
    assert any("1 of 4 campaign users have no events" in str(w.message) for w in caught)


def test_a_window_past_the_end_of_the_data_is_said() -> None:
    con = _events_db()
    with pytest.warns(DataQualityWarning, match="ends .*2024-04-01.*before the window"):
        out = outcomes_from_events(con, ["a", "b"], START, days=60)
    assert out.report["window_complete"] is False
    with pytest.raises(DataError, match="starts after the last event"):
        outcomes_from_events(con, ["a"], dt.date(2024, 6, 1), days=30)


def test_event_kinds_are_parameters_and_bound() -> None:
    con = _events_db()
    out = outcomes_from_events(
        con, ["b"], START, days=30, conversion_events=["view"], revenue_events=["purchase"]
    )
    assert bool(out.frame["converted"][0]) is True
    # a kind that looks like SQL is only ever a bound value
    out = outcomes_from_events(con, ["a"], START, days=30, conversion_events=["x') OR 1=1 --"])
    assert bool(out.frame["converted"][0]) is False


def test_none_of_the_users_in_the_log_is_an_error() -> None:
    with pytest.raises(DataError, match=r"none of the 2 campaign users.*same ids"):
        outcomes_from_events(_events_db(), ["zz", "yy"], START, days=30)


def test_events_bad_input() -> None:
    con = _events_db()
    with pytest.raises(SchemaError, match="'amount'"):
        con.execute("CREATE TABLE ev2 AS SELECT user_id, ts, event FROM events")
        outcomes_from_events(con, ["a"], START, table="ev2")
    with pytest.raises(DataError, match="table 'nope'"):
        outcomes_from_events(con, ["a"], START, table="nope")
    with pytest.raises(ConfigError, match="days"):
        outcomes_from_events(con, ["a"], START, days=0)
    with pytest.raises(DataError, match="no campaign users"):
        outcomes_from_events(con, [], START)


# --- from a frame (an imported file) -----------------------------------------------------------
def test_outcomes_from_a_frame_count_unknown_missing_and_duplicate_users() -> None:
    users = ["a", "b", "c", "d"]
    file = pd.DataFrame(
        {
            "user_id": ["a", "b", "b", "zz1", "zz2", "c"],
            "converted": ["yes", "0", "1", "1", "1", "false"],
            "revenue": [10.0, 0.0, 5.0, 99.0, 1.0, None],
        }
    )
    with pytest.warns(DataQualityWarning, match="2 users in the outcomes are not in the campaign"):
        out = outcomes_from_frame(file, users)
    f = out.frame.set_index("user_id")
    assert list(out.frame["user_id"]) == users
    assert f["converted"].to_dict() == {"a": True, "b": True, "c": False, "d": False}
    assert f["revenue"].to_dict() == pytest.approx({"a": 10, "b": 5, "c": 0, "d": 0})
    r = out.report
    assert r["n_unknown"] == 2 and r["examples_unknown"] == ["zz1", "zz2"]
    assert r["unknown_revenue"] == pytest.approx(100.0)  # what was left out, said
    assert r["n_missing"] == 1 and r["missing_policy"] == "zero"
    assert r["n_duplicates_merged"] == 1 and r["n_revenue_blank"] == 1
    with pytest.raises(DataError, match=r"2 users in the outcomes are not in the campaign.*zz1"):
        outcomes_from_frame(file, users, unknown="error")
    with (
        pytest.raises(DataError, match=r"1 campaign user.*no row"),
        pytest.warns(DataQualityWarning),
    ):
        outcomes_from_frame(file[file.user_id != "zz1"], users, missing="error")


def test_frame_bad_values_are_named() -> None:
    users = ["a", "b"]
    bad = pd.DataFrame({"user_id": ["a", "b"], "converted": ["yes", "maybe"], "revenue": [1, 2]})
    with pytest.raises(DataError, match=r"converted: 1 value.*'maybe'"):
        outcomes_from_frame(bad, users)
    bad = pd.DataFrame({"user_id": ["a", "b"], "converted": [1, 0], "revenue": ["1", "lots"]})
    with pytest.raises(DataError, match=r"revenue: 1 value.*'lots'"):
        outcomes_from_frame(bad, users)
    bad = pd.DataFrame({"user_id": ["a", "b"], "converted": [1, 0], "revenue": [1, np.inf]})
    with pytest.raises(DataError, match="revenue: 1 value"):
        outcomes_from_frame(bad, users)
    with pytest.raises(SchemaError, match=r"'converted'.*available: user_id, revenue"):
        outcomes_from_frame(pd.DataFrame({"user_id": ["a"], "revenue": [1]}), users)
    with pytest.raises(ConfigError, match="unknown="):
        outcomes_from_frame(
            pd.DataFrame({"user_id": ["a"], "converted": [1], "revenue": [1]}),
            users,
            unknown="ignore",
        )


def test_for_lift_joins_arms_and_outcomes() -> None:
    arms = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "segment": [0, 0, 1],
            "arm": ["control", "treatment", "treatment"],
        }
    )
    out = outcomes_from_frame(
        pd.DataFrame({"user_id": ["a", "c"], "converted": [1, 1], "revenue": [3.0, 4.0]}),
        ["a", "b", "c"],
    )
    frame = for_lift(arms, out)
    assert list(frame.columns) == ["user_id", "segment", "arm", "converted", "revenue"]
    assert frame["converted"].tolist() == [True, False, True]
    with pytest.raises(DataError, match=r"1 user.*arms.*no outcome"):
        for_lift(pd.concat([arms, arms.iloc[[0]].assign(user_id="q")]), out)
