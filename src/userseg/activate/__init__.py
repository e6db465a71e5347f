"""Activation and measurement: audiences out to channels, campaigns with control groups, lift.

* :mod:`~userseg.activate.where`: audience filters on features, parsed safely
  (an AST validated against the feature names; SQL with bound parameters, or a
  DataFrame mask).
* :mod:`~userseg.activate.exports`: member files (CSV, Parquet) and Google /
  Meta customer-match files, written atomically; the minimum audience size.
* :mod:`~userseg.activate.webhook`: signed, idempotent, retried, resumable
  webhook delivery, and the delivery-state interface the store implements.
* :mod:`~userseg.activate.campaigns`: the deterministic, stratified holdout.
* :mod:`~userseg.activate.power`: minimum detectable effects and holdout sizes.
* :mod:`~userseg.activate.outcomes`: conversions and revenue after a campaign.
* :mod:`~userseg.activate.measure`: lift per segment with intervals, corrected
  p-values and CUPED.
* :mod:`~userseg.activate.charts`: the lift picture.

The package sits above ``store`` in the layers and imports only ``errors``,
``privacy`` and the standard data libraries: the store, the command line and
the service call it, never the reverse. Names load on first use, so
``import userseg.activate`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Filter": "userseg.activate.where",
    "columns_of": "userseg.activate.where",
    "parse_where": "userseg.activate.where",
    "ExportResult": "userseg.activate.exports",
    "check_audience_size": "userseg.activate.exports",
    "customer_match_frame": "userseg.activate.exports",
    "write_customer_match": "userseg.activate.exports",
    "write_members": "userseg.activate.exports",
    "DeliveryProgress": "userseg.activate.webhook",
    "DeliveryState": "userseg.activate.webhook",
    "JsonFileDeliveryState": "userseg.activate.webhook",
    "MemoryDeliveryState": "userseg.activate.webhook",
    "WebhookDestination": "userseg.activate.webhook",
    "deliver": "userseg.activate.webhook",
    "verify_signature": "userseg.activate.webhook",
    "Holdout": "userseg.activate.campaigns",
    "assign_holdout": "userseg.activate.campaigns",
    "parse_share": "userseg.activate.campaigns",
    "holdout_for_effect": "userseg.activate.power",
    "mde": "userseg.activate.power",
    "plan": "userseg.activate.power",
    "Outcomes": "userseg.activate.outcomes",
    "for_lift": "userseg.activate.outcomes",
    "outcomes_from_events": "userseg.activate.outcomes",
    "outcomes_from_frame": "userseg.activate.outcomes",
    "LiftResult": "userseg.activate.measure",
    "lift": "userseg.activate.measure",
    "lift_png": "userseg.activate.charts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'userseg.activate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
