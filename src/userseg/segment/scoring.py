"""The metrics row of one labelling: silhouette (with its interval), CH and DB indices.

Every family scores its candidates with :func:`score`, and the
:class:`~userseg.segment.segmenter.Segmenter` scores its result with it, so the
k-choice table and the final metrics are measured alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from userseg.evaluate.indices import (
    calinski_harabasz_from_stats,
    davies_bouldin_from_stats,
    partition_stats,
)
from userseg.evaluate.silhouette import silhouette

__all__ = ["score"]


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
