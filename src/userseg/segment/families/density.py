"""The density families, DBSCAN and HDBSCAN: they find the number of segments themselves.

Both may call users noise (-1); new users are assigned to the segment of the
nearest core point within its radius (:class:`~userseg.cluster.assigners.CoreAssigner`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from userseg.errors import DataError
from userseg.segment.registry import Candidate, Family, FitLabels, Progress, register

if TYPE_CHECKING:
    from userseg.cluster.assigners import Assigner

__all__ = ["DBSCANFamily", "DensityFamily", "HDBSCANFamily"]


class DensityFamily(Family):
    """What DBSCAN and HDBSCAN share: one fit, its own k, an error when all is noise."""

    chooses_k = True
    # The gap statistic measures compact groups; density methods are chosen for shapes it
    # cannot see (a spiral fails it), and they find "clusters" in uniform reference data
    # too, so no null reference is fair to them: their stability and noise share speak.
    structure_check = False
    advice = ""

    def settings(self, params: dict[str, Any], n_users: int) -> dict[str, Any]:
        """The estimator's parameters: the user's over the family's defaults."""
        return self.defaults | params

    def fit_assigner(self, Z: np.ndarray, settings: dict[str, Any]) -> tuple[Assigner, np.ndarray]:
        raise NotImplementedError

    def fit_candidates(
        self,
        Z: np.ndarray,
        S: np.ndarray,
        ks: list[int],
        *,
        seed: int,
        params: dict[str, Any],
        sample: int,
        progress: Progress | None = None,
    ) -> list[Candidate]:
        from userseg.segment.scoring import score

        assigner, labels = self.fit_assigner(Z, self.settings(params, len(Z)))
        if progress:
            progress("fit", 1, 1)
        if not (labels >= 0).any():
            raise DataError(f"{self.name} found no segments: every user is noise. {self.advice}")
        row = score(S, labels, None, sample=sample, seed=seed)
        return [Candidate(int(row["k"]), row, lambda: (assigner, labels))]

    def fit_labels(self, params: dict[str, Any]) -> FitLabels:
        cls = type(self.estimator())
        settings = self.defaults | params

        def fit(X: np.ndarray, k: int, seed: int) -> np.ndarray:
            return cls(**settings).fit(X).labels_

        return fit


class DBSCANFamily(DensityFamily):
    """DBSCAN; ``eps`` chosen from the k-distance curve unless given."""

    name = "dbscan"
    rank = 2
    defaults: ClassVar[dict[str, Any]] = {"eps": "auto"}
    advice = "Try a larger eps or a smaller min_samples."

    def estimator(self) -> Any:
        from userseg.cluster import DBSCAN

        return DBSCAN()

    def fit_assigner(self, Z: np.ndarray, settings: dict[str, Any]) -> tuple[Assigner, np.ndarray]:
        from userseg.cluster import DBSCAN
        from userseg.cluster.assigners import CoreAssigner

        model = DBSCAN(**settings).fit(Z)
        labels = model.labels_
        core = model.core_sample_indices_
        eps = float(getattr(model, "eps_", model.eps))
        return CoreAssigner(Z[core], labels[core], np.full(len(core), eps)), labels


class HDBSCANFamily(DensityFamily):
    """HDBSCAN; the smallest segment is 1 % of the users (at least 10) unless given."""

    name = "hdbscan"
    rank = 3
    advice = "Try a smaller min_cluster_size or min_samples."

    def estimator(self) -> Any:
        from userseg.cluster import HDBSCAN

        return HDBSCAN()

    def settings(self, params: dict[str, Any], n_users: int) -> dict[str, Any]:
        # a segment below 1 % of the users is rarely actionable: the default minimum size
        return {"min_cluster_size": max(10, n_users // 100)} | params

    def fit_assigner(self, Z: np.ndarray, settings: dict[str, Any]) -> tuple[Assigner, np.ndarray]:
        from userseg.cluster import HDBSCAN
        from userseg.cluster.assigners import CoreAssigner

        model = HDBSCAN(**settings).fit(Z)
        # HDBSCAN.predict's rule: the nearest clustered point, if within its core distance
        assigner = CoreAssigner(model.components_, model.component_labels_, model.core_distances_)
        return assigner, model.labels_


register(DBSCANFamily())
register(HDBSCANFamily())
