"""The audit log: who did what through the web app, when, and how it ended.

One row per action (rename, refresh, comparison, key created or revoked,
audience…), written by :func:`record_action` in its own transaction; the
log is only ever appended to.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from userseg.io.database import Database

__all__ = ["list_actions", "record_action"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def record_action(
    db: Database,
    *,
    action: str,
    outcome: str,
    key_id: str | None = None,
    key_name: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one action to ``userseg_audit``; returns its id.

    Parameters
    ----------
    action : str
        What was asked (``rename``, ``refresh``, ``compare``, ``key.create``…).
    outcome : str
        ``ok``, ``refused``, ``failed``, ``started``…
    key_id, key_name : str, optional
        The API key the signed-in person used (None without keys).
    target : str, optional
        What it acted on, e.g. ``run 3 segment 2``.
    detail : dict, optional
        Anything else worth keeping (the new name, the error message); never a secret.
    """
    with db.transaction():
        audit_id = int(db.scalar("SELECT coalesce(max(audit_id), 0) + 1 FROM userseg_audit"))
        db.execute(
            "INSERT INTO userseg_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                audit_id,
                _now(),
                key_id,
                key_name,
                action,
                target,
                outcome,
                json.dumps(detail or {}, default=str),
            ],
        )
    return audit_id


def list_actions(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ``limit`` actions, newest first (``detail`` decoded)."""
    rows = db.dicts(
        "SELECT audit_id, acted_at, key_id, key_name, action, target, outcome, detail "
        "FROM userseg_audit ORDER BY audit_id DESC LIMIT ?",
        [int(limit)],
    )
    for r in rows:
        r["detail"] = json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]
    return rows
