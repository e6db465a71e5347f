"""Turning what a caller passes into validated float64 columns, with errors that say what and where.

The value models take a per-customer summary: a DataFrame with named columns
(``frequency``, ``recency``, ``T``, ``monetary``) or an array whose columns come
in that order. Every public ``fit``/``predict`` goes through here; the private
likelihood code assumes clean input and says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from userseg.errors import ConfigError, DataError

__all__ = [
    "check_finite",
    "check_frequency",
    "check_positive",
    "columns",
    "compress",
    "first_rows",
    "per_frequency",
    "positive_weights",
]


def first_rows(index: Any, mask: np.ndarray, k: int = 5) -> list[Any]:
    """The labels (or positions) of the first ``k`` rows where ``mask`` holds, for messages."""
    pos = np.flatnonzero(mask)[:k]
    labels = index[pos] if index is not None else pos
    return [v.item() if hasattr(v, "item") else v for v in labels]


def columns(X: Any, names: tuple[str, ...], where: str) -> tuple[list[np.ndarray], Any]:
    """``names`` from ``X`` as float64 arrays (copies never needed: nothing is written back).

    ``X`` is a DataFrame holding those columns (others are ignored) or a 2-D array
    with exactly ``len(names)`` columns in that order. Returns the arrays and the
    frame's index (``None`` for an array), so that errors can name bad rows.
    """
    if isinstance(X, pd.DataFrame):
        missing = [n for n in names if n not in X.columns]
        if missing:
            raise DataError(
                f"{where}: column(s) {', '.join(missing)} missing; expected "
                f"{', '.join(names)}; available: {', '.join(map(str, X.columns))}.",
                details={"missing": missing, "available": [str(c) for c in X.columns]},
            )
        try:
            cols = [X[n].to_numpy(dtype=np.float64, na_value=np.nan) for n in names]
        except (TypeError, ValueError) as exc:
            raise DataError(f"{where}: a column is not numeric ({exc}).") from None
        return cols, X.index
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: X is not numeric ({exc}).") from None
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise DataError(
            f"{where}: X should have {len(names)} columns ({', '.join(names)}); "
            f"got shape {arr.shape}."
        )
    return [arr[:, j] for j in range(len(names))], None


def check_finite(cols: dict[str, np.ndarray], index: Any, where: str) -> None:
    for name, v in cols.items():
        bad = ~np.isfinite(v)
        if bad.any():
            raise DataError(
                f"{where}: {int(bad.sum())} missing or infinite {name} value(s), first rows "
                f"{first_rows(index, bad)}.",
                details={"column": name, "count": int(bad.sum())},
            )


def check_frequency(x: np.ndarray, index: Any, where: str) -> None:
    neg = x < 0
    if neg.any():
        raise DataError(
            f"{where}: frequency is negative in {int(neg.sum())} row(s), first rows "
            f"{first_rows(index, neg)}; it counts repeat purchases (0 or more).",
            details={"count": int(neg.sum())},
        )
    frac = x != np.floor(x)
    if frac.any():
        raise DataError(
            f"{where}: frequency must be a whole number of repeat purchases; "
            f"{int(frac.sum())} row(s) are not, first rows {first_rows(index, frac)}.",
            details={"count": int(frac.sum())},
        )


def positive_weights(sample_weight: Any, n: int, where: str) -> np.ndarray:
    """Validated per-row weights (counts of identical customers); ones when ``None``."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise DataError(f"{where}: sample_weight should have shape ({n},); got {w.shape}.")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise DataError(f"{where}: sample_weight must be finite, >= 0 and not all 0.")
    return w


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A setting that must be a positive (or non-negative) finite number."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if not ok or not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        shown = f"{v:g}" if ok else repr(value)
        raise ConfigError(f"{name}={shown} should be {'>= 0' if allow_zero else '> 0'}.")
    return v


def per_frequency(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct frequencies, their total weight, and each row's index among them.

    Frequencies are whole numbers (checked before), so counting replaces a sort.
    """
    xi = x.astype(np.int64)
    total = np.bincount(xi, weights=w)
    present = np.bincount(xi) > 0
    position = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(np.float64), total[present], position[xi]


def compress(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Identical (x, t_x, T) rows merged into one row with their summed weight.

    Summaries in whole days (or weeks…) of many customers repeat patterns
    (CDNOW's 2,357 customers have 1,016 distinct rows; every one-time buyer
    first seen on the same day is one pattern), and the likelihood of a pattern
    is computed once. Returned unchanged when merging would save less than a
    quarter of the rows.
    """
    n = len(x)
    # only whole-number times repeat much (continuous times are all distinct), and
    # hashing a million rows to find that out would cost a third of a fit
    if n < 1000 or not (np.array_equal(tx, np.round(tx)) and np.array_equal(T, np.round(T))):
        return x, tx, T, w
    pairs = pd.factorize(tx + 1j * T)[0]
    n_pairs = int(pairs.max()) + 1 if n else 0
    codes, uniques = pd.factorize(x.astype(np.int64) * n_pairs + pairs)
    k = len(uniques)
    if k > 0.75 * n:
        return x, tx, T, w
    first = np.empty(k, dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    return x[first], tx[first], T[first], np.bincount(codes, weights=w, minlength=k)
