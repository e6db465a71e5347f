"""Population stability: how far today's users have moved from the users a model was fitted on.

At fit time :func:`baseline` records, per numeric feature, the decile edges of
the training values and the share of users between them, and per
categorical feature the share of each level. :func:`psi` later compares new
values with that record by the population stability index,
``PSI = Σ (new − old) · ln(new / old)`` over the bins, a scale credit-risk teams
have used for decades: below 0.1 no real change, 0.1–0.25 a moderate shift,
above 0.25 a major one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PSI_MAJOR", "PSI_MODERATE", "baseline", "psi", "psi_level"]

PSI_MODERATE = 0.10
PSI_MAJOR = 0.25
_EPS = 1e-4  # an empty bin on one side must not make the index infinite
_EDGE_MARGIN = 0.01  # of the 5-95 % range: how far an edge keeps from a decile's value


def baseline(
    df: pd.DataFrame, categorical: list[str] | None = None, *, bins: int = 10
) -> dict[str, Any]:
    """The distribution of every feature, compactly (JSON-able), for later drift checks."""
    categorical = set(categorical or [])
    out: dict[str, Any] = {}
    for name in df.columns:
        col = df[name]
        if name in categorical or not pd.api.types.is_numeric_dtype(col):
            values = col.astype(object).where(col.notna(), "(missing)").astype(str)
            out[str(name)] = {
                "kind": "categorical",
                "shares": values.value_counts(normalize=True).to_dict(),
            }
            continue
        v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        present = np.sort(v[~np.isnan(v)])
        edges = _edges(present, bins)
        out[str(name)] = {
            "kind": "numeric",
            "edges": edges.tolist(),
            "shares": _numeric_shares(v, edges).tolist(),
        }
    return out


def _edges(sorted_values: np.ndarray, bins: int) -> np.ndarray:
    """Decile edges placed in the gaps between values, clear of point masses.

    Behavioural features have point masses (zero orders, the smoothing prior
    of users with few events); an edge sitting on or next to one would send
    the whole mass across it at the slightest shift. The prior moves a little
    with every new batch (the population mean it shrinks toward changes), so
    "halfway to the next distinct value" is not enough when that value is
    almost equal: a prior that moved from 0.519936 to 0.519999 crossed an
    edge 0.00003 away and read as a major drift (PSI 0.81). Each edge is put
    halfway between its decile and the first value more than 1 % of the 5–95 %
    range above it, so a mass can move by half of that without crossing.
    """
    if sorted_values.size == 0:
        return np.array([])
    q = np.unique(np.quantile(sorted_values, np.linspace(0, 1, bins + 1)[1:-1]))
    low, high = np.quantile(sorted_values, [0.05, 0.95])
    margin = _EDGE_MARGIN * float(high - low)
    above = np.searchsorted(sorted_values, q + margin, side="right")
    keep = above < sorted_values.size
    return np.unique((q[keep] + sorted_values[above[keep]]) / 2)


def _numeric_shares(v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of values in each bin, plus a last bin for missing values."""
    missing = np.isnan(v)
    idx = np.searchsorted(edges, v[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    counts = np.append(counts, missing.sum())
    return counts / max(len(v), 1)


def psi(reference: dict[str, Any], values: pd.Series) -> float:
    """Population stability index of ``values`` against one feature's baseline entry."""
    if reference["kind"] == "numeric":
        new = _numeric_shares(
            pd.to_numeric(values, errors="coerce").to_numpy(np.float64),
            np.asarray(reference["edges"], dtype=np.float64),
        )
        old = np.asarray(reference["shares"], dtype=np.float64)
    else:
        vals = values.astype(object).where(values.notna(), "(missing)").astype(str)
        now = vals.value_counts(normalize=True)
        levels = sorted(set(reference["shares"]) | set(now.index))
        old = np.array([reference["shares"].get(lv, 0.0) for lv in levels])
        new = np.array([float(now.get(lv, 0.0)) for lv in levels])
    old, new = np.maximum(old, _EPS), np.maximum(new, _EPS)
    return float(np.sum((new - old) * np.log(new / old)))


def psi_level(value: float) -> str:
    """ "none", "moderate" or "major", by the usual thresholds."""
    if value >= PSI_MAJOR:
        return "major"
    return "moderate" if value >= PSI_MODERATE else "none"
