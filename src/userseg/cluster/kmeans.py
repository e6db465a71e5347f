"""k-means for millions of users on a few cores: fused Numba passes, Hamerly bounds, sampled init.

:class:`KMeans` follows scikit-learn's estimator (same parameters where they
mean the same, same fitted attributes, same errors) and differs in how it works:

* one fused pass over the data assigns every row and accumulates the new
  centre sums (:mod:`userseg.cluster._kmeans_kernels`); no n × k matrix;
* after the first pass, Hamerly's bounds (float32, 8 bytes a row) skip the rows
  whose label cannot change, so later iterations read a fraction of the data;
* k-means++ runs on a seeded sample of ``max(50_000, 500 * k)`` rows and is
  refined there by Lloyd before the full data is touched, so the full-data
  iterations start close to a fixed point;
* the final pass also gathers :class:`~userseg.evaluate.indices.PartitionStats`,
  so Calinski-Harabasz and Davies-Bouldin cost no further pass.

Compiled kernels are cached on disk (``cache=True``); see ``docs/clustering.md``
for ``NUMBA_CACHE_DIR`` on read-only installs.

The engine's pieces that :mod:`userseg.cluster.sweep` shares (one sample, one
seeding order, one tolerance for every k) are named without an underscore:
:func:`check_weights`, :func:`seeding_sample_size`, :func:`draw_sample`,
:func:`tolerance`, :func:`resolve_algorithm`, :func:`seed_centers`,
:func:`kmeans_plusplus`, :func:`fit_from`, :func:`fit_from_seeds` and
:data:`RANK_ITER`. They are internal to ``cluster/`` (not in ``__all__``) and,
like scikit-learn's private helpers, assume validated input.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numba
import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import _check_sample_weight, validate_data

from userseg._sklearn import require_fitted
from userseg.cluster import _kmeans_kernels as K
from userseg.errors import ConfigError, ConvergenceWarning, DataError
from userseg.evaluate.indices import PartitionStats

__all__ = ["KMeans"]

# n_init="auto" with k-means++ on data larger than the init sample: seedings compared there.
_AUTO_SAMPLED_SEEDINGS = 3
# Up to this many centres, Hamerly's final pass searches every row (see _hamerly).
_FINAL_FULL_SEARCH_MAX_K = 16
# Passes on the init sample after which competing seedings are ranked.
RANK_ITER = 20
# Default init sample: max(_MIN_INIT_SAMPLE, _INIT_SAMPLE_PER_CLUSTER * k) rows.
_MIN_INIT_SAMPLE = 50_000
_INIT_SAMPLE_PER_CLUSTER = 500
# Kernels with less estimated work than this (about 4 ms on one thread) run on one
# thread; see _threads. A bounded pass costs about this many "ops" a row
# (a 12-byte read and a comparison).
_PARALLEL_OPS = 2.5e7
_BOUNDED_OPS_PER_ROW = 24
_ALGORITHMS = ("auto", "lloyd", "hamerly")


@dataclass
class _Run:
    """One k-means run on validated data (private)."""

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    stats: PartitionStats | None


class KMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """k-means clustering, fast on millions of rows and within 0.2 GB of extra memory.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (k).
    init : {"k-means++", "random"} or array-like of shape (n_clusters, n_features)
        ``"k-means++"``: greedy k-means++ (``2 + log k`` local trials, as
        scikit-learn) on the init sample, then refined by Lloyd on that sample.
        ``"random"``: k distinct rows of the sample, then refined. An array:
        the initial centres, used as given on the full data (no sample).
    n_init : int or "auto", default="auto"
        Number of seedings. On data larger than the init sample each seeding
        is refined on the sample and only the one with the lowest sample
        inertia is run on the full data, so extra seedings cost milliseconds;
        otherwise every seeding is a full run and the lowest inertia wins.
        ``"auto"``: for k-means++, 3 on data larger than the init sample (on
        1M blobs one seeding fell in a worse local optimum in 2 runs of 8,
        three in none, and the fit got faster) and 1 otherwise, as
        scikit-learn; 10 for ``"random"``; 1 for an array.
    max_iter : int, default=300
        Maximum number of passes over the data in one run.
    tol : float, default=1e-4
        Convergence when the squared centre movement of a pass, summed over
        centres, is at most ``tol`` times the mean feature variance (as
        scikit-learn; on data larger than the init sample the variance is
        estimated on that sample). A pass that moves no row always ends the run.
    random_state : int, RandomState instance or None, default=None
        Seed of the init sample and the seeding.
    init_sample_size : int or None, default=None
        Rows on which the seeding is chosen and refined; ``None`` means
        ``max(50_000, 500 * n_clusters)`` (on Birch1, k=100, a 10,000-row
        sample lost 1.4 % of inertia against the full data, 50,000 rows 0.1 %).
        All rows when the data has fewer.
    algorithm : {"auto", "lloyd", "hamerly"}, default="auto"
        ``"lloyd"``: every pass compares every row with every centre (the
        reference, equal to scikit-learn's ``lloyd``). ``"hamerly"``: Hamerly's
        bounds skip rows whose label cannot change (12 bytes a row of state).
        ``"auto"``: ``"hamerly"`` unless ``n_clusters == 1``.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features), dtype of X
    labels_ : ndarray of shape (n_samples,), int32
    inertia_ : float
        Sum of (weighted) squared distances of the rows to their centre.
    n_iter_ : int
        Passes over the data in the selected run (the final statistics pass not counted).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    partition_stats_ : PartitionStats
        Per-cluster weights, sums, sum of squared distances and of distances
        to ``cluster_centers_``, from the final pass; feed it to
        :func:`~userseg.evaluate.indices.calinski_harabasz_from_stats`.

    Examples
    --------
    >>> import numpy as np
    >>> from userseg.cluster import KMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]], dtype=float)
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> sorted(km.cluster_centers_.tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    >>> km.predict([[0, 0], [12, 3]]).tolist() == [km.labels_[0], km.labels_[3]]
    True
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | Any = "k-means++",
        n_init: int | str = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: int | np.random.RandomState | None = None,
        init_sample_size: int | None = None,
        algorithm: str = "auto",
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.init_sample_size = init_sample_size
        self.algorithm = algorithm

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute the k-means partition of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            float32 data stays float32 (no float64 copy); other numeric data
            becomes float64. Must be finite.
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; a weight of 2 counts like a repeated row.

        Returns
        -------
        self : KMeans
        """
        self._check_params()
        X = self._validate_X(X, reset=True)
        n = X.shape[0]
        if n < self.n_clusters:
            raise ConfigError(f"n_samples={n} should be >= n_clusters={self.n_clusters}.")
        w = check_weights(sample_weight, X)
        rs = check_random_state(self.random_state)
        init_array = self._init_array(X)

        algorithm = resolve_algorithm(self.algorithm, self.n_clusters)
        sample_size = seeding_sample_size(self.init_sample_size, self.n_clusters, n)
        n_init = self._resolve_n_init(init_array is not None, sampled=sample_size < n)

        if init_array is not None:
            tol = tolerance(X, self.tol, rs)
            run = fit_from(X, w, init_array, self.max_iter, tol, algorithm)
        else:
            run = _fit_seeded(
                X,
                w,
                self.n_clusters,
                self.init,
                n_init,
                sample_size,
                self.max_iter,
                self.tol,
                algorithm,
                rs,
            )
        self._set_fitted(run)
        return self

    def _set_fitted(self, run: _Run, *, warn: bool = True) -> None:
        self.converged_ = bool(run.converged)
        if not run.converged and warn:
            warnings.warn(
                f"KMeans stopped at max_iter={self.max_iter} before the centres settled "
                f"(tol={self.tol}); increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        distinct = int(np.count_nonzero(run.stats.counts > 0)) if run.stats is not None else 0
        if distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                f"({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.cluster_centers_ = run.centers
        self.labels_ = run.labels
        self.inertia_ = run.inertia
        self.n_iter_ = run.n_iter
        self.partition_stats_ = run.stats
        self._n_features_out = run.centers.shape[0]

    # ------------------------------------------------------------ predict & co
    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest centre for each row of ``X`` (int32)."""
        X = self._check_fitted_X(X)
        labels, _ = _assign(X, np.empty(0, X.dtype), self.cluster_centers_.astype(X.dtype))
        return labels

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X: Any) -> np.ndarray:
        """Euclidean distance of each row to each centre, shape (n_samples, n_clusters)."""
        X = self._check_fitted_X(X)
        return _distances(X, self.cluster_centers_.astype(X.dtype), squared=False)

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit and return the distances of the training rows to the centres."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the (weighted) inertia of ``X`` on the fitted centres, as scikit-learn."""
        X = self._check_fitted_X(X)
        w = check_weights(sample_weight, X)
        _, inertia = _assign(X, w, self.cluster_centers_.astype(X.dtype))
        return -inertia

    # ------------------------------------------------------------ validation
    def _check_params(self) -> None:
        name = type(self).__name__

        def bad(param: str, expected: str, value: Any) -> ConfigError:
            return ConfigError(
                f"The {param!r} parameter of {name} must be {expected}. Got {value!r} instead."
            )

        if not _is_int(self.n_clusters) or self.n_clusters < 1:
            raise bad("n_clusters", "an int in the range [1, inf)", self.n_clusters)
        if not (self.n_init == "auto" or (_is_int(self.n_init) and self.n_init >= 1)):
            raise bad("n_init", "'auto' or an int in the range [1, inf)", self.n_init)
        if not _is_int(self.max_iter) or self.max_iter < 1:
            raise bad("max_iter", "an int in the range [1, inf)", self.max_iter)
        if not isinstance(self.tol, Real) or isinstance(self.tol, bool) or not self.tol >= 0:
            raise bad("tol", "a float in the range [0, inf)", self.tol)
        if self.init_sample_size is not None and (
            not _is_int(self.init_sample_size) or self.init_sample_size < self.n_clusters
        ):
            raise bad(
                "init_sample_size",
                f"None or an int >= n_clusters={self.n_clusters}",
                self.init_sample_size,
            )
        if not isinstance(self.algorithm, str) or self.algorithm not in _ALGORITHMS:
            raise bad("algorithm", f"a str among {set(_ALGORITHMS)}", self.algorithm)
        if isinstance(self.init, str):
            if self.init not in ("k-means++", "random"):
                raise bad("init", "'k-means++', 'random' or an array", self.init)
        elif not hasattr(self.init, "__len__") and not hasattr(self.init, "__array__"):
            raise bad("init", "'k-means++', 'random' or an array", self.init)

    def _validate_X(self, X: Any, *, reset: bool) -> np.ndarray:
        try:
            return validate_data(
                self,
                X,
                reset=reset,
                dtype=[np.float64, np.float32],
                order="C",
                accept_sparse=False,
            )
        except ValueError as exc:
            raise DataError(str(exc)) from exc

    def _check_fitted_X(self, X: Any) -> np.ndarray:
        require_fitted(self, "cluster_centers_")
        return self._validate_X(X, reset=False)

    def _init_array(self, X: np.ndarray) -> np.ndarray | None:
        if isinstance(self.init, str):
            return None
        try:
            centers = check_array(self.init, dtype=X.dtype, copy=True, order="C")
        except ValueError as exc:
            raise ConfigError(f"The 'init' array is invalid: {exc}") from exc
        if centers.shape != (self.n_clusters, X.shape[1]):
            raise ConfigError(
                f"The shape of the initial centers {centers.shape} does not match "
                f"(n_clusters, n_features) = ({self.n_clusters}, {X.shape[1]})."
            )
        return centers

    def _resolve_n_init(self, init_is_array: bool, *, sampled: bool) -> int:
        if self.n_init == "auto":
            if init_is_array:
                return 1
            if self.init == "random":
                return 10
            return _AUTO_SAMPLED_SEEDINGS if sampled else 1
        if init_is_array and self.n_init != 1:
            warnings.warn(
                f"Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={self.n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            return 1
        return int(self.n_init)


# ---------------------------------------------------------------------------
# Engine (private: inputs are validated, C-contiguous, float32/float64)


def _fit_seeded(
    X: np.ndarray,
    w: np.ndarray,
    k: int,
    init: str,
    n_init: int,
    sample_size: int,
    max_iter: int,
    tol: float,
    algorithm: str,
    rs: np.random.RandomState,
) -> _Run:
    """Seed on a sample, refine there, then run on the full data (``n_init`` seedings)."""
    Xs, ws = draw_sample(X, w, sample_size, rs)
    tol_abs = tolerance(Xs, tol, rs)
    seeds = [seed_centers(Xs, ws, k, init, rs) for _ in range(n_init)]
    return fit_from_seeds(X, w, Xs, ws, seeds, max_iter, tol_abs, algorithm)


def fit_from_seeds(
    X: np.ndarray,
    w: np.ndarray,
    Xs: np.ndarray,
    ws: np.ndarray,
    seeds: list[np.ndarray],
    max_iter: int,
    tol_abs: float,
    algorithm: str,
    full_max_iter: int | None = None,
) -> _Run:
    """Best of the seedings: chosen and refined on the sample ``Xs`` when it is one.

    ``full_max_iter`` caps the passes over the full data (after convergence on
    the sample); the k sweep uses it for its candidates and refines only the
    chosen one.

    When ``Xs`` is a sample, the seedings are ranked by their sample inertia
    after at most :data:`RANK_ITER` passes on it, the best one is refined on
    the sample to convergence (a sample pass costs ``len(Xs) / len(X)`` of a
    full one) and only then run on the full data, which it reaches next to a
    fixed point. Otherwise every seeding is a full run and the lowest inertia wins.
    """
    if Xs is not X:
        best: _Run | None = None
        if len(seeds) > 1:
            for seed in seeds:
                run = fit_from(Xs, ws, seed, min(max_iter, RANK_ITER), tol_abs, algorithm)
                if best is None or run.inertia < best.inertia:
                    best = run
            assert best is not None
            if not best.converged:
                best = fit_from(Xs, ws, best.centers, max_iter, tol_abs, algorithm)
        else:
            best = fit_from(Xs, ws, seeds[0], max_iter, tol_abs, algorithm)
        return fit_from(X, w, best.centers, full_max_iter or max_iter, tol_abs, algorithm)
    best = None
    for seed in seeds:
        run = fit_from(X, w, seed, max_iter, tol_abs, algorithm)
        if best is None or run.inertia < best.inertia:
            best = run
    assert best is not None
    return best


def draw_sample(
    X: np.ndarray, w: np.ndarray, size: int, rs: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded uniform sample of rows (sorted, without repeats); all of X when small."""
    n = X.shape[0]
    if size >= n:
        return X, w
    idx = _sorted_unique(rs.randint(0, n, size=size))
    return np.ascontiguousarray(X[idx]), (w[idx] if w.size else w)


def _sorted_unique(idx: np.ndarray) -> np.ndarray:
    """Sorted distinct row indices (reads in memory order; faster than np.unique here)."""
    idx.sort()
    keep = np.empty(idx.size, dtype=bool)
    keep[:1] = True
    np.not_equal(idx[1:], idx[:-1], out=keep[1:])
    return idx[keep]


def seed_centers(
    Xs: np.ndarray,
    ws: np.ndarray,
    k: int,
    init: str,
    rs: np.random.RandomState,
    n_local_trials: int | None = None,
) -> np.ndarray:
    """Initial centres chosen among the rows of ``Xs`` (a copy, C-contiguous)."""
    if init == "random":
        p = None if ws.size == 0 else ws / ws.sum()
        idx = rs.choice(Xs.shape[0], size=k, replace=False, p=p)
    else:
        idx = kmeans_plusplus(Xs, ws, k, rs, n_local_trials)
    return np.ascontiguousarray(Xs[idx])


def kmeans_plusplus(
    X: np.ndarray,
    w: np.ndarray,
    k: int,
    rs: np.random.RandomState,
    n_local_trials: int | None = None,
) -> np.ndarray:
    """Greedy k-means++ as scikit-learn's ``kmeans_plusplus``; returns row indices in order.

    The random draws are scikit-learn's (one ``choice``, then ``n_local_trials``
    uniforms a step), so on the same rows and seed both pick the same seeds up
    to rounding. The order matters to :func:`userseg.cluster.sweep_k`: with a
    fixed ``n_local_trials`` the first j indices are a k-means++ seeding for j.
    """
    n = X.shape[0]
    wf = np.ones(n) if w.size == 0 else w.astype(np.float64)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(k))
    first = int(rs.choice(n, p=wf / wf.sum()))
    uniforms = rs.uniform(size=(k - 1, n_local_trials))
    idx = np.empty(k, dtype=np.int64)
    K.kmeans_plusplus(_ro(np.asarray(X, dtype=np.float64)), wf, first, uniforms, idx)
    return idx


def fit_from(
    X: np.ndarray, w: np.ndarray, centers: np.ndarray, max_iter: int, tol: float, algorithm: str
) -> _Run:
    """Run Lloyd or Hamerly from ``centers`` and finish with the statistics pass."""
    centers = np.array(centers, dtype=X.dtype, order="C", copy=True)
    X, w = _ro(X), _ro(w)
    from userseg.cluster import torch_kmeans  # imports torch only when a GPU may be used

    if torch_kmeans.use_gpu(X.shape[0]):
        # The iterations on the GPU; CPU passes from its centres (the second finds no row
        # moving: converged) then give the labels,
        # the inertia and the statistics every run carries, as the CPU path computes them.
        gpu = torch_kmeans.lloyd(
            X, centers, sample_weight=w if w.size else None, max_iter=max_iter, tol=tol
        )
        return _lloyd(X, w, np.ascontiguousarray(gpu.centers, dtype=X.dtype), 2, tol)
    if algorithm == "lloyd":
        return _lloyd(X, w, centers, max_iter, tol)
    return _hamerly(X, w, centers, max_iter, tol)


def _lloyd(X: np.ndarray, w: np.ndarray, centers: np.ndarray, max_iter: int, tol: float) -> _Run:
    """Lloyd: every pass compares every row with every centre (scikit-learn's iteration).

    The centre sums are running totals: the first pass adds every row, later
    passes only the rows that changed cluster (the same sums up to rounding,
    without a scatter of every row into them).
    """
    n, d = X.shape
    k = centers.shape[0]
    bounds = K.chunk_bounds(n, k, d)
    nch = bounds.size - 1
    labels = np.full(n, -1, dtype=np.int32)
    sums = np.zeros((nch, k, d))
    counts = np.zeros((nch, k))
    tot_s, tot_c = np.zeros((k, d)), np.zeros(k)
    none32, none2d = np.empty(0, np.float32), np.empty((0, 0))
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        sums[:] = 0.0
        counts[:] = 0.0
        with _threads(n * d * k):
            changed = K.full_pass(
                X,
                w,
                centers,
                bounds,
                labels,
                none32,
                none32,
                sums,
                counts,
                none2d,
                none2d,
                K.FLAG_DELTA,
            )
        tot_s += sums.sum(axis=0)
        tot_c += counts.sum(axis=0)
        # scikit-learn keeps the labels of the rows it moves onto empty clusters
        # and reassigns them next pass; the running sums need the label moved too.
        _relocate_empty(X, w, centers, labels, bounds, tot_s, tot_c, relabel=True)
        new = _centers_from(tot_s, tot_c, centers, X.dtype)
        shift_sq = float(np.sum((new.astype(np.float64) - centers) ** 2))
        centers = new
        if changed == 0 or shift_sq <= tol:
            converged = True
            break
    sq, ds = _stats_pass(X, w, centers, bounds, labels, sums, counts)
    tot_s += sums.sum(axis=0)
    tot_c += counts.sum(axis=0)
    return _finish(centers, labels, n_iter, converged, tot_s, tot_c, sq, ds)


def _stats_pass(
    X: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    bounds: np.ndarray,
    labels: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The final pass: every row searched against the final centres (labels, inertia).

    ``sums``/``counts`` receive the changes of this pass (they are zeroed first);
    returns the per-chunk squared and plain distance sums of ``PartitionStats``.
    """
    n, d = X.shape
    k = centers.shape[0]
    nch = bounds.size - 1
    sums[:] = 0.0
    counts[:] = 0.0
    sq, ds = np.zeros((nch, k)), np.zeros((nch, k))
    none32 = np.empty(0, np.float32)
    with _threads(n * d * k):
        K.full_pass(
            X,
            w,
            centers,
            bounds,
            labels,
            none32,
            none32,
            sums,
            counts,
            sq,
            ds,
            K.FLAG_DELTA | K.FLAG_STATS,
        )
    return sq, ds


def _hamerly(X: np.ndarray, w: np.ndarray, centers: np.ndarray, max_iter: int, tol: float) -> _Run:
    n, d = X.shape
    k = centers.shape[0]
    bounds = K.chunk_bounds(n, k, d)
    nch = bounds.size - 1
    labels = np.full(n, -1, dtype=np.int32)
    # 12 bytes a row of state: int32 label and two float32 bounds (never float64).
    upper = np.empty(n, dtype=np.float32)
    lower = np.empty(n, dtype=np.float32)
    sums = np.zeros((nch, k, d))
    counts = np.zeros((nch, k))
    none2d = np.empty((0, 0))
    with _threads(n * d * k):
        changed = K.full_pass(
            X,
            w,
            centers,
            bounds,
            labels,
            upper,
            lower,
            sums,
            counts,
            none2d,
            none2d,
            K.FLAG_UPDATE | K.FLAG_BOUNDS,
        )
    tot_s, tot_c = sums.sum(axis=0), counts.sum(axis=0)
    unused = np.zeros((nch, k))  # statistics of the final pass only
    searched = n  # the first pass searched every row
    drift = np.zeros(k)  # cumulative movement of each centre since the bounds were set
    max_drift = 0.0  # cumulative largest movement
    converged = False
    n_iter = 1
    while True:
        moved = _relocate_empty(X, w, centers, labels, bounds, tot_s, tot_c, relabel=True)
        if moved.size:
            upper[moved] = np.inf  # their centre jumps onto them: recompute next pass
            lower[moved] = -np.inf
        new = _centers_from(tot_s, tot_c, centers, X.dtype)
        shift = np.sqrt(np.sum((new.astype(np.float64) - centers) ** 2, axis=1))
        drift += shift
        max_drift += float(shift.max())
        centers = new
        if changed == 0 or float(np.sum(shift**2)) <= tol:
            converged = True
            break
        if n_iter >= max_iter:
            break
        sums[:] = 0.0
        counts[:] = 0.0
        # The rows searched last pass predict this one's work (bounds tests
        # are cheap; a searched row costs a block search over every centre).
        with _threads(_BOUNDED_OPS_PER_ROW * n + searched * (k * d + 50)):
            changed, searched = K.bounded_pass(
                X,
                w,
                centers,
                bounds,
                labels,
                upper,
                lower,
                drift,
                max_drift,
                _half_separation(centers),
                sums,
                counts,
                unused,
                unused,
                False,
            )
        tot_s += sums.sum(axis=0)
        tot_c += counts.sum(axis=0)
        n_iter += 1
    # The final pass measures every row against the final centres (labels,
    # inertia, PartitionStats); sums and counts stay incremental. With few
    # centres the SIMD block search of every row is faster than one scalar
    # distance a row plus the bounds (measured at 10M: k=8 2.9 vs 3.7 times
    # a numpy sum, k=32 6.5 vs 4.1).
    if k <= _FINAL_FULL_SEARCH_MAX_K:
        sq, ds = _stats_pass(X, w, centers, bounds, labels, sums, counts)
    else:
        sums[:] = 0.0
        counts[:] = 0.0
        sq, ds = np.zeros((nch, k)), np.zeros((nch, k))
        with _threads(4 * n * d):
            K.bounded_pass(
                X,
                w,
                centers,
                bounds,
                labels,
                upper,
                lower,
                drift,
                max_drift,
                _half_separation(centers),
                sums,
                counts,
                sq,
                ds,
                True,
            )
    tot_s += sums.sum(axis=0)
    tot_c += counts.sum(axis=0)
    return _finish(centers, labels, n_iter, converged, tot_s, tot_c, sq, ds)


def _finish(
    centers: np.ndarray,
    labels: np.ndarray,
    n_iter: int,
    converged: bool,
    sums: np.ndarray,
    counts: np.ndarray,
    sq: np.ndarray,
    ds: np.ndarray,
) -> _Run:
    """Package a run; ``sums``/``counts`` are totals, ``sq``/``ds`` per-chunk partials."""
    counts = np.where(_empty(counts), 0.0, counts)
    stats = PartitionStats(
        counts=counts,
        sums=sums,
        sq_dist_sums=sq.sum(axis=0),
        dist_sums=ds.sum(axis=0),
        centers=centers.astype(np.float64),
    )
    return _Run(centers, labels, float(stats.sq_dist_sums.sum()), n_iter, converged, stats)


def _half_separation(centers: np.ndarray) -> np.ndarray:
    """Half the distance from each centre to its nearest other centre (a lower bound)."""
    c = centers.astype(np.float64)
    k = c.shape[0]
    if k == 1:
        return np.full(1, np.inf)
    sq = np.sum(c**2, axis=1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (c @ c.T), 0.0)
    np.fill_diagonal(dist2, np.inf)
    # The Gram form can round a small distance up; a relative margin keeps it a
    # lower bound.
    return 0.5 * np.sqrt(dist2.min(axis=1)) * (1.0 - 1e-6)


def _empty(counts: np.ndarray) -> np.ndarray:
    """Clusters without weight; running totals of float weights can leave a 1e-17 remainder."""
    return counts <= 1e-12 * max(float(np.abs(counts).sum()), np.finfo(np.float64).tiny)


def _centers_from(sums: np.ndarray, counts: np.ndarray, old: np.ndarray, dtype: Any) -> np.ndarray:
    """Means of the clusters; an empty cluster keeps its old centre."""
    new = old.astype(np.float64)
    full = ~_empty(counts)
    new[full] = sums[full] / counts[full, None]
    return np.ascontiguousarray(new, dtype=dtype)


def _relocate_empty(
    X: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    bounds: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
    *,
    relabel: bool,
) -> np.ndarray:
    """Move each empty cluster onto one of the rows farthest from their centre (as scikit-learn).

    Updates ``sums``/``counts`` in place; with ``relabel`` the moved rows also
    take the empty cluster's label (the incremental Hamerly sums need it).
    Returns the moved rows.
    """
    empty = np.flatnonzero(_empty(counts))
    if empty.size == 0:
        return np.empty(0, dtype=np.int64)
    m = empty.size
    nch = bounds.size - 1
    top_i = np.empty((nch, m), dtype=np.int64)
    top_d = np.empty((nch, m))
    with _threads(2 * X.size):
        K.farthest_rows(X, centers, labels, bounds, m, top_i, top_d)
    cand_i, cand_d = top_i.ravel(), top_d.ravel()
    keep = cand_i >= 0
    cand_i, cand_d = cand_i[keep], cand_d[keep]
    order = np.lexsort((cand_i, -cand_d))[:m]
    if cand_d.size == 0 or cand_d[order[0]] <= 0.0:
        # Fewer distinct points than clusters: nothing to move onto.
        return np.empty(0, dtype=np.int64)
    moved = []
    for j, r in zip(empty, cand_i[order], strict=False):
        wr = float(w[r]) if w.size else 1.0
        old = labels[r]
        x = X[r].astype(np.float64)
        sums[old] -= wr * x
        counts[old] -= wr
        sums[j] = wr * x
        counts[j] = wr
        if relabel:
            labels[r] = j
        moved.append(r)
    return np.asarray(moved, dtype=np.int64)


def _assign(X: np.ndarray, w: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, float]:
    """Labels of ``X`` for fixed centres and the (weighted) inertia."""
    X, w = _ro(X), _ro(w)
    n, d = X.shape
    k = centers.shape[0]
    bounds = K.chunk_bounds(n, k, d)
    nch = bounds.size - 1
    labels = np.full(n, -1, dtype=np.int32)
    sq, ds = np.zeros((nch, k)), np.zeros((nch, k))
    none32, none3d, none2d = np.empty(0, np.float32), np.empty((0, 0, 0)), np.empty((0, 0))
    with _threads(n * d * k):
        K.full_pass(
            X, w, centers, bounds, labels, none32, none32, none3d, none2d, sq, ds, K.FLAG_STATS
        )
    return labels, float(sq.sum())


def _distances(X: np.ndarray, centers: np.ndarray, *, squared: bool) -> np.ndarray:
    out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
    with _threads(X.size * centers.shape[0]):
        K.pairwise_distances(_ro(X), np.ascontiguousarray(centers, dtype=X.dtype), out, squared)
    return out


def _ro(a: np.ndarray) -> np.ndarray:
    """A read-only view: the kernels are then compiled for read-only input only.

    Numba compiles a separate version for read-only arrays (a memory-mapped
    file, scikit-learn's checks); passing every input as a read-only view
    halves the compile time and the cache, and costs nothing.
    """
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


@contextmanager
def _threads(ops: float) -> Iterator[None]:
    """Run a kernel on one thread unless it has enough work to pay for a parallel region.

    ``ops`` estimates the single-thread work (about 6e9 a second). Waking the
    other threads costs tens of microseconds on a quiet machine but, measured
    on this shared two-core one, 1 to 10 ms a call when other processes
    compete for the cores: a 50,000-row Hamerly pass took 0.2 ms on one
    thread and 1.6 to 11 ms on two. A large pass hands its chunks out one at
    a time, so a thread slowed by another process does not hold the others up.
    """
    if ops < _PARALLEL_OPS:
        previous = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            yield
        finally:
            numba.set_num_threads(previous)
    else:
        with numba.parallel_chunksize(1):
            yield


def tolerance(X: np.ndarray, tol: float, rs: np.random.RandomState) -> float:
    """``tol`` times the mean feature variance (as scikit-learn).

    Estimated on :data:`_MIN_INIT_SAMPLE` random rows when there are more
    (callers pass the init sample itself when they have one): a relative
    error of about 1 % on a threshold that is a heuristic anyway, instead of a
    pass over the data.
    """
    if tol == 0:
        return 0.0
    if X.shape[0] > _MIN_INIT_SAMPLE:
        X = X[_sorted_unique(rs.randint(0, X.shape[0], size=_MIN_INIT_SAMPLE))]
    mean = X.mean(axis=0, dtype=np.float64)
    ss = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], 8192):  # bounded float64 temporaries
        ss += np.sum((X[start : start + 8192] - mean) ** 2, axis=0)
    return float(np.mean(ss / X.shape[0]) * tol)


def seeding_sample_size(init_sample_size: int | None, k: int, n: int) -> int:
    """Rows k-means++ seeds on: the given size, else ``max(50_000, 500 * k)``, at most n."""
    if init_sample_size is None:
        return min(n, max(_MIN_INIT_SAMPLE, _INIT_SAMPLE_PER_CLUSTER * k))
    return min(n, int(init_sample_size))


def resolve_algorithm(algorithm: str, k: int) -> str:
    """The variant ``algorithm`` ("auto", "lloyd", "hamerly") runs as for k centres."""
    if algorithm == "auto":
        return "lloyd" if k == 1 else "hamerly"
    if algorithm == "hamerly" and k == 1:
        return "lloyd"  # no second centre to bound
    return algorithm


def check_weights(sample_weight: Any, X: np.ndarray) -> np.ndarray:
    """Validated weights in X's dtype, or an empty array meaning unit weights."""
    if sample_weight is None:
        return np.empty(0, dtype=X.dtype)
    try:
        w = _check_sample_weight(sample_weight, X, dtype=X.dtype)
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError("sample_weight must be finite and non-negative.")
    if not w.sum() > 0:
        raise DataError("sample_weight must have a positive sum.")
    return np.ascontiguousarray(w)


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)
