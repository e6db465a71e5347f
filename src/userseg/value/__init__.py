"""Customer value: how often each customer will buy, whether they still do, what they are worth.

* :func:`transaction_summary`: event log → per-customer frequency, recency, T
  and spend at an as-of date (DuckDB SQL);
* :class:`BGNBD` (repeat purchases, P(alive)) and :class:`GammaGamma` (spend
  per transaction): maximum-likelihood estimators with the scikit-learn contract
  and JSON-able parameters;
* :class:`ValueModel` / :func:`customer_value`: both together, and the
  discounted expected value over a horizon (:data:`FORMULA`);
* :func:`holdout_validation`: predicted against actual purchases in a later
  period, per decile of prediction;
* :func:`value_tiers`: high value / potential high value / at risk / low value.

See ``docs/value.md``.

Examples
--------
>>> import datetime as dt
>>> from userseg.value import customer_value, value_tiers
>>> from userseg.value.simulate import simulate_events
>>> log = simulate_events(2000, {"r": 0.75, "alpha": 20.0, "a": 0.8, "b": 2.5},
...                       {"p": 6.25, "q": 3.74, "gamma": 15.44},
...                       start=dt.date(2023, 1, 1), end=dt.date(2024, 1, 1), seed=0)
>>> res = customer_value(log, horizon_days=90)
>>> sorted(res.frame.columns[-4:])
['expected_purchases', 'expected_spend', 'p_alive', 'value']
>>> int(value_tiers(res.frame).summary()["users"].sum()) == len(res.frame)
True
"""

from __future__ import annotations

from userseg.value.bgnbd import BGNBD
from userseg.value.gamma_gamma import GammaGamma
from userseg.value.model import FORMULA, ValueModel, ValueResult, customer_value
from userseg.value.summary import transaction_summary
from userseg.value.tiers import TIERS, ValueTiers, value_tiers
from userseg.value.validation import HoldoutReport, holdout_validation

__all__ = [
    "BGNBD",
    "FORMULA",
    "TIERS",
    "GammaGamma",
    "HoldoutReport",
    "ValueModel",
    "ValueResult",
    "ValueTiers",
    "customer_value",
    "holdout_validation",
    "transaction_summary",
    "value_tiers",
]
