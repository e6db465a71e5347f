"""Does the model predict? Fit on a calibration period, compare with the purchases that followed.

:func:`holdout_validation` fits BG/NBD on the purchases before ``holdout_from``,
predicts each of those customers' transactions in [holdout_from, as_of), and
counts what they actually bought there (purchase days, as the summary counts).
Customers are ranked by prediction and cut into ten deciles of (nearly) equal
size; per decile it reports the mean and total of both, and overall:

* **MAE**: mean over customers of |predicted − actual|;
* **total relative error**: (Σ predicted − Σ actual) / Σ actual;
* **baseline MAE**: the MAE of carrying each customer's past rate forward
  (x / T · holdout days; 0 when T = 0), which the model should beat.

Customers whose first purchase falls in the holdout are not scored (the model
knows nothing of them); their number is reported.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from userseg.config import parse_date
from userseg.errors import ConfigError, DataError
from userseg.value.bgnbd import BGNBD
from userseg.value.summary import check_purchases, event_source, purchase_days, summary_sql

__all__ = ["HoldoutReport", "holdout_validation"]


@dataclass
class HoldoutReport:
    """Predicted against actual purchases in a holdout period, per decile of prediction."""

    calibration_end: dt.date  # = holdout_from (exclusive end of calibration)
    as_of: dt.date
    holdout_days: int
    n_users: int
    new_customers: int
    deciles: pd.DataFrame
    mae: float
    baseline_mae: float
    predicted_total: float
    actual_total: int
    total_relative_error: float
    transactions: BGNBD

    def to_dict(self) -> dict[str, Any]:
        return {
            "holdout_from": self.calibration_end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "holdout_days": self.holdout_days,
            "n_users": self.n_users,
            "new_customers": self.new_customers,
            "mae": self.mae,
            "baseline_mae": self.baseline_mae,
            "predicted_total": self.predicted_total,
            "actual_total": self.actual_total,
            "total_relative_error": self.total_relative_error,
            "transactions": self.transactions.to_dict(),
            "deciles": self.deciles.to_dict("records"),
        }


def decile_table(predicted: np.ndarray, actual: np.ndarray) -> pd.DataFrame:
    """Customers ranked by prediction (ties in input order), cut into ten near-equal groups."""
    order = np.argsort(predicted, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, 10), start=1):
        p, a = predicted[idx], actual[idx]
        rows.append(
            {
                "decile": i,
                "users": len(idx),
                "predicted_mean": float(p.mean()) if len(idx) else 0.0,
                "actual_mean": float(a.mean()) if len(idx) else 0.0,
                "predicted_total": float(p.sum()),
                "actual_total": int(a.sum()),
                "relative_error": float((p.sum() - a.sum()) / a.sum()) if a.sum() else None,
            }
        )
    return pd.DataFrame(rows)


def holdout_validation(
    source: Any,
    holdout_from: dt.date | str,
    *,
    as_of: dt.date | str | None = None,
    table: str = "events",
) -> HoldoutReport:
    """Fit on the purchases before ``holdout_from``; score the purchases up to ``as_of``.

    Parameters
    ----------
    source : Database or DataFrame of events
    holdout_from : date or "YYYY-MM-DD"
        First day of the holdout; the calibration period ends the day before.
    as_of : date or "YYYY-MM-DD", optional
        End of the holdout (exclusive); default the day after the last event.
    table : str, default="events"

    Raises
    ------
    ConfigError
        ``holdout_from`` not before ``as_of``.
    DataError
        ``holdout_from`` on or before the first purchase, or no repeat buyer in
        the calibration period.
    """
    holdout_from = parse_date(holdout_from, "holdout_from")
    with event_source(source, table) as src:
        end = src.resolve_as_of(as_of)
        if holdout_from >= end:
            raise ConfigError(
                f"holdout_from {holdout_from} must be before the as-of date {end} (the end of "
                "the holdout period); choose an earlier holdout start.",
                details={"holdout_from": holdout_from.isoformat(), "as_of": end.isoformat()},
            )
        check_purchases(src, holdout_from)
        calib = src.db.execute(summary_sql(src, holdout_from)).df().set_index("user_id")
        actual_all = purchase_days(src, holdout_from, end)
    if not (calib["frequency"] > 0).any():
        raise DataError(
            f"no customer has a repeat purchase before {holdout_from}: the calibration period "
            "is too short to fit the model; choose a later holdout start.",
            details={"n_customers": len(calib)},
        )
    bg = BGNBD().fit(calib)
    days = (end - holdout_from).days
    predicted = bg.predict(calib, t=float(days))
    actual = actual_all.reindex(calib.index, fill_value=0).to_numpy()
    x, T = calib["frequency"].to_numpy(float), calib["T"].to_numpy(float)
    baseline = np.divide(x, T, out=np.zeros_like(x), where=T > 0) * days
    total_actual = int(actual.sum())
    return HoldoutReport(
        calibration_end=holdout_from,
        as_of=end,
        holdout_days=days,
        n_users=len(calib),
        new_customers=int((~actual_all.index.isin(calib.index)).sum()),
        deciles=decile_table(predicted, actual),
        mae=float(np.abs(predicted - actual).mean()),
        baseline_mae=float(np.abs(baseline - actual).mean()),
        predicted_total=float(predicted.sum()),
        actual_total=total_actual,
        total_relative_error=(
            float((predicted.sum() - total_actual) / total_actual) if total_actual else float("nan")
        ),
        transactions=bg,
    )
