"""Online k-means: centres that follow a stream of users, with exponential forgetting.

Each mini-batch pulls every centre toward the mean of its new members by
``decay`` of the way (MacQueen's update with a constant step): memory stays at
k centres however long the stream runs, and old behaviour fades at the rate
``decay`` sets. The estimator owns its centres; whoever scores with them (the
stream's assigner) is given the new centres after each batch
(:meth:`~userseg.cluster.assigners.CentroidAssigner.move_centres`).
"""

from __future__ import annotations

import numpy as np

from userseg.cluster.nearest import nearest_centres

__all__ = ["OnlineKMeans"]


class OnlineKMeans:
    """Mini-batch k-means update with exponential forgetting: bounded memory (k centres).

    Parameters
    ----------
    centres : ndarray of shape (k, n_features)
        The starting centres (copied; the caller's array is never written).
    decay : float
        In (0, 1]: the share of the way a batch pulls a centre toward its members.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (k, n_features)
        The current centres.
    """

    def __init__(self, centres: np.ndarray, decay: float) -> None:
        self.cluster_centers_ = np.array(centres, dtype=np.float64, copy=True)
        self._start = self.cluster_centers_.copy()
        self.decay = decay

    def partial_fit(self, Z: np.ndarray) -> OnlineKMeans:
        """Move each centre toward the mean of the rows of ``Z`` nearest to it."""
        Z = np.ascontiguousarray(Z, dtype=np.float64)
        labels, _ = nearest_centres(Z, self.cluster_centers_)
        centres = self.cluster_centers_
        for j in np.unique(labels):
            # each batch pulls a centre toward its new members, by `decay` of the way
            centres[j] += self.decay * (Z[labels == j].mean(axis=0) - centres[j])
        return self

    def shifts(self, ids: np.ndarray) -> dict[int, float]:
        """How far each centre moved since the start, by segment id."""
        moved = np.linalg.norm(self.cluster_centers_ - self._start, axis=1)
        return {int(i): float(m) for i, m in zip(ids, moved, strict=True)}
