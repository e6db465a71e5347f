"""Profiles, names, the target's outcome and the diagnostics, put on a fitted segmentation.

The :class:`~userseg.segment.segmenter.Segmenter`'s explain and diagnose
steps call these once its segments are numbered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from userseg.explain.naming import name_segments
from userseg.explain.outcome import outcome_by_segment
from userseg.explain.profiles import SegmentProfile, profile_segments
from userseg.features.labels import feature_label, is_year
from userseg.features.prepare import Preparer
from userseg.segment.diagnostics import Diagnostics

__all__ = ["attach", "explain", "measure_outcome"]


def explain(
    preparer: Preparer,
    df: pd.DataFrame,
    labels: np.ndarray,
    *,
    dates: list[str],
    units: dict[str, str] | None,
    words: dict[str, str] | None,
) -> list[SegmentProfile]:
    """Profile and name each segment of ``labels`` from the raw features ``df``.

    ``dates`` are the date columns (read as days since), ``units`` and ``words``
    the user's units and feature words over the defaults.
    """
    categorical = [s["name"] for s in preparer.steps_ if s["kind"] == "categorical"]
    zscores = preparer.numeric_zscores(df)
    units = {name: "days" for name in dates} | dict(units or {})
    for name in zscores.columns:  # calendar years print as 1957, not 1,957
        if units.get(name, "value") == "value" and is_year(name, df[name]):
            units[name] = "year"
    # the words of each feature: the given ones, else its name in words; a date is
    # read as the days since it
    words = {
        str(c): (f"days since {feature_label(str(c))}" if c in dates else feature_label(str(c)))
        for c in df.columns
    } | dict(words or {})
    profiles = profile_segments(
        df, labels, zscores, units=units, categorical=categorical, feature_labels=words
    )
    names = name_segments(profiles, date_features=dates, feature_labels=words)
    for p, name in zip(profiles, names, strict=True):
        p.name = name
    return profiles


def measure_outcome(
    profiles: list[SegmentProfile], y: pd.Series, labels: np.ndarray, target: str
) -> dict[str, Any]:
    """The target's rate (or mean), interval and lift in each segment, on its profile."""
    result = outcome_by_segment(y, labels, name=target)
    rows = result.pop("segments")
    head = {k: result[k] for k in ("target", "kind", "positive", "confidence")}
    for p in profiles:
        p.outcome = head | rows[p.segment] | {"overall": result["overall"]["value"]}
    return result


def attach(metrics: dict[str, Any], profiles: list[SegmentProfile], diag: Diagnostics) -> None:
    """Put the diagnostics where they are read: the metrics and each segment's profile."""
    if diag.structure is not None:
        metrics["structure"] = diag.structure.to_dict()
    if diag.stability is not None:
        st = diag.stability
        metrics["stability"] = {
            "ari_mean": st.ari_mean,
            "ari_std": st.ari_std,
            "ari_min": st.ari_min,
            "unstable": list(st.unstable),
            "summary": st.summary,
            "n_runs": st.n_runs,
            "method": st.method,
            "threshold": st.threshold,
        }
    for p in profiles:
        if diag.stability is not None:
            s = diag.stability.segment(p.segment)
            p.stability, p.stable = float(s.jaccard_mean), bool(s.stable)
        if diag.rules is not None:
            r = diag.rules[p.segment]
            p.rule = {
                "text": r.text,
                "where": r.where,
                "precision": r.precision,
                "recall": r.recall,
            }
