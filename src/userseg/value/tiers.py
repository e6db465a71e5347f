"""Value tiers: the segmentation a business asks for first, by stated and adjustable rules.

On the per-customer value frame (``spend_net``: spend so far less refunds, or
``spend_total`` where the frame has no ``spend_net``; ``value``: discounted
expected value over the horizon; ``p_alive``), the first rule that holds gives
the tier:

=======================  ==================================================================
tier                     rule
=======================  ==================================================================
at risk                  spend so far ≥ ``past_value_min`` and P(alive) < ``p_alive_threshold``
high value               spend so far ≥ ``past_value_min`` (and not at risk)
potential high value     expected value ≥ ``predicted_value_min`` (but spend so far below)
low value                everything else
=======================  ==================================================================

By default ``past_value_min`` and ``predicted_value_min`` are the 80th
percentiles (``high_quantile=0.8``: the top fifth) of spend so far and of
expected value, and ``p_alive_threshold`` is 0.5. Under BG/NBD a customer
without a repeat purchase has P(alive) = 1, so a one-time buyer is never "at
risk" by this rule: their risk shows as a low expected value instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from userseg.errors import ConfigError, SchemaError

__all__ = ["TIERS", "ValueTiers", "check_tier_settings", "tier_codes", "value_tiers"]

TIERS = ("high value", "potential high value", "at risk", "low value")
_NEEDED = ("spend_total", "value", "p_alive")


@dataclass
class ValueTiers:
    """Each customer's tier and the thresholds that put them there."""

    labels: pd.Series  # categorical, categories in TIERS order
    thresholds: dict[str, float | None]
    frame: pd.DataFrame  # the columns the rules read

    def summary(self) -> pd.DataFrame:
        """Per tier: users, share, mean spend so far, mean and total expected value, mean
        P(alive) and churn risk (1 − mean P(alive)); every tier listed, empty ones too."""
        f = self.frame.assign(tier=self.labels)
        g = f.groupby("tier", observed=False)
        out = pd.DataFrame(
            {
                "users": g.size(),
                "spend_total_mean": g["spend_total"].mean(),
                "value_mean": g["value"].mean(),
                "value_total": g["value"].sum(),
                "p_alive_mean": g["p_alive"].mean(),
            }
        ).reindex(list(TIERS))
        out.index.name = "tier"
        out["users"] = out["users"].fillna(0).astype("int64")
        out["share"] = out["users"] / max(len(f), 1)
        out["churn_risk"] = 1.0 - out["p_alive_mean"]
        cols = ["users", "share", "spend_total_mean", "value_mean", "value_total"]
        return out[[*cols, "p_alive_mean", "churn_risk"]]

    def to_dict(self) -> dict[str, Any]:
        s = self.summary().reset_index()
        return {
            "thresholds": dict(self.thresholds),
            "rules": RULES,
            "summary": s.astype(object).where(s.notna(), None).to_dict("records"),
        }


RULES = [
    "at risk: spend so far >= past_value_min and P(alive) < p_alive_threshold",
    "high value: spend so far >= past_value_min",
    "potential high value: expected value >= predicted_value_min",
    "low value: the rest",
]


def _number(name: str, value: Any, bounds: str | None = None) -> float:
    """A finite real setting; ``bounds`` is "(0, 1)" or "[0, 1]" when it has them."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    inside = math.isfinite(v)
    if bounds == "(0, 1)":
        inside = inside and 0 < v < 1
    elif bounds == "[0, 1]":
        inside = inside and 0 <= v <= 1
    if not inside:
        raise ConfigError(
            f"{name}={value!r} should be " + (f"in {bounds}." if bounds else "a finite number.")
        )
    return v


def check_tier_settings(
    *,
    high_quantile: float = 0.8,
    p_alive_threshold: float = 0.5,
    past_value_min: float | None = None,
    predicted_value_min: float | None = None,
) -> dict[str, float | None]:
    """The tier settings checked (a :class:`~userseg.errors.ConfigError` naming a bad one).

    ``high_quantile`` is checked only when a money threshold is left to it.
    """
    p_thr = _number("p_alive_threshold", p_alive_threshold, "[0, 1]")
    uses_quantile = past_value_min is None or predicted_value_min is None
    q = _number("high_quantile", high_quantile, "(0, 1)") if uses_quantile else None
    return {
        "past_value_min": None
        if past_value_min is None
        else _number("past_value_min", past_value_min),
        "predicted_value_min": None
        if predicted_value_min is None
        else _number("predicted_value_min", predicted_value_min),
        "p_alive_threshold": p_thr,
        "high_quantile": q,
    }


def tier_codes(
    past: np.ndarray,
    predicted: np.ndarray,
    p_alive: np.ndarray,
    *,
    past_value_min: float,
    predicted_value_min: float,
    p_alive_threshold: float,
) -> np.ndarray:
    """Each customer's position in :data:`TIERS` by the rules, first match wins.

    The one statement of the rules: :func:`value_tiers` and the stored model of a
    value-tier run (:class:`~userseg.cluster.assigners.TierAssigner`) both call it,
    so a run replays exactly the tiers it was fitted with.
    """
    past_high = np.asarray(past, dtype=np.float64) >= past_value_min
    predicted_high = np.asarray(predicted, dtype=np.float64) >= predicted_value_min
    at_risk = past_high & (np.asarray(p_alive, dtype=np.float64) < p_alive_threshold)
    return np.select([at_risk, past_high, predicted_high], [2, 0, 1], default=3).astype(np.int64)


def value_tiers(
    frame: pd.DataFrame,
    *,
    high_quantile: float = 0.8,
    p_alive_threshold: float = 0.5,
    past_value_min: float | None = None,
    predicted_value_min: float | None = None,
) -> ValueTiers:
    """Put each customer of a value frame in one of :data:`TIERS`.

    Parameters
    ----------
    frame : DataFrame
        Needs ``spend_total`` (or ``spend_net``, preferred), ``value`` and
        ``p_alive`` (the frame of :func:`~userseg.value.customer_value`); it is
        not modified.
    high_quantile : float, default=0.8
        Quantile of spend so far / expected value above which a customer is
        "high" (0.8: the top fifth), unless the absolute thresholds are given.
    p_alive_threshold : float, default=0.5
        Below this P(alive) a high spender is "at risk".
    past_value_min, predicted_value_min : float, optional
        Absolute money thresholds, replacing the quantiles.

    Returns
    -------
    ValueTiers
        ``labels`` (indexed as ``frame``), the ``thresholds`` used, and ``summary()``.
    """
    if "spend_net" in frame.columns:  # past value net of refunds, when the frame has it
        frame = frame.drop(columns="spend_total", errors="ignore").rename(
            columns={"spend_net": "spend_total"}
        )
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"value tiers need the columns {', '.join(_NEEDED)}; missing {', '.join(missing)} "
            f"(available: {', '.join(map(str, frame.columns))}).",
            details={"missing": missing},
        )
    settings = check_tier_settings(
        high_quantile=high_quantile,
        p_alive_threshold=p_alive_threshold,
        past_value_min=past_value_min,
        predicted_value_min=predicted_value_min,
    )
    p_thr, q = settings["p_alive_threshold"], settings["high_quantile"]
    f = frame[list(_NEEDED)].astype(float)
    mins = {}
    for name, col in (("past_value_min", "spend_total"), ("predicted_value_min", "value")):
        given = settings[name]
        if given is None:
            mins[name] = float(np.nanquantile(f[col], q)) if len(f) else 0.0
        else:
            mins[name] = given
    codes = tier_codes(
        f["spend_total"].to_numpy(),
        f["value"].to_numpy(),
        f["p_alive"].to_numpy(),
        past_value_min=mins["past_value_min"],
        predicted_value_min=mins["predicted_value_min"],
        p_alive_threshold=p_thr,
    )
    labels = pd.Series(
        pd.Categorical.from_codes(codes, categories=list(TIERS)), index=frame.index, name="tier"
    )
    thresholds = {
        "past_value_min": mins["past_value_min"],
        "predicted_value_min": mins["predicted_value_min"],
        "p_alive_threshold": p_thr,
        "high_quantile": q,
    }
    return ValueTiers(labels=labels, thresholds=thresholds, frame=f)
