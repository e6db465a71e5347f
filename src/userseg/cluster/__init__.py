"""Clustering estimators with the scikit-learn contract.

``__init__`` only stores parameters, ``fit`` validates and returns ``self``,
fitted attributes end in ``_``, and ``predict`` assigns new users. Names are
resolved lazily so that importing one estimator does not compile the others.

Layering: ``cluster`` may use the pure metrics of :mod:`userseg.evaluate`
(the k sweep scores each k); ``evaluate`` never imports ``cluster``.
"""

from __future__ import annotations

from userseg._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "KMeans": "userseg.cluster.kmeans",
    "sweep_k": "userseg.cluster.sweep",
    "SweepResult": "userseg.cluster.sweep",
    "DBSCAN": "userseg.cluster.dbscan",
    "HDBSCAN": "userseg.cluster.hdbscan",
    "KPrototypes": "userseg.cluster.kprototypes",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, __all__)
