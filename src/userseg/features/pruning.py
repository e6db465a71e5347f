"""Pruning before clustering: features that repeat another, or on which every user is alike.

The preparation step (:mod:`userseg.features.prepare`) applies both by default;
the fuller selection (:mod:`userseg.features.select`) shows them with its
rankings. Here below both, so that neither imports the other to reach them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["correlated_to_drop", "near_constant"]


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
