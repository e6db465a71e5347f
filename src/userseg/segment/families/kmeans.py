"""k-means: userseg's own core, one sweep over the candidate k sharing the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from userseg.segment.registry import Candidate, Family, FitLabels, Progress, register

if TYPE_CHECKING:
    from userseg.cluster.assigners import Assigner

__all__ = ["KMeansFamily"]


class KMeansFamily(Family):
    """k-means over ``ks``: one k fits directly; several share a sweep, refined when chosen."""

    name = "kmeans"
    centroid = True
    rank = 0

    def estimator(self) -> Any:
        from userseg.cluster import KMeans

        return KMeans()

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
        params = dict(params)
        # Several seedings per k: one bad local optimum at one k would distort the choice
        # of k (a dip in silhouette), and at segmentation sizes the extra fits are cheap.
        params.setdefault("n_init", 4 if len(Z) <= 200_000 else 2)
        if len(ks) == 1:
            return [self._fit_one(Z, S, ks[0], seed, params, sample, progress)]
        return self._sweep(Z, S, ks, seed, params, sample, progress)

    def _fit_one(
        self,
        Z: np.ndarray,
        S: np.ndarray,
        k: int,
        seed: int,
        params: dict[str, Any],
        sample: int,
        progress: Progress | None,
    ) -> Candidate:
        from userseg.cluster import KMeans
        from userseg.cluster.assigners import CentroidAssigner
        from userseg.segment.scoring import score

        km = KMeans(n_clusters=k, random_state=seed, **params).fit(Z)
        row = score(S, km.labels_, None, sample=sample, seed=seed) | {"k": k}
        if progress:
            progress("fit", 1, 1)
        assigner = CentroidAssigner(km.cluster_centers_)
        return Candidate(k, row, lambda: (assigner, km.labels_))

    def _sweep(
        self,
        Z: np.ndarray,
        S: np.ndarray,
        ks: list[int],
        seed: int,
        params: dict[str, Any],
        sample: int,
        progress: Progress | None,
    ) -> list[Candidate]:
        from userseg.cluster import sweep_k
        from userseg.cluster.assigners import CentroidAssigner
        from userseg.cluster.sweep import settle_k
        from userseg.evaluate.choose import choose_k

        result = sweep_k(
            Z,
            ks,
            random_state=seed,
            silhouette_sample_size=sample if len(Z) > sample else None,
            progress=(lambda k: progress("fit", ks.index(k) + 1, len(ks))) if progress else None,
            score_on=None if S is Z else S,
            **params,
        )
        # the k the choice hinges on get seedings of their own, so that it does not depend
        # on which k happened to start badly (that changed with k_max)
        table = [dict(m) for m in settle_k(result, choose_k)]

        def finisher(k: int) -> Callable[[], tuple[Assigner, np.ndarray]]:
            def finish() -> tuple[Assigner, np.ndarray]:
                model = result.refine(k, Z)  # the chosen candidate, run to convergence
                return CentroidAssigner(model.cluster_centers_), model.labels_

            return finish

        return [Candidate(int(row["k"]), row, finisher(int(row["k"]))) for row in table]

    def fit_labels(self, params: dict[str, Any]) -> FitLabels:
        from userseg.cluster import KMeans

        params = dict(params)
        params.pop("n_init", None)

        def fit(X: np.ndarray, k: int, seed: int) -> np.ndarray:
            return KMeans(n_clusters=k, random_state=seed, n_init=2, **params).fit(X).labels_

        return fit


register(KMeansFamily())
