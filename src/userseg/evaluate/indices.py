"""Calinski-Harabasz and Davies-Bouldin, from the data or from sufficient statistics.

A k-means pass already visits every point with its nearest centre, so it can
collect, per cluster, the count, the coordinate sums, the sum of squared
distances and the sum of distances to the centre. Both indices follow from
those numbers alone (:class:`PartitionStats`), with no further pass over the
data: at 10 million users that saves a full read of the matrix per k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from userseg.errors import ConfigError, DataError

__all__ = [
    "PartitionStats",
    "calinski_harabasz",
    "calinski_harabasz_from_stats",
    "davies_bouldin",
    "davies_bouldin_from_stats",
    "partition_stats",
]


@dataclass(frozen=True)
class PartitionStats:
    """Per-cluster sufficient statistics of a partition, relative to reference centres.

    Attributes
    ----------
    counts : ndarray of shape (k,)
        Number of points (or total sample weight) in each cluster.
    sums : ndarray of shape (k, d)
        Coordinate sums of each cluster's points.
    sq_dist_sums : ndarray of shape (k,)
        Sum of squared Euclidean distances of each cluster's points to ``centers[j]``.
    dist_sums : ndarray of shape (k,)
        Sum of Euclidean distances of each cluster's points to ``centers[j]``.
    centers : ndarray of shape (k, d)
        The reference centres the distances were measured to (k-means centres;
        at convergence they equal the cluster means up to the tolerance).
    """

    counts: np.ndarray
    sums: np.ndarray
    sq_dist_sums: np.ndarray
    dist_sums: np.ndarray
    centers: np.ndarray

    @property
    def n_samples(self) -> float:
        return float(self.counts.sum())

    @property
    def n_clusters(self) -> int:
        """Number of non-empty clusters."""
        return int(np.count_nonzero(self.counts > 0))


def partition_stats(
    X: np.ndarray, labels: np.ndarray, centers: np.ndarray | None = None
) -> PartitionStats:
    """Compute :class:`PartitionStats` from data and labels (one pass, O(n·d) memory-free).

    Parameters
    ----------
    X : array-like of shape (n, d)
    labels : array-like of shape (n,)
        Cluster labels in ``0..k-1``; negative labels (noise) are ignored.
    centers : array-like of shape (k, d), optional
        Reference centres; the cluster means when omitted.
    """
    X, labels = _check_xy(X, labels)
    keep = labels >= 0
    X, labels = X[keep], labels[keep]
    k = int(labels.max()) + 1 if labels.size else 0
    if centers is not None:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2 or centers.shape[1] != X.shape[1] or centers.shape[0] < k:
            raise DataError(
                f"centers must have shape (>= {k}, {X.shape[1]}) to match labels and X; "
                f"got {centers.shape}."
            )
        # Trailing clusters may be empty (k-means can leave the last one empty):
        # keep one row of statistics per centre so the arrays stay aligned.
        k = centers.shape[0]
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.zeros((k, X.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, X)
    if centers is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            centers = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], 0.0)
    centers = np.asarray(centers, dtype=np.float64)
    sq = np.einsum("ij,ij->i", X - centers[labels], X - centers[labels])
    sq_dist_sums = np.bincount(labels, weights=sq, minlength=k)
    dist_sums = np.bincount(labels, weights=np.sqrt(sq), minlength=k)
    return PartitionStats(counts, sums, sq_dist_sums, dist_sums, centers)


def calinski_harabasz_from_stats(stats: PartitionStats) -> float:
    """Calinski-Harabasz index (higher is better) from sufficient statistics.

    The within-cluster sum of squares is taken around the cluster means: the
    squared distances to the reference centres are corrected by
    ``n_j * ||mean_j - centre_j||²`` (exact, by the parallel-axis theorem).
    """
    nonempty = stats.counts > 0
    counts = stats.counts[nonempty]
    k = counts.size
    n = counts.sum()
    if k < 2 or n <= k:
        raise ConfigError(
            f"Calinski-Harabasz needs 2 <= n_clusters < n_samples; got n_clusters={k}, "
            f"n_samples={n:g}."
        )
    means = stats.sums[nonempty] / counts[:, None]
    grand = stats.sums[nonempty].sum(axis=0) / n
    between = float(np.sum(counts * np.sum((means - grand) ** 2, axis=1)))
    shift = np.sum((means - stats.centers[nonempty]) ** 2, axis=1)
    within = float(np.sum(stats.sq_dist_sums[nonempty] - counts * shift))
    if within <= 0.0:
        return 1.0 if between == 0.0 else float("inf")
    return between * (n - k) / (within * (k - 1))


def davies_bouldin_from_stats(stats: PartitionStats) -> float:
    """Davies-Bouldin index (lower is better) from sufficient statistics.

    Cluster scatter is the mean distance to the reference centre, and the
    separation the distance between centres, as in scikit-learn.
    """
    nonempty = stats.counts > 0
    k = int(nonempty.sum())
    if k < 2:
        raise ConfigError(f"Davies-Bouldin needs n_clusters >= 2; got {k}.")
    scatter = stats.dist_sums[nonempty] / stats.counts[nonempty]
    centers = stats.centers[nonempty]
    diff = centers[:, None, :] - centers[None, :, :]
    separation = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    if np.allclose(scatter, 0.0) or np.allclose(separation, 0.0):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (scatter[:, None] + scatter[None, :]) / separation
    ratio[~np.isfinite(ratio)] = 0.0  # coincident centres (separation 0), as scikit-learn
    np.fill_diagonal(ratio, 0.0)
    return float(np.mean(ratio.max(axis=1)))


def calinski_harabasz(X: np.ndarray, labels: np.ndarray) -> float:
    """Calinski-Harabasz index of a labelling (noise labels < 0 are left out)."""
    return calinski_harabasz_from_stats(partition_stats(X, labels))


def davies_bouldin(X: np.ndarray, labels: np.ndarray) -> float:
    """Davies-Bouldin index of a labelling (noise labels < 0 are left out)."""
    return davies_bouldin_from_stats(partition_stats(X, labels))


def _check_xy(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    labels = np.asarray(labels)
    if X.ndim != 2:
        raise DataError(f"X must be 2-dimensional (n_samples, n_features); got shape {X.shape}.")
    if labels.shape != (X.shape[0],):
        raise DataError(f"labels must have shape ({X.shape[0]},) to match X; got {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"labels must be integers; got dtype {labels.dtype}.")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise DataError("X contains NaN or infinity; clean or impute it before scoring.")
    return X, labels.astype(np.int64, copy=False)
