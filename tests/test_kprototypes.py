"""Tests of userseg.cluster.KPrototypes: planted mixed segments, predict, inputs, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from userseg.cluster import KPrototypes
from userseg.errors import ConfigError, ConvergenceWarning, DataError, NotFittedError


def planted(n: int = 3000, seed: int = 0, purity: float = 0.9) -> tuple[pd.DataFrame, np.ndarray]:
    """Four segments that differ in spend/visits and in region/channel."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [3.0, 3.0]])
    num = centres[y] + rng.normal(scale=0.6, size=(n, 2))
    regions = np.array(["north", "south", "east", "west"])
    channels = np.array(["web", "app", "store", "phone"])
    noisy = rng.random(n) > purity
    region = np.where(noisy, regions[rng.integers(0, 4, n)], regions[y])
    channel = np.where(rng.random(n) > purity, channels[rng.integers(0, 4, n)], channels[y])
    X = pd.DataFrame(
        {"spend": num[:, 0], "region": region, "visits": num[:, 1], "channel": channel}
    )
    return X, y


def test_recovers_planted_mixed_segments() -> None:
    X, y = planted()
    kp = KPrototypes(4, random_state=0).fit(X)
    assert adjusted_rand_score(y, kp.labels_) > 0.9
    assert kp.categorical_.tolist() == [1, 3]  # inferred from the DataFrame's dtypes
    assert kp.cluster_centroids_.shape == (4, 4)
    assert set(kp.categorical_modes_[:, 0]) == {"north", "south", "east", "west"}
    assert kp.numeric_centers_.shape == (4, 2)
    assert kp.gamma_ == pytest.approx(0.5 * X[["spend", "visits"]].to_numpy().std(axis=0).mean())
    assert kp.cost_ > 0 and 1 <= kp.n_iter_ <= 100


def test_categories_carry_the_signal_numbers_cannot() -> None:
    """Two segments identical in the numbers, told apart only by their categories."""
    rng = np.random.default_rng(1)
    n = 2000
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(
        {
            "spend": rng.normal(size=n),
            "region": np.where(y == 1, "north", "south"),
            "channel": np.where(y == 1, "app", "web"),
        }
    )
    kp = KPrototypes(2, gamma=2.0, random_state=0).fit(X)
    assert adjusted_rand_score(y, kp.labels_) == 1.0
    km = KMeans(2, n_init=10, random_state=0).fit_predict(X[["spend"]])
    assert adjusted_rand_score(y, km) < 0.05


def test_predict_and_unseen_categories() -> None:
    X, _ = planted(1500, seed=2)
    kp = KPrototypes(4, random_state=0).fit(X)
    np.testing.assert_array_equal(kp.predict(X), kp.labels_)
    new = X.iloc[:5].copy()
    new["region"] = "atlantis"  # never seen: matches no mode, the other columns decide
    pred = kp.predict(new)
    assert pred.shape == (5,) and np.all((pred >= 0) & (pred < 4))
    assert kp.fit_predict(X).tolist() == kp.labels_.tolist()


@pytest.mark.parametrize("categorical", [[1, 3], ["region", "channel"], [-3, -1], None], ids=str)
def test_ways_to_name_categorical_columns(categorical) -> None:
    X, y = planted(1200, seed=3)
    kp = KPrototypes(4, categorical=categorical, random_state=0).fit(X)
    assert kp.categorical_.tolist() == [1, 3]
    assert adjusted_rand_score(y, kp.labels_) > 0.85


def test_object_array_and_numeric_codes() -> None:
    X, _ = planted(1200, seed=4)
    obj = X.to_numpy(dtype=object)
    kp = KPrototypes(4, random_state=0).fit(obj)
    assert kp.categorical_.tolist() == [1, 3]  # inferred: columns holding text
    codes = X.assign(
        region=X["region"].astype("category").cat.codes,
        channel=X["channel"].astype("category").cat.codes,
    ).to_numpy(dtype=float)
    kp2 = KPrototypes(4, categorical=[1, 3], random_state=0).fit(codes)
    assert adjusted_rand_score(kp.labels_, kp2.labels_) > 0.99


def test_numeric_only_is_kmeans_and_categorical_only_is_kmodes() -> None:
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(c, 0.5, size=(300, 2)) for c in (0, 4, 8)])
    kp = KPrototypes(3, random_state=0).fit(X)
    km = KMeans(3, n_init=10, random_state=0).fit(X)
    assert kp.categorical_.size == 0
    assert kp.cost_ == pytest.approx(km.inertia_, rel=1e-6)
    cats = pd.DataFrame({"a": ["x"] * 50 + ["y"] * 50, "b": ["u"] * 50 + ["v"] * 50})
    kmod = KPrototypes(2, random_state=0).fit(cats)
    assert kmod.gamma_ == 1.0 and kmod.cost_ == 0.0
    assert adjusted_rand_score(np.repeat([0, 1], 50), kmod.labels_) == 1.0


def test_cost_matches_the_kmodes_package() -> None:
    kprototypes = pytest.importorskip("kmodes.kprototypes")
    X, _ = planted(600, seed=6, purity=0.7)
    ours = KPrototypes(4, random_state=0).fit(X)
    theirs = kprototypes.KPrototypes(4, n_init=10, random_state=0).fit(
        X.to_numpy(), categorical=[1, 3]
    )
    assert ours.gamma_ == pytest.approx(theirs.gamma)
    # Same objective; ours is never worse than theirs by more than a hair.
    assert ours.cost_ <= theirs.cost_ * 1.001


def test_reproducible_and_does_not_change_callers_data() -> None:
    X, _ = planted(800, seed=7)
    before = X.copy()
    a = KPrototypes(4, random_state=3).fit(X)
    b = KPrototypes(4, random_state=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    pd.testing.assert_frame_equal(X, before)


def test_convergence_warning() -> None:
    X, _ = planted(800, seed=8, purity=0.5)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        KPrototypes(4, max_iter=1, n_init=1, random_state=0).fit(X)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_clusters": 0}, "n_clusters"),
        ({"max_iter": 0}, "max_iter"),
        ({"n_init": 0}, "n_init"),
        ({"gamma": -1.0}, "gamma"),
        ({"categorical": "region"}, "categorical"),
        ({"categorical": ["nope"]}, "nope"),
        ({"categorical": [9]}, "out of range"),
        ({"categorical": [1, 1]}, "twice"),
        ({"categorical": [1.5]}, "int or str"),
    ],
)
def test_bad_parameters(kwargs, match) -> None:
    X, _ = planted(100)
    with pytest.raises(ConfigError, match=match):
        KPrototypes(**{"n_clusters": 2, **kwargs}).fit(X)


def test_bad_data() -> None:
    X, _ = planted(100)
    with pytest.raises(ConfigError, match="n_samples=100 should be >= n_clusters=200"):
        KPrototypes(200).fit(X)
    bad = X.copy()
    bad.loc[5, "spend"] = np.nan
    with pytest.raises(DataError, match="'spend'"):
        KPrototypes(2).fit(bad)
    bad = X.copy()
    bad.loc[7, "region"] = None
    with pytest.raises(DataError, match="'region' has 1 missing"):
        KPrototypes(2).fit(bad)
    with pytest.raises(DataError, match="non-numbers"):
        KPrototypes(2, categorical=[1]).fit(X)  # 'channel' is text but declared numeric
    dated = X.copy()
    dated["signup"] = pd.date_range("2024-01-01", periods=len(X), freq="D")
    with pytest.raises(DataError, match=r"\['signup'\] hold dates"):  # not a level per day
        KPrototypes(2).fit(dated)
    with pytest.raises(NotFittedError):
        KPrototypes(2).predict(X)
    kp = KPrototypes(2, random_state=0).fit(X)
    with pytest.raises(DataError, match="features"):
        kp.predict(X.iloc[:, :3])
    with pytest.raises(DataError, match="2D"):
        KPrototypes(2).fit(np.arange(10.0))


@parametrize_with_checks([KPrototypes()])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)
