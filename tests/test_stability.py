"""Stability: separated segments come back, noise does not; matching ignores label numbers."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans

from userseg.cluster import KMeans
from userseg.errors import ConfigError, DataError
from userseg.evaluate import stability as stability_module
from userseg.evaluate.stability import as_fit_labels, stability, stability_by_k


def fit_kmeans(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit(X).labels_


def blobs(n: int = 1200, d: int = 4, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k unit-variance blobs, centred at the origin and 10 along each of the first k-1 axes."""
    rng = np.random.default_rng(seed)
    centres = np.vstack([np.zeros(d), 10 * np.eye(d)])[:k]
    truth = np.arange(n) % k
    return centres[truth] + rng.normal(0, 1, (n, d)), truth


def nearest(centres: np.ndarray):
    """A fit that assigns each row to its nearest true centre, numbered by the seed."""

    def fit(X: np.ndarray, k: int, seed: int) -> np.ndarray:
        d = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2)
        return (d.argmin(axis=1) + seed) % len(centres)

    return fit


def test_the_examples_run() -> None:
    assert doctest.testmod(stability_module).failed == 0


def test_separated_blobs_are_stable() -> None:
    X, _ = blobs()
    labels = fit_kmeans(X, 4, 0)
    result = stability(X, labels, fit_kmeans, n_runs=10, random_state=0)
    assert result.ari_mean > 0.95 and result.ari_min > 0.9
    assert result.unstable == []
    assert all(s.jaccard_mean > 0.95 and s.stable for s in result.segments)
    assert [s.size for s in result.segments] == np.bincount(labels).tolist()
    assert result.summary.startswith("stable segments: mean ARI 1.00")


def test_uniform_noise_is_unstable() -> None:
    X = np.random.default_rng(1).uniform(size=(1200, 5))
    labels = fit_kmeans(X, 4, 0)
    result = stability(X, labels, fit_kmeans, n_runs=10, random_state=0)
    assert result.ari_mean < 0.6
    assert len(result.unstable) >= 2
    assert "segments unstable (mean Jaccard < 0.6)" in result.summary


def test_refits_numbered_differently_still_match() -> None:
    """Hungarian matching: a refit that only renumbers the segments agrees fully."""
    X, truth = blobs()
    centres = np.array([X[truth == j].mean(axis=0) for j in range(4)])
    fit = nearest(centres)
    result = stability(X, fit(X, 4, 0), fit, n_runs=6)
    assert result.ari == [1.0] * 6
    assert [s.jaccard_mean for s in result.segments] == [1.0] * 4


def test_a_segment_that_merges_in_refits_is_flagged() -> None:
    X, truth = blobs()
    centres = np.array([X[truth == j].mean(axis=0) for j in range(4)])
    base = nearest(centres)

    def merging(X: np.ndarray, k: int, seed: int) -> np.ndarray:
        got = base(X, k, 0)
        return np.where(got == 3, 2, got)  # segments 2 and 3 always come back as one

    result = stability(X, base(X, 4, 0), merging, n_runs=5)
    assert result.unstable == [2, 3]
    assert result.segment(0).jaccard_mean == 1.0 and result.segment(1).stable
    # the merged refit segment matches 2 or 3 (Jaccard 1/2), never both: the other gets 0
    pair = result.segment(2).jaccard_mean + result.segment(3).jaccard_mean
    assert pair == pytest.approx(0.5, abs=0.03)
    assert result.ari_mean < 0.9


def test_bootstrap_and_noise_labels() -> None:
    X, _ = blobs()
    labels = fit_kmeans(X, 4, 0)
    labels[:30] = -1  # noise users are in no segment
    result = stability(X, labels, fit_kmeans, method="bootstrap", n_runs=5)
    assert result.method == "bootstrap" and result.ari_mean > 0.9
    assert [s.segment for s in result.segments] == [0, 1, 2, 3]
    assert "bootstraps" in result.summary


def test_same_seed_same_result_in_parallel_too() -> None:
    X, _ = blobs(600, seed=2)
    labels = fit_kmeans(X, 4, 0)
    a = stability(X, labels, SkKMeans(n_init=1), n_runs=6, random_state=7)
    b = stability(X, labels, SkKMeans(n_init=1), n_runs=6, random_state=7, n_jobs=2)
    assert a.to_dict() == b.to_dict()
    assert json.loads(json.dumps(a.to_dict(), allow_nan=False))["n_runs"] == 6


def test_large_inputs_are_sampled_with_every_segment() -> None:
    X, truth = blobs(30_000, d=2, k=3, seed=3)
    labels = np.where(np.arange(30_000) < 40, 3, truth)  # a 40-user segment
    result = stability(X, labels, fit_kmeans, n_runs=3, sample=3000)
    assert 3000 <= result.n_used <= 3100
    assert result.segment(3).size == 40


def test_stability_by_k_prefers_the_true_k() -> None:
    X, _ = blobs(1500, d=3, k=4, seed=5)
    rows = stability_by_k(X, [2, 3, 4, 5, 6], fit_kmeans, n_runs=4)
    assert [r["k"] for r in rows] == [2, 3, 4, 5, 6]
    best = max(rows, key=lambda r: r["stability"])
    assert best["k"] == 4 and best["stability"] > 0.95
    assert rows == stability_by_k(X, [2, 3, 4, 5, 6], fit_kmeans, n_runs=4)


def test_as_fit_labels_clones_and_sets_k_and_seed() -> None:
    model = SkKMeans(n_clusters=8, n_init=1)
    fit = as_fit_labels(model)
    X, _ = blobs(200, d=2, k=2)
    assert len(np.unique(fit(X, 2, 0))) == 2
    assert model.n_clusters == 8  # the caller's estimator is left alone
    assert as_fit_labels(fit_kmeans) is fit_kmeans


def test_bad_input_is_named() -> None:
    X, truth = blobs(200, d=2, k=2)
    with pytest.raises(ConfigError, match="at least 2 segments"):
        stability(X, np.zeros(200, dtype=int), fit_kmeans)
    with pytest.raises(ConfigError, match="n_runs"):
        stability(X, truth, fit_kmeans, n_runs=1)
    with pytest.raises(ConfigError, match="fraction"):
        stability(X, truth, fit_kmeans, fraction=1.0)
    with pytest.raises(ConfigError, match="method="):
        stability(X, truth, fit_kmeans, method="jackknife")
    with pytest.raises(DataError, match="labels must have shape"):
        stability(X, truth[:10], fit_kmeans)
    with pytest.raises(DataError, match="integers"):
        stability(X, truth.astype(float), fit_kmeans)
    with pytest.raises(ConfigError, match="fit_labels should be"):
        stability(X, truth, 42)
    with pytest.raises(ConfigError, match="ks should be"):
        stability_by_k(X, [1, 2], fit_kmeans)
