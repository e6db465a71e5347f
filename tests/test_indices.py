"""Tests of userseg.evaluate.indices: Calinski-Harabasz and Davies-Bouldin from statistics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

from userseg.errors import ConfigError, DataError
from userseg.evaluate import (
    PartitionStats,
    calinski_harabasz,
    calinski_harabasz_from_stats,
    davies_bouldin,
    davies_bouldin_from_stats,
    partition_stats,
)


def _random(seed: int = 0, n: int = 600, d: int = 3, k: int = 4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, k, size=n)


def _blobs(seed: int = 0):
    return make_blobs(2000, n_features=5, centers=6, cluster_std=1.2, random_state=seed)


@pytest.mark.parametrize("make", [_random, _blobs], ids=["random", "blobs"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equal_to_sklearn(make, seed: int) -> None:
    X, y = make(seed)
    assert calinski_harabasz(X, y) == pytest.approx(calinski_harabasz_score(X, y), rel=1e-10)
    assert davies_bouldin(X, y) == pytest.approx(davies_bouldin_score(X, y), rel=1e-10)


def test_float32_data() -> None:
    X, y = _blobs(3)
    X32 = X.astype(np.float32)
    assert calinski_harabasz(X32, y) == pytest.approx(calinski_harabasz_score(X32, y), rel=1e-6)
    assert davies_bouldin(X32, y) == pytest.approx(davies_bouldin_score(X32, y), rel=1e-6)


def test_stats_fields() -> None:
    X, y = _random(4, n=100, k=3)
    st = partition_stats(X, y)
    assert isinstance(st, PartitionStats)
    assert st.n_samples == 100 and st.n_clusters == 3
    np.testing.assert_allclose(st.counts, np.bincount(y))
    np.testing.assert_allclose(st.sums, [X[y == j].sum(0) for j in range(3)])
    np.testing.assert_allclose(st.centers, [X[y == j].mean(0) for j in range(3)])
    np.testing.assert_allclose(
        st.sq_dist_sums, [((X[y == j] - X[y == j].mean(0)) ** 2).sum() for j in range(3)]
    )


def test_from_stats_with_centres_not_the_means() -> None:
    """k-means centres are the means only up to its tolerance: CH stays exact, DB uses centres."""
    X, y = _blobs(5)
    k = int(y.max()) + 1
    means = np.array([X[y == j].mean(0) for j in range(k)])
    centres = means + np.random.default_rng(0).normal(scale=0.05, size=means.shape)
    st = partition_stats(X, y, centres)
    np.testing.assert_array_equal(st.centers, centres)
    # Parallel-axis correction: the within-cluster sum of squares is around the means.
    assert calinski_harabasz_from_stats(st) == pytest.approx(
        calinski_harabasz_score(X, y), rel=1e-10
    )
    # Davies-Bouldin measured to the given centres, computed directly here.
    scatter = np.array([np.linalg.norm(X[y == j] - centres[j], axis=1).mean() for j in range(k)])
    sep = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    with np.errstate(divide="ignore"):
        r = (scatter[:, None] + scatter[None]) / sep
    np.fill_diagonal(r, 0.0)
    assert davies_bouldin_from_stats(st) == pytest.approx(r.max(1).mean(), rel=1e-10)
    # ... which is close to scikit-learn's (measured to the means) for small shifts.
    assert davies_bouldin_from_stats(st) == pytest.approx(davies_bouldin_score(X, y), rel=0.02)


def test_empty_trailing_cluster_with_centres() -> None:
    """A k-means run can leave the last cluster empty; its centre must not misalign the stats."""
    X, y = _random(6, k=3)
    centres = np.vstack([[X[y == j].mean(0) for j in range(3)], np.full((1, 3), 50.0)])
    st = partition_stats(X, y, centres)
    assert st.counts.shape == (4,) and st.counts[3] == 0 and st.n_clusters == 3
    assert calinski_harabasz_from_stats(st) == pytest.approx(calinski_harabasz_score(X, y))
    assert davies_bouldin_from_stats(st) == pytest.approx(davies_bouldin_score(X, y))


def test_empty_middle_cluster_and_noise() -> None:
    X, y = _random(7, k=3)
    y = np.where(y == 1, 2, y)  # label 1 unused
    y[:50] = -1  # noise is ignored
    keep = y >= 0
    assert calinski_harabasz(X, y) == pytest.approx(calinski_harabasz_score(X[keep], y[keep]))
    assert davies_bouldin(X, y) == pytest.approx(davies_bouldin_score(X[keep], y[keep]))


def test_identical_points_per_cluster() -> None:
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 0.1]]), 10, axis=0)
    y = np.repeat([0, 1, 2], 10)
    assert davies_bouldin(X, y) == 0.0 == davies_bouldin_score(X, y)
    assert calinski_harabasz(X, y) > 1e12  # no within-cluster spread


def test_fewer_than_two_clusters() -> None:
    X, _ = _random(8, n=20)
    with pytest.raises(ConfigError, match="n_clusters"):
        calinski_harabasz(X, np.zeros(20, dtype=int))
    with pytest.raises(ConfigError, match="n_clusters"):
        davies_bouldin(X, np.zeros(20, dtype=int))
    with pytest.raises(ConfigError, match="n_clusters"):
        calinski_harabasz(X[:2], np.array([0, 1]))  # n_samples must exceed n_clusters


def test_bad_data() -> None:
    X, y = _random(9, n=30)
    with pytest.raises(DataError, match="2-dimensional"):
        calinski_harabasz(X[:, 0], y)
    with pytest.raises(DataError, match="shape"):
        davies_bouldin(X, y[:-1])
    with pytest.raises(DataError, match="integers"):
        calinski_harabasz(X, y.astype(float))
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        calinski_harabasz(Xn, y)
    with pytest.raises(DataError, match="centers"):
        partition_stats(X, y, np.zeros((2, 3)))
    with pytest.raises(DataError, match="centers"):
        partition_stats(X, y, np.zeros((4, 2)))
