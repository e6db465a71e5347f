"""Which users' events changed since the per-user statistics were built.

The feature step keeps per-user statistics of the event table (see
:mod:`userseg.features.build`) so that after an append only the users with new
events are recomputed. Every write to the event table goes through ``io``; this
module is how those writes tell the feature step what they touched:

* an append records its users and row count in ``userseg_event_changes``, when
  that table exists (it exists only while statistics are kept);
* a replacing import drops it, so the next feature build starts afresh.

A write that bypasses ``io`` changes the table's row count without a record,
and the feature step sees the mismatch and rebuilds everything.
"""

from __future__ import annotations

from userseg.io.database import Database

__all__ = ["CHANGES", "EVENTS", "forget", "record", "start", "summary"]

#: The change log: one row per append and user (user_id, n_rows).
CHANGES = "userseg_event_changes"
#: The only event table whose changes are logged (the one features are built from).
EVENTS = "events"


def record(db: Database, table: str, relation: str) -> None:
    """Log the users of ``relation`` (new rows of ``table``, with a ``user_id`` column)."""
    if table != EVENTS or not db.table_exists(CHANGES):
        return
    db.execute(f"INSERT INTO {CHANGES} SELECT user_id, count(*) FROM {relation} GROUP BY user_id")


def forget(db: Database, table: str) -> None:
    """The event table was replaced: whatever was kept about it is void."""
    if table == EVENTS:
        db.execute(f"DROP TABLE IF EXISTS {CHANGES}")


def start(db: Database) -> None:
    """Begin an empty log (the statistics were just built from the whole table)."""
    db.execute(f"CREATE OR REPLACE TABLE {CHANGES} (user_id VARCHAR, n_rows BIGINT)")


def summary(db: Database) -> tuple[int, int] | None:
    """(users touched, rows appended) since :func:`start`, or None when nothing is logged."""
    if not db.table_exists(CHANGES):
        return None
    users, rows = db.execute(
        f"SELECT count(DISTINCT user_id), coalesce(sum(n_rows), 0) FROM {CHANGES}"
    ).fetchone()
    return int(users), int(rows)
