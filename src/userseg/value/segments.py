"""Value per segment: churn risk and expected value of each segment of any run.

:func:`segment_value` fits the value model (:func:`~userseg.value.customer_value`)
on the event log at the run's as-of date and summarises it per segment. It is
cheap (one BG/NBD and one Gamma-Gamma fit, scored in whole days) and never
fails a run: when the log cannot carry a value model (no purchases, no repeat
buyer, no amounts, no event log at all) it returns no figures and a note saying
why.

Per segment, over its *customers* (members with a purchase before the as-of
date; the others have no purchase history to model):

* ``customers``: how many there are;
* ``p_alive_mean`` and ``churn_risk`` = 1 − mean P(alive);
* ``expected_purchases_mean`` over the horizon;
* ``value_mean`` and ``value_total``: discounted expected value (when the log
  has amounts).
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd

from userseg.errors import DataError, UsersegError, UsersegWarning

__all__ = ["SEGMENT_VALUE_HORIZON_DAYS", "segment_value"]

#: Horizon of the expected purchases and value shown per segment.
SEGMENT_VALUE_HORIZON_DAYS = 365


def segment_value(
    source: Any,
    user_ids: Any,
    segments: Any,
    *,
    as_of: dt.date | str | None = None,
    horizon_days: float = SEGMENT_VALUE_HORIZON_DAYS,
    table: str = "events",
) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """Churn risk and expected value of each segment.

    Parameters
    ----------
    source : Database or DataFrame
        The event log (see :func:`~userseg.value.customer_value`).
    user_ids, segments : array-like
        Each user's id and segment (same length).
    as_of : date, optional
        The run's as-of date (events on or after it are ignored).
    horizon_days : float, default=365
    table : str, default="events"

    Returns
    -------
    (dict, list of str)
        Segment id → figures (see the module docstring; empty when the log
        cannot carry a value model) and notes on what was skipped or warned.
    """
    from userseg.value.model import customer_value

    ids = pd.Index(np.asarray(user_ids).astype(str), name="user_id")
    seg = pd.Series(np.asarray(segments), index=ids, name="segment")
    if len(seg) != len(np.asarray(user_ids)):
        raise DataError(f"{len(ids)} user ids for {len(seg)} segments.")
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UsersegWarning)
        try:
            res = customer_value(source, as_of=as_of, horizon_days=horizon_days, table=table)
        except UsersegError as exc:  # no purchases, no repeat buyer, no event log…
            return {}, [f"value per segment not computed: {exc}"]
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            # a numerical failure of the fit must not cost the user their segmentation
            return {}, [f"value per segment not computed: the value model failed ({exc!r})"]
    notes += [f"value model: {w.message}" for w in caught if issubclass(w.category, UsersegWarning)]
    notes += [f"value model: {n}" for n in res.notes]
    frame = res.frame
    frame.index = frame.index.astype(str)
    joined = frame.join(seg, how="inner")
    out: dict[int, dict[str, Any]] = {}
    has_value = "value" in joined.columns
    for s in sorted(pd.unique(seg)):
        part = joined[joined["segment"] == s]
        n = len(part)
        p_alive = float(part["p_alive"].mean()) if n else None
        out[int(s)] = {
            "customers": n,
            "p_alive_mean": p_alive,
            "churn_risk": None if p_alive is None else 1.0 - p_alive,
            "expected_purchases_mean": float(part["expected_purchases"].mean()) if n else None,
            "value_mean": float(part["value"].mean()) if n and has_value else None,
            "value_total": float(part["value"].sum()) if has_value else None,
            "horizon_days": float(horizon_days),
            "as_of": res.as_of.isoformat(),
        }
    return out, notes
