"""Assign new users to the segments of a fitted model, from plain arrays (no pickle).

Whatever algorithm found the segments, what is needed to score a new user is
small: centres (k-means), mixture parameters (Gaussian mixture) or reference
core points with a radius each (DBSCAN, HDBSCAN). An assigner holds exactly
that, predicts label and distance, and round-trips through
``to_state()`` → ``(params, arrays)`` → ``from_state()``, so the model that
served the training session and the one loaded from the database behave the
same.

Each assigner has two ways to predict: :meth:`Assigner.predict` checks its
input (a finite float64 matrix of the model's width) and calls
:meth:`Assigner.predict_unchecked`, which assumes it. The REST service
prepares and checks its own matrix (:mod:`userseg.features.compiled`) and
calls the unchecked one: the library and the service run the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KDTree

from userseg.cluster.nearest import nearest_centres
from userseg.errors import DataError

__all__ = [
    "Assigner",
    "CentroidAssigner",
    "CoreAssigner",
    "GaussianAssigner",
    "TierAssigner",
    "assigner_from_state",
]


def _check(X: np.ndarray, n_features: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise DataError(
            f"expected a matrix with {n_features} prepared features; got shape {X.shape}."
        )
    if not np.isfinite(X).all():
        raise DataError("prepared features contain NaN or infinite values.")
    return X


class Assigner:
    """Base: ``predict(X) -> (labels, distances)``; ``permute`` renumbers segments."""

    kind = "base"

    @property
    def n_features(self) -> int:  # pragma: no cover
        """The width of the prepared matrix the assigner scores."""
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Segment index (-1: noise) and distance of each row of ``X``, checked.

        Raises
        ------
        DataError
            ``X`` is not a matrix of :attr:`n_features` columns, or holds NaN or infinity.
        """
        return self.predict_unchecked(_check(X, self.n_features))

    def predict_unchecked(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` without the checks: ``X`` must be a finite float64 matrix of
        :attr:`n_features` columns (what it does otherwise is undefined)."""
        raise NotImplementedError  # pragma: no cover

    def permute(self, order: np.ndarray) -> None:  # pragma: no cover
        """Renumber segments: new segment ``i`` is old segment ``order[i]``."""
        raise NotImplementedError

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:  # pragma: no cover
        raise NotImplementedError

    @property
    def centers(self) -> np.ndarray:
        """A representative point per segment (for ordering and maps)."""
        raise NotImplementedError  # pragma: no cover


class CentroidAssigner(Assigner):
    """Nearest centre (k-means); distance = Euclidean distance to it."""

    kind = "centroid"

    def __init__(self, centers: np.ndarray) -> None:
        self._centers = np.asarray(centers, dtype=np.float64)

    @property
    def centers(self) -> np.ndarray:
        return self._centers

    @property
    def n_features(self) -> int:
        return int(self._centers.shape[1])

    def move_centres(self, centres: np.ndarray) -> None:
        """Score with new centres from now on (online k-means: the stream's model follows).

        The array is copied; it must keep the shape of the centres it replaces, so
        that segment ids and the preparation stay those of the stored model.
        """
        centres = np.array(centres, dtype=np.float64, copy=True)
        if centres.shape != self._centers.shape:
            raise ValueError(
                f"new centres must have the shape {self._centers.shape}; got {centres.shape}."
            )
        self._centers = centres

    def predict_unchecked(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The centres are read at each call: online updates replace them (move_centres).
        return nearest_centres(X, self._centers)

    def permute(self, order: np.ndarray) -> None:
        self._centers = self._centers[order]

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"kind": self.kind}, {"centers": self._centers}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> CentroidAssigner:
        return cls(arrays["centers"])


class GaussianAssigner(Assigner):
    """Most probable mixture component; distance = Euclidean distance to its mean."""

    kind = "gaussian"

    def __init__(self, gm: GaussianMixture) -> None:
        self.gm = gm

    @property
    def centers(self) -> np.ndarray:
        return self.gm.means_

    @property
    def n_features(self) -> int:
        return int(self.gm.means_.shape[1])

    def predict_unchecked(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # GaussianMixture.predict without its input validation (a third of its time for
        # one user): scikit-learn's own log-probability, the one implementation of it.
        labels = self.gm._estimate_weighted_log_prob(X).argmax(axis=1)
        dist = np.linalg.norm(X - self.gm.means_[labels], axis=1)
        return labels, dist

    def permute(self, order: np.ndarray) -> None:
        gm = self.gm
        gm.weights_ = gm.weights_[order]
        gm.means_ = gm.means_[order]
        if gm.covariance_type in ("full", "diag", "spherical"):
            gm.covariances_ = gm.covariances_[order]
            gm.precisions_cholesky_ = gm.precisions_cholesky_[order]

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        gm = self.gm
        return (
            {"kind": self.kind, "covariance_type": gm.covariance_type},
            {
                "weights": gm.weights_,
                "means": gm.means_,
                "covariances": gm.covariances_,
                "precisions_cholesky": gm.precisions_cholesky_,
            },
        )

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> GaussianAssigner:
        gm = GaussianMixture(
            n_components=len(arrays["weights"]), covariance_type=params["covariance_type"]
        )
        gm.weights_ = arrays["weights"]
        gm.means_ = arrays["means"]
        gm.covariances_ = arrays["covariances"]
        gm.precisions_cholesky_ = arrays["precisions_cholesky"]
        gm.n_features_in_ = arrays["means"].shape[1]
        return cls(gm)


class CoreAssigner(Assigner):
    """Density models: the label of the nearest reference (core) point, if within its radius.

    DBSCAN: the core points, each with radius ``eps``. HDBSCAN: clustered
    points, each with its core distance. Farther than the radius: noise (-1).
    """

    kind = "core"

    def __init__(self, points: np.ndarray, labels: np.ndarray, radii: np.ndarray) -> None:
        self.points = np.asarray(points, dtype=np.float64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.radii = np.asarray(radii, dtype=np.float64)
        self._tree: KDTree | None = None

    @property
    def centers(self) -> np.ndarray:
        k = int(self.labels.max()) + 1 if self.labels.size else 0
        return np.array([self.points[self.labels == j].mean(axis=0) for j in range(k)])

    @property
    def n_features(self) -> int:
        return int(self.points.shape[1])

    def predict_unchecked(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.points.shape[0] == 0:
            return np.full(len(X), -1, dtype=np.int64), np.full(len(X), np.inf)
        if self._tree is None:
            self._tree = KDTree(self.points)
        dist, idx = self._tree.query(X, k=1)
        dist, idx = dist[:, 0], idx[:, 0]
        labels = np.where(dist <= self.radii[idx], self.labels[idx], -1)
        return labels, dist

    def permute(self, order: np.ndarray) -> None:
        inverse = np.full(
            max(int(self.labels.max(initial=-1)), int(order.max(initial=-1))) + 1,
            -1,
            dtype=np.int64,
        )
        inverse[order] = np.arange(len(order))
        self.labels = inverse[self.labels]

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"kind": self.kind}, {
            "points": self.points,
            "labels": self.labels,
            "radii": self.radii,
        }

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> CoreAssigner:
        return cls(arrays["points"], arrays["labels"], arrays["radii"])


class TierAssigner(Assigner):
    """Value tiers by their stated rules (:func:`userseg.value.tiers.tier_codes`), not by distance.

    The prepared matrix has three columns: spend so far, expected value and
    P(alive), unscaled. ``tiers`` lists, per segment, its position in
    :data:`userseg.value.tiers.TIERS`; a user whose tier had no member when the
    run was fitted (so no segment) is noise (-1). The distance is 0: a rule
    has no centre to be near.
    """

    kind = "tiers"

    def __init__(
        self, thresholds: dict[str, float], tiers: np.ndarray, centers: np.ndarray
    ) -> None:
        self.thresholds = {k: float(thresholds[k]) for k in self.THRESHOLDS}
        self.tiers = np.asarray(tiers, dtype=np.int64)
        self._centers = np.asarray(centers, dtype=np.float64)

    THRESHOLDS = ("past_value_min", "predicted_value_min", "p_alive_threshold")

    @property
    def centers(self) -> np.ndarray:
        """Each segment's mean spend so far, expected value and P(alive) (for maps, order)."""
        return self._centers

    @property
    def n_features(self) -> int:
        return 3

    def predict_unchecked(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from userseg.value.tiers import tier_codes

        codes = tier_codes(X[:, 0], X[:, 1], X[:, 2], **self.thresholds)
        segment_of = np.full(4, -1, dtype=np.int64)
        segment_of[self.tiers] = np.arange(len(self.tiers))
        return segment_of[codes], np.zeros(len(X))

    def permute(self, order: np.ndarray) -> None:
        self.tiers = self.tiers[order]
        self._centers = self._centers[order]

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"kind": self.kind, "thresholds": dict(self.thresholds)}, {
            "tiers": self.tiers,
            "centers": self._centers,
        }

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> TierAssigner:
        return cls(params["thresholds"], arrays["tiers"], arrays["centers"])


_KINDS: dict[str, type] = {
    c.kind: c for c in (CentroidAssigner, GaussianAssigner, CoreAssigner, TierAssigner)
}


def assigner_from_state(params: dict[str, Any], arrays: dict[str, np.ndarray]) -> Assigner:
    """Rebuild an assigner from what :meth:`Assigner.to_state` returned."""
    kind = params.get("kind")
    if kind not in _KINDS:
        raise DataError(f"unknown assigner kind {kind!r}; expected one of {sorted(_KINDS)}.")
    return _KINDS[kind].from_state(params, arrays)
