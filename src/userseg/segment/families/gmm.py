"""Gaussian mixture (scikit-learn's), one fit per candidate k."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from userseg.segment.registry import Candidate, Family, FitLabels, Progress, register

__all__ = ["GMMFamily"]


class GMMFamily(Family):
    """A Gaussian mixture per k; each candidate keeps its fitted model and labels."""

    name = "gmm"
    rank = 1
    defaults: ClassVar[dict[str, Any]] = {"covariance_type": "full", "reg_covar": 1e-4}

    def estimator(self) -> Any:
        from sklearn.mixture import GaussianMixture

        return GaussianMixture()

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
        from sklearn.mixture import GaussianMixture

        from userseg.cluster.assigners import GaussianAssigner
        from userseg.segment.scoring import score

        settings = self.defaults | {"n_init": 1} | params
        out = []
        for i, k in enumerate(ks):
            gm = GaussianMixture(n_components=k, random_state=seed, **settings).fit(Z)
            labels = gm.predict(Z)
            row = score(S, labels, None, sample=sample, seed=seed)
            row.update(k=k, bic=float(gm.bic(Z)))
            assigner = GaussianAssigner(gm)
            out.append(Candidate(k, row, lambda a=assigner, lab=labels: (a, lab)))
            if progress:
                progress("fit", i + 1, len(ks))
        return out

    def fit_labels(self, params: dict[str, Any]) -> FitLabels:
        from sklearn.mixture import GaussianMixture

        settings = self.defaults | params

        def fit(X: np.ndarray, k: int, seed: int) -> np.ndarray:
            return GaussianMixture(n_components=k, random_state=seed, **settings).fit_predict(X)

        return fit


register(GMMFamily())
