"""userseg: user segmentation from raw data to named, stable, actionable segments.

The public API is listed in ``__all__`` and loaded lazily, so that ``import
userseg`` (and the ``userseg`` command) starts fast and optional extras are
imported only when used.

Examples
--------
>>> import numpy as np
>>> from userseg import Segmenter
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(0, 1, (100, 3)), rng.normal(6, 1, (100, 3))])
>>> seg = Segmenter(n_segments=2, random_state=0).fit(X)
>>> sorted(np.bincount(seg.labels_).tolist())
[100, 100]
"""

from __future__ import annotations

from userseg._lazy import lazy_exports
from userseg._version import __version__ as __version__

# name -> module that defines it; resolved on first attribute access.
_EXPORTS: dict[str, str] = {
    # estimators
    "Segmenter": "userseg.segment.segmenter",
    "Preparer": "userseg.features.prepare",
    "KMeans": "userseg.cluster.kmeans",
    "DBSCAN": "userseg.cluster.dbscan",
    "HDBSCAN": "userseg.cluster.hdbscan",
    "KPrototypes": "userseg.cluster.kprototypes",
    "sweep_k": "userseg.cluster.sweep",
    "silhouette": "userseg.evaluate.silhouette",
    "choose_k": "userseg.evaluate.choose",
    # configuration
    "PipelineConfig": "userseg.jobs.pipeline_config",
    "Source": "userseg.config",
    "EventMapping": "userseg.config",
    "UserMapping": "userseg.config",
    "RowPolicy": "userseg.config",
    "FeatureConfig": "userseg.config",
    "PrepareConfig": "userseg.config",
    "FitConfig": "userseg.segment.params",
    "load_pipeline": "userseg.jobs.pipeline_config",
    # the pipeline over the database
    "open_db": "userseg.jobs.pipeline",
    "run_pipeline": "userseg.jobs.pipeline",
    # errors
    "UsersegError": "userseg.errors",
    "DataError": "userseg.errors",
    "SchemaError": "userseg.errors",
    "ConfigError": "userseg.errors",
    "NotFoundError": "userseg.errors",
    "NotFittedError": "userseg.errors",
    "DatabaseError": "userseg.errors",
    "DatabaseLockedError": "userseg.errors",
    "DependencyError": "userseg.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, __all__)
