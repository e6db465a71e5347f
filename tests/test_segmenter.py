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
