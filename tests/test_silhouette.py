"""Tests of userseg.evaluate.silhouette: exact mode, the stratified estimate and its interval."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import silhouette_samples, silhouette_score

from userseg.errors import ConfigError, DataError
from userseg.evaluate import SilhouetteResult, silhouette


def _blobs_with_tiny(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n - 25, n_features=4, centers=5, cluster_std=1.5, random_state=seed)
    tiny = np.random.default_rng(seed).normal(12.0, 0.5, size=(25, 4))
    return np.vstack([X, tiny]), np.concatenate([y, np.full(25, 5)])


def _anisotropic(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    X, _ = make_blobs(n, n_features=2, centers=4, cluster_std=3.0, random_state=1)
    X = X @ np.array([[1.0, 0.8], [0.0, 0.3]])
    # Fixed, overlapping partition (k-means-like cuts): many points sit near a boundary.
    y = np.digitize(X[:, 0], np.quantile(X[:, 0], [0.2, 0.45, 0.7, 0.85]))
    return X, y


def _moons(n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_moons(n, noise=0.1, random_state=0)
    return X, y


# --------------------------------------------------------------------------- exact mode


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_equals_sklearn(dtype: type) -> None:
    X, y = _blobs_with_tiny(1500)
    X = X.astype(dtype)
    res = silhouette(X, y)
    assert res.exact and res.method == "exact"
    assert res.low == res.high == res.value and res.half_width == 0.0
    assert res.n_used == res.n_samples == 1500
    assert abs(res.value - silhouette_score(X.astype(np.float64), y)) < 1e-6
    per_point = silhouette_samples(X.astype(np.float64), y)
    expected = np.array([per_point[y == c].mean() for c in np.unique(y)])
    np.testing.assert_allclose(res.per_cluster, expected, atol=1e-6)


def test_exact_with_singleton_duplicates_and_sparse_labels() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    X[10:20] = X[10]  # duplicates: a = 0 for some points
    y = rng.choice([7, 100, 5_000_000], size=300)  # sparse label values
    y[0] = 42  # a singleton cluster: silhouette 0 by convention
    res = silhouette(X, y)
    assert abs(res.value - silhouette_score(X, y)) < 1e-6
    assert res.cluster_labels.tolist() == [7, 42, 100, 5_000_000]
    assert res.per_cluster[1] == 0.0


def test_noise_is_left_out() -> None:
    X, y = _blobs_with_tiny(800)
    y = y.copy()
    y[::7] = -1
    res = silhouette(X, y)
    keep = y >= 0
    assert res.n_noise == int((~keep).sum())
    assert res.n_samples == int(keep.sum())
    assert abs(res.value - silhouette_score(X[keep], y[keep])) < 1e-6


def test_sample_size_at_least_n_is_exact() -> None:
    X, y = _moons(500)
    assert silhouette(X, y, sample_size=500).exact
    assert not silhouette(X, y, sample_size=100, random_state=0).exact


# --------------------------------------------------------------------------- the estimate


@pytest.mark.parametrize(
    ("make", "sample_size", "reference_size"),
    [(_blobs_with_tiny, 300, 100), (_anisotropic, 300, 100), (_moons, 300, 120)],
    ids=["blobs+tiny-cluster", "anisotropic-overlapping", "moons"],
)
def test_interval_covers_exact_value(make, sample_size: int, reference_size: int) -> None:
    """The issue's test: the exact value lies in the 95% interval in >= 93 of 100 seeded trials.

    Both the query sample and the per-cluster reference samples are much
    smaller than the clusters here, so the interval has to account for both.
    """
    X, y = make()
    exact = silhouette_score(X, y)
    hits = 0
    for seed in range(100):
        res = silhouette(
            X, y, sample_size=sample_size, reference_size=reference_size, random_state=seed
        )
        assert not res.exact and res.method == "stratified"
        assert res.low < res.value < res.high
        hits += res.low <= exact <= res.high
    assert hits >= 93, f"exact value inside the interval in {hits}/100 trials"


def test_tiny_cluster_among_a_million_is_represented() -> None:
    n, tiny = 1_000_000, 30
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=n)
    pos = rng.choice(n, size=tiny, replace=False)
    y[pos] = 4
    X = (y[:, None] * 3.0 + rng.standard_normal((n, 2))).astype(np.float32)
    res = silhouette(X, y, sample_size=2000, random_state=0)
    assert res.n_samples == n
    assert res.cluster_sizes.tolist()[4] == tiny
    # Every point of the 30-user segment is scored, and weighted back to its share.
    assert res.cluster_n_used[4] == tiny
    assert np.isfinite(res.per_cluster).all()
    assert res.n_used >= 2000
    # A plain random sample of 2000 from 1M would hold no point of it ~94% of the time.
    assert (1 - tiny / n) ** 2000 > 0.9


def test_estimate_is_reproducible_and_uses_stated_sizes() -> None:
    X, y = _blobs_with_tiny(20_000, seed=2)
    a = silhouette(X, y, random_state=5)
    b = silhouette(X, y, random_state=5)
    assert a.value == b.value and a.half_width == b.half_width
    assert not a.exact and a.n_samples == 20_000
    assert a.n_used == int(a.cluster_n_used.sum())
    assert a.n_used >= 10_000  # default sample size, plus the small-cluster floor
    assert 0 < a.half_width < 0.02
    assert a.std_error > 0 and a.dof > 1


def test_large_offset_costs_no_precision() -> None:
    X, y = _blobs_with_tiny(3000)
    exact = silhouette_score(X, y)
    res = silhouette(X + 1e7, y, sample_size=1000, reference_size=200, random_state=0)
    assert abs(res.value - exact) < 5 * res.half_width


def test_to_dict_is_plain() -> None:
    import json

    X, y = _moons(400)
    for res in (silhouette(X, y), silhouette(X, y, sample_size=100, random_state=1)):
        assert isinstance(res, SilhouetteResult)
        d = res.to_dict()
        json.dumps(d)
        assert set(d) >= {"value", "low", "high", "half_width", "n_used", "n_samples", "exact"}
        assert len(d["per_cluster"]) == 2
        assert "SilhouetteResult" in repr(res)


# --------------------------------------------------------------------------- errors


def test_fewer_than_two_clusters_is_a_config_error() -> None:
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ConfigError, match="at least 2 clusters"):
        silhouette(X, np.zeros(50, dtype=int))
    y = np.full(50, -1)
    y[:10] = 0
    with pytest.raises(ConfigError, match="at least 2 clusters"):
        silhouette(X, y)  # one cluster once noise is removed
    with pytest.raises(ConfigError, match="fewer clusters than points"):
        silhouette(X[:3], np.arange(3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": 0}, "confidence"),
        ({"sample_size": 1}, "sample_size"),
        ({"sample_size": 2.5}, "sample_size"),
        ({"reference_size": 0}, "reference_size"),
    ],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    X, y = _moons(100)
    with pytest.raises(ConfigError, match=match):
        silhouette(X, y, **kwargs)


def test_bad_data() -> None:
    X, y = _moons(100)
    with pytest.raises(DataError, match="2-dimensional"):
        silhouette(X[:, 0], y)
    with pytest.raises(DataError, match="shape"):
        silhouette(X, y[:-1])
    with pytest.raises(DataError, match="integers"):
        silhouette(X, y + 0.5)
    Xbad = X.copy()
    Xbad[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        silhouette(Xbad, y)
    Xbad[3, 1] = np.inf
    with pytest.raises(DataError, match="NaN or infinity"):
        silhouette(Xbad, y, sample_size=100)
