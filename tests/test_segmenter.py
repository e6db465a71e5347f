"""Segmenter: choice of k, stable numbering, names, prediction, persistence, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.metrics import adjusted_rand_score

from userseg import Segmenter
from userseg.errors import ConfigError, DataError, NotFittedError


def _behaviour(n_per: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three behavioural groups with long-tailed spend and a region unrelated to behaviour."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([0, 1, 2], n_per)
    spend = rng.lognormal(np.array([1.5, 4.5, 7.5])[groups], 0.4)
    visits = rng.poisson(np.array([2, 15, 60])[groups]).astype(float)
    recency = rng.gamma(4, np.array([40, 8, 1])[groups])
    region = rng.choice(["north", "south", "east", "west"], len(groups))
    df = pd.DataFrame(
        {"monetary": spend, "visits": visits, "recency_days": recency, "region": region}
    )
    return df, groups


def test_recovers_groups_and_chooses_k() -> None:
    df, truth = _behaviour()
    seg = Segmenter(random_state=0).fit(df)
    assert seg.n_segments_ == 3
    assert adjusted_rand_score(truth, seg.labels_) > 0.95
    assert "k=3" in seg.k_choice_["reason"]
    assert [r["k"] for r in seg.k_choice_["table"]] == list(range(2, 11))


def test_region_does_not_outvote_behaviour() -> None:
    df, truth = _behaviour()
    seg = Segmenter(n_segments=3, random_state=0).fit(df)
    # each segment holds every region in about the population's proportion
    mix = pd.crosstab(seg.labels_, df.region, normalize="index")
    assert (mix.max(axis=1) < 0.4).all()
    assert adjusted_rand_score(truth, seg.labels_) > 0.95


def test_scaling_by_default_beats_raw_units() -> None:
    df, truth = _behaviour()
    ours = Segmenter(n_segments=3, random_state=0).fit(df)
    raw = SkKMeans(3, n_init=1, random_state=0).fit(df[["monetary", "visits", "recency_days"]])
    assert adjusted_rand_score(truth, ours.labels_) > adjusted_rand_score(truth, raw.labels_) + 0.2


def test_segments_are_numbered_by_size_and_identical_across_runs() -> None:
    df, _ = _behaviour()
    df = pd.concat([df, df.iloc[:300]])  # make sizes distinct
    a = Segmenter(random_state=0).fit(df)
    b = Segmenter(random_state=0).fit(df.copy())
    sizes = np.bincount(a.labels_)
    assert list(sizes) == sorted(sizes, reverse=True)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.names_ == b.names_
    assert len(set(a.names_)) == len(a.names_)


def test_predict_in_the_training_session_and_after_a_round_trip() -> None:
    df, _ = _behaviour()
    seg = Segmenter(random_state=0).fit(df)
    np.testing.assert_array_equal(seg.predict(df), seg.labels_)
    params, arrays = seg.to_state()
    params = json.loads(json.dumps(params))  # what the store keeps: JSON and arrays
    again = Segmenter.from_state(params, arrays)
    np.testing.assert_array_equal(again.predict(df), seg.labels_)
    _labels, dist = again.predict_with_distance(df.head(5))
    np.testing.assert_allclose(dist, seg.distances_[:5])
    assert again.names_ == seg.names_


def test_profiles_and_names() -> None:
    df, _ = _behaviour()
    seg = Segmenter(n_segments=3, random_state=0, units={"monetary": "money"}).fit(df)
    frame = seg.profiles_frame()
    assert list(frame.columns[:4]) == ["name", "size", "share", "top_features"]
    assert frame["share"].sum() == pytest.approx(1.0)
    top = seg.profiles_[0].top_features
    assert len(top) == 3 and all(d.text for d in top)
    # the biggest spenders are named as such, the lapsed too
    rich = max(seg.profiles_, key=lambda p: p.means["monetary"])
    assert rich.name == "Recent high spenders"
    gone = max(seg.profiles_, key=lambda p: p.means["recency_days"])
    assert gone.name == "Lapsed low spenders"
    assert "monetary" in {d.feature for d in rich.top_features}
    seg.rename(rich.segment, "VIPs")
    assert seg.names_[rich.segment] == "VIPs"
    with pytest.raises(ConfigError, match="segment 9 does not exist"):
        seg.rename(9, "x")


def test_gmm_and_forced_k() -> None:
    df, truth = _behaviour(200)
    seg = Segmenter(algorithm="gmm", n_segments=3, random_state=0).fit(df)
    assert seg.n_segments_ == 3 and adjusted_rand_score(truth, seg.labels_) > 0.9
    again = Segmenter.from_state(*seg.to_state())
    np.testing.assert_array_equal(again.predict(df), seg.predict(df))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_segments": 1}, "n_segments=1 should be an integer >= 2"),
        ({"n_segments": 5000}, "n_segments=5000 should be <= the number of users=1200"),
        ({"algorithm": "magic"}, "algorithm='magic' is not one of"),
        ({"k_min": 5, "k_max": 3}, "need 2 <= k_min <= k_max"),
        ({"algorithm": "dbscan", "n_segments": 3}, "finds the number of segments itself"),
    ],
)
def test_bad_parameters_fail_before_any_work(kwargs, message) -> None:
    df, _ = _behaviour()
    with pytest.raises(ConfigError, match=message):
        Segmenter(**kwargs).fit(df)


def test_constant_data_and_not_fitted() -> None:
    with pytest.raises(DataError, match="every feature is constant"):
        Segmenter().fit(pd.DataFrame({"a": [1.0] * 20, "b": [2.0] * 20}))
    with pytest.raises(NotFittedError):
        Segmenter().predict(pd.DataFrame({"a": [1.0]}))


def test_k_max_is_capped_below_the_number_of_users() -> None:
    X = np.random.default_rng(0).normal(size=(6, 2))
    seg = Segmenter(random_state=0).fit(X)
    assert max(seg.k_choice_["candidates"]) == 5
    assert any("k_max lowered to 5" in n for n in seg.notes_)


def test_structure_is_checked_on_the_behaviour_not_the_one_hot_columns() -> None:
    # Three real groups in the numbers and two attributes unrelated to them. Read with their
    # one-hot columns, the references (uniform in a box) drown the groups: the check said
    # "no clear segments" here (z -9.5) before it read the numeric columns only.
    rng = np.random.default_rng(3)
    n = 1500
    groups = rng.integers(0, 3, n)
    centres = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])
    df = pd.DataFrame(centres[groups] + rng.normal(size=(n, 2)) * 0.5, columns=["a", "b"])
    df["region"] = rng.choice(["north", "south", "east"], n)
    df["device"] = rng.choice(["ios", "android", "web"], n)
    seg = Segmenter(n_segments=3, stability_runs=0, random_state=0).fit(df)
    assert seg.metrics_["structure"]["has_structure"] is True, seg.metrics_["structure"]
    assert seg.metrics_["scored_on"] == "numeric features"
    verdict = seg.metrics_["structure"]["verdict"]
    assert "checked on the numeric features: one-hot columns are clustered" in verdict
    assert "indicator" not in verdict
    # and uniform noise beside an attribute is still no structure
    noise = pd.DataFrame(rng.uniform(size=(n, 2)), columns=["a", "b"])
    noise["region"] = rng.choice(["north", "south"], n)
    seg = Segmenter(n_segments=2, stability_runs=0, random_state=0).fit(noise)
    assert seg.metrics_["structure"]["has_structure"] is False, seg.metrics_["structure"]


@pytest.mark.parametrize("as_text", [True, False])
def test_date_columns_are_days_before_the_latest_date(as_text) -> None:
    rng = np.random.default_rng(1)
    n = 600
    groups = rng.integers(0, 2, n)
    age_days = np.where(groups == 0, rng.normal(30, 5, n), rng.normal(400, 30, n)).round()
    signup = pd.Timestamp("2024-06-30") - pd.to_timedelta(age_days, unit="D")
    df = pd.DataFrame(
        {
            "visits": rng.normal(10, 1, n),
            "signup": signup.strftime("%Y-%m-%d") if as_text else signup,
        }
    )
    seg = Segmenter(n_segments=2, stability_runs=0, random_state=0).fit(df)
    assert seg.date_references_ == {"signup": pd.Timestamp(signup.max()).isoformat()}
    assert any("signup: dates, used as days before" in n for n in seg.notes_)
    # the signup age separates the two groups; as an identifier it would have been dropped
    assert adjusted_rand_score(groups, seg.labels_) > 0.9
    assert "signup" in seg.profiles_[0].means
    # new users are measured from the training's latest date, also after a round trip
    again = Segmenter.from_state(*seg.to_state())
    assert (again.predict(df.head(50)) == seg.labels_[:50]).all()
    with pytest.raises(DataError, match=r"'signup' should hold dates .* 'soon' in 2 rows"):
        seg.predict(df.head(2).assign(signup="soon"))


def test_structure_verdict_names_the_missing_value_indicators_it_left_out() -> None:
    # No categorical column, but missing values: their indicator column is left out of the
    # check like one-hot columns, and the verdict says which columns those were.
    rng = np.random.default_rng(4)
    n = 1200
    groups = rng.integers(0, 2, n)
    df = pd.DataFrame(groups[:, None] * 3.0 + rng.normal(size=(n, 2)), columns=["a", "b"])
    df.loc[rng.choice(n, 60, replace=False), "b"] = np.nan
    seg = Segmenter(n_segments=2, stability_runs=0, random_state=0).fit(df)
    verdict = seg.metrics_["structure"]["verdict"]
    assert seg.metrics_["scored_on"] == "numeric features"
    assert "missing-value indicator columns are clustered by construction" in verdict
    assert "one-hot" not in verdict


def test_a_target_that_no_feature_predicts_is_a_clear_error() -> None:
    # It used to end in "every feature is constant", which they were not (found by a trial).
    rng = np.random.default_rng(5)
    df = pd.DataFrame(rng.normal(size=(600, 3)), columns=["a", "b", "c"])
    df["y"] = rng.integers(0, 2, 600)
    with pytest.raises(DataError, match="no feature tells the target 'y' apart"):
        Segmenter(target="y", stability_runs=0, random_state=0).fit(df)


def test_repeated_user_ids_are_noted() -> None:
    rng = np.random.default_rng(6)
    df = pd.DataFrame(rng.normal(size=(400, 2)), columns=["a", "b"])
    df.index = [f"u{i % 200}" for i in range(400)]
    seg = Segmenter(n_segments=2, stability_runs=0, random_state=0).fit(df)
    assert any("200 rows repeat the user id" in n for n in seg.notes_)
