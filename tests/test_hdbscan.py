"""Tests of userseg.cluster.HDBSCAN: one partition whatever the backend, predict, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import HDBSCAN as SkHDBSCAN
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from userseg.cluster import HDBSCAN
from userseg.errors import ConfigError, DataError, DependencyError, NotFittedError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sipu_shape_sets"


def _installed(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


BACKENDS = [
    pytest.param(b, marks=pytest.mark.skipif(not _installed(b), reason=f"{b} not installed"))
    for b in ("fast_hdbscan", "hdbscan")
] + ["sklearn"]


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    X, _ = make_blobs(1500, n_features=3, centers=5, cluster_std=0.8, random_state=0)
    return X


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_partition_as_sklearn(blobs, backend: str) -> None:
    ref = SkHDBSCAN(min_cluster_size=20, min_samples=8, copy=True).fit(blobs).labels_
    ours = HDBSCAN(min_cluster_size=20, min_samples=8, backend=backend).fit(blobs)
    assert ours.backend_ == backend
    assert adjusted_rand_score(ref, ours.labels_) == pytest.approx(1.0)
    np.testing.assert_array_equal(ours.labels_ < 0, ref < 0)


def test_backends_agree_on_labels_and_numbering(blobs) -> None:
    runs = [HDBSCAN(min_cluster_size=15, backend=b).fit(blobs) for b in ("auto", "sklearn")]
    np.testing.assert_array_equal(runs[0].labels_, runs[1].labels_)
    labels = runs[0].labels_
    # Clusters are numbered in the order of their first point.
    firsts = [int(np.argmax(labels == c)) for c in range(runs[0].n_clusters_)]
    assert firsts == sorted(firsts)


def test_auto_prefers_the_fastest_installed() -> None:
    X, _ = make_blobs(300, centers=2, random_state=1)
    expected = next(b for b in ("fast_hdbscan", "hdbscan", "sklearn") if _installed(b))
    assert HDBSCAN(min_cluster_size=10).fit(X).backend_ == expected


def test_missing_package_is_a_dependency_error(monkeypatch) -> None:
    X, _ = make_blobs(300, centers=2, random_state=1)
    monkeypatch.setitem(sys.modules, "fast_hdbscan", None)  # import now raises ImportError
    monkeypatch.setitem(sys.modules, "hdbscan", None)
    with pytest.raises(DependencyError, match="fast_hdbscan"):
        HDBSCAN(backend="fast_hdbscan").fit(X)
    with pytest.raises(DependencyError, match="hdbscan"):
        HDBSCAN(backend="hdbscan").fit(X)
    # "auto" falls back to scikit-learn's implementation.
    assert HDBSCAN(min_cluster_size=10).fit(X).backend_ == "sklearn"


def test_min_samples_one_is_single_linkage_on_sklearn(blobs) -> None:
    assert HDBSCAN(min_cluster_size=20, min_samples=1).fit(blobs).backend_ == "sklearn"
    with pytest.raises(ConfigError, match="min_samples=1"):
        HDBSCAN(min_samples=1, backend="fast_hdbscan").fit(blobs)


def test_predict_new_users(blobs) -> None:
    hdb = HDBSCAN(min_cluster_size=20).fit(blobs)
    clustered = np.flatnonzero(hdb.labels_ >= 0)
    np.testing.assert_array_equal(hdb.predict(blobs[clustered]), hdb.labels_[clustered])
    assert hdb.components_.shape == (clustered.size, 3)
    far = np.array([[100.0, 100.0, 100.0], [-80.0, 0.0, 50.0]])
    assert hdb.predict(far).tolist() == [-1, -1]
    assert hdb.fit_predict(blobs).tolist() == hdb.labels_.tolist()
    assert np.all((hdb.probabilities_ >= 0) & (hdb.probabilities_ <= 1))


def test_tiny_input_is_all_noise() -> None:
    hdb = HDBSCAN(min_cluster_size=5).fit(np.arange(8.0).reshape(4, 2))
    assert hdb.labels_.tolist() == [-1] * 4 and hdb.n_clusters_ == 0
    assert hdb.predict([[0.0, 1.0]]).tolist() == [-1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_cluster_size": 1}, "min_cluster_size"),
        ({"min_samples": 0}, "min_samples"),
        ({"cluster_selection_epsilon": -0.1}, "cluster_selection_epsilon"),
        ({"cluster_selection_method": "best"}, "cluster_selection_method"),
        ({"backend": "faiss"}, "backend"),
        ({"n_jobs": 0}, "n_jobs"),
    ],
)
def test_bad_parameters(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        HDBSCAN(**kwargs).fit(np.random.default_rng(0).normal(size=(50, 2)))


def test_bad_data(blobs) -> None:
    Xb = blobs.copy()
    Xb[3, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        HDBSCAN().fit(Xb)
    with pytest.raises(NotFittedError):
        HDBSCAN().predict(blobs)
    hdb = HDBSCAN(min_cluster_size=20).fit(blobs)
    with pytest.raises(DataError, match="features"):
        hdb.predict(np.ones((2, 4)))


@parametrize_with_checks([HDBSCAN()])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


# --------------------------------------------------------------------------- real data


def _shape_set(name: str) -> tuple[np.ndarray, list[np.ndarray]]:
    if not DATA.is_dir():
        pytest.skip(f"shape sets not found at {DATA} (../shared/data is not part of the repo)")
    X = np.loadtxt(DATA / f"{name}.data.txt")
    refs = [np.loadtxt(p, dtype=int) for p in sorted(DATA.glob(f"{name}.labels*.txt"))]
    return X, refs


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "min_cluster_size", "min_samples", "k", "min_ari"),
    [("spiral", 5, 3, 3, 0.99), ("compound", 15, 3, 6, 0.99), ("jain", 30, 3, 2, 0.9)],
)
def test_finds_non_convex_shapes_kmeans_cannot(name, min_cluster_size, min_samples, k, min_ari):
    X, refs = _shape_set(name)
    ours = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples).fit(X).labels_
    km = KMeans(k, n_init=10, random_state=0).fit_predict(X)
    ari_ours = max(adjusted_rand_score(r, ours) for r in refs)
    ari_km = max(adjusted_rand_score(r, km) for r in refs)
    assert ari_ours >= min_ari
    assert ari_ours > ari_km + 0.15
