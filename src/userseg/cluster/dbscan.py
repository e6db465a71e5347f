"""DBSCAN that fits in memory at a million users: spatial blocks and union-find.

scikit-learn's DBSCAN first stores every point's neighbourhood (an array of
indices per point), then walks them; at 1M users those lists alone can take
gigabytes, and in 16 dimensions its trees degrade to brute force. Here:

1. a k-d tree (SciPy's) only *orders* the points into spatial blocks of
   ``chunk_size`` points, each with a tight bounding box; a dual-tree walk
   lists the block pairs within ``eps``, and no other pair is ever compared;
2. **core points** -- each point scans its candidate blocks nearest first
   (compiled, vectorised, both cores) and stops as soon as it has
   ``min_samples`` neighbours, keeping the first few it met;
3. **union-find** over core-core pairs: the kept neighbours first, then an
   exact sweep that skips every pair already in one component;
4. **border** points take the smallest cluster label among their core
   neighbours, which is what scikit-learn's scan gives; clusters are numbered
   by their first core point, as there. Labels, core points and components
   therefore equal scikit-learn's.

Memory is O(n) whatever the neighbourhood sizes. See ``docs/density.md``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import validate_data

from userseg._sklearn import require_fitted
from userseg.cluster import _dbscan_kernels as _k
from userseg.errors import ConfigError, DataError

__all__ = ["DBSCAN", "estimate_eps"]

_AUTO_EPS_SAMPLE = 2_000


def check_data(estimator: BaseEstimator, X: Any, *, reset: bool) -> np.ndarray:
    """scikit-learn's input validation, with its ValueErrors turned into :class:`DataError`.

    Shared by the density estimators: float32 stays float32, anything else
    becomes float64; NaN, ±inf, complex, text, 1-D or empty input is refused
    with scikit-learn's message, and ``n_features_in_`` is set or checked.
    """
    try:
        return validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32], order="C")
    except ValueError as err:
        raise DataError(str(err)) from err


def _threads(n_jobs: int | None) -> int:
    import numba

    if n_jobs is None:
        return numba.get_num_threads()
    if n_jobs < 0:
        return max(1, numba.config.NUMBA_NUM_THREADS + 1 + n_jobs)
    return max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS))


def estimate_eps(
    X: np.ndarray,
    min_samples: int = 5,
    *,
    sample_size: int = _AUTO_EPS_SAMPLE,
    random_state: int | None = 0,
) -> float:
    """An ``eps`` for DBSCAN from the knee of the sorted k-distance curve.

    A point is core when its ``(min_samples - 1)``-th nearest other point lies
    within ``eps``. That distance is computed for a random sample of points
    (against all the data, through the same spatial blocks), sorted, and the
    knee -- the point of the curve farthest below the chord between its 1st
    and 99th percentiles -- is returned: it separates the dense points from
    the sparse tail. A heuristic: check the result (``n_clusters_``, the share
    of noise) and set ``eps`` yourself when it does not fit.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    min_samples : int, default 5
    sample_size : int, default 2000
        Points whose k-distance is computed.
    random_state : int or None, default 0

    Returns
    -------
    float
    """
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return _auto_eps(_Blocks(X, _default_leaf(X.shape[1])), min_samples, sample_size, random_state)


def _auto_eps(
    blocks: _Blocks, min_samples: int, sample_size: int, random_state: int | None
) -> float:
    n = blocks.n
    if n < 2:
        return 1.0
    k = int(min(max(min_samples, 2), n))  # the point itself is its 1st neighbour
    rng = np.random.default_rng(random_state)
    q = rng.choice(n, size=sample_size, replace=False) if n > sample_size else np.arange(n)
    block_of = np.repeat(np.arange(blocks.starts.size), blocks.ends - blocks.starts)
    kd2 = _k.kth_distance(q, blocks.Xp, blocks.XT, blocks.starts, blocks.ends, blocks.lo,
                          blocks.hi, block_of, k)  # fmt: skip
    return _knee(np.sort(np.sqrt(kd2)))


def _default_leaf(d: int) -> int:
    # Measured: small blocks prune better where boxes are tight (low d); in
    # 16-d boxes barely prune and bigger blocks vectorise better.
    return 64 if d < 8 else 256


class _Blocks:
    """The points permuted into k-d tree leaves, with the tree as flat arrays."""

    def __init__(self, X: np.ndarray, leaf: int) -> None:
        from scipy.spatial import cKDTree

        tree = cKDTree(X, leafsize=leaf, balanced_tree=False, compact_nodes=False)
        self.perm = tree.indices
        self.left, self.right, self.size, self.leaf_of, self.starts, self.ends = _tree_arrays(tree)
        del tree
        self.n = X.shape[0]
        self.Xp = X[self.perm]
        self.XT = np.ascontiguousarray(self.Xp.T)
        self.max_block = int((self.ends - self.starts).max())
        self.lo, self.hi = _k.block_boxes(self.Xp, self.starts, self.ends)


def _knee(kd: np.ndarray) -> float:
    lo, hi = np.quantile(kd, [0.01, 0.99])
    if not hi > lo:
        return float(hi) if hi > 0 else float(kd[-1]) if kd[-1] > 0 else 1.0
    # Sorted k-distances are convex near their tail; the knee is the point
    # farthest below the chord, on the 1-99 % range so single outliers do not
    # drag the chord.
    m = kd.size
    x = np.arange(m) / max(m - 1, 1)
    sel = (kd >= lo) & (kd <= hi)
    xs = (x[sel] - x[sel][0]) / max(x[sel][-1] - x[sel][0], 1e-12)
    ys = (kd[sel] - lo) / (hi - lo)
    return float(kd[sel][np.argmax(xs - ys)])


class DBSCAN(ClusterMixin, BaseEstimator):
    """Density-based clustering (DBSCAN) for up to millions of users, in bounded memory.

    Parameters
    ----------
    eps : float or "auto", default 0.5
        Neighbourhood radius (Euclidean). ``"auto"`` picks it from the knee of
        the k-distance curve of a sample (:func:`estimate_eps`); the value used
        is in ``eps_``.
    min_samples : int, default 5
        Neighbours (itself included, or total sample weight) that make a point core.
    metric : {"euclidean"}, default "euclidean"
        Only Euclidean distance is supported (scale the features first).
    chunk_size : int, optional
        Points per spatial block; distances are computed block against block,
        so working memory per thread is O(chunk_size). Default: 64 below 8
        features, 256 from 8 (bigger blocks vectorise better where boxes
        prune less).
    n_jobs : int, optional
        Threads (default: all Numba threads; ``-1`` all).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point; ``-1`` for noise.
    core_sample_indices_ : ndarray of shape (n_core,)
        Indices of the core points, ascending.
    components_ : ndarray of shape (n_core, n_features)
        The core points.
    eps_ : float
        The radius used (equal to ``eps`` unless ``eps="auto"``).
    n_clusters_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [9.0, 0.0]])
    >>> db = DBSCAN(eps=0.3, min_samples=2).fit(X)
    >>> db.labels_.tolist()
    [0, 0, 0, 1, 1, -1]
    >>> db.predict(np.array([[0.05, 0.05], [3.0, 3.0]])).tolist()
    [0, -1]
    """

    def __init__(
        self,
        eps: float | str = 0.5,
        *,
        min_samples: int = 5,
        metric: str = "euclidean",
        chunk_size: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs

    def _validate_params(self) -> None:
        eps = self.eps
        if isinstance(eps, str):
            if eps != "auto":
                raise ConfigError(f"eps must be a positive number or 'auto'; got {eps!r}.")
        elif not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not eps > 0:
            raise ConfigError(f"eps must be a positive number or 'auto'; got {eps!r}.")
        elif not np.isfinite(eps):
            raise ConfigError(f"eps must be finite; got {eps!r}.")
        ms = self.min_samples
        if not isinstance(ms, numbers.Integral) or isinstance(ms, bool) or ms < 1:
            raise ConfigError(f"min_samples must be an integer >= 1; got {ms!r}.")
        if self.metric != "euclidean":
            raise ConfigError(
                f"metric must be 'euclidean'; got {self.metric!r} (use "
                "sklearn.cluster.DBSCAN for other metrics)."
            )
        cs = self.chunk_size
        if cs is not None and (
            not isinstance(cs, numbers.Integral) or isinstance(cs, bool) or cs < 1
        ):
            raise ConfigError(f"chunk_size must be an integer >= 1 or None; got {cs!r}.")
        nj = self.n_jobs
        if nj is not None and (not isinstance(nj, numbers.Integral) or nj == 0):
            raise ConfigError(f"n_jobs must be a non-zero integer or None; got {nj!r}.")

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> DBSCAN:
        """Find the clusters of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each point in its neighbours' counts (as scikit-learn).

        Returns
        -------
        self
        """
        self._validate_params()
        X = check_data(self, X, reset=True)
        n, d = X.shape
        if sample_weight is None:
            w = np.ones(n)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (n,):
                raise DataError(f"sample_weight must have shape ({n},); got {w.shape}.")
            if not np.isfinite(w).all():
                raise DataError("sample_weight contains NaN or infinity.")
            if n and not np.any(w):
                raise DataError("sample_weight is zero everywhere; no point could be core.")
        import numba

        old = numba.get_num_threads()
        numba.set_num_threads(_threads(self.n_jobs))
        try:
            blocks = _Blocks(X, self.chunk_size or _default_leaf(d))
            if self.eps == "auto":
                self.eps_ = _auto_eps(blocks, self.min_samples, _AUTO_EPS_SAMPLE, 0)
            else:
                self.eps_ = float(self.eps)
            labels, core = self._fit(blocks, w, self.eps_)
            del blocks
        finally:
            numba.set_num_threads(old)
        self.labels_ = labels
        self.core_sample_indices_ = np.flatnonzero(core)
        self.components_ = X[core].copy()
        self.n_clusters_ = int(labels.max()) + 1 if n else 0
        self._core_labels = labels[core]
        # predict builds its k-d tree over the core points on first use (the
        # fit itself never needs it); a dict set here keeps it across calls.
        self._predict_cache: dict[str, Any] = {}
        return self

    def _fit(self, blocks: _Blocks, w: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
        b = blocks
        n = b.n
        eps2 = eps**2
        nlo, nhi = _k.node_boxes(b.lo, b.hi, b.left, b.right, b.leaf_of)
        pa, pb = _k.block_pairs(nlo, nhi, b.left, b.right, b.size, b.leaf_of, eps2)
        ptr, adj = _k.adjacency(pa, pb, b.Xp, b.starts, b.ends, b.starts.size)
        del nlo, nhi, pa, pb
        args = (b.Xp, b.XT, b.starts, b.ends, b.lo, b.hi, ptr, adj, eps2)
        # Each point keeps the first few neighbours it meets: complete lists
        # for border points (no second scan) and short edges for the union.
        K = int(min(max(self.min_samples, 4), 16))
        nbr = np.full((n, K), -1, dtype=np.int32 if n < 2**31 else np.int64)
        wp = w[b.perm]
        core_p, found = _k.core_points(*args, wp, float(self.min_samples), nbr, b.max_block)
        root = _k.union_cores(*args, core_p, nbr, b.max_block)

        # Clusters numbered in the order of their first core point (caller's
        # order), as scikit-learn's scan does.
        perm = b.perm
        core = np.zeros(n, dtype=bool)
        core[perm] = core_p
        core_idx = np.flatnonzero(core)
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        label_o = np.full(n, -1, dtype=np.int64)
        if core_idx.size:
            r = root[inv[core_idx]]
            uniq, first = np.unique(r, return_index=True)
            rank = np.empty(uniq.size, dtype=np.int64)
            rank[np.argsort(first)] = np.arange(uniq.size)
            label_o[core_idx] = rank[np.searchsorted(uniq, r)]
        label_p = _k.border_labels(*args, core_p, label_o[perm], nbr, found, b.max_block)
        labels = np.empty(n, dtype=np.int64)
        labels[perm] = label_p
        return labels, core

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def predict(self, X: Any) -> np.ndarray:
        """Cluster of new users: that of the nearest core point within ``eps_``, else -1.

        Parameters
        ----------
        X : array-like of shape (n_new, n_features)

        Returns
        -------
        ndarray of shape (n_new,)
        """
        require_fitted(self, "labels_")
        X = check_data(self, X, reset=False)
        out = np.full(X.shape[0], -1, dtype=np.int64)
        if self.components_.shape[0] == 0 or X.shape[0] == 0:
            return out
        tree = self._predict_cache.get("tree")
        if tree is None:
            from scipy.spatial import cKDTree

            tree = self._predict_cache["tree"] = cKDTree(self.components_, balanced_tree=False)
        dist, idx = tree.query(X, k=1, distance_upper_bound=self.eps_ * (1 + 1e-12), workers=-1)
        hit = np.isfinite(dist)
        out[hit] = self._core_labels[idx[hit]]
        return out

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _tree_arrays(tree: Any) -> tuple[np.ndarray, ...]:
    """The k-d tree as flat arrays (preorder): children, sizes, leaf ids and leaf row ranges."""
    left, right, size, leaf_of, starts, ends = [], [], [], [], [], []
    stack = [(tree.tree, -1, 0)]  # node, parent id, is-right-child
    while stack:
        node, parent, is_right = stack.pop()
        u = len(left)
        if parent >= 0:
            (right if is_right else left)[parent] = u
        left.append(-1)
        right.append(-1)
        size.append(node.end_idx - node.start_idx)
        if node.split_dim == -1:
            leaf_of.append(len(starts))
            starts.append(node.start_idx)
            ends.append(node.end_idx)
        else:
            leaf_of.append(-1)
            stack.append((node.greater, u, 1))
            stack.append((node.lesser, u, 0))
    as64 = [np.asarray(v, dtype=np.int64) for v in (left, right, size, leaf_of, starts, ends)]
    return tuple(as64)
