"""Feature selection: near-constant and repeated features dropped, noise ranked last, real data."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared
from userseg.errors import ConfigError, DataError, SchemaError
from userseg.features import select
from userseg.features.pruning import correlated_to_drop, near_constant
from userseg.features.select import rank_unsupervised, select_features

FAST = ("chi2", "mutual_info")  # the L1 path is the slow method; it is covered separately


def _campaign(n: int = 1500, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """Users whose response depends on spend and channel only; the rest is noise."""
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 100.0, n)
    channel = rng.choice(["email", "sms", "app"], n)
    logit = -3.0 + 0.012 * spend + np.select([channel == "app", channel == "sms"], [1.5, -1.0], 0)
    y = pd.Series(np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-logit)), "yes", "no"), name="y")
    df = pd.DataFrame(
        {
            "spend": spend,
            "channel": channel,
            "spend_eur": spend * 0.92 + rng.normal(0, 2, n),  # the same signal again
            "noise_a": rng.normal(size=n),
            "noise_b": rng.exponential(size=n),
            "noise_cat": rng.choice(list("abcde"), n),
            "constant": np.ones(n),
            "almost": np.r_[np.zeros(n - 3), np.ones(3)],
        }
    )
    return df, y


@pytest.fixture(scope="module")
def campaign() -> tuple[pd.DataFrame, pd.Series]:
    return _campaign()


@pytest.fixture(scope="module")
def full(campaign) -> select.SelectionResult:
    df, y = campaign
    return select_features(df, y, random_state=0)


def test_the_examples_run() -> None:
    assert doctest.testmod(select, optionflags=doctest.ELLIPSIS).failed == 0


def test_correlated_to_drop_keeps_the_earlier_feature() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=500)
    values = pd.DataFrame({"a": a, "b": rng.normal(size=500), "a2": 2 * a + 0.01})
    assert correlated_to_drop(values, 0.9) == {"a2": ("a", pytest.approx(1.0))}


def test_near_constant_counts_missing_as_a_value() -> None:
    df = pd.DataFrame(
        {
            "one": [5.0] * 200,
            "mostly_missing": [np.nan] * 199 + [1.0],
            "mostly_north": ["north"] * 199 + ["south"],
            "fine": np.arange(200.0),
        }
    )
    out = near_constant(df, 0.99)
    assert set(out) == {"one", "mostly_missing", "mostly_north"}
    assert out["one"].startswith("constant")
    assert "99.5% of users have the value missing" in out["mostly_missing"]
    assert "'north'" in out["mostly_north"]


def test_unsupervised_ranking_puts_noise_last() -> None:
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0], [6, 0], [0, 6]])
    labels = np.repeat([0, 1, 2], 300)
    signal = centres[labels] + rng.normal(0, 1, (900, 2))
    X = pd.DataFrame(
        np.column_stack([signal, rng.normal(0, 3, (900, 3))]),
        columns=["s1", "s2", "n1", "n2", "n3"],
    )
    X = (X - X.mean()) / X.std()
    with_labels = rank_unsupervised(X, labels)
    assert set(with_labels.index[:2]) == {"s1", "s2"}
    assert with_labels.loc[["n1", "n2", "n3"], "separation_drop"].abs().max() < 0.05
    assert with_labels.loc[["s1", "s2"], "separation_drop"].min() > 0.3
    without = rank_unsupervised(X)
    assert set(without.index[:2]) == {"s1", "s2"}
    assert "separation_drop" not in without
    assert (
        without.loc[["n1", "n2", "n3"], "laplacian_score"].min()
        > without.loc[["s1", "s2"], "laplacian_score"].max()
    )


def test_supervised_selection_keeps_the_signal_and_drops_noise(full) -> None:
    # spend and spend_eur carry the same signal: whichever ranks higher is kept
    first, second = sorted(["spend", "spend_eur"], key=full.ranking.index)
    assert set(full.kept) == {first, "channel"}
    assert full.dropped[second].startswith(f"repeats {first} (rank correlation")
    # the combined table agrees with the lists (it said "kept" for a pruned repeat: a trial)
    combined = full.tables["combined"]
    assert not combined.loc[second, "kept"] and combined.loc[first, "kept"]
    assert combined.loc[second, "reason"] == full.dropped[second]
    for noise in ("noise_a", "noise_b", "noise_cat"):
        assert full.dropped[noise].startswith("not selected"), noise
    assert full.dropped["constant"].startswith("constant")
    assert full.dropped["almost"].startswith("near-constant")
    for method in ("chi2", "mutual_info", "l1"):
        table = full.tables[method]
        assert set(table.index[:3]) == {"spend", "spend_eur", "channel"}, method
        assert table.loc["channel", "kept"], method
        assert set(table.index[3:]) == {"noise_a", "noise_b", "noise_cat"}, method
    assert not full.tables["chi2"].loc[["noise_a", "noise_b", "noise_cat"], "kept"].any()
    assert full.params["l1"]["C"] <= full.params["l1"]["C_best"]
    assert full.methods == ("chi2", "mutual_info", "l1")


def test_result_is_plain_json(full) -> None:
    text = json.dumps(full.to_dict(), allow_nan=False)
    back = json.loads(text)
    assert back["kept"] == full.kept
    assert {"unsupervised", "chi2", "mutual_info", "l1", "combined"} <= set(back["tables"])
    assert back["tables"]["combined"][0]["feature"] == full.ranking[0]


def test_combine_rules_nest(campaign) -> None:
    df, y = campaign
    runs = {
        how: select_features(
            df, y, methods=FAST, combine=how, max_correlation=None, unsupervised=False
        )
        for how in ("any", "all", "vote", "mutual_info")
    }
    assert set(runs["all"].kept) <= set(runs["vote"].kept) <= set(runs["any"].kept)
    mi = runs["mutual_info"].tables["mutual_info"]
    assert set(runs["mutual_info"].kept) == set(mi.index[mi["kept"]])
    assert runs["vote"].params["alpha"] == 0.05


def test_same_seed_same_result_and_data_untouched(campaign) -> None:
    df, y = campaign
    before = df.copy()
    a = select_features(df, y, methods=FAST, random_state=3)
    b = select_features(df, y, methods=FAST, random_state=3)
    assert a.to_dict() == b.to_dict()
    pd.testing.assert_frame_equal(df, before)


def test_target_by_name_and_missing_target_values(campaign) -> None:
    df, y = campaign
    with_y = df.assign(y=y.where(np.arange(len(y)) % 10 != 0))
    result = select_features(with_y, "y", methods=FAST, unsupervised=False)
    assert result.target == "y" and "y" not in result.ranking
    assert any("150 users without a value of 'y'" in n for n in result.notes)
    assert {"spend", "channel"} <= set(result.kept)


def test_without_target_only_unsupervised_pruning(campaign) -> None:
    df, _ = campaign
    result = select_features(df)
    assert result.methods == () and result.combine == "none"
    assert set(result.dropped) == {"constant", "almost", "spend_eur"}
    assert result.kept == ["spend", "channel", "noise_a", "noise_b", "noise_cat"]  # column order
    assert set(result.ranking) == set(result.kept) | {"spend_eur"}


def test_identifier_like_text_is_dropped(campaign) -> None:
    df, y = campaign
    with_ids = df.assign(code=[f"u{i:05d}" for i in range(len(df))])
    result = select_features(with_ids, y, methods=("chi2",), unsupervised=False)
    assert result.dropped["code"] == "identifier-like or free text: 1500 distinct values (> 50)"
    assert "code" not in result.tables["chi2"].index


def test_bad_input_is_named(campaign) -> None:
    df, y = campaign
    with pytest.raises(SchemaError, match="target column 'churn' is not in the data"):
        select_features(df, "churn")
    with pytest.raises(DataError, match="single class"):
        select_features(df, pd.Series(["no"] * len(df)))
    with pytest.raises(DataError, match="no values"):
        select_features(df, pd.Series([np.nan] * len(df)))
    with pytest.raises(DataError, match="1500 users"):
        select_features(df, y.iloc[:10])
    with pytest.raises(DataError, match="have a single user"):
        select_features(df, pd.Series(["a"] * (len(df) - 1) + ["b"]))
    with pytest.raises(ConfigError, match="looks continuous"):
        select_features(df, pd.Series(np.arange(len(df), dtype=float)))
    with pytest.raises(ConfigError, match="unknown selection method"):
        select_features(df, y, methods=("chi2", "anova"))
    with pytest.raises(ConfigError, match="combine="):
        select_features(df, y, methods=("chi2",), combine="l1")
    with pytest.raises(ConfigError, match="max_correlation"):
        select_features(df, y, max_correlation=1.5)
    with pytest.raises(DataError, match="at least 2 users"):
        select_features(df.iloc[:0])
    with pytest.raises(DataError, match="NaN"):
        rank_unsupervised(pd.DataFrame({"a": [1.0, np.nan, 2.0, 3.0]}))


@pytest.mark.realdata
def test_bank_marketing_ranks_call_duration_and_the_economy_first() -> None:
    """UCI bank marketing, y = subscribed: what each method puts on top (see docs/explain.md)."""
    path = shared("bank_marketing_additional", "bank-additional.csv")
    df = pd.read_csv(path, sep=";")
    result = select_features(df, "y", random_state=0)
    ranks = {m: list(result.tables[m].index) for m in ("chi2", "mutual_info", "l1")}
    for method, order in ranks.items():
        assert order.index("duration") < 2, (method, order)
        assert order.index("nr.employed") < 5, (method, order)
        assert order.index("poutcome") < 8, (method, order)
        # the day of the week, a housing loan or a personal loan say little about y
        assert min(order.index(f) for f in ("day_of_week", "housing", "loan")) >= 12, method
    assert result.ranking[:2] == ["duration", "nr.employed"]
    assert {"duration", "nr.employed", "poutcome", "month"} <= set(result.kept)
    assert {"day_of_week", "housing", "loan"} <= set(result.dropped)
    # the employment indicators move together; the best ranked of them is kept
    assert result.dropped["euribor3m"].startswith("repeats nr.employed")
    assert result.dropped["emp.var.rate"].startswith("repeats nr.employed")
