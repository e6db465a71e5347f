"""Feature selection: which prepared features carry information, and which only repeat others.

Unsupervised pruning runs by default inside the preparation step: a feature
whose prepared values correlate above ``max_correlation`` (0.9) with a feature
kept before it is left out of the distance, because k-means counts each
copy of the same signal again (five measures of "how active" would outvote
one measure of "how much"). The earlier feature in the table is kept; the
feature table lists the RFM features first, so they win.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["correlated_to_drop"]


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
