"""The clustering step of :class:`~userseg.segmenter.Segmenter`: fit each candidate, score it.

One function per family: k-means (userseg's core, a sweep over k sharing the
work), Gaussian mixture, and the density methods (which choose their number
of segments). Each returns the assigner(s) that will score new users, the
labels, and one row of metrics per candidate k for the choice of k.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from userseg.cluster.assigners import Assigner, CentroidAssigner, CoreAssigner, GaussianAssigner
from userseg.errors import DataError
from userseg.evaluate.indices import (
    calinski_harabasz_from_stats,
    davies_bouldin_from_stats,
    partition_stats,
)
from userseg.evaluate.silhouette import silhouette

__all__ = ["fit_density", "fit_gmm", "fit_kmeans", "score"]

Progress = Callable[[str, int, int], None]


def score(
    Z: np.ndarray, labels: np.ndarray, centers: np.ndarray | None, *, sample: int, seed: int
) -> dict[str, Any]:
    """Silhouette (sampled above ``sample`` users, with its interval), CH and DB of a labelling."""
    keep = labels >= 0
    k = len(np.unique(labels[keep]))
    out: dict[str, Any] = {"k": k, "noise_share": float(1 - keep.mean())}
    if k < 2 or keep.sum() <= k:
        return out | {
            "silhouette": float("nan"),
            "calinski_harabasz": float("nan"),
            "davies_bouldin": float("nan"),
        }
    sil = silhouette(
        Z, labels, sample_size=sample if keep.sum() > sample else None, random_state=seed
    )
    stats = partition_stats(Z, labels, centers)
    return out | {
        "silhouette": sil.value,
        "silhouette_low": sil.low,
        "silhouette_high": sil.high,
        "silhouette_exact": sil.exact,
        "silhouette_n": sil.n_used,
        "calinski_harabasz": calinski_harabasz_from_stats(stats),
        "davies_bouldin": davies_bouldin_from_stats(stats),
        "inertia": float(stats.sq_dist_sums.sum()),
    }


class Candidates:
    """The fitted candidates of a sweep, finished on demand: ``candidates[k]``."""

    def __init__(self, pick: Callable[[int], tuple[Assigner, np.ndarray]]) -> None:
        self._pick = pick

    def __getitem__(self, k: int) -> tuple[Assigner, np.ndarray]:
        return self._pick(k)


def fit_kmeans(
    Z: np.ndarray,
    S: np.ndarray,
    ks: list[int],
    seed: int,
    progress: Progress | None,
    *,
    params: dict[str, Any] | None,
    sample: int,
) -> tuple[Any, Any, list[dict[str, Any]]]:
    from userseg.cluster import KMeans

    params = dict(params or {})
    # Several seedings per k: one bad local optimum at one k would distort the choice
    # of k (a dip in silhouette), and at segmentation sizes the extra fits are cheap.
    params.setdefault("n_init", 4 if len(Z) <= 200_000 else 2)
    if len(ks) == 1:
        km = KMeans(n_clusters=ks[0], random_state=seed, **params).fit(Z)
        row = score(S, km.labels_, None, sample=sample, seed=seed)
        if progress:
            progress("fit", 1, 1)
        return CentroidAssigner(km.cluster_centers_), km.labels_, [row | {"k": ks[0]}]
    from userseg.cluster import sweep_k
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

    def pick(k: int) -> tuple[Assigner, np.ndarray]:
        model = result.refine(k, Z)  # the chosen candidate, run to convergence
        return CentroidAssigner(model.cluster_centers_), model.labels_

    return Candidates(pick), None, table


def fit_gmm(
    Z: np.ndarray,
    S: np.ndarray,
    ks: list[int],
    seed: int,
    progress: Progress | None,
    *,
    params: dict[str, Any] | None,
    sample: int,
) -> tuple[Any, Any, list[dict[str, Any]]]:
    from sklearn.mixture import GaussianMixture

    params = {"covariance_type": "full", "reg_covar": 1e-4, "n_init": 1} | dict(params or {})
    assigners, labels, table = {}, {}, []
    for i, k in enumerate(ks):
        gm = GaussianMixture(n_components=k, random_state=seed, **params).fit(Z)
        lab = gm.predict(Z)
        row = score(S, lab, None, sample=sample, seed=seed)
        row.update(k=k, bic=float(gm.bic(Z)))
        table.append(row)
        assigners[k], labels[k] = GaussianAssigner(gm), lab
        if progress:
            progress("fit", i + 1, len(ks))
    if len(ks) == 1:
        return assigners[ks[0]], labels[ks[0]], table
    return assigners, labels, table


def fit_density(
    algorithm: str,
    Z: np.ndarray,
    S: np.ndarray,
    seed: int,
    progress: Progress | None,
    *,
    params: dict[str, Any] | None,
    sample: int,
) -> tuple[Assigner, np.ndarray, list[dict[str, Any]]]:
    from userseg.cluster import DBSCAN, HDBSCAN

    params = dict(params or {})
    if algorithm == "dbscan":
        params.setdefault("eps", "auto")
        model = DBSCAN(**params).fit(Z)
        labels = model.labels_
        core = model.core_sample_indices_
        eps = float(getattr(model, "eps_", model.eps))
        assigner = CoreAssigner(Z[core], labels[core], np.full(len(core), eps))
    else:
        # a segment below 1 % of the users is rarely actionable: the default minimum size
        params.setdefault("min_cluster_size", max(10, len(Z) // 100))
        model = HDBSCAN(**params).fit(Z)
        labels = model.labels_
        # HDBSCAN.predict's rule: the nearest clustered point, if within its core distance
        assigner = CoreAssigner(model.components_, model.component_labels_, model.core_distances_)
    if progress:
        progress("fit", 1, 1)
    if not (labels >= 0).any():
        raise DataError(
            f"{algorithm} found no segments: every user is noise. "
            + (
                "Try a larger eps or a smaller min_samples."
                if algorithm == "dbscan"
                else "Try a smaller min_cluster_size or min_samples."
            )
        )
    row = score(S, labels, None, sample=sample, seed=seed)
    return assigner, labels, [row]
