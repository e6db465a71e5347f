"""Drift checks in the userseg database (``userseg_drift_reports``).

``refresh`` records each drift check it makes, so a scheduler's history of
"refit advised?" can be read back from the database.
"""

from __future__ import annotations

import json

from userseg.io.database import Database
from userseg.monitor.drift import DriftReport

__all__ = ["record_drift_report"]


def record_drift_report(db: Database, report: DriftReport) -> None:
    """Store a drift report, stamped with the time it is recorded."""
    with db.transaction():
        db.execute(
            "INSERT INTO userseg_drift_reports VALUES (?, current_timestamp, ?, ?)",
            [report.run_id, report.refit_advised, json.dumps(report.to_dict())],
        )
