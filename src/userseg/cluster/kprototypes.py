"""k-prototypes: segments from numeric behaviour and categorical attributes together.

Customers carry categories (region, channel, gender) next to numbers (spend,
visits). One-hot encoding them for k-means lets a handful of categories outvote
the behaviour; k-prototypes (Huang 1997) instead measures

    cost(x, prototype) = ||x_num - mean||² + gamma · #{categorical attributes ≠ mode}

and alternates assignment and update (numeric means, per-attribute modes)
until no label changes. ``gamma`` weighs one category mismatch against
squared numeric units; Huang's default is half the mean standard deviation of
the numeric columns.

Compared with the ``kmodes`` package's ``KPrototypes`` (Python loops over the
points, one incremental move at a time), here the assignment is a compiled,
parallel batch pass and the update one pass over the data; the seeding is
k-means++ generalised to the mixed cost. See ``benchmarks/bench_kprototypes.py``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from userseg._sklearn import require_fitted
from userseg.cluster import _kprototypes_kernels as _k
from userseg.errors import ConfigError, ConvergenceWarning, DataError

__all__ = ["KPrototypes"]


class KPrototypes(ClusterMixin, BaseEstimator):
    """Clustering of mixed numeric and categorical data (k-prototypes).

    Parameters
    ----------
    n_clusters : int, default 8
    categorical : sequence of int or str, optional
        Categorical columns, by position or (for a DataFrame) by name. Default:
        for a DataFrame, the columns that are not numeric (object, string,
        category, bool); for an array, none if it is numeric, else the columns
        holding anything other than numbers. Numeric columns should be scaled
        first (the cost adds squared units across them).
    gamma : float, optional
        Weight of one categorical mismatch. Default: half the mean standard
        deviation of the numeric columns (Huang), 1 without numeric columns.
        The value used is ``gamma_``.
    max_iter : int, default 100
        Assignment/update rounds per run.
    n_init : int, default 10
        Runs from different seeds; the lowest cost wins.
    random_state : int, numpy Generator or None

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
    cluster_centroids_ : ndarray of object, shape (n_clusters, n_features)
        Each prototype in the input's column order: means for numeric columns,
        modes (original category values) for categorical ones.
    numeric_centers_ : ndarray of shape (n_clusters, n_numeric)
    categorical_modes_ : ndarray of object, shape (n_clusters, n_categorical)
    categorical_ : ndarray of int
        Positions of the categorical columns.
    categories_ : list of ndarray
        The categories of each categorical column seen in ``fit``.
    gamma_ : float
    cost_ : float
        Total cost of the final partition.
    n_iter_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, "north"], [1.2, "north"], [0.9, "north"],
    ...               [8.0, "south"], [8.3, "south"], [7.9, "south"]], dtype=object)
    >>> kp = KPrototypes(n_clusters=2, random_state=0).fit(X)
    >>> sorted(np.bincount(kp.labels_).tolist())
    [3, 3]
    >>> bool(kp.predict(np.array([[8.1, "south"]], dtype=object))[0] == kp.labels_[3])
    True
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        categorical: Sequence[int] | Sequence[str] | None = None,
        gamma: float | None = None,
        max_iter: int = 100,
        n_init: int = 10,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.categorical = categorical
        self.gamma = gamma
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state

    # ------------------------------------------------------------------ validation

    def _validate_params(self) -> None:
        for name in ("n_clusters", "max_iter", "n_init"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1; got {v!r}.")
        g = self.gamma
        if g is not None and (
            not isinstance(g, numbers.Real) or isinstance(g, bool) or not 0 <= g < np.inf
        ):
            raise ConfigError(f"gamma must be a finite number >= 0 or None; got {g!r}.")
        cat = self.categorical
        if cat is not None and (isinstance(cat, str) or not isinstance(cat, Sequence | np.ndarray)):
            raise ConfigError(
                "categorical must be a sequence of column positions or names, or None; "
                f"got {cat!r}."
            )

    def _categorical_positions(self, X: Any, n_cols: int, names: list[Any] | None) -> np.ndarray:
        cat = self.categorical
        if cat is None:
            return _infer_categorical(X, n_cols)
        pos = []
        for c in cat:
            if isinstance(c, str):
                if names is None or c not in names:
                    raise ConfigError(
                        f"categorical column {c!r} is not a column name"
                        + (f"; available: {names}." if names else " (X has no column names).")
                    )
                pos.append(names.index(c))
            elif isinstance(c, numbers.Integral) and not isinstance(c, bool):
                if not -n_cols <= c < n_cols:
                    raise ConfigError(
                        f"categorical position {c} is out of range for {n_cols} columns."
                    )
                pos.append(int(c) % n_cols)
            else:
                raise ConfigError(f"categorical entries must be int or str; got {c!r}.")
        if len(set(pos)) != len(pos):
            raise ConfigError(f"categorical lists a column twice: {list(cat)!r}.")
        return np.asarray(sorted(pos), dtype=np.int64)

    # ------------------------------------------------------------------ fit / predict

    def fit(self, X: Any, y: Any = None) -> KPrototypes:
        """Cluster ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Numeric and categorical columns.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        cols, names = _as_columns(X)
        n_cols = len(cols)
        n = cols[0].shape[0] if n_cols else np.shape(X)[0]
        if n == 0:
            raise DataError(
                f"Found array with 0 sample(s) (shape=({n}, {n_cols})) while a minimum of 1 is "
                "required by KPrototypes."
            )
        if n_cols == 0:
            raise DataError(
                f"Found array with 0 feature(s) (shape=({n}, 0)) while a minimum of 1 is "
                "required by KPrototypes."
            )
        if n < self.n_clusters:
            raise ConfigError(f"n_samples={n} should be >= n_clusters={self.n_clusters}.")
        cat_pos = self._categorical_positions(X, n_cols, names)
        num_pos = np.setdiff1d(np.arange(n_cols), cat_pos)
        Xn = _numeric(cols, num_pos, names)
        categories, Xc = [], np.empty((n, cat_pos.size), dtype=np.int64)
        for j, c in enumerate(cat_pos):
            codes, cats = _encode_fit(cols[c], _name(names, c))
            Xc[:, j] = codes
            categories.append(cats)
        offsets = np.zeros(cat_pos.size + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(c) for c in categories])

        if self.gamma is not None:
            gamma = float(self.gamma)
        elif num_pos.size:
            gamma = 0.5 * float(np.mean(Xn.std(axis=0)))
        else:
            gamma = 1.0
        rng = np.random.default_rng(self.random_state)
        best = None
        for _ in range(self.n_init):
            run = self._run(Xn, Xc, gamma, offsets, rng)
            if best is None or run[3] < best[3]:
                best = run
        labels, C, M, cost, n_iter, converged = best
        if not converged:
            import warnings

            warnings.warn(
                f"k-prototypes stopped at max_iter={self.max_iter} before the labels settled; "
                "raise max_iter.",
                ConvergenceWarning,
                stacklevel=2,
            )

        self.n_features_in_ = n_cols
        if names is not None and all(isinstance(c, str) for c in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.categorical_ = cat_pos
        self._numeric_pos = num_pos
        self.categories_ = categories
        self.gamma_ = gamma
        self.labels_ = labels
        self.cost_ = cost
        self.n_iter_ = n_iter
        self.numeric_centers_ = C
        self._modes = M
        modes = np.empty(M.shape, dtype=object)
        for j in range(cat_pos.size):
            modes[:, j] = categories[j][M[:, j]]
        self.categorical_modes_ = modes
        cent = np.empty((self.n_clusters, n_cols), dtype=object)
        cent[:, num_pos] = C
        cent[:, cat_pos] = modes
        self.cluster_centroids_ = cent
        return self

    def _run(
        self,
        Xn: np.ndarray,
        Xc: np.ndarray,
        gamma: float,
        offsets: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int, bool]:
        """One seeded run: k-means++ on the mixed cost, then batch assign/update rounds."""
        n = Xn.shape[0]
        k = self.n_clusters
        assign, min_cost_to = _k.pick(n * k * (Xn.shape[1] + Xc.shape[1]))
        C = np.empty((k, Xn.shape[1]))
        M = np.empty((k, Xc.shape[1]), dtype=np.int64)
        d = np.full(n, np.inf)
        idx = int(rng.integers(n))
        for c in range(k):
            if c:
                total = d.sum()
                # All remaining points coincide with a centre: any is as good.
                idx = (
                    int(rng.integers(n))
                    if total <= 0
                    else int(np.searchsorted(np.cumsum(d), rng.random() * total))
                )
                idx = min(idx, n - 1)
            C[c] = Xn[idx]
            M[c] = Xc[idx]
            min_cost_to(Xn, Xc, C[c], M[c], gamma, d)
        labels = np.full(n, -1, dtype=np.int64)
        cost = np.empty(n)
        converged = False
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            changed = assign(Xn, Xc, C, M, gamma, labels, cost)
            if changed == 0 and n_iter > 1:
                converged = True
                break
            counts = _k.update(Xn, Xc, labels, k, offsets, int(offsets[-1]), C, M)
            # An empty cluster takes the point that costs most where it is.
            for c in np.flatnonzero(counts == 0):
                far = int(np.argmax(cost))
                C[c] = Xn[far]
                M[c] = Xc[far]
                cost[far] = 0.0
        if not converged:  # labels and cost to match the prototypes returned
            assign(Xn, Xc, C, M, gamma, labels, cost)
        return labels, C, M, float(cost.sum()), n_iter, converged

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X).labels_

    def predict(self, X: Any) -> np.ndarray:
        """Nearest prototype of new users (a category unseen in fit matches no mode).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_new, n_features)
            Same columns as in ``fit``.

        Returns
        -------
        ndarray of shape (n_new,)
        """
        require_fitted(self, "labels_")
        cols, names = _as_columns(X)
        if len(cols) != self.n_features_in_:
            raise DataError(
                f"X has {len(cols)} features, but KPrototypes is expecting "
                f"{self.n_features_in_} features as input."
            )
        n = cols[0].shape[0]
        Xn = _numeric(cols, self._numeric_pos, names)
        Xc = np.empty((n, self.categorical_.size), dtype=np.int64)
        for j, c in enumerate(self.categorical_):
            Xc[:, j] = _encode_predict(cols[c], self.categories_[j], _name(names, c))
        labels = np.full(n, -1, dtype=np.int64)
        assign, _ = _k.pick(n * self.n_clusters * (Xn.shape[1] + Xc.shape[1]))
        assign(Xn, Xc, self.numeric_centers_, self._modes, self.gamma_, labels, np.empty(n))
        return labels

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


# ---------------------------------------------------------------------- column handling


def _as_columns(X: Any) -> tuple[list[np.ndarray], list[Any] | None]:
    """The columns of X as 1-D arrays (no copy of the caller's data), and the names if any."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pd = None
    if pd is not None and isinstance(X, pd.DataFrame):
        dated = [str(c) for c, t in X.dtypes.items() if pd.api.types.is_datetime64_any_dtype(t)]
        if dated:
            # as categories every date would be its own level; the Segmenter turns dates
            # into days, KPrototypes leaves that choice to the caller
            raise DataError(
                f"column(s) {dated} hold dates; KPrototypes takes numbers and categories: "
                "convert them to numbers first (e.g. days before a reference date)."
            )
        return [X.iloc[:, j].to_numpy() for j in range(X.shape[1])], list(X.columns)
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise DataError("sparse input is not supported by KPrototypes; pass a dense array.")
    A = np.asarray(X)
    if A.dtype.kind in "US":  # a list mixing text and numbers: keep the numbers numeric
        A = np.asarray(X, dtype=object)
    if A.ndim != 2:
        raise DataError(
            f"Expected 2D array, got {A.ndim}D array instead (shape {A.shape}). Reshape your "
            "data either using X.reshape(-1, 1) if your data has a single feature or "
            "X.reshape(1, -1) if it contains a single sample."
        )
    if A.dtype.kind == "c":
        raise DataError("Complex data not supported.")
    return [A[:, j] for j in range(A.shape[1])], None


def _name(names: list[Any] | None, j: int) -> str:
    return repr(names[j]) if names is not None else f"{j}"


def _infer_categorical(X: Any, n_cols: int) -> np.ndarray:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(X, pd.DataFrame):
        pos = [
            j
            for j in range(n_cols)
            if not pd.api.types.is_numeric_dtype(X.dtypes.iloc[j])
            or pd.api.types.is_bool_dtype(X.dtypes.iloc[j])
        ]
        return np.asarray(pos, dtype=np.int64)
    A = np.asarray(X)
    if A.dtype.kind in "US":
        A = np.asarray(X, dtype=object)
    if A.dtype.kind == "b":
        return np.arange(n_cols, dtype=np.int64)
    if A.dtype.kind != "O":
        return np.zeros(0, dtype=np.int64)
    pos = [
        j
        for j in range(n_cols)
        if not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_) for v in A[:, j]
        )
    ]
    return np.asarray(pos, dtype=np.int64)


def _numeric(cols: list[np.ndarray], pos: np.ndarray, names: list[Any] | None) -> np.ndarray:
    n = cols[0].shape[0]
    out = np.empty((n, pos.size), dtype=np.float64)
    for j, c in enumerate(pos):
        try:
            out[:, j] = np.asarray(cols[c], dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise DataError(
                f"column {_name(names, c)} is treated as numeric but holds non-numbers ({err}); "
                "list it in categorical=."
            ) from err
        bad = ~np.isfinite(out[:, j])
        if bad.any():
            raise DataError(
                f"Input contains NaN or infinity: column {_name(names, c)} has "
                f"{int(bad.sum())} such values (first at row {int(np.argmax(bad))}); "
                "impute or drop them first.",
                details={"column": _name(names, c), "count": int(bad.sum())},
            )
    return out


def _missing(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return np.asarray(pd.isna(values), dtype=bool)


def _encode_fit(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    miss = _missing(values)
    if miss.any():
        raise DataError(
            f"categorical column {name} has {int(miss.sum())} missing values (first at row "
            f"{int(np.argmax(miss))}); fill them with a category of their own, e.g. 'unknown'.",
            details={"column": name, "count": int(miss.sum())},
        )
    try:
        codes, cats = pd.factorize(values, sort=True)
    except TypeError:  # categories of mixed, unorderable types: first-seen order
        codes, cats = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), np.asarray(cats, dtype=object)


def _encode_predict(values: np.ndarray, cats: np.ndarray, name: str) -> np.ndarray:
    import pandas as pd

    miss = _missing(values)
    if miss.any():
        raise DataError(
            f"categorical column {name} has {int(miss.sum())} missing values; fill them as in fit.",
            details={"column": name, "count": int(miss.sum())},
        )
    return np.asarray(pd.Index(cats).get_indexer(values), dtype=np.int64)
