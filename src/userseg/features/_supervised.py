"""Supervised feature rankings for :func:`userseg.features.select.select_features`.

Chi-square test, mutual information (information gain) and L1-regularised
logistic regression, each returning its ranking table and the features it
keeps; plus the small helpers they share with the unsupervised side.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from userseg.errors import ConfigError, DataError

_MAX_CLASSES = 20
_N_BINS = 10
_N_NULL = 5
_MI_SAMPLE = 5000  # the k-NN estimate costs ~1.5 s per call at 20,000 users; six calls are made


def is_categorical(series: pd.Series) -> bool:
    """Whether a column is treated as categorical (anything but a non-boolean number)."""
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _rank(values: pd.Series, *, higher_better: bool) -> pd.Series:
    """Rank 1 is the best; NaN ranks last; ties share the best rank."""
    key = values if higher_better else -values
    return key.rank(ascending=False, method="min", na_option="bottom").astype(int)


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
    target. It is kept when its information exceeds every shuffle's. At most
    5,000 users (stratified) are used: the estimate is costly, and a ranking
    needs no more.
    """
    import warnings

    from sklearn.feature_selection import mutual_info_classif

    X, y = _stratified_sample(X, y, _MI_SAMPLE, random_state)
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
        y = np.unique(y, return_inverse=True)[1]  # codes: string labels are re-sorted per call
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
    # integer codes: scikit-learn re-sorts string labels on every fit and score
    names, y = np.unique(y, return_inverse=True)
    classes = np.arange(len(names))
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
