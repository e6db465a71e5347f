"""HDBSCAN: density clusters of varying density, on the fastest library installed.

Three implementations compute the same exact HDBSCAN* partition; measured on
this project's shared two-core machine (``benchmarks/bench_dbscan.py``,
Gaussian blobs, ``min_cluster_size=50``; quiet / busy machine):

============================  ===============  ==============  ======================
library                       100k x 4         100k x 16       notes
============================  ===============  ==============  ======================
``fast_hdbscan`` 0.3          3.5 s / 8.6 s    42 s            Numba, parallel Borůvka
``hdbscan`` 0.8 (exact MST)   7.2 s / 15.3 s   51 s            Cython
``sklearn.cluster.HDBSCAN``   75 s* / 134 s    --              single-threaded (*DESIGN)
============================  ===============  ==============  ======================

``backend="auto"`` takes the first one importable in that order; ``hdbscan``
is run with ``approx_min_span_tree=False`` so that every backend returns the
same partition (its default approximate tree changes it). The optional
packages are imported only when used.

``predict`` assigns a new user to the cluster of the nearest clustered
training point, if the user lies within that point's core distance (the
distance to its ``min_samples``-th nearest neighbour, itself included);
otherwise -1. That is the density the point was clustered at, so a new user
in a gap between clusters stays noise.
"""

from __future__ import annotations

import importlib
import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from userseg._sklearn import require_fitted
from userseg.cluster.dbscan import check_data
from userseg.errors import ConfigError, DependencyError

__all__ = ["BACKENDS", "HDBSCAN"]

#: Backends in the order ``backend="auto"`` tries them (fastest first, measured).
BACKENDS = ("fast_hdbscan", "hdbscan", "sklearn")
_METHODS = ("eom", "leaf")


def _import_backend(name: str) -> Any:
    module = {"fast_hdbscan": "fast_hdbscan", "hdbscan": "hdbscan", "sklearn": "sklearn.cluster"}
    try:
        return importlib.import_module(module[name])
    except ImportError as err:
        extra = "bench" if name == "fast_hdbscan" else "density"
        raise DependencyError(
            f"HDBSCAN backend {name!r} needs the package {name!r}, which is not installed; "
            f"install it (pip install 'userseg[{extra}]') or use backend='auto' or 'sklearn'.",
            details={"package": name},
        ) from err


class HDBSCAN(ClusterMixin, BaseEstimator):
    """Hierarchical density-based clustering, with ``predict`` for new users.

    Parameters
    ----------
    min_cluster_size : int, default 5
        Smallest group of users that counts as a segment.
    min_samples : int, optional
        Neighbours that set a point's core distance, **the point itself
        included** (scikit-learn's convention; the ``hdbscan`` and
        ``fast_hdbscan`` packages count it out, and are given one less, so
        that every backend returns the same partition). Larger values call
        more points noise. Default: ``min_cluster_size``.
    cluster_selection_epsilon : float, default 0.0
        Clusters closer than this are merged.
    cluster_selection_method : {"eom", "leaf"}, default "eom"
    allow_single_cluster : bool, default False
    backend : {"auto", "fast_hdbscan", "hdbscan", "sklearn"}, default "auto"
        Implementation; "auto" takes the fastest one installed. Naming an
        uninstalled package raises :class:`~userseg.errors.DependencyError`.
    n_jobs : int, optional
        Threads for the backends that take it (``hdbscan``, ``sklearn``).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point, -1 for noise.
    probabilities_ : ndarray of shape (n_samples,)
        Strength of each point's membership (0 for noise).
    n_clusters_ : int
    backend_ : str
        The implementation that ran.
    components_ : ndarray of shape (n_clustered, n_features)
        The clustered (non-noise) training points, used by ``predict``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.3, (60, 2)), rng.normal(5, 0.3, (60, 2))])
    >>> hdb = HDBSCAN(min_cluster_size=10).fit(X)
    >>> hdb.n_clusters_
    2
    >>> hdb.predict(np.array([[0.0, 0.1], [2.5, 2.5]])).tolist() == [hdb.labels_[0], -1]
    True
    """

    def __init__(
        self,
        min_cluster_size: int = 5,
        min_samples: int | None = None,
        *,
        cluster_selection_epsilon: float = 0.0,
        cluster_selection_method: str = "eom",
        allow_single_cluster: bool = False,
        backend: str = "auto",
        n_jobs: int | None = None,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.cluster_selection_method = cluster_selection_method
        self.allow_single_cluster = allow_single_cluster
        self.backend = backend
        self.n_jobs = n_jobs

    def _validate_params(self) -> None:
        mcs = self.min_cluster_size
        if not isinstance(mcs, numbers.Integral) or isinstance(mcs, bool) or mcs < 2:
            raise ConfigError(f"min_cluster_size must be an integer >= 2; got {mcs!r}.")
        ms = self.min_samples
        if ms is not None and (
            not isinstance(ms, numbers.Integral) or isinstance(ms, bool) or ms < 1
        ):
            raise ConfigError(f"min_samples must be an integer >= 1 or None; got {ms!r}.")
        eps = self.cluster_selection_epsilon
        if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not 0 <= eps < np.inf:
            raise ConfigError(
                f"cluster_selection_epsilon must be a finite number >= 0; got {eps!r}."
            )
        if self.cluster_selection_method not in _METHODS:
            raise ConfigError(
                f"cluster_selection_method must be one of {_METHODS}; "
                f"got {self.cluster_selection_method!r}."
            )
        if self.backend not in ("auto", *BACKENDS):
            raise ConfigError(
                f"backend must be one of {('auto', *BACKENDS)}; got {self.backend!r}."
            )
        nj = self.n_jobs
        if nj is not None and (not isinstance(nj, numbers.Integral) or nj == 0):
            raise ConfigError(f"n_jobs must be a non-zero integer or None; got {nj!r}.")

    def _pick_backend(self, min_samples: int) -> tuple[str, Any]:
        if self.backend != "auto":
            if min_samples == 1 and self.backend != "sklearn":
                raise ConfigError(
                    f"min_samples=1 (single linkage) is only available with backend='sklearn' "
                    f"or 'auto'; got backend={self.backend!r}."
                )
            return self.backend, _import_backend(self.backend)
        for name in BACKENDS if min_samples > 1 else ("sklearn",):
            try:
                return name, _import_backend(name)
            except DependencyError:
                continue
        raise AssertionError("scikit-learn is a core dependency")  # pragma: no cover

    def fit(self, X: Any, y: Any = None) -> HDBSCAN:
        """Cluster ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        X = check_data(self, X, reset=True)
        ms = int(self.min_samples if self.min_samples is not None else self.min_cluster_size)
        name, module = self._pick_backend(ms)
        # scikit-learn counts the point itself in min_samples, fast_hdbscan and
        # hdbscan do not: they get ms - 1, and all three then give one partition.
        common = {
            "min_cluster_size": int(self.min_cluster_size),
            "min_samples": ms if name == "sklearn" else ms - 1,
            "cluster_selection_epsilon": float(self.cluster_selection_epsilon),
            "cluster_selection_method": self.cluster_selection_method,
            "allow_single_cluster": bool(self.allow_single_cluster),
        }
        X64 = np.asarray(X, dtype=np.float64)  # all three libraries compute in float64
        n_jobs = self.n_jobs if self.n_jobs is not None else -1
        core_dist = None
        if X64.shape[0] <= max(ms, 1):
            # Every library fails its neighbour search here; there is no density to find.
            labels = np.full(X64.shape[0], -1, dtype=np.int64)
            probs = np.zeros(X64.shape[0])
        elif name == "fast_hdbscan":
            model = module.HDBSCAN(**common).fit(X64)
            labels, probs = model.labels_, model.probabilities_
            # Its core distances, when it computed them (it skips them at min_samples=1).
            core_dist = getattr(model, "_core_distances", None) if ms > 2 else None
        elif name == "hdbscan":
            n_threads = n_jobs if n_jobs > 0 else max(1, (_cpu_count() + 1 + n_jobs))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                model = module.HDBSCAN(
                    **common, approx_min_span_tree=False, core_dist_n_jobs=n_threads
                ).fit(X64)
            labels, probs = model.labels_, model.probabilities_
        else:
            model = module.HDBSCAN(**common, n_jobs=n_jobs, copy=True).fit(X64)
            labels, probs = model.labels_, model.probabilities_
        labels = _first_seen_order(np.asarray(labels, dtype=np.int64))
        self.labels_ = labels
        self.probabilities_ = np.asarray(probs, dtype=np.float64)
        self.n_clusters_ = int(labels.max()) + 1 if labels.size else 0
        self.backend_ = name
        keep = labels >= 0
        self.components_ = X[keep].copy()
        self._component_labels = labels[keep]
        if core_dist is None or np.shape(core_dist) != (X.shape[0],):
            # Only fast_hdbscan hands its core distances over; the others'
            # are recomputed (a k-NN query, small next to their fit).
            core_dist = _core_distances(X64, int(ms))
        self._core_distances = np.asarray(core_dist, dtype=np.float64)[keep]
        # what predict needs, public: a stored model scores new users the same way
        self.component_labels_ = self._component_labels
        self.core_distances_ = self._core_distances
        # predict builds its k-d tree over the clustered points on first use.
        self._predict_cache: dict[str, Any] = {}
        return self

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X).labels_

    def predict(self, X: Any) -> np.ndarray:
        """Cluster of new users: that of the nearest clustered point, if within its core distance.

        Parameters
        ----------
        X : array-like of shape (n_new, n_features)

        Returns
        -------
        ndarray of shape (n_new,)
            Labels, -1 for noise.
        """
        require_fitted(self, "labels_")
        X = check_data(self, X, reset=False)
        out = np.full(X.shape[0], -1, dtype=np.int64)
        if self.components_.shape[0] == 0 or X.shape[0] == 0:
            return out
        from scipy.spatial import cKDTree

        cache = self._predict_cache
        if "tree" not in cache:
            cache["tree"] = cKDTree(self.components_, balanced_tree=False)
        dist, idx = cache["tree"].query(X, k=1, workers=-1)
        hit = dist <= self._core_distances[idx] * (1 + 1e-12)
        out[hit] = self._component_labels[idx[hit]]
        return out

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _first_seen_order(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters in the order of their first point, whichever library numbered them."""
    keep = labels >= 0
    if not keep.any():
        return np.full(labels.shape, -1, dtype=np.int64)
    uniq, first = np.unique(labels[keep], return_index=True)
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(uniq.size)
    out = np.full(labels.shape, -1, dtype=np.int64)
    out[keep] = rank[np.searchsorted(uniq, labels[keep])]
    return out


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def _core_distances(X: np.ndarray, min_samples: int) -> np.ndarray:
    """Distance from each point to its ``min_samples``-th nearest point, itself counted first."""
    if X.shape[0] == 0:
        return np.zeros(0)
    from scipy.spatial import cKDTree

    k = int(min(max(min_samples, 1), X.shape[0]))
    dist, _ = cKDTree(X, balanced_tree=False).query(X, k=k, workers=-1)
    return np.asarray(dist, dtype=np.float64).reshape(X.shape[0], -1)[:, -1]
