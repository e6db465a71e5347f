"""Tests of userseg.cluster.DBSCAN: same clusters as scikit-learn, predict, noise, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import DBSCAN as SkDBSCAN
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from userseg.cluster import DBSCAN
from userseg.cluster.dbscan import estimate_eps
from userseg.errors import ConfigError, DataError, NotFittedError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sipu_shape_sets"


def _assert_same_as_sklearn(X, eps, min_samples, sample_weight=None, **kw) -> DBSCAN:
    ours = DBSCAN(eps=eps, min_samples=min_samples, **kw).fit(X, sample_weight=sample_weight)
    ref = SkDBSCAN(eps=eps, min_samples=min_samples).fit(X, sample_weight=sample_weight)
    np.testing.assert_array_equal(ours.core_sample_indices_, ref.core_sample_indices_)
    np.testing.assert_array_equal(ours.components_, ref.components_)
    # Same numbering (by first core point) and the same border rule, so equal labels.
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    return ours


def _blobs(n, d, seed=0, std=1.0):
    X, _ = make_blobs(n, n_features=d, centers=6, cluster_std=std, random_state=seed)
    return X


@pytest.mark.parametrize(
    ("X", "eps", "min_samples"),
    [
        (_blobs(2000, 2), 0.3, 5),
        (_blobs(2000, 2), 0.5, 10),
        (_blobs(3000, 4, seed=1), 0.6, 5),
        (_blobs(1500, 16, seed=2, std=0.8), 2.6, 5),
        (make_moons(1500, noise=0.08, random_state=0)[0], 0.1, 4),
        (_blobs(500, 3), 0.4, 1),  # every point core
        (_blobs(500, 3), 0.2, 400),  # every point noise
    ],
    ids=["2d", "2d-dense", "4d", "16d", "moons", "min_samples=1", "all-noise"],
)
def test_same_labels_as_sklearn(X, eps, min_samples) -> None:
    _assert_same_as_sklearn(X, eps, min_samples)


def test_same_clusters_as_sklearn_at_100k() -> None:
    """The issue's criterion (ARI = 1 on core points) at 100k users; labels are even equal."""
    X, _ = make_blobs(100_000, n_features=4, centers=8, cluster_std=1.0, random_state=0)
    ours = DBSCAN(eps=0.3, min_samples=5).fit(X)
    ref = SkDBSCAN(eps=0.3, min_samples=5).fit(X)
    np.testing.assert_array_equal(ours.core_sample_indices_, ref.core_sample_indices_)
    core = ours.core_sample_indices_
    assert adjusted_rand_score(ref.labels_[core], ours.labels_[core]) == 1.0
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.n_clusters_ == ref.labels_.max() + 1


def test_float32_is_kept_and_agrees() -> None:
    X = _blobs(3000, 4, seed=5).astype(np.float32)
    ours = DBSCAN(eps=0.5, min_samples=5).fit(X)
    assert ours.components_.dtype == np.float32
    ref = SkDBSCAN(eps=0.5, min_samples=5).fit(X)
    core = ref.core_sample_indices_
    assert adjusted_rand_score(ref.labels_[core], ours.labels_[core]) == 1.0


@pytest.mark.parametrize("chunk_size", [1, 7, 50, 5000])
def test_block_size_does_not_change_the_result(chunk_size: int) -> None:
    X = _blobs(1200, 3, seed=3)
    _assert_same_as_sklearn(X, 0.5, 5, chunk_size=chunk_size)


def test_sample_weight_as_sklearn() -> None:
    rng = np.random.default_rng(0)
    X = _blobs(1500, 2, seed=4)
    w = rng.integers(0, 4, size=1500).astype(float)
    _assert_same_as_sklearn(X, 0.3, 6, sample_weight=w)
    w[::5] = -1.0  # negative weights can stop a neighbour from being core (as sklearn)
    _assert_same_as_sklearn(X, 0.3, 6, sample_weight=w)


def test_duplicates_and_tiny_inputs() -> None:
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 10, axis=0)
    db = DBSCAN(eps=0.1, min_samples=10).fit(X)
    assert db.labels_.tolist() == [0] * 10 + [1] * 10
    one = DBSCAN(eps=1.0, min_samples=1).fit([[1.0, 2.0]])
    assert one.labels_.tolist() == [0] and one.core_sample_indices_.tolist() == [0]
    two = DBSCAN(eps=1.0, min_samples=3).fit([[0.0], [0.5]])
    assert two.labels_.tolist() == [-1, -1] and two.components_.shape == (0, 1)
    assert two.predict([[0.2]]).tolist() == [-1]


def test_predict_new_users() -> None:
    X = np.vstack([_blobs(600, 2, seed=6), [[30.0, 30.0]]])
    db = DBSCAN(eps=0.4, min_samples=5).fit(X)
    assert db.labels_[-1] == -1  # the outlier is noise
    core = db.core_sample_indices_
    np.testing.assert_array_equal(db.predict(X[core]), db.labels_[core])
    # A user next to a core point joins its cluster; one far from every core point is noise.
    near = X[core[:5]] + 0.01
    np.testing.assert_array_equal(db.predict(near), db.labels_[core[:5]])
    assert db.predict([[30.0, 30.0], [-50.0, 0.0]]).tolist() == [-1, -1]
    assert db.fit_predict(X).tolist() == db.labels_.tolist()


def test_eps_auto() -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 0.5, (800, 3)), rng.normal(6, 0.5, (800, 3))])
    db = DBSCAN(eps="auto", min_samples=5).fit(X)
    assert 0 < db.eps_ < 1.0
    # A heuristic: the knee keeps the two blobs apart; their sparse tails may be
    # noise or a few micro-clusters.
    sizes = np.sort(np.bincount(db.labels_[db.labels_ >= 0]))[::-1]
    assert sizes[:2].sum() >= 0.8 * len(X) and sizes[1] >= 0.4 * len(X)
    assert adjusted_rand_score(np.repeat([0, 1], 800), db.labels_) > 0.75
    assert estimate_eps(X, 5) == pytest.approx(db.eps_)


def test_does_not_change_callers_data() -> None:
    X = _blobs(500, 2)
    before = X.copy()
    DBSCAN(eps=0.3).fit(X).predict(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": 0.0}, "eps"),
        ({"eps": -1.0}, "eps"),
        ({"eps": float("inf")}, "eps"),
        ({"eps": "big"}, "eps"),
        ({"min_samples": 0}, "min_samples"),
        ({"min_samples": 2.5}, "min_samples"),
        ({"metric": "cosine"}, "metric"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"n_jobs": 0}, "n_jobs"),
    ],
)
def test_bad_parameters(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        DBSCAN(**kwargs).fit(_blobs(50, 2))


def test_bad_data() -> None:
    X = _blobs(50, 2)
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[7, 1] = bad
        with pytest.raises(DataError, match=r"NaN|infinity"):
            DBSCAN().fit(Xb)
    with pytest.raises(DataError, match="2D"):
        DBSCAN().fit(X[:, 0])
    with pytest.raises(DataError):
        DBSCAN().fit(np.empty((0, 2)))
    with pytest.raises(DataError, match="sample_weight"):
        DBSCAN().fit(X, sample_weight=np.ones(3))
    with pytest.raises(NotFittedError):
        DBSCAN().predict(X)
    db = DBSCAN(eps=0.5).fit(X)
    with pytest.raises(DataError, match="features"):
        db.predict(np.ones((3, 5)))
    with pytest.raises(DataError, match="NaN"):
        db.predict(np.array([[np.nan, 0.0]]))


@parametrize_with_checks([DBSCAN()])
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
    ("name", "eps", "min_samples", "k", "min_ari"),
    [("spiral", 1.2, 3, 3, 0.99), ("jain", 1.75, 10, 2, 0.95), ("aggregation", 1.5, 8, 7, 0.98)],
)
def test_finds_non_convex_shapes_kmeans_cannot(name, eps, min_samples, k, min_ari) -> None:
    """Fränti's shape sets: DBSCAN recovers the reference partition where k-means cannot."""
    X, refs = _shape_set(name)
    ours = DBSCAN(eps=eps, min_samples=min_samples).fit(X).labels_
    km = KMeans(k, n_init=10, random_state=0).fit_predict(X)
    ari_ours = max(adjusted_rand_score(r, ours) for r in refs)
    ari_km = max(adjusted_rand_score(r, km) for r in refs)
    assert ari_ours >= min_ari
    assert ari_km < 0.8
    assert ari_ours > ari_km + 0.15
