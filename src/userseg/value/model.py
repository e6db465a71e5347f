"""Expected purchases, P(alive), expected spend and discounted value per customer.

:class:`ValueModel` joins BG/NBD (how often) and Gamma-Gamma (how much);
:func:`customer_value` runs it on an event log at an as-of date.

The value over a horizon H is a discounted sum over periods of length P (the
last one shorter when P does not divide H), as lifetimes'
``customer_lifetime_value`` computes it::

    value = E[M] · Σ_k (E[X(t_k)] − E[X(t_{k−1})]) / (1 + d)^(t_k / R)

with t_k = min(k·P, H), t_0 = 0, E[X(t)] the expected purchases in the next t
(BG/NBD, given the customer's history), E[M] the expected spend per purchase
(Gamma-Gamma) and d the discount rate per R time units. In days by default:
H = 365, P = 30, R = 365 (an annual rate), d = 0.10.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from userseg._sklearn import require_fitted
from userseg.errors import DataError, DataQualityWarning
from userseg.value._checks import check_positive, columns
from userseg.value.bgnbd import BGNBD
from userseg.value.gamma_gamma import GammaGamma
from userseg.value.summary import transaction_summary

__all__ = ["FORMULA", "ValueModel", "ValueResult", "customer_value"]

FORMULA = (
    "value = E[M] · Σ_k (E[X(t_k)] − E[X(t_{k−1})]) / (1 + d)^(t_k / R), "
    "t_k = min(k·P, H): expected purchases per period (BG/NBD) times expected spend per "
    "purchase (Gamma-Gamma), discounted at rate d per R days"
)


class ValueModel(BaseEstimator):
    """BG/NBD + Gamma-Gamma on a per-customer summary: expected purchases, P(alive), value.

    Parameters
    ----------
    horizon : float, default=365
        H: expected purchases and value cover the next ``horizon`` time units.
    period : float, default=30
        P: length of a discounting period.
    discount_rate : float, default=0.10
        d: discount rate per ``rate_period`` time units (0 for none).
    rate_period : float, default=365
        R: the time the discount rate is quoted for (365 days: an annual rate).
    independence_threshold : float, default=0.3
        Passed to :class:`GammaGamma`.
    max_iter, tol
        Passed to both fits.

    Attributes
    ----------
    transactions_ : BGNBD
    spend_ : GammaGamma or None
        None when the summary has no ``monetary`` column or no amounts.
    notes_ : list of str
        What was left out of a fit and why.
    """

    def __init__(
        self,
        *,
        horizon: float = 365.0,
        period: float = 30.0,
        discount_rate: float = 0.10,
        rate_period: float = 365.0,
        independence_threshold: float = 0.3,
        max_iter: int = 200,
        tol: float = 1e-9,
    ) -> None:
        self.horizon = horizon
        self.period = period
        self.discount_rate = discount_rate
        self.rate_period = rate_period
        self.independence_threshold = independence_threshold
        self.max_iter = max_iter
        self.tol = tol

    def _check_settings(self) -> None:
        check_positive("horizon", self.horizon)
        check_positive("period", self.period)
        check_positive("discount_rate", self.discount_rate, allow_zero=True)
        check_positive("rate_period", self.rate_period)

    def fit(self, X: pd.DataFrame, y: None = None) -> ValueModel:
        """Fit both models on a summary (``frequency, recency, T`` and optionally ``monetary``).

        Repeat buyers whose repeat purchases all cost 0 are left out of the
        spend fit (with a :class:`~userseg.errors.DataQualityWarning`): the
        Gamma-Gamma model is for positive amounts.
        """
        self._check_settings()
        self.transactions_ = BGNBD(max_iter=self.max_iter, tol=self.tol).fit(X)
        self.notes_: list[str] = []
        self.spend_ = None
        if isinstance(X, pd.DataFrame) and "monetary" in X.columns:
            (x, m), _ = columns(X, ("frequency", "monetary"), "ValueModel.fit")
            rep = x > 0
            if rep.any() and not np.isfinite(m[rep]).any():
                self.notes_.append("no purchase amounts: expected spend and value not computed")
                return self
            # repeat buyers without a usable spend are left out of the spend fit; they
            # are valued at the population's expected spend (as a customer without history)
            free = rep & (m == 0)
            unknown = rep & ~np.isfinite(m)
            for mask, why in (
                (free, "whose repeat purchases cost 0 (Gamma-Gamma needs positive amounts)"),
                (unknown, "whose repeat purchases have no amount"),
            ):
                if mask.any():
                    note = (
                        f"{int(mask.sum())} repeat buyer(s) {why} left out of the spend fit; "
                        "their expected spend is the population mean"
                    )
                    self.notes_.append(note)
                    warnings.warn(note, DataQualityWarning, stacklevel=2)
            spend = GammaGamma(
                independence_threshold=self.independence_threshold,
                max_iter=self.max_iter,
                tol=self.tol,
            )
            left_out = free | unknown
            self.spend_ = spend.fit(X[~left_out] if left_out.any() else X)
        return self

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per customer: ``expected_purchases`` (next ``horizon``), ``p_alive``, and with a
        spend model ``expected_spend`` (per purchase) and ``value`` (discounted)."""
        require_fitted(self, "transactions_")
        self._check_settings()
        bg = self.transactions_
        x, tx, T, index = bg._validated(X, "ValueModel.predict")
        H, P = float(self.horizon), float(self.period)
        n_periods = max(1, math.ceil(H / P - 1e-9))
        times = np.minimum(np.arange(1, n_periods + 1) * P, H)
        out = pd.DataFrame(index=index if index is not None else pd.RangeIndex(len(x)))
        out["expected_purchases"] = bg._discounted(x, tx, T, np.array([H]), np.ones(1))
        out["p_alive"] = bg.p_alive(X)
        if self.spend_ is not None and "monetary" in getattr(X, "columns", ()):
            (_, m), _ = columns(X, ("frequency", "monetary"), "ValueModel.predict")
            usable = (x > 0) & np.isfinite(m) & (m > 0)
            spend = self.spend_.predict(
                pd.DataFrame({"frequency": np.where(usable, x, 0.0), "monetary": m})
            )
            coef = (1.0 + float(self.discount_rate)) ** (-times / float(self.rate_period))
            out["expected_spend"] = spend
            out["value"] = spend * bg._discounted(x, tx, T, times, coef)
        return out


@dataclass
class ValueResult:
    """What :func:`customer_value` found: the per-customer frame, the models and the settings."""

    frame: pd.DataFrame
    as_of: dt.date
    horizon_days: float
    discount_rate: float
    period_days: float
    transactions: BGNBD
    spend: GammaGamma | None
    notes: list[str] = field(default_factory=list)

    @property
    def independence(self) -> dict[str, Any] | None:
        return getattr(self.spend, "independence_", None)

    def top(self, n: int = 20) -> pd.DataFrame:
        """The ``n`` customers of highest value (expected purchases without a spend model)."""
        key = "value" if "value" in self.frame.columns else "expected_purchases"
        return self.frame.sort_values(key, ascending=False, kind="stable").head(n)

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        f = self.frame
        top_rows = self.top(top).reset_index()
        for c in ("first_purchase", "last_purchase"):
            if c in top_rows.columns:
                top_rows[c] = top_rows[c].astype(str)
        totals = {"expected_purchases": float(f["expected_purchases"].sum())}
        if "value" in f.columns:
            totals["value"] = float(f["value"].sum())
        return {
            "as_of": self.as_of.isoformat(),
            "horizon_days": self.horizon_days,
            "discount_rate": self.discount_rate,
            "period_days": self.period_days,
            "formula": FORMULA,
            "n_customers": len(f),
            "n_repeat_buyers": int((f["frequency"] > 0).sum()),
            "transactions": self.transactions.to_dict(),
            "spend": self.spend.to_dict() if self.spend is not None else None,
            "independence": self.independence,
            "totals": totals,
            "notes": list(self.notes),
            "top": top_rows.to_dict("records"),
        }


def customer_value(
    source: Any,
    *,
    as_of: dt.date | str | None = None,
    horizon_days: float = 365,
    discount_rate: float = 0.10,
    period_days: float = 30,
    table: str = "events",
    independence_threshold: float = 0.3,
) -> ValueResult:
    """Fit the value model on an event log and score every customer at ``as_of``.

    Parameters
    ----------
    source : Database or DataFrame
        A userseg database (its events table) or a DataFrame of events
        (``user_id``, ``ts``, ``amount``, optional ``event``).
    as_of : date or "YYYY-MM-DD", optional
        End of observation; default the day after the last event.
    horizon_days : float, default=365
        Expected purchases and value over the next this many days.
    discount_rate : float, default=0.10
        Annual discount rate of the value (0 for none).
    period_days : float, default=30
        Length of a discounting period.
    table : str, default="events"
    independence_threshold : float, default=0.3

    Returns
    -------
    ValueResult
        ``frame``: the summary (frequency, recency, T, monetary, spend_total…)
        joined with expected_purchases, p_alive, expected_spend and value.

    Raises
    ------
    ConfigError
        A horizon, period or discount rate out of range.
    DataError
        No purchases, an as-of date on or before the first purchase, negative
        spend, or no customer with a repeat purchase.
    """
    check_positive("horizon_days", horizon_days)
    check_positive("period_days", period_days)
    check_positive("discount_rate", discount_rate, allow_zero=True)
    summary = transaction_summary(source, as_of=as_of, table=table)
    if not (summary["frequency"] > 0).any():
        raise DataError(
            f"no customer has a repeat purchase before {summary.attrs['as_of']} "
            f"({len(summary):,} customers, each bought on one day only): the value model needs "
            "repeat buyers to learn how often customers buy and when they stop. Use a longer "
            "history or a later as-of date.",
            details={"n_customers": len(summary)},
        )
    model = ValueModel(
        horizon=float(horizon_days),
        period=float(period_days),
        discount_rate=float(discount_rate),
        rate_period=365.0,
        independence_threshold=independence_threshold,
    ).fit(summary)
    frame = summary.join(model.predict(summary))
    return ValueResult(
        frame=frame,
        as_of=summary.attrs["as_of"],
        horizon_days=float(horizon_days),
        discount_rate=float(discount_rate),
        period_days=float(period_days),
        transactions=model.transactions_,
        spend=model.spend_,
        notes=list(model.notes_),
    )
