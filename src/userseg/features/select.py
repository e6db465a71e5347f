"""Feature selection: which features carry information, and which only repeat others.

Unsupervised pruning runs by default inside the preparation step: a feature
whose prepared values correlate above ``max_correlation`` (0.9) with a feature
kept before it is left out of the distance, because k-means counts each
copy of the same signal again (five measures of "how active" would outvote
one measure of "how much"). The earlier feature in the table is kept; the
feature table lists the RFM features first, so they win
(:func:`correlated_to_drop`).

:func:`select_features` is the one entry point for a fuller selection, shown
in the report and stored with the run:

* **always** -- near-constant features are dropped (one value shared by
  ``max_mode_share`` of the users, 99 % by default), features that repeat a
  better one are pruned (Spearman correlation, so a log transform does not
  change the verdict), and every feature is ranked by its contribution to the
  segmentation (:func:`rank_unsupervised`: Laplacian score, and the drop in
  Calinski-Harabasz when the feature is permuted, given segment labels);
* **with a target** (campaign response, churn) -- three supervised rankings:
  chi-square test, mutual information and L1-regularised logistic
  regression, each keeping its own features (see :func:`select_features`); they
  are combined by a vote (kept by a majority, by default) or one of them is used.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"spend": rng.gamma(2, 50, 600), "noise": rng.normal(size=600),
...                    "region": rng.choice(["north", "south"], 600)})
>>> y = pd.Series(np.where(df["spend"] > 100, "yes", "no"))
>>> result = select_features(df, y, random_state=0)
>>> result.kept
['spend']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

from userseg.errors import ConfigError, DataError, SchemaError

__all__ = [
    "METHODS",
    "SelectionResult",
    "correlated_to_drop",
    "near_constant",
    "rank_unsupervised",
    "select_features",
]

#: The supervised methods, in the order their tables are shown.
METHODS = ("chi2", "mutual_info", "l1")
_COMBINE = ("vote", "any", "all")


def correlated_to_drop(
    values: pd.DataFrame, threshold: float = 0.9, *, sample: int = 50_000, random_state: int = 0
) -> dict[str, tuple[str, float]]:
    """Greedy pruning of highly correlated features.

    Parameters
    ----------
    values : DataFrame
        Prepared numeric features (after log/clip), columns in priority order.
    threshold : float
        Absolute Pearson correlation above which the later feature is dropped.
    sample : int
        Correlations are computed on at most this many rows.

    Returns
    -------
    dict
        dropped feature → (the kept feature it repeats, correlation).
    """
    if values.shape[1] < 2:
        return {}
    arr = values.to_numpy(dtype=np.float64)
    if len(arr) > sample:
        rng = np.random.default_rng(random_state)
        arr = arr[rng.choice(len(arr), size=sample, replace=False)]
    sd = arr.std(axis=0)
    usable = sd > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(arr[:, usable], rowvar=False)
    names = [c for c, ok in zip(values.columns, usable, strict=True) if ok]
    kept: list[int] = []
    dropped: dict[str, tuple[str, float]] = {}
    for j in range(len(names)):
        hit = next((i for i in kept if abs(corr[i, j]) > threshold), None)
        if hit is None:
            kept.append(j)
        else:
            dropped[str(names[j])] = (str(names[hit]), float(corr[hit, j]))
    return dropped


def is_categorical(series: pd.Series) -> bool:
    """Whether a column is treated as categorical (anything but a non-boolean number)."""
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def near_constant(df: pd.DataFrame, max_mode_share: float = 0.99) -> dict[str, str]:
    """Features on which (almost) every user has the same value.

    Parameters
    ----------
    df : DataFrame
        Raw features, numeric or categorical; a missing value counts as a value.
    max_mode_share : float
        A feature whose most common value is shared by at least this share of
        users is near-constant: it cannot tell many users apart, and a
        standardised near-constant feature turns its few other users into
        outliers that k-means gives their own segment.

    Returns
    -------
    dict
        feature → the reason, in words.
    """
    out: dict[str, str] = {}
    for name in df.columns:
        counts = df[name].value_counts(normalize=True, dropna=False)
        if counts.empty:
            continue
        value, share = counts.index[0], float(counts.iloc[0])
        shown = (
            "missing" if pd.isna(value) else repr(value.item() if hasattr(value, "item") else value)
        )
        if len(counts) == 1:
            out[str(name)] = f"constant: every user has the value {shown}"
        elif share >= max_mode_share:
            out[str(name)] = (
                f"near-constant: {share:.1%} of users have the value {shown} "
                f"(>= max_mode_share={max_mode_share})"
            )
    return out


# -- unsupervised ranking -------------------------------------------------------------
def rank_unsupervised(
    X: pd.DataFrame,
    labels: Any = None,
    *,
    n_neighbors: int = 5,
    n_repeats: int = 3,
    sample: int = 5000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Rank prepared features by how much they shape the segmentation.

    Two measures, both on a random sample of at most ``sample`` users:

    * **Laplacian score** (He, Cai & Niyogi, 2005), needing no labels: how
      smoothly a feature varies over the ``n_neighbors``-nearest-neighbour graph
      of the users. A feature that follows the local structure (neighbours have
      similar values) scores low; pure noise scores near 1. Lower is better.
    * **Separation drop**, when ``labels`` are given: the relative fall in the
      Calinski-Harabasz index when the feature's values are shuffled across users
      (mean of ``n_repeats`` shuffles). Shuffling keeps the feature's spread but
      breaks its link with the segments, so a feature that does not separate them
      loses nothing (≈ 0) and one that does loses much. Higher is better.

    Parameters
    ----------
    X : DataFrame
        Prepared numeric features (the matrix the clustering sees), finite values.
    labels : array-like of int, optional
        Segment of each row (negative: noise, left out of the separation).

    Returns
    -------
    DataFrame
        Indexed by feature: ``laplacian_score``, ``laplacian_rank`` and, with
        labels, ``separation_drop``, ``separation_rank``; ``rank`` is the
        separation rank when labels are given (it measures the segmentation
        itself), else the Laplacian rank. Sorted by ``rank``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"signal": np.r_[rng.normal(0, .3, 200), rng.normal(3, .3, 200)],
    ...                   "noise": rng.normal(size=400)})
    >>> rank_unsupervised(X, np.repeat([0, 1], 200)).index.tolist()
    ['signal', 'noise']
    """
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"X must be a DataFrame of prepared features; got {type(X).__name__}.")
    if X.shape[0] < 3 or X.shape[1] < 1:
        raise DataError(f"need at least 3 users and 1 feature to rank features; got {X.shape}.")
    if n_neighbors < 1 or n_repeats < 1 or sample < 3:
        raise ConfigError(
            f"n_neighbors={n_neighbors}, n_repeats={n_repeats} should be >= 1 and "
            f"sample={sample} >= 3."
        )
    try:
        arr = X.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("X must hold prepared numeric values; found text.") from None
    if not np.isfinite(arr).all():
        raise DataError("X contains NaN or infinity; rank the prepared (imputed) features.")
    lab = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != (len(arr),) or not np.issubdtype(lab.dtype, np.integer):
            raise DataError(f"labels must be {len(arr)} integers, one per row of X.")
    rng = np.random.default_rng(random_state)
    if len(arr) > sample:
        rows = np.sort(rng.choice(len(arr), size=sample, replace=False))
        arr = arr[rows]
        lab = lab[rows] if lab is not None else None
    names = [str(c) for c in X.columns]
    table = pd.DataFrame(index=pd.Index(names, name="feature"))
    table["laplacian_score"] = _laplacian_scores(arr, min(n_neighbors, len(arr) - 1))
    table["laplacian_rank"] = _rank(table["laplacian_score"], higher_better=False)
    table["rank"] = table["laplacian_rank"]
    if lab is not None:
        keep = lab >= 0
        if len(np.unique(lab[keep])) >= 2:
            table["separation_drop"] = _separation_drops(arr[keep], lab[keep], n_repeats, rng)
            table["separation_rank"] = _rank(table["separation_drop"], higher_better=True)
            table["rank"] = table["separation_rank"]
    return table.sort_values(["rank", "laplacian_score"], kind="stable")


def _laplacian_scores(arr: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Laplacian score of each column; assumes finite values and n_neighbors < len(arr)."""
    dist, idx = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(arr).kneighbors(arr)
    dist, idx = dist[:, 1:], idx[:, 1:]  # drop each point itself
    sq = dist**2
    t = float(sq.mean()) or 1.0  # heat-kernel width: the mean squared neighbour distance
    n = len(arr)
    S = sparse.csr_matrix(
        (np.exp(-sq / t).ravel(), (np.repeat(np.arange(n), idx.shape[1]), idx.ravel())),
        shape=(n, n),
    )
    S = S.maximum(S.T)  # i and j are linked when either is among the other's neighbours
    d = np.asarray(S.sum(axis=1)).ravel()
    F = arr - (d @ arr) / d.sum()  # centred with the degree weights, as in the paper
    dff = np.einsum("i,ij,ij->j", d, F, F)
    sff = np.einsum("ij,ij->j", F, S @ F)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (dff - sff) / dff
    return np.where(dff > 1e-12 * max(float(dff.max()), 1.0), score, np.nan)


def _separation_drops(
    arr: np.ndarray, lab: np.ndarray, n_repeats: int, rng: np.random.Generator
) -> np.ndarray:
    """Relative fall of Calinski-Harabasz when each column is shuffled.

    Shuffling one column changes only that column's between- and within-segment
    sums of squares, so the index is updated per column in O(n) rather than
    recomputed over the whole matrix.
    """
    _, lab = np.unique(lab, return_inverse=True)
    k, n = int(lab.max()) + 1, len(lab)
    counts = np.bincount(lab, minlength=k).astype(np.float64)
    total = ((arr - arr.mean(axis=0)) ** 2).sum(axis=0)

    def between(col: np.ndarray) -> float:
        means = np.bincount(lab, weights=col, minlength=k) / counts
        return float(np.sum(counts * (means - col.mean()) ** 2))

    b = np.array([between(arr[:, j]) for j in range(arr.shape[1])])
    B, W = b.sum(), (total - b).sum()
    base = (B / (k - 1)) / (W / (n - k)) if W > 0 else np.inf
    drops = np.zeros(arr.shape[1])
    for j in range(arr.shape[1]):
        ch = []
        for _ in range(n_repeats):
            bj = between(rng.permutation(arr[:, j]))
            Bp, Wp = B - b[j] + bj, W - (total[j] - b[j]) + (total[j] - bj)
            ch.append((Bp / (k - 1)) / (Wp / (n - k)) if Wp > 0 else np.inf)
        drops[j] = 1.0 - float(np.mean(ch)) / base if np.isfinite(base) and base > 0 else 0.0
    return drops


def _rank(values: pd.Series, *, higher_better: bool) -> pd.Series:
    """Rank 1 is the best; NaN ranks last; ties share the best rank."""
    key = values if higher_better else -values
    return key.rank(ascending=False, method="min", na_option="bottom").astype(int)


# -- the entry point --------------------------------------------------------------------
@dataclass
class SelectionResult:
    """What :func:`select_features` kept, dropped and why, with every method's table.

    Attributes
    ----------
    kept : list of str
        Features to keep: best first with a target (combined rank), in column
        order without one.
    dropped : dict
        feature → the reason it was dropped, in words.
    ranking : list of str
        Every feature that was scored, best first.
    tables : dict of DataFrame
        Per method (``unsupervised``, ``chi2``, ``mutual_info``, ``l1``,
        ``combined``): one row per feature, its score, ``rank`` and ``kept``.
    target : str or None
    methods : tuple of str
        The supervised methods run (empty without a target).
    combine : str
    params : dict
        The settings used, and what each method chose (e.g. the L1 ``C``).
    notes : list of str
    """

    kept: list[str]
    dropped: dict[str, str]
    ranking: list[str]
    tables: dict[str, pd.DataFrame]
    target: str | None = None
    methods: tuple[str, ...] = ()
    combine: str = "vote"
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (NaN as null), for the report and the run record."""
        return {
            "kept": list(self.kept),
            "dropped": dict(self.dropped),
            "ranking": list(self.ranking),
            "target": self.target,
            "methods": list(self.methods),
            "combine": self.combine,
            "params": _jsonable(self.params),
            "notes": list(self.notes),
            "tables": {name: _records(t) for name, t in self.tables.items()},
        }


def select_features(
    df: pd.DataFrame,
    target: pd.Series | str | None = None,
    *,
    methods: Sequence[str] = METHODS,
    combine: str = "vote",
    min_votes: int | None = None,
    max_correlation: float | None = 0.9,
    max_mode_share: float = 0.99,
    alpha: float = 0.05,
    prepared: pd.DataFrame | None = None,
    labels: Any = None,
    unsupervised: bool = True,
    sample: int = 20_000,
    random_state: int = 0,
) -> SelectionResult:
    """Select features: drop the useless, prune the repeated, rank (and vote) the rest.

    Parameters
    ----------
    df : DataFrame
        Raw features, one row per user (numeric and categorical columns); never modified.
    target : Series or str, optional
        A class label per user (campaign response, churn, …), or the name of a
        column of ``df`` holding it. Rows where it is missing are left out of
        the supervised methods.
    methods : sequence of {"chi2", "mutual_info", "l1"}
        Supervised methods to run when there is a target.
    combine : {"vote", "any", "all"} or a method name
        How the methods' keep-lists become one: kept by at least ``min_votes``
        methods (default a majority), by any, by all, or by that one method.
    max_correlation : float or None
        Of two numeric features whose Spearman correlation exceeds this, the
        better ranked is kept (with a target) or the earlier column (without).
    max_mode_share : float
        See :func:`near_constant`.
    alpha : float
        Significance level of the chi-square test (Benjamini-Hochberg adjusted).
    prepared : DataFrame, optional
        The prepared matrix (columns named as the Preparer names them:
        ``feature``, ``feature_missing``, ``feature=level``) for the unsupervised
        ranking; built with the default preparation when omitted.
    labels : array-like of int, optional
        Segment labels of the rows, for the separation drop in the unsupervised ranking.
    unsupervised : bool
        Whether to compute the unsupervised ranking.
    sample : int
        The supervised methods and the correlations use at most this many users
        (stratified by the target).
    random_state : int

    Returns
    -------
    SelectionResult

    Raises
    ------
    SchemaError
        ``target`` names a column that ``df`` does not have.
    DataError
        Empty data, a target of the wrong length, with no values, or a single class.
    ConfigError
        An unknown method or combine rule, or a parameter out of range.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a DataFrame of features; got {type(df).__name__}.")
    _check_params(methods, combine, min_votes, max_correlation, max_mode_share, alpha, sample)
    features, y, target_name, notes = _split_target(df, target)
    if features.shape[0] < 2 or features.shape[1] == 0:
        raise DataError(
            f"need at least 2 users and 1 feature to select from; got shape {features.shape}."
        )
    params: dict[str, Any] = {
        "max_correlation": max_correlation,
        "max_mode_share": max_mode_share,
        "alpha": alpha,
        "sample": sample,
        "random_state": random_state,
    }
    dropped = near_constant(features, max_mode_share)
    live = [str(c) for c in features.columns if str(c) not in dropped]
    features = features.set_axis([str(c) for c in features.columns], axis=1)
    tables: dict[str, pd.DataFrame] = {}
    if unsupervised and live:
        tables["unsupervised"] = _unsupervised_table(features[live], prepared, labels, random_state)

    methods = tuple(methods) if y is not None else ()
    if y is None or not live:
        order = list(tables["unsupervised"].index) if "unsupervised" in tables else list(live)
        voted = list(live)
        priority = live  # without a target the column order says which is more interpretable
    else:
        y, present = _clean_target(y, target_name, notes)
        X, y = _stratified_sample(features.loc[present, live], y, sample, random_state)
        for method in methods:
            table, info = _SUPERVISED[method](X, y, alpha=alpha, random_state=random_state)
            tables[method] = table
            params[method] = info
        combined = _combine(tables, methods, combine, min_votes, live)
        tables["combined"] = combined
        order = list(combined.index)
        voted = [f for f in order if combined.at[f, "kept"]]
        for f in order:
            if not combined.at[f, "kept"]:
                dropped[f] = combined.at[f, "reason"]
        priority = order
    kept = [f for f in priority if f in voted]
    if max_correlation is not None and max_correlation < 1.0:
        numeric = [f for f in kept if not is_categorical(features[f])]
        for f, (other, r) in _rank_correlated(
            features[numeric], max_correlation, sample, random_state
        ).items():
            better = "ranks higher" if y is not None else "comes first"
            dropped[f] = (
                f"repeats {other} (rank correlation {r:.2f} > max_correlation "
                f"{max_correlation}), which {better}"
            )
            kept.remove(f)
    return SelectionResult(
        kept=kept,
        dropped={f: dropped[f] for f in [str(c) for c in features.columns] if f in dropped},
        ranking=order,
        tables=tables,
        target=target_name,
        methods=methods,
        combine=combine if methods else "none",
        params=params,
        notes=notes,
    )


def _check_params(
    methods: Sequence[str],
    combine: str,
    min_votes: int | None,
    max_correlation: float | None,
    max_mode_share: float,
    alpha: float,
    sample: int,
) -> None:
    if isinstance(methods, str) or not methods:
        raise ConfigError(
            f"methods should be a non-empty list of {list(METHODS)}; got {methods!r}."
        )
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(
            f"unknown selection method(s) {unknown}; expected some of {list(METHODS)}."
        )
    if combine not in _COMBINE and combine not in methods:
        raise ConfigError(
            f"combine={combine!r} should be one of {list(_COMBINE)} or one of the methods "
            f"run ({list(methods)})."
        )
    if min_votes is not None and not 1 <= min_votes <= len(methods):
        raise ConfigError(f"min_votes={min_votes} should be between 1 and {len(methods)}.")
    if max_correlation is not None and not 0.0 < max_correlation <= 1.0:
        raise ConfigError(f"max_correlation={max_correlation} should be in (0, 1], or None.")
    if not 0.0 < max_mode_share <= 1.0:
        raise ConfigError(f"max_mode_share={max_mode_share} should be in (0, 1].")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha={alpha} should be in (0, 1).")
    if sample < 10:
        raise ConfigError(f"sample={sample} should be >= 10.")


def _split_target(
    df: pd.DataFrame, target: pd.Series | str | None
) -> tuple[pd.DataFrame, pd.Series | None, str | None, list[str]]:
    """The feature columns, the target aligned with them, its name, and notes."""
    if target is None:
        return df, None, None, []
    if isinstance(target, str):
        if target not in df.columns:
            raise SchemaError(
                f"target column {target!r} is not in the data; available columns: "
                f"{[str(c) for c in df.columns]}.",
                details={"missing": [target], "available": [str(c) for c in df.columns]},
            )
        return df.drop(columns=[target]), df[target], target, []
    if isinstance(target, pd.Series | np.ndarray | list):
        y = target if isinstance(target, pd.Series) else pd.Series(np.asarray(target))
    else:
        raise ConfigError(
            f"target should be a Series or a column name; got {type(target).__name__}."
        )
    if len(y) != len(df):
        raise DataError(f"target has {len(y)} values but the data has {len(df)} users.")
    if y.index.equals(df.index):
        pass
    elif y.index.sort_values().equals(df.index.sort_values()) and df.index.is_unique:
        y = y.reindex(df.index)  # the same users in another order: align by user
    else:
        y = pd.Series(y.to_numpy(), index=df.index, name=y.name)  # positional
    name = str(y.name) if y.name is not None else "target"
    if name in df.columns and df[name].equals(y):
        df = df.drop(columns=[name])
    return df, y, name, []


def _unsupervised_table(
    features: pd.DataFrame, prepared: pd.DataFrame | None, labels: Any, random_state: int
) -> pd.DataFrame:
    """The unsupervised ranking per input feature (the best of its prepared columns)."""
    if prepared is None:
        from userseg.features.prepare import Preparer  # late: prepare imports this module

        prep = Preparer({"max_correlation": None}).fit(features)
        prepared = pd.DataFrame(
            prep.transform(features), columns=list(prep.get_feature_names_out())
        )
    elif len(prepared) != len(features):
        raise DataError(
            f"prepared has {len(prepared)} rows but the data has {len(features)} users."
        )
    table = rank_unsupervised(prepared, labels, random_state=random_state)
    owner = {c: _input_feature(c, list(features.columns)) for c in table.index}
    table = table.rename_axis("column").assign(feature=[owner[c] for c in table.index])
    table = table.reset_index()
    best = table.sort_values("rank", kind="stable").groupby("feature", sort=False).head(1)
    best = best[best["feature"].isin(features.columns)].set_index("feature")
    for col in [c for c in best.columns if c.endswith("rank")]:
        best[col] = best[col].rank(method="min").astype(int)
    return best.sort_values("rank", kind="stable")


def _input_feature(column: str, features: list[str]) -> str:
    """The input feature a Preparer output column comes from (``x``, ``x_missing``, ``x=lvl``)."""
    if column in features:
        return column
    if column.endswith("_missing") and column[: -len("_missing")] in features:
        return column[: -len("_missing")]
    head = column.split("=", 1)[0]
    return head if head in features else column


def _combine(
    tables: dict[str, pd.DataFrame],
    methods: tuple[str, ...],
    combine: str,
    min_votes: int | None,
    features: list[str],
) -> pd.DataFrame:
    """One table: each method's rank and keep, the votes, the mean rank and the verdict."""
    out = pd.DataFrame(index=pd.Index(features, name="feature"))
    for m in methods:
        out[f"rank_{m}"] = tables[m]["rank"].reindex(features)
        out[f"kept_{m}"] = tables[m]["kept"].reindex(features).astype(bool)
    votes = out[[f"kept_{m}" for m in methods]].sum(axis=1).astype(int)
    out["votes"] = votes
    out["mean_rank"] = out[[f"rank_{m}" for m in methods]].mean(axis=1)
    if combine in methods:
        need, keep = None, out[f"kept_{combine}"]
    else:
        need = {"any": 1, "all": len(methods)}.get(
            combine, min_votes if min_votes is not None else len(methods) // 2 + 1
        )
        keep = votes >= need
    out["kept"] = keep.astype(bool)
    reasons = []
    for f in features:
        by = [m for m in methods if out.at[f, f"kept_{m}"]]
        said = f"kept by {' and '.join(by)}" if by else "kept by no method"
        if need is None:
            reasons.append(f"not kept by {combine}" if not out.at[f, "kept"] else said)
        else:
            reasons.append(
                said
                if out.at[f, "kept"]
                else f"not selected: {said} ({len(by)} of {len(methods)}; needs {need})"
            )
    out["reason"] = reasons
    out = out.sort_values(
        ["kept", "mean_rank", "votes"], ascending=[False, True, False], kind="stable"
    )
    out["rank"] = np.arange(1, len(out) + 1)
    return out


def _rank_correlated(
    values: pd.DataFrame, threshold: float, sample: int, random_state: int
) -> dict[str, tuple[str, float]]:
    """:func:`correlated_to_drop` on ranks (Spearman), missing values at the median."""
    if values.shape[1] < 2:
        return {}
    filled = values.apply(lambda s: pd.to_numeric(s).fillna(pd.to_numeric(s).median()))
    return correlated_to_drop(filled.rank(), threshold, sample=sample, random_state=random_state)


# -- supervised methods ---------------------------------------------------------------------
_MAX_CLASSES = 20
_N_BINS = 10
_N_NULL = 5


def _clean_target(y: pd.Series, name: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The target's classes as text, and the mask of users that have one."""
    present = y.notna().to_numpy()
    if not present.any():
        raise DataError(f"target {name!r} has no values: all {len(y)} are missing.")
    if not present.all():
        notes.append(
            f"{int((~present).sum())} users without a value of {name!r} were left out "
            "of the supervised methods"
        )
    values = y[present]
    if is_categorical(values) or values.nunique() <= _MAX_CLASSES:
        classes = values.astype(str).to_numpy()
    else:
        raise ConfigError(
            f"target {name!r} looks continuous ({values.nunique()} distinct numbers); "
            "supervised selection needs a class label (bin it first)."
        )
    levels, counts = np.unique(classes, return_counts=True)
    if len(levels) < 2:
        raise DataError(
            f"target {name!r} has a single class ({levels[0]!r}); supervised selection "
            "needs users of at least two classes."
        )
    if len(levels) > _MAX_CLASSES:
        raise ConfigError(
            f"target {name!r} has {len(levels)} classes; at most {_MAX_CLASSES} are supported."
        )
    if counts.min() < 2:
        rare = [str(v) for v, c in zip(levels, counts, strict=True) if c < 2]
        raise DataError(
            f"target {name!r} class(es) {rare} have a single user; every class needs at "
            "least 2 (merge rare classes)."
        )
    return classes, present


def _stratified_sample(
    X: pd.DataFrame, y: np.ndarray, size: int, random_state: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """At most ``size`` rows, each class in proportion (at least 2 of each)."""
    if len(y) <= size:
        return X, y
    rng = np.random.default_rng(random_state)
    rows = []
    for level in np.unique(y):
        idx = np.flatnonzero(y == level)
        take = max(2, round(size * len(idx) / len(y)))
        rows.append(rng.choice(idx, size=min(take, len(idx)), replace=False))
    keep = np.sort(np.concatenate(rows))
    return X.iloc[keep], y[keep]


def _numeric(series: pd.Series) -> np.ndarray:
    v = pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(v).any():
        raise DataError(f"column {series.name!r} has infinite values; expected finite numbers.")
    return v


def _levels(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "(missing)").astype(str)


def _chi2(X: pd.DataFrame, y: np.ndarray, *, alpha: float, random_state: int) -> tuple:
    """Chi-square test of independence of each feature (binned) and the target.

    Numeric features with more than 10 distinct values are cut at their deciles
    (ties merged); a missing value is its own level. Features are ranked by
    Cramér's V (the statistic scaled to 0..1, comparable across numbers of
    levels) and kept when the Benjamini-Hochberg adjusted p-value is below ``alpha``.
    """
    from scipy.stats import chi2_contingency, false_discovery_control

    rows = []
    for f in X.columns:
        s = X[f]
        if is_categorical(s):
            levels = _levels(s).to_numpy()
        else:
            v = _numeric(s)
            present = v[~np.isnan(v)]
            if len(np.unique(present)) > _N_BINS:
                # Decile edges, ties merged; a value at an edge opens the upper bin, so a
                # mass point (pdays = 999 for 96 % of users) is a bin of its own.
                edges = np.unique(np.quantile(present, np.linspace(0.1, 0.9, _N_BINS - 1)))
                v = np.where(np.isnan(v), np.nan, np.digitize(v, edges))
            levels = np.where(np.isnan(v), -1.0, v)
        table = pd.crosstab(levels, y).to_numpy()
        if table.shape[0] < 2:
            rows.append((f, 0.0, 0, 1.0, 0.0, table.shape[0]))
            continue
        res = chi2_contingency(table, correction=False)
        v_cramer = math.sqrt(res.statistic / (len(y) * (min(table.shape) - 1)))
        rows.append(
            (f, float(res.statistic), int(res.dof), float(res.pvalue), v_cramer, table.shape[0])
        )
    out = pd.DataFrame(rows, columns=["feature", "chi2", "dof", "p_value", "cramers_v", "levels"])
    out = out.set_index("feature")
    out["p_adjusted"] = false_discovery_control(out["p_value"].to_numpy(), method="bh")
    out["rank"] = _rank(out["cramers_v"], higher_better=True)
    out["kept"] = out["p_adjusted"] < alpha
    return out.sort_values("rank", kind="stable"), {"bins": _N_BINS, "adjust": "benjamini-hochberg"}


def _mutual_info(X: pd.DataFrame, y: np.ndarray, *, alpha: float, random_state: int) -> tuple:
    """Mutual information (information gain, in nats) of each feature with the target.

    Categorical features, and numeric ones with at most 10 values, are
    discrete; other numeric ones use the k-nearest-neighbour estimator
    (missing values at the median). The estimate of an unrelated
    feature is not 0 (a many-level feature gains by chance), so each feature
    is compared with its own null: its estimate against ``5`` shuffles of the
    target. It is kept when its information exceeds every shuffle's.
    """
    import warnings

    from sklearn.feature_selection import mutual_info_classif

    cols, discrete = [], []
    for f in X.columns:
        s = X[f]
        if is_categorical(s):
            cols.append(pd.factorize(_levels(s))[0].astype(np.float64))
            discrete.append(True)
        else:
            v = _numeric(s)
            v = np.where(np.isnan(v), np.nanmedian(v), v)
            cols.append(v)
            # A number with few values (a count, a monthly index) is counted, not estimated.
            discrete.append(len(np.unique(v)) <= _N_BINS)
    D, mask = np.column_stack(cols), np.asarray(discrete)
    rng = np.random.default_rng(random_state)

    def mi(target: np.ndarray, seed: int) -> np.ndarray:
        return mutual_info_classif(D, target, discrete_features=mask, random_state=seed)

    with warnings.catch_warnings():
        # discrete codes are stored as floats; scikit-learn warns that they look continuous
        warnings.filterwarnings("ignore", message="Clustering metrics expects discrete")
        score = mi(y, random_state)
        null = np.array([mi(rng.permutation(y), random_state + 1 + i) for i in range(_N_NULL)])
    out = pd.DataFrame(
        {"mutual_info": score, "null_max": null.max(axis=0), "discrete": mask},
        index=pd.Index(list(X.columns), name="feature"),
    )
    out["rank"] = _rank(out["mutual_info"], higher_better=True)
    out["kept"] = out["mutual_info"] > out["null_max"]
    return out.sort_values("rank", kind="stable"), {"null_shuffles": _N_NULL}


def _l1_model(C: float, multiclass: bool, random_state: int) -> Any:
    import inspect

    from sklearn.linear_model import LogisticRegression

    # scikit-learn 1.8 replaced penalty="l1" by l1_ratio=1; support both.
    deprecated = inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"
    kind = {"l1_ratio": 1.0} if deprecated else {"penalty": "l1"}
    solver = "saga" if multiclass else "liblinear"
    # intercept_scaling: liblinear penalises the intercept as a weight; a large
    # scaling makes that penalty negligible, so a strong penalty still predicts the base rate.
    return LogisticRegression(
        C=C,
        solver=solver,
        intercept_scaling=100.0,
        max_iter=2000,
        random_state=random_state,
        **kind,
    )


def _l1(X: pd.DataFrame, y: np.ndarray, *, alpha: float, random_state: int) -> tuple:
    """L1-regularised logistic regression on standardised inputs.

    Categorical features are one-hot encoded; every column is standardised so
    that the penalty treats features alike. ``C`` is chosen by stratified 5-fold
    cross-validation of the log-loss with the one-standard-error rule (the
    strongest penalty whose loss is within one s.e. of the best): the sparsest
    model that predicts as well. A feature is kept when any of its columns has
    a non-zero coefficient; features are ranked by where they enter the
    regularisation path (the first to enter carries the most), then by the
    size of their coefficient.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    blocks, owner = [], []
    for f in X.columns:
        s = X[f]
        if is_categorical(s):
            dummies = pd.get_dummies(_levels(s)).to_numpy(dtype=np.float64)
            blocks.append(dummies)
            owner += [f] * dummies.shape[1]
        else:
            v = _numeric(s)
            blocks.append(np.where(np.isnan(v), np.nanmedian(v), v)[:, None])
            owner.append(f)
    D = np.column_stack(blocks)
    sd = D.std(axis=0)
    D = (D - D.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    owner_arr = np.asarray(owner, dtype=object)
    classes = np.unique(y)
    multiclass = len(classes) > 2
    folds = StratifiedKFold(
        n_splits=min(5, int(np.unique(y, return_counts=True)[1].min())),
        shuffle=True,
        random_state=random_state,
    )
    # The path starts where the first feature enters (the largest gradient of the
    # log-likelihood of the intercept-only model), and spans three decades of C. It
    # stops three steps after the loss last improved by 0.1 %: weak penalties are the
    # slow fits, and they are never the one-s.e. choice.
    onehot = (y[:, None] == classes[None, :]).astype(np.float64)
    gradient = np.abs(D.T @ (onehot - onehot.mean(axis=0))).max()
    Cs = (1.0 / max(gradient, 1e-12)) * np.logspace(0, 3, 13)
    losses: list[np.ndarray] = []
    path: list[np.ndarray] = []
    splits = list(folds.split(D, y))
    last_gain, best_loss = 0, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for j, C in enumerate(Cs):
            fold_loss = []
            for train, test in splits:
                model = _l1_model(C, multiclass, random_state).fit(D[train], y[train])
                fold_loss.append(log_loss(y[test], model.predict_proba(D[test]), labels=classes))
            losses.append(np.asarray(fold_loss))
            path.append(np.abs(_l1_model(C, multiclass, random_state).fit(D, y).coef_).max(axis=0))
            if losses[-1].mean() < best_loss * (1 - 1e-3):
                last_gain, best_loss = j, losses[-1].mean()
            if j - last_gain >= 3:
                break
    loss = np.array(losses).T  # folds × C
    mean, se = loss.mean(axis=0), loss.std(axis=0, ddof=1) / math.sqrt(len(loss))
    best = int(np.argmin(mean))
    chosen = int(np.flatnonzero(mean <= mean[best] + se[best])[0])
    group = pd.DataFrame(np.array(path).T, index=owner_arr).groupby(level=0, sort=False).max()
    group = group.reindex(list(X.columns))
    nonzero = group.to_numpy() > 0
    entry = np.where(nonzero.any(axis=1), Cs[np.argmax(nonzero, axis=1)], np.inf)
    out = pd.DataFrame(
        {
            "coef": group.iloc[:, chosen].to_numpy(),
            "entry_C": entry,
            "coef_weakest_penalty": group.iloc[:, -1].to_numpy(),
        },
        index=pd.Index(list(X.columns), name="feature"),
    )
    order = out.sort_values(
        ["entry_C", "coef", "coef_weakest_penalty"], ascending=[True, False, False], kind="stable"
    ).index
    out.loc[order, "rank"] = np.arange(1, len(out) + 1)
    out["rank"] = out["rank"].astype(int)
    out["kept"] = out["coef"] > 0
    info = {
        "C": float(Cs[chosen]),
        "C_best": float(Cs[best]),
        "rule": "one standard error",
        "cv_log_loss": float(mean[chosen]),
        "cv_log_loss_best": float(mean[best]),
        "folds": len(splits),
        "path": [float(c) for c in Cs[: len(losses)]],
    }
    return out.sort_values("rank", kind="stable"), info


_SUPERVISED = {"chi2": _chi2, "mutual_info": _mutual_info, "l1": _l1}


# -- JSON -------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    frame = table.reset_index()
    return [
        {str(k): _jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]
