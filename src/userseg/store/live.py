"""Users' current (live) segments and the history of their changes.

``userseg_user_segments`` holds each user's segment as last scored (by the
service, ``stream`` or ``refresh``), ``userseg_segment_history`` a row
whenever a user's segment changed. The writes join the caller's transaction
(the events and the segments they move commit together).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from userseg.io.database import Database

__all__ = [
    "HistoryEntry",
    "LiveSegment",
    "live_segment",
    "live_segments",
    "save_live_segment",
    "save_rescored",
    "segment_history",
]


@dataclass(frozen=True)
class LiveSegment:
    """A user's current segment under one model version (a run)."""

    user_id: str
    run_id: int
    segment: int
    distance: float | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class HistoryEntry:
    """A change of a user's segment: under which run, to which segment, when and why."""

    run_id: int
    segment: int
    changed_at: dt.datetime
    reason: str | None


def live_segment(db: Database, user_id: str) -> LiveSegment | None:
    """A user's current live segment, or None when the user was never scored live."""
    rows = db.rows(
        "SELECT user_id, run_id, segment, distance, updated_at FROM userseg_user_segments "
        "WHERE user_id = ?",
        [user_id],
    )
    return LiveSegment(*rows[0]) if rows else None


def live_segments(db: Database, run_id: int, user_ids: list[str]) -> dict[str, int]:
    """The live segment of each of ``user_ids`` scored under ``run_id`` (others are absent)."""
    if not user_ids:
        return {}
    placeholders = ", ".join("?" for _ in user_ids)
    return dict(
        db.rows(
            "SELECT user_id, segment FROM userseg_user_segments "
            f"WHERE run_id = ? AND user_id IN ({placeholders})",
            [run_id, *user_ids],
        )
    )


def save_live_segment(db: Database, live: LiveSegment, *, changed: str | None = None) -> None:
    """Store a user's current segment; with ``changed`` (the reason) also a history row."""
    db.execute(
        "INSERT OR REPLACE INTO userseg_user_segments VALUES (?, ?, ?, ?, ?)",
        [live.user_id, live.run_id, live.segment, live.distance, live.updated_at],
    )
    if changed is not None:
        db.execute(
            "INSERT INTO userseg_segment_history VALUES (?, ?, ?, ?, ?)",
            [live.user_id, live.run_id, live.segment, live.updated_at, changed],
        )


def save_rescored(
    db: Database, run_id: int, scored: pd.DataFrame, now: dt.datetime, *, reason: str
) -> None:
    """Store every user's new segment at once, with a history row for each one that changed.

    ``scored`` has columns ``user_id``, ``segment`` and ``distance``; one transaction.
    """
    with db.transaction():
        db.con.register("__scored", scored)
        try:
            db.execute(
                "INSERT INTO userseg_segment_history SELECT s.user_id, ?, s.segment, "
                "?, ? FROM __scored s LEFT JOIN userseg_user_segments u "
                "USING (user_id) WHERE u.segment IS DISTINCT FROM s.segment",
                [run_id, now, reason],
            )
            db.execute(
                "INSERT OR REPLACE INTO userseg_user_segments SELECT user_id, ?, "
                "segment, distance, ? FROM __scored",
                [run_id, now],
            )
        finally:
            db.con.unregister("__scored")


def segment_history(db: Database, user_id: str) -> list[HistoryEntry]:
    """Every change of a user's segment, oldest first."""
    rows = db.rows(
        "SELECT run_id, segment, changed_at, reason FROM userseg_segment_history "
        "WHERE user_id = ? ORDER BY changed_at",
        [user_id],
    )
    return [HistoryEntry(*r) for r in rows]
