"""Honest evaluation of a segmentation: metrics that scale, with their uncertainty.

Pure functions of ``(X, labels)`` (or of sufficient statistics); this package
imports nothing from the clustering layer.

The function :func:`silhouette` shares its name with the module that defines
it, so the exports are imported eagerly: a lazy export would lose to the
import system, which binds ``userseg.evaluate.silhouette`` to the module
whenever that module is imported first.
"""

from __future__ import annotations

from userseg.evaluate.indices import (
    PartitionStats,
    calinski_harabasz,
    calinski_harabasz_from_stats,
    davies_bouldin,
    davies_bouldin_from_stats,
    partition_stats,
)
from userseg.evaluate.silhouette import SilhouetteResult, silhouette

__all__ = [
    "PartitionStats",
    "SilhouetteResult",
    "calinski_harabasz",
    "calinski_harabasz_from_stats",
    "davies_bouldin",
    "davies_bouldin_from_stats",
    "partition_stats",
    "silhouette",
]
