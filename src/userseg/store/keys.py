"""API key rows in the userseg database (``userseg_api_keys``, migration 2).

Only the rows: the key format, hashing and the service's cache live in
:mod:`userseg.serve.auth`, which calls these functions. A row holds the
salted hash of a key's secret, never the secret.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from userseg.errors import NotFoundError
from userseg.io.database import Database

__all__ = [
    "StoredKey",
    "active_key_hash",
    "add_key",
    "get_key",
    "mark_key_revoked",
    "mark_keys_used",
    "stored_keys",
]


@dataclass(frozen=True)
class StoredKey:
    """One row of the key table."""

    key_id: str
    name: str
    key_hash: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @property
    def active(self) -> bool:
        """Whether the key is accepted (never revoked)."""
        return self.revoked_at is None


_COLUMNS = "key_id, name, key_hash, created_at, revoked_at, last_used_at"


def add_key(db: Database, key_id: str, name: str, key_hash: str, created_at: dt.datetime) -> None:
    """Store a new key (its hash only), in one transaction."""
    with db.transaction():
        db.execute(
            "INSERT INTO userseg_api_keys (key_id, name, key_hash, created_at) VALUES (?, ?, ?, ?)",
            [key_id, name, key_hash, created_at],
        )


def stored_keys(db: Database) -> list[StoredKey]:
    """Every key, oldest first (ties by key id)."""
    rows = db.rows(f"SELECT {_COLUMNS} FROM userseg_api_keys ORDER BY created_at, key_id")
    return [StoredKey(*r) for r in rows]


def get_key(db: Database, key_id: str) -> StoredKey | None:
    """The key with this id, or None."""
    rows = db.rows(f"SELECT {_COLUMNS} FROM userseg_api_keys WHERE key_id = ?", [key_id])
    return StoredKey(*rows[0]) if rows else None


def active_key_hash(db: Database, key_id: str) -> str | None:
    """The stored hash of an active key, or None when the id is unknown or revoked."""
    rows = db.rows(
        "SELECT key_hash FROM userseg_api_keys WHERE key_id = ? AND revoked_at IS NULL", [key_id]
    )
    return rows[0][0] if rows else None


def mark_key_revoked(db: Database, key_id: str, when: dt.datetime) -> StoredKey:
    """Revoke a key at ``when`` unless it already is; returns the row as it now stands.

    Raises
    ------
    NotFoundError
        No key has this id (the message lists the known ids).
    """
    with db.transaction():
        key = get_key(db, key_id)
        if key is None:
            known = [k for (k,) in db.rows("SELECT key_id FROM userseg_api_keys ORDER BY 1")]
            raise NotFoundError(f"no API key {key_id!r}; keys: {known or 'none'}.")
        if key.revoked_at is None:
            db.execute(
                "UPDATE userseg_api_keys SET revoked_at = ? WHERE key_id = ?", [when, key_id]
            )
    return get_key(db, key_id)  # type: ignore[return-value]


def mark_keys_used(db: Database, used: dict[str, dt.datetime]) -> None:
    """Move each key's ``last_used_at`` forward to the time given (never back); one transaction."""
    with db.transaction():
        for key_id, when in used.items():
            db.execute(
                "UPDATE userseg_api_keys SET last_used_at = greatest(coalesce(last_used_at, "
                "?), ?) WHERE key_id = ?",
                [when, when, key_id],
            )
