"""Event log → per-user frequency, recency, T, spend (SQL); the holdout check; the value frame."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from userseg.config import EventMapping, Source
from userseg.errors import ConfigError, DataError, SchemaError
from userseg.value import customer_value, holdout_validation, transaction_summary
from userseg.value.simulate import simulate_events

BG = {"r": 0.75, "alpha": 20.0, "a": 0.8, "b": 2.5}
GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _log() -> pd.DataFrame:
    rows = [
        ("a", "2024-01-01 10:00", "purchase", 10.0),
        ("a", "2024-01-01 15:00", "purchase", 5.0),  # same day: one transaction of 15
        ("a", "2024-01-05 09:00", "purchase", 20.0),
        ("a", "2024-01-10 23:59", "purchase", 30.0),
        ("a", "2024-01-12 08:00", "refund", -30.0),  # returns are not purchases
        ("a", "2024-01-20 12:00", "view", None),
        ("a", "2024-02-01 12:00", "purchase", 99.0),  # on the default as-of day's eve
        ("b", "2024-01-20 18:30", "purchase", 12.5),
        ("c", "2024-01-03 11:00", "view", None),  # never bought: not a customer
    ]
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "ts": pd.to_datetime([r[1] for r in rows]),
            "event": [r[2] for r in rows],
            "amount": [r[3] for r in rows],
        }
    )


def test_summary_counts_purchase_days_at_the_as_of_date() -> None:
    s = transaction_summary(_log(), as_of=dt.date(2024, 1, 31))
    assert list(s.index) == ["a", "b"]
    a, b = s.loc["a"], s.loc["b"]
    # a bought on Jan 1, 5 and 10 before Jan 31: two repeat transactions, the last 9 days
    # after the first; observed from Jan 1 to Jan 30 (the last day before the as-of date)
    assert (a["frequency"], a["recency"], a["T"]) == (2, 9.0, 29.0)
    assert a["monetary"] == 25.0  # mean of the repeat transactions (20 and 30), first excluded
    assert a["spend_total"] == 65.0
    assert a["spend_net"] == 35.0  # less the refund of 30 on Jan 12 (net past value)
    assert (b["frequency"], b["recency"], b["T"]) == (0, 0.0, 10.0)
    assert np.isnan(b["monetary"]) and b["spend_total"] == 12.5 == b["spend_net"]
    assert s.attrs["as_of"] == dt.date(2024, 1, 31)
    assert s["frequency"].dtype.kind == "i"


def test_default_as_of_is_the_day_after_the_last_event() -> None:
    s = transaction_summary(_log())
    assert s.attrs["as_of"] == dt.date(2024, 2, 2)
    assert s.loc["a", "frequency"] == 3 and s.loc["a", "T"] == 31.0


def test_summary_from_the_database_equals_the_frame(tmp_path, write) -> None:
    from userseg.jobs import pipeline

    log = _log()
    path = write(
        "log.csv", log.assign(ts=log["ts"].dt.strftime("%Y-%m-%d %H:%M")).to_csv(index=False)
    )
    db = pipeline.open_db(tmp_path / "v.duckdb")
    pipeline.ingest(
        db,
        Source(path=str(path)),
        kind="events",
        mapping=EventMapping(user_id="user_id", time="ts", event="event", amount="amount"),
        policy=None,
    )
    from_db = transaction_summary(db, as_of=dt.date(2024, 1, 31))
    pd.testing.assert_frame_equal(from_db, transaction_summary(log, as_of=dt.date(2024, 1, 31)))
    db.close()


def test_summary_matches_the_published_cdnow_summary() -> None:
    """The CDNOW sample's transactions (inside lifetimes) give Fader-Hardie's x, t_x, T, zbar."""
    try:
        from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value
    except Exception as exc:
        pytest.skip(f"lifetimes (which ships the CDNOW sample) is not available: {exc!r}")
    import lifetimes.datasets

    raw = pd.read_csv(
        Path(lifetimes.datasets.__file__).parent / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master", "user_id", "date", "cds", "amount"],
        dtype={"user_id": int, "date": str},
    )
    log = pd.DataFrame(
        {"user_id": raw["user_id"], "ts": pd.to_datetime(raw["date"]), "amount": raw["amount"]}
    )
    s = transaction_summary(log, as_of=dt.date(1997, 10, 1))  # 39 weeks from 1 January
    ref = load_cdnow_summary_data_with_monetary_value()
    assert len(s) == len(ref) == 2357
    s = s.loc[ref.index]
    np.testing.assert_array_equal(s["frequency"].to_numpy(), ref["frequency"].to_numpy())
    np.testing.assert_allclose(s["recency"] / 7, ref["recency"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(s["T"] / 7, ref["T"], atol=0.005 + 1e-9)
    rep = ref["frequency"] > 0
    np.testing.assert_allclose(s.loc[rep, "monetary"], ref.loc[rep, "monetary_value"], atol=0.005)


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("as_of", [dt.date(2023, 12, 31), dt.date(2024, 1, 1)])
def test_as_of_before_the_first_purchase(as_of) -> None:
    with pytest.raises(DataError, match=r"before the first purchase .*2024-01-01"):
        transaction_summary(_log(), as_of=as_of)


def test_negative_purchase_spend_is_refused() -> None:
    log = _log()
    log.loc[2, "amount"] = -20.0
    with pytest.raises(DataError, match="negative spend") as err:
        transaction_summary(log, as_of=dt.date(2024, 1, 31))
    assert err.value.details["count"] == 1


def test_no_purchases_and_missing_columns() -> None:
    log = _log()
    with pytest.raises(DataError, match="no purchase"):
        transaction_summary(log[log["event"] != "purchase"])
    with pytest.raises(SchemaError, match="ts"):
        transaction_summary(log.drop(columns="ts"))


def test_missing_events_table(tmp_path) -> None:
    from userseg.jobs import pipeline

    db = pipeline.open_db(tmp_path / "empty.duckdb")
    with pytest.raises(DataError, match="events"):
        transaction_summary(db)
    db.close()


def test_value_on_users_with_no_repeat_purchases() -> None:
    log = _log()
    one_each = log.drop_duplicates("user_id")
    with pytest.raises(DataError, match="no customer has a repeat purchase"):
        customer_value(one_each)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"horizon_days": 0}, ConfigError, "horizon_days=0 should be > 0"),
        ({"horizon_days": -5}, ConfigError, "horizon_days=-5 should be > 0"),
        ({"discount_rate": -0.5}, ConfigError, "discount_rate"),
        ({"as_of": dt.date(2020, 1, 1)}, DataError, "before the first purchase"),
    ],
)
def test_customer_value_bad_input(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        customer_value(_log(), **kwargs)


# -- simulated shops: the value frame and the holdout check -------------------------------


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    return simulate_events(
        8000, BG, GG, start=dt.date(2023, 1, 1), end=dt.date(2024, 7, 1), seed=11
    )


def test_customer_value_frame(shop) -> None:
    res = customer_value(shop, as_of=dt.date(2024, 7, 1), horizon_days=180, discount_rate=0.1)
    f = res.frame
    assert {
        "frequency",
        "recency",
        "T",
        "monetary",
        "spend_total",
        "expected_purchases",
        "p_alive",
        "expected_spend",
        "value",
    } <= set(f.columns)
    assert len(f) == shop["user_id"].nunique()
    assert f["p_alive"].between(0, 1).all()
    assert (f["expected_purchases"] >= 0).all() and (f["value"] >= 0).all()
    assert (f.loc[f["frequency"] == 0, "p_alive"] == 1).all()  # BG/NBD: no repeat, no dropout
    # discounting only lowers the value
    undiscounted = customer_value(
        shop, as_of=dt.date(2024, 7, 1), horizon_days=180, discount_rate=0.0
    ).frame["value"]
    assert (f["value"] <= undiscounted + 1e-9).all() and (f["value"] < undiscounted).any()
    # the fitted parameters are near the truth on 8,000 simulated customers
    assert res.transactions.params_["r"] == pytest.approx(BG["r"], rel=0.25)
    assert res.spend is not None and res.spend.params_["p"] == pytest.approx(GG["p"], rel=0.25)
    d = res.to_dict(top=5)
    assert d["as_of"] == "2024-07-01" and len(d["top"]) == 5
    assert d["independence"]["passed"] is True
    assert d["formula"].startswith("value =")


def test_holdout_deciles_and_error(shop) -> None:
    rep = holdout_validation(shop, holdout_from=dt.date(2024, 1, 1), as_of=dt.date(2024, 7, 1))
    t = rep.deciles
    assert list(t["decile"]) == list(range(1, 11))
    calib_users = shop.loc[shop["ts"] < "2024-01-01", "user_id"].nunique()
    assert t["users"].sum() == calib_users == rep.n_users
    # actual purchases in the holdout counted independently: distinct purchase days
    hold = shop[(shop["ts"] >= "2024-01-01") & (shop["ts"] < "2024-07-01")]
    hold = hold[hold["user_id"].isin(shop.loc[shop["ts"] < "2024-01-01", "user_id"])]
    actual = hold.assign(day=hold["ts"].dt.date).drop_duplicates(["user_id", "day"])
    assert t["actual_total"].sum() == len(actual) == rep.actual_total
    assert t["predicted_total"].sum() == pytest.approx(rep.predicted_total)
    assert (np.diff(t["predicted_mean"]) >= 0).all()  # deciles ordered by prediction
    # the data come from the model: the total is right within 10 %, and the top decile
    # buys far more than the bottom one
    assert abs(rep.total_relative_error) < 0.10
    assert t["actual_mean"].iloc[-1] > 5 * t["actual_mean"].iloc[0]
    assert rep.mae < rep.baseline_mae  # beats "the same rate as before"
    assert rep.holdout_days == 182


def test_holdout_bad_dates(shop) -> None:
    with pytest.raises(ConfigError, match="holdout"):
        holdout_validation(shop, holdout_from=dt.date(2024, 8, 1))
    with pytest.raises(DataError, match="before the first purchase"):
        holdout_validation(shop, holdout_from=dt.date(2022, 1, 1))


def test_value_without_amounts_gives_purchases_and_p_alive_only(shop) -> None:
    res = customer_value(shop.drop(columns="amount"), as_of=dt.date(2024, 7, 1))
    assert "value" not in res.frame.columns and res.spend is None
    assert res.frame["expected_purchases"].notna().all()
    assert any("no purchase amounts" in n for n in res.notes)


def test_repeat_buyers_without_usable_spend_get_the_population_mean(shop) -> None:
    from userseg.errors import DataQualityWarning

    log = shop.copy()
    day = log["ts"].dt.normalize()
    later_day = log.groupby("user_id")["ts"].transform("min").dt.normalize() < day
    repeaters = log.loc[later_day, "user_id"].unique()
    free, unknown = repeaters[0], repeaters[1]
    log.loc[later_day & (log["user_id"] == free), "amount"] = 0.0
    log.loc[later_day & (log["user_id"] == unknown), "amount"] = np.nan
    with pytest.warns(DataQualityWarning, match="left out of the spend fit"):
        res = customer_value(log, as_of=dt.date(2024, 7, 1))
    mean = res.spend.population_mean_
    assert res.frame.loc[[free, unknown], "expected_spend"].tolist() == pytest.approx([mean] * 2)
    assert len(res.notes) == 2
