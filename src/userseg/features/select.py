"""Feature selection: which features carry information, and which only repeat others.

Unsupervised pruning runs by default inside the preparation step: a feature
whose prepared values correlate above ``max_correlation`` (0.9) with a feature
kept before it is left out of the distance, because k-means counts each
copy of the same signal again (five measures of "how active" would outvote
one measure of "how much"). The earlier feature in the table is kept; the
feature table lists the RFM features first, so they win
(:func:`~userseg.features.pruning.correlated_to_drop`).

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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

from userseg.errors import ConfigError, DataError, SchemaError
from userseg.features._supervised import (
    _SUPERVISED,
    _clean_target,
    _rank,
    _stratified_sample,
    is_categorical,
)
from userseg.features.prepare import Preparer
from userseg.features.pruning import correlated_to_drop, near_constant
from userseg.json_safe import jsonable

__all__ = [
    "METHODS",
    "SelectionResult",
    "is_categorical",
    "rank_unsupervised",
    "select_features",
]

#: The supervised methods, in the order their tables are shown.
METHODS = ("chi2", "mutual_info", "l1")
_COMBINE = ("vote", "any", "all")
_MAX_LEVELS = 50  # a categorical feature with more levels is an identifier or free text


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

    def leave_out(self, feature: str, reason: str) -> None:
        """Move a kept feature to the dropped ones (the model left it out after all)."""
        if feature in self.kept:
            self.kept.remove(feature)
        self.dropped[feature] = reason
        _mark_dropped(self.tables, feature, reason)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (NaN as null), for the report and the run record."""
        return {
            "kept": list(self.kept),
            "dropped": dict(self.dropped),
            "ranking": list(self.ranking),
            "target": self.target,
            "methods": list(self.methods),
            "combine": self.combine,
            "params": jsonable(self.params),
            "notes": list(self.notes),
            "tables": {name: _records(t) for name, t in self.tables.items()},
        }


def _checked_data(
    df: pd.DataFrame, target: Any, checks: tuple[Any, ...]
) -> tuple[pd.DataFrame, pd.Series | None, str | None, list[str]]:
    """The features (columns named by text), the target and its name, and notes.

    ``df`` is checked first, then the parameters (``checks``, :func:`_check_params`),
    then the data's shape.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a DataFrame of features; got {type(df).__name__}.")
    _check_params(*checks)
    features, y, target_name, notes = _split_target(df, target)
    if features.shape[0] < 2 or features.shape[1] == 0:
        raise DataError(
            f"need at least 2 users and 1 feature to select from; got shape {features.shape}."
        )
    features = features.set_axis([str(c) for c in features.columns], axis=1)
    return features, y, target_name, notes


def _unusable(
    features: pd.DataFrame, pruned: dict[str, str] | None, max_mode_share: float
) -> dict[str, str]:
    """feature → why it cannot be used: the model's own verdicts (``pruned``), or else
    near-constant and identifier-like (too many levels) features."""
    if pruned is not None:
        return {str(f): str(why) for f, why in pruned.items() if str(f) in features.columns}
    dropped = near_constant(features, max_mode_share)
    for name in features.columns:
        levels = features[name].nunique()
        if name not in dropped and is_categorical(features[name]) and levels > _MAX_LEVELS:
            dropped[name] = (
                f"identifier-like or free text: {levels} distinct values (> {_MAX_LEVELS})"
            )
    return dropped


def _repeats(
    features: pd.DataFrame,
    kept: list[str],
    max_correlation: float,
    sample: int,
    random_state: int,
    better: str,
) -> list[tuple[str, str]]:
    """(feature, reason) for each kept numeric feature that repeats a better one."""
    numeric = [f for f in kept if not is_categorical(features[f])]
    return [
        (
            f,
            f"repeats {other} (rank correlation {r:.2f} > max_correlation "
            f"{max_correlation}), which {better}",
        )
        for f, (other, r) in _rank_correlated(
            features[numeric], max_correlation, sample, random_state
        ).items()
    ]


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
    pruned: dict[str, str] | None = None,
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
        See :func:`~userseg.features.pruning.near_constant`.
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
    pruned : dict, optional
        feature → reason: what a fitted model already left out (its
        :attr:`~userseg.features.prepare.Preparer.left_out_`). When given, these
        are the dropped features and no other near-constant, identifier-like or
        correlation rule applies, so the result states what the model does.

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
    checks = (methods, combine, min_votes, max_correlation, max_mode_share, alpha, sample)
    features, y, target_name, notes = _checked_data(df, target, checks)
    params: dict[str, Any] = {"max_correlation": max_correlation, "max_mode_share": max_mode_share}
    params.update(alpha=alpha, sample=sample, random_state=random_state)
    dropped = _unusable(features, pruned, max_mode_share)
    if pruned is not None:
        max_correlation = None  # the model's own pruning stands
    live = [c for c in features.columns if c not in dropped]
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
            tables[method], params[method] = _SUPERVISED[method](
                X, y, alpha=alpha, random_state=random_state
            )
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
        better = "ranks higher" if y is not None else "comes first"
        for f, why in _repeats(features, kept, max_correlation, sample, random_state, better):
            dropped[f] = why
            kept.remove(f)
            _mark_dropped(tables, f, why)
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


def _mark_dropped(tables: dict[str, pd.DataFrame], feature: str, reason: str) -> None:
    """The final table says a feature is not kept (it said "kept" for one left out later)."""
    final = tables.get("combined", tables.get("unsupervised"))
    if final is not None and feature in final.index and "kept" in final.columns:
        final.at[feature, "kept"] = False
        if "reason" in final.columns:
            final.at[feature, "reason"] = reason


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


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    frame = table.reset_index()
    return [
        {str(k): jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]
