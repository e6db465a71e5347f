"""Honest evaluation of a segmentation: metrics that scale, with their uncertainty.

Pure functions of ``(X, labels)`` (or of sufficient statistics); this package
imports nothing from the clustering layer.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "PartitionStats": "userseg.evaluate.indices",
    "calinski_harabasz": "userseg.evaluate.indices",
    "calinski_harabasz_from_stats": "userseg.evaluate.indices",
    "davies_bouldin": "userseg.evaluate.indices",
    "davies_bouldin_from_stats": "userseg.evaluate.indices",
    "partition_stats": "userseg.evaluate.indices",
    "silhouette": "userseg.evaluate.silhouette",
    "SilhouetteResult": "userseg.evaluate.silhouette",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'userseg.evaluate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
