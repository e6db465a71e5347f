"""Per-user features in SQL: values checked by hand on a small log."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from userseg.config import EventMapping, FeatureConfig, RowPolicy, Source
from userseg.errors import ConfigError, DataError
from userseg.features.build import build_features, load_features
from userseg.io import Database, ingest_events, ingest_users

LOG = """user,ts,type,amount,cat,order
a,2024-01-01 10:00:00,view,,shoes,
a,2024-01-01 10:10:00,add_to_cart,,shoes,
a,2024-01-01 10:20:00,purchase,100.10,shoes,o1
a,2024-01-01 12:00:00,view,,books,
a,2024-01-05 09:00:00,purchase,50.05,books,o2
a,2024-01-08 09:00:00,refund,50.05,books,o2
b,2024-01-09 08:00:00,view,,books,
b,2024-01-09 08:05:00,view,,books,
c,2024-01-20 08:00:00,view,,toys,
"""
MAP = EventMapping(
    user_id="user", time="ts", event="type", amount="amount", category="cat", order_id="order"
)


@pytest.fixture
def log_db(write) -> Database:
    db = Database(":memory:")
    ingest_events(
        db, Source(path=str(write("e.csv", LOG))), MAP, RowPolicy(now=dt.datetime(2025, 1, 1))
    )
    return db


def _row(db: Database, user: str) -> dict:
    return load_features(db, table="features").loc[user].to_dict()


def test_rfm_and_activity_by_hand(log_db) -> None:
    fs = build_features(log_db, FeatureConfig(as_of=dt.date(2024, 1, 11), smoothing=0))
    a = _row(log_db, "a")
    assert a["recency_days"] == pytest.approx(3 - 9 / 24)  # last event 2024-01-08 09:00
    assert a["days_since_purchase"] == pytest.approx(6 - 9 / 24)
    assert a["frequency"] == 2
    assert a["tenure_days"] == pytest.approx(10 - 10 / 24)
    assert a["n_events"] == 6 and a["active_days"] == 3
    assert a["sessions"] == 4  # 30-minute gap rule: 10:00-10:20 | 12:00 | 01-05 | 01-08
    assert a["view_to_cart"] == pytest.approx(1 / 2)
    assert a["cart_to_purchase"] == pytest.approx(2 / 1)
    assert a["return_rate"] == pytest.approx(1 / 2)
    assert a["avg_order_value"] == pytest.approx(150.15 / 2)
    assert a["share_books"] == pytest.approx(3 / 6) and a["share_shoes"] == pytest.approx(3 / 6)
    # money is exact in the table: 100.10 + 50.05 - 50.05
    assert log_db.scalar("SELECT monetary FROM features WHERE user_id = 'a'") == Decimal("100.10")
    b = _row(log_db, "b")
    assert b["frequency"] == 0 and b["monetary"] == 0 and b["sessions"] == 1
    observed = (dt.datetime(2024, 1, 11) - dt.datetime(2024, 1, 1, 10)).total_seconds() / 86400
    assert b["days_since_purchase"] == pytest.approx(observed)  # never bought: whole window
    names = [f.name for f in fs.features]
    assert names[:4] == ["recency_days", "days_since_purchase", "frequency", "monetary"]
    assert fs.n_users == 2  # c's only event is after the as-of date


def test_default_as_of_is_the_day_after_the_last_event_not_the_wall_clock(log_db) -> None:
    fs = build_features(log_db)
    assert fs.as_of == dt.date(2024, 1, 21)
    assert _row(log_db, "c")["recency_days"] == pytest.approx(1 - 8 / 24)


def test_smoothing_shrinks_rates_toward_the_population(log_db) -> None:
    build_features(log_db, FeatureConfig(as_of=dt.date(2024, 1, 21), smoothing=5))
    # population: 5 views, 1 cart; user b: 2 views, 0 carts -> (0 + 5 * 1/5) / (2 + 5)
    assert _row(log_db, "b")["view_to_cart"] == pytest.approx(1 / 7)
    # shares: 9 events with a category, 5 books; c has 1 toys event -> (0 + 5 * 5/9) / (1 + 5)
    assert _row(log_db, "c")["share_books"] == pytest.approx((5 * 5 / 9) / 6)


def test_no_events_before_as_of(log_db) -> None:
    with pytest.raises(DataError, match="no events before the as-of date 2020-01-01"):
        build_features(log_db, FeatureConfig(as_of=dt.date(2020, 1, 1)))


def test_include_exclude(log_db) -> None:
    fs = build_features(
        log_db,
        FeatureConfig(include=["recency_days", "frequency", "monetary"], exclude=["monetary"]),
    )
    assert [f.name for f in fs.features] == ["recency_days", "frequency"]
    assert log_db.columns("features") == ["user_id", "recency_days", "frequency"]
    with pytest.raises(ConfigError, match=r"unknown feature\(s\) \['spend'\]"):
        build_features(log_db, FeatureConfig(exclude=["spend"]))


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (FeatureConfig(top_categories=-1), "top_categories must be >= 0"),
        (FeatureConfig(session_gap_minutes=0), "session_gap_minutes must be > 0"),
        (FeatureConfig(smoothing=-5), "smoothing must be >= 0"),
    ],
)
def test_feature_settings_that_build_nothing_sensible_are_refused(log_db, config, words) -> None:
    with pytest.raises(ConfigError, match=words):
        build_features(log_db, config)


def test_attributes_are_joined_and_dates_become_days(log_db, write) -> None:
    p = write(
        "u.csv",
        "user,region,signup,recency_days\na,north,2023-12-01,1\n"
        "b,south,2024-01-01,2\nz,east,2024-01-01,3\n",
    )
    ingest_users(log_db, Source(path=str(p)))
    fs = build_features(log_db, FeatureConfig(as_of=dt.date(2024, 1, 21)))
    kinds = {f.name: f.kind for f in fs.features}
    assert kinds["region"] == "categorical" and kinds["signup_days"] == "numeric"
    assert "recency_days_attr" in kinds  # an attribute clashing with a feature is renamed
    a = _row(log_db, "a")
    assert a["region"] == "north" and a["signup_days"] == pytest.approx(51)
    assert any("1 users of the user table have no events" in n for n in fs.notes)


def test_user_table_alone(write) -> None:
    db = Database(":memory:")
    ingest_users(db, Source(path=str(write("u.csv", "id,x,g\n1,2.5,a\n2,3.5,b\n"))))
    fs = build_features(db)
    assert [f.name for f in fs.features] == ["x", "g"]
    assert fs.as_of is None and fs.n_users == 2


def test_transaction_log_without_event_column(write) -> None:
    db = Database(":memory:")
    p = write(
        "t.csv",
        "c,t,q,p,inv\nx,2024-01-01,2,1.50,i1\nx,2024-01-01,1,2.00,i1\nx,2024-01-03,-1,2.00,i2\n",
    )
    ingest_events(
        db,
        Source(path=str(p)),
        EventMapping(user_id="c", time="t", quantity="q", price="p", order_id="inv"),
        RowPolicy(now=dt.datetime(2025, 1, 1)),
    )
    fs = build_features(db)
    names = [f.name for f in fs.features]
    assert "view_to_cart" not in names and "sessions" not in names
    assert "days_since_purchase" not in names  # recency is purchase recency here
    x = load_features(db, fs).loc["x"]
    assert x["frequency"] == 1 and x["monetary"] == pytest.approx(3.0)
    assert db.scalar("SELECT monetary FROM features") == Decimal("3.00")


def test_nothing_to_build() -> None:
    with pytest.raises(DataError, match="run `userseg ingest` first"):
        build_features(Database(":memory:"))


def test_compute_features_rebuilds_the_training_rows(log_db, write) -> None:
    from userseg.features.build import compute_features

    p = write(
        "u.csv", "user,region,signup,recency_days\na,north,2023-12-01,1\nb,south,2024-01-01,2\n"
    )
    ingest_users(log_db, Source(path=str(p)))
    fs = build_features(log_db, FeatureConfig(as_of=dt.date(2024, 1, 21)))
    table = load_features(log_db, fs)
    again = compute_features(log_db, fs, ["b", "a", "nobody"], as_of=dt.datetime(2024, 1, 21))
    assert list(again.columns) == [f.name for f in fs.features]
    assert sorted(again.index) == ["a", "b"]  # users without events are absent
    pd.testing.assert_frame_equal(again.loc[["a", "b"]], table.loc[["a", "b"]], check_dtype=False)
    # by default recency is measured as in training: the day after the latest event
    live = compute_features(log_db, fs, ["a"])
    assert live.loc["a", "recency_days"] == pytest.approx(_row(log_db, "a")["recency_days"])


def test_a_category_called_other_does_not_clash(write) -> None:
    rows = "".join(
        f"u{i % 20},2024-01-{1 + i % 28:02d},view,{'Other' if i % 3 == 0 else f'c{i % 11}'}\n"
        for i in range(600)
    )
    db = Database(":memory:")
    ingest_events(
        db,
        Source(path=str(write("c.csv", "user,ts,type,cat\n" + rows))),
        EventMapping(user_id="user", time="ts", event="type", category="cat"),
        RowPolicy(now=dt.datetime(2025, 1, 1)),
    )
    fs = build_features(db, FeatureConfig(top_categories=4))
    names = [f.name for f in fs.features]
    assert len(names) == len(set(names))
    assert "share_other_" in names and "share_other" in names  # the category, the rest


def test_purchases_without_order_ids_still_count_as_orders(log_db) -> None:
    from userseg.features.build import compute_features

    fs = build_features(log_db, FeatureConfig(as_of=dt.date(2024, 1, 21)))
    log_db.execute(
        "INSERT INTO events (user_id, ts, event, amount) VALUES "
        "('b', TIMESTAMP '2024-01-15 10:00:00', 'purchase', 50), "
        "('b', TIMESTAMP '2024-01-16 10:00:00', 'purchase', 70)"
    )
    live = compute_features(log_db, fs, ["b"], as_of=dt.datetime(2024, 1, 21))
    assert live.loc["b", "frequency"] == 2 and live.loc["b", "avg_order_value"] == 60
