"""A known outcome per segment: its rate (or mean), the lift over all users, a 95 % interval.

When a segmentation is fitted with a target (a campaign response, churn), the
first question is "which segment responds?". :func:`outcome_by_segment`
answers it with numbers a person can act on and a statistician can trust:

* a **rate** for a class label: the share of the segment in the positive class
  (``1``, ``true``, ``yes``… when the target has one, else its least common
  class), with a Wilson score interval, which stays inside [0, 1] and keeps
  its coverage for small segments and rare outcomes, where the normal
  approximation does not;
* a **mean** for a numeric target with more than two values, with a Student
  t interval;
* the **lift**: the segment's rate (or mean) over the whole population's,
  with the interval divided alike (the population's value is taken as known:
  it rests on every user).

Example
-------
>>> import numpy as np
>>> y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
>>> out = outcome_by_segment(y, np.array([0, 0, 0, 0, 1, 1, 1, 1]), name="response")
>>> out["kind"], out["overall"]["value"], out["segments"][1]["lift"]
('rate', 0.5, 1.5)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from userseg.errors import DataError

__all__ = ["CONFIDENCE", "outcome_by_segment"]

#: Confidence level of the intervals.
CONFIDENCE = 0.95
#: Class labels read as the positive class of a two-class target, lower case.
_POSITIVE = ("1", "1.0", "true", "yes", "y", "t", "positive", "churned", "converted")


def _positive_class(values: pd.Series) -> str:
    """The class whose rate is shown: a conventional positive label, else the least common."""
    counts = values.value_counts()
    for level in counts.index:
        if str(level).strip().lower() in _POSITIVE:
            return str(level)
    # least common, ties broken by the text so that the choice is deterministic
    return str(min(counts.index, key=lambda v: (counts[v], str(v))))


def _wilson(k: float, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _t_interval(v: np.ndarray) -> tuple[float | None, float | None]:
    mean = float(v.mean())
    if len(v) < 2:  # one user: no spread to build an interval on
        return None, None
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean - half, mean + half


def outcome_by_segment(y: Any, labels: np.ndarray, *, name: str) -> dict[str, Any]:
    """The target's rate (or mean) in each segment and overall, with lift and interval.

    Parameters
    ----------
    y : array-like of shape (n_users,)
        The target, one value per user (missing values are left out).
    labels : ndarray of shape (n_users,)
        Segment of each user; noise (-1) counts in the population only.
    name : str
        The target's name, for the result and messages.

    Returns
    -------
    dict
        ``target``, ``kind`` ("rate" or "mean"), ``positive`` (the class
        counted, for a rate), ``confidence``, ``overall`` and ``segments``
        (segment → ``value, low, high, lift, lift_low, lift_high, n``).
    """
    y = pd.Series(np.asarray(y, dtype=object) if not isinstance(y, pd.Series) else y.to_numpy())
    labels = np.asarray(labels)
    if len(y) != len(labels):
        raise DataError(f"target {name!r} has {len(y)} values for {len(labels)} users.")
    present = y.notna().to_numpy()
    if not present.any():
        raise DataError(f"target {name!r} has no values: all {len(y)} are missing.")
    numeric = pd.to_numeric(y[present], errors="coerce")
    is_number = bool(numeric.notna().all()) and not pd.api.types.is_bool_dtype(y[present])
    z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
    if is_number and numeric.nunique() > 2:
        kind, positive = "mean", None
        values = np.full(len(y), np.nan)
        values[present] = numeric.to_numpy(dtype=np.float64)
    else:
        kind = "rate"
        text = y[present].astype(str)
        if is_number:  # 0/1 read as numbers: "1.0" and "1" are one class
            text = numeric.map(lambda v: str(int(v)) if float(v).is_integer() else str(v))
        positive = _positive_class(text)
        values = np.full(len(y), np.nan)
        values[present] = (text == positive).to_numpy(dtype=np.float64)

    def summary(v: np.ndarray) -> dict[str, Any]:
        v = v[~np.isnan(v)]
        if not len(v):
            return {"value": None, "low": None, "high": None, "n": 0}
        if kind == "rate":
            low, high = _wilson(float(v.sum()), len(v), z)
        else:
            low, high = _t_interval(v)
        return {"value": float(v.mean()), "low": low, "high": high, "n": len(v)}

    overall = summary(values)
    base = overall["value"]
    segments: dict[int, dict[str, Any]] = {}
    for s in sorted(int(s) for s in np.unique(labels) if s >= 0):
        row = summary(values[labels == s])
        usable = row["value"] is not None and base not in (None, 0.0)
        for key, src in (("lift", "value"), ("lift_low", "low"), ("lift_high", "high")):
            row[key] = float(row[src] / base) if usable and row[src] is not None else None
        segments[s] = row
    return {
        "target": name,
        "kind": kind,
        "positive": positive,
        "confidence": CONFIDENCE,
        "overall": overall,
        "segments": segments,
    }
