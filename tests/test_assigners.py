"""Assigners: the checked predict is the unchecked one after its checks; one nearest-centre
function; the Gaussian log-probability is scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from userseg.cluster import nearest as nearest_module
from userseg.cluster.assigners import (
    CentroidAssigner,
    CoreAssigner,
    GaussianAssigner,
    assigner_from_state,
)
from userseg.cluster.nearest import nearest_centres
from userseg.errors import DataError


def _blobs(n: int = 600, d: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * d, [6.0] * d, [0.0, 6.0] + [3.0] * (d - 2)])
    return centres[np.arange(n) % 3] + rng.normal(0, 1, (n, d))


def _assigners() -> dict[str, object]:
    X = _blobs()
    out: dict[str, object] = {"centroid": CentroidAssigner(X[:3] + 0.5)}
    for ct in ("full", "tied", "diag", "spherical"):
        gm = GaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
        out[f"gaussian-{ct}"] = GaussianAssigner(gm)
    radii = np.random.default_rng(1).uniform(0.3, 1.2, 60)
    out["core"] = CoreAssigner(X[:60], np.arange(60) % 3, radii)
    out["core-empty"] = CoreAssigner(np.empty((0, 3)), np.empty(0), np.empty(0))
    return out


ASSIGNERS = _assigners()


@pytest.mark.parametrize("name", list(ASSIGNERS))
def test_predict_is_the_unchecked_predict_after_its_checks(name) -> None:
    a = ASSIGNERS[name]
    X = _blobs(400, seed=5) * 1.3
    labels, dist = a.predict(X)
    fast_labels, fast_dist = a.predict_unchecked(X)
    np.testing.assert_array_equal(labels, fast_labels)
    np.testing.assert_array_equal(dist, fast_dist)
    assert a.n_features == 3
    # the checks are the checked predict's alone
    with pytest.raises(DataError, match="3 prepared features; got shape"):
        a.predict(X[:, :2])
    with pytest.raises(DataError, match="NaN or infinite"):
        a.predict(np.vstack([X[:2], [np.nan, 0, 0]]))
    # and a stored-and-loaded assigner is the same
    again = assigner_from_state(*a.to_state())
    np.testing.assert_array_equal(again.predict_unchecked(X)[0], labels)


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_gaussian_labels_are_scikit_learns(ct) -> None:
    a = ASSIGNERS[f"gaussian-{ct}"]
    X = _blobs(500, seed=7) * 1.5
    labels, dist = a.predict_unchecked(X)
    np.testing.assert_array_equal(labels, a.gm.predict(X))
    np.testing.assert_allclose(dist, np.linalg.norm(X - a.gm.means_[labels], axis=1))


def test_nearest_centres_is_the_brute_force_nearest(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    X, centres = rng.normal(size=(1000, 4)), rng.normal(size=(7, 4))
    brute = np.linalg.norm(X[:, None, :] - centres[None, :, :], axis=2)
    labels, dist = nearest_centres(X, centres)
    np.testing.assert_array_equal(labels, brute.argmin(axis=1))
    np.testing.assert_allclose(dist, brute.min(axis=1), rtol=1e-12)
    assert labels.dtype == np.int64 and dist.dtype == np.float64
    monkeypatch.setattr(nearest_module, "_CHUNK", 64)  # chunked: the same answer
    chunked = nearest_centres(X, centres)
    np.testing.assert_array_equal(chunked[0], labels)
    np.testing.assert_array_equal(chunked[1], dist)


def test_centroid_assigner_follows_centres_moved_in_place() -> None:
    """Online k-means moves the centres in place: predict must read them at each call."""
    a = CentroidAssigner(np.array([[0.0, 0.0], [10.0, 10.0]]))
    assert a.predict_unchecked(np.array([[4.0, 4.0]]))[0].tolist() == [0]
    a.centers[1] -= 7.0
    assert a.predict_unchecked(np.array([[4.0, 4.0]]))[0].tolist() == [1]


def test_dp_kmeans_predicts_with_the_one_nearest_centre() -> None:
    from userseg.privacy.dp import DPKMeans

    X = _blobs(900)
    model = DPKMeans(3, epsilon=5.0, bounds=(-4.0, 10.0), random_state=0).fit(X)
    np.testing.assert_array_equal(model.predict(X), nearest_centres(X, model.cluster_centers_)[0])
