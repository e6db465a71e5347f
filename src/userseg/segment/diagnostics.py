"""Can the segments be trusted? Structure, stability, rules and a map, for a fitted segmentation.

The :class:`~userseg.segment.segmenter.Segmenter` calls these after it has chosen and
fitted its segments, with its family's refit ``fit_labels(X, k, seed) -> labels``
(:meth:`~userseg.segment.registry.Family.fit_labels`) for refits on resamples and
on null reference data:

* :func:`stability_for_k` — a cheap stability per candidate k (five
  subsample refits), the tie-breaker and filter of the choice of k;
* :func:`diagnose` — the structure check (is the data more clustered than
  structureless data of the same shape?), the stability of the result (20
  subsample refits, per-segment Jaccard) and the surrogate rules of each
  segment on the original feature values;
* :func:`user_map` — a 2-D picture of (a sample of) the users: PCA by
  default, UMAP when the ``umap-learn`` package is installed and asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from userseg.evaluate.stability import StabilityResult, stability, stability_by_k
from userseg.evaluate.structure import StructureResult, structure_check
from userseg.explain.rules import RuleSet, segment_rules
from userseg.segment.registry import FitLabels

__all__ = ["Diagnostics", "diagnose", "stability_for_k", "user_map"]


def stability_for_k(
    Z: np.ndarray, ks: list[int], fit_labels: FitLabels, seed: int
) -> dict[int, float]:
    """Mean agreement (ARI) of five subsample refits per k, on at most 5,000 users."""
    rows = stability_by_k(Z, ks, fit_labels, n_runs=5, sample=5000, random_state=seed)
    return {int(r["k"]): float(r["stability"]) for r in rows}


@dataclass
class Diagnostics:
    """What :func:`diagnose` found."""

    structure: StructureResult | None
    stability: StabilityResult | None
    rules: RuleSet | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "structure": self.structure.to_dict() if self.structure else None,
            "stability": self.stability.to_dict() if self.stability else None,
            "rules": self.rules.to_dict() if self.rules else None,
        }


def diagnose(
    raw: pd.DataFrame,
    Z: np.ndarray,
    labels: np.ndarray,
    fit_labels: FitLabels,
    *,
    categorical: list[str],
    seed: int,
    stability_runs: int = 20,
    check_structure: bool = True,
    rules: bool = True,
    structure_X: np.ndarray | None = None,
) -> Diagnostics:
    """Structure check, stability and rules of one fitted segmentation.

    ``labels`` are the segment indices (0..k-1; -1 noise) of the rows of
    ``raw`` (original feature values) and ``Z`` (the prepared matrix the
    algorithm saw). ``structure_X`` is the matrix the structure check reads
    (default ``Z``): the segmenter passes the numeric columns only, because
    one-hot columns are clustered by construction and would make noise look
    like segments against a uniform reference.
    """
    k = len(np.unique(labels[labels >= 0]))
    structure = None
    if check_structure and k >= 2:
        # 5,000 users are plenty for a verdict measured in standard errors, and keep the
        # ten reference fits under a few seconds at any number of users
        structure = structure_check(
            Z if structure_X is None else structure_X,
            k,
            fit_labels,
            sample=5000,
            random_state=seed,
        )
    stab = None
    if stability_runs and k >= 2:
        stab = stability(Z, labels, fit_labels, n_runs=stability_runs, random_state=seed)
    ruleset = None
    if rules and k >= 2:
        ruleset = segment_rules(raw, labels, categorical=categorical, random_state=seed)
    return Diagnostics(structure, stab, ruleset)


def user_map(
    Z: np.ndarray, labels: np.ndarray, *, sample: int = 5000, seed: int = 0, method: str = "pca"
) -> dict[str, Any]:
    """2-D coordinates of a stratified sample of users, for a picture coloured by segment.

    Every segment keeps at least ``min(size, 50)`` users in the sample, so
    small segments show. Returns ``x``, ``y`` (float32), ``index`` (segment
    index of each point), the ``method`` used and, for PCA, the share of the
    variance the two axes explain.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    if n > sample:
        picks = []
        for seg in np.unique(labels):
            members = np.flatnonzero(labels == seg)
            take = max(min(len(members), 50), round(sample * len(members) / n))
            picks.append(rng.choice(members, size=min(take, len(members)), replace=False))
        rows = np.sort(np.concatenate(picks))
    else:
        rows = np.arange(n)
    X = Z[rows]
    explained = None
    used = "pca"
    if method == "umap":
        try:
            import umap  # type: ignore[import-not-found]

            xy = umap.UMAP(n_components=2, random_state=seed).fit_transform(X)
            used = "umap"
        except ImportError:
            xy = None
    if used == "pca":
        centred = X - X.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T if vt.shape[0] >= 2 else np.c_[centred @ vt[:1].T, np.zeros(len(X))]
        total = float(np.sum(s**2))
        explained = float(np.sum(s[:2] ** 2) / total) if total > 0 else 0.0
    return {
        "x": xy[:, 0].astype(np.float32),
        "y": xy[:, 1].astype(np.float32),
        "index": labels[rows].astype(np.int64),
        "method": used,
        "explained": explained,
    }
