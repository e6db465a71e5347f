"""Structure check: noise is called noise, clusters are called clusters."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans

from userseg.cluster import KMeans
from userseg.errors import ConfigError, DataError
from userseg.evaluate import structure
from userseg.evaluate.structure import structure_check

NO_SEGMENTS = (
    "no clear segments: the data is no more clustered than random data with the same spread"
)


def fit_kmeans(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    return KMeans(n_clusters=k, n_init=2, random_state=seed).fit(X).labels_


def blobs(n: int = 1500, d: int = 4, k: int = 4, seed: int = 0) -> np.ndarray:
    """k unit-variance blobs, centred at the origin and 10 along each of the first k-1 axes."""
    rng = np.random.default_rng(seed)
    centres = np.vstack([np.zeros(d), 10 * np.eye(d)])[:k]
    return centres[np.arange(n) % k] + rng.normal(0, 1, (n, d))


def test_the_examples_run() -> None:
    assert doctest.testmod(structure).failed == 0


@pytest.mark.parametrize("k", [2, 4])
def test_uniform_noise_has_no_clear_segments(k: int) -> None:
    X = np.random.default_rng(1).uniform(size=(1500, 4))
    result = structure_check(X, k, fit_kmeans, n_references=6, random_state=0)
    assert not result.has_structure
    assert result.verdict.startswith(NO_SEGMENTS)
    assert result.z < 2.0
    # k-means still "finds" segments: silhouette alone would not say they are noise
    assert result.silhouette > 0.1
    assert abs(result.silhouette - result.reference_silhouette_mean) < 0.05


def test_separated_blobs_pass() -> None:
    result = structure_check(blobs(), 4, fit_kmeans, random_state=0)
    assert result.has_structure
    assert result.verdict.startswith("clear segments: the 4 segments split the data")
    assert result.z > 10 and result.excess > 0.5
    assert result.silhouette > result.reference_silhouette_mean + 0.3
    assert result.permuted_z > 2  # the blobs combine features: permuting them destroys them
    assert result.inertia < result.reference_inertia_mean


def test_correlated_gaussian_is_not_taken_for_segments() -> None:
    """An elongated single cloud: the PCA-aligned reference follows it, the plain box does not."""
    rng = np.random.default_rng(2)
    X = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], 1500)
    assert not structure_check(X, 2, fit_kmeans, n_references=5).has_structure
    assert structure_check(X, 2, fit_kmeans, reference="uniform", n_references=5).has_structure


def test_segments_on_one_feature_are_real_and_said_to_be_marginal() -> None:
    """Two groups that differ on one feature only: permuting features keeps them (not a veto)."""
    rng = np.random.default_rng(3)
    X = np.column_stack(
        [np.r_[rng.normal(0, 1, 750), rng.normal(8, 1, 750)], rng.normal(0, 1, (1500, 2))]
    )
    result = structure_check(X, 2, fit_kmeans, n_references=6, random_state=0)
    assert result.has_structure
    assert abs(result.permuted_z) < 3
    assert "much of it shows feature by feature" in result.verdict


def test_estimator_or_callable_same_seed_same_numbers() -> None:
    X = blobs(900, d=3, k=3, seed=4)
    a = structure_check(X, 3, SkKMeans(n_init=1), n_references=4, random_state=5)
    b = structure_check(X, 3, SkKMeans(n_init=1), n_references=4, random_state=5)
    assert a.to_dict() == b.to_dict()
    assert a.has_structure and a.n_references == 4 and len(a.reference_log_w) == 4
    assert json.loads(json.dumps(a.to_dict(), allow_nan=False))["k"] == 3


def test_large_inputs_are_sampled() -> None:
    X = np.random.default_rng(6).uniform(size=(30_000, 3))
    result = structure_check(X, 3, fit_kmeans, sample=2000, n_references=3)
    assert result.n_used == 2000
    assert not result.has_structure


def test_bad_input_is_named() -> None:
    X = blobs(300, d=2, k=2)
    with pytest.raises(ConfigError, match="k=1 should be an integer >= 2"):
        structure_check(X, 1, fit_kmeans)
    with pytest.raises(ConfigError, match="reference="):
        structure_check(X, 2, fit_kmeans, reference="gaussian")
    with pytest.raises(ConfigError, match="n_references"):
        structure_check(X, 2, fit_kmeans, n_references=1)
    with pytest.raises(ConfigError, match="fit_labels should be a callable"):
        structure_check(X, 2, "kmeans")
    with pytest.raises(ConfigError, match="constant"):
        structure_check(np.ones((50, 3)), 2, fit_kmeans)
    with pytest.raises(ConfigError, match="number of users"):
        structure_check(X[:3], 3, fit_kmeans)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        structure_check(bad, 2, fit_kmeans)
    with pytest.raises(DataError, match="2-dimensional"):
        structure_check(X[:, 0], 2, fit_kmeans)
    with pytest.raises(DataError, match="integer labels"):
        structure_check(X, 2, lambda X, k, seed: np.zeros(3, dtype=int))


@pytest.mark.parametrize(
    ("z", "words"), [(2.5, "split the data better"), (6.0, "clearly better"), (30.0, "far better")]
)
def test_the_verdict_says_as_much_as_the_margin(z, words) -> None:
    text = structure._verdict(True, 3, 0.1, z, z, 2.0)
    assert text.startswith("clear segments: the 3 segments") and words in text
    if z < 10:
        assert "far better" not in text
