"""Differentially private k-means as a family: a fixed k, one private fit, no sweep.

The candidate is :class:`~userseg.privacy.dp.DPKMeans` fitted on the prepared
matrix with the ε and bounds of ``algorithm_params``; its centres are the
model that ``assign`` and the service replay. Nothing that reads the data
more than once is done here (no sweep over k, no choice among candidates),
and the stability and structure checks are switched off by the caller
(:mod:`userseg.jobs.dp_fit`). The utility cost, the inertia of the private
centres over that of a plain k-means on the same matrix, is in the
candidate's metrics: it is not private, it is for the analyst who holds the
data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from userseg.errors import ConfigError
from userseg.segment.registry import Candidate, Family, FitLabels, Progress, register

__all__ = ["DPKMeansFamily"]


class DPKMeansFamily(Family):
    """One candidate at the given k: the DP centres (``epsilon`` and ``bounds`` required)."""

    name = "dp_kmeans"
    rank = 20
    private = True
    structure_check = False  # a gap statistic reads the data again, outside the budget

    def estimator(self) -> Any:
        from userseg.privacy.dp import DPKMeans

        return DPKMeans()

    def known_params(self) -> list[str]:
        # the budget is the store's (jobs.dp_fit), never a parameter of the run
        return [p for p in super().known_params() if p != "budget"]

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
        from userseg.cluster import KMeans
        from userseg.cluster.assigners import CentroidAssigner
        from userseg.privacy.dp import DPKMeans

        if len(ks) != 1:
            raise ConfigError(
                "dp_kmeans needs a fixed k (--k): choosing k would read the data once per "
                "candidate, outside the privacy budget."
            )
        k = ks[0]
        model = DPKMeans(k, random_state=seed, **params).fit(Z)
        plain = KMeans(n_clusters=k, random_state=seed, n_init=4).fit(Z)
        row = {
            "k": k,
            "dp_inertia": model.inertia_,
            "plain_inertia": float(plain.inertia_),
            "utility_ratio": model.inertia_ / max(float(plain.inertia_), 1e-12),
            "epsilon": float(model.epsilon_spent_),
        }
        if progress:
            progress("fit", 1, 1)
        assigner = CentroidAssigner(model.cluster_centers_)
        return [Candidate(k, row, lambda: (assigner, model.labels_))]

    def fit_labels(self, params: dict[str, Any]) -> FitLabels:
        def fit(X: np.ndarray, k: int, seed: int) -> np.ndarray:
            raise ConfigError("dp_kmeans is not refitted on resamples (each would spend epsilon).")

        return fit


register(DPKMeansFamily())
