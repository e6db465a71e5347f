"""Who may do what in the web app: the scope of each API key (``userseg_key_scopes``).

A key's scope is one of :data:`SCOPES`, each including the one before: look
(``read``), act on segments and audiences (``write``), manage keys
(``admin``). A key without a row is an admin key: that is what every key
could do before scopes existed. The REST API does not read scopes.
"""

from __future__ import annotations

from userseg.errors import ConfigError, NotFoundError
from userseg.io.database import Database

__all__ = ["SCOPES", "key_access", "key_scopes", "set_key_scope"]

SCOPES = ("read", "write", "admin")
_DEFAULT = "admin"


def set_key_scope(db: Database, key_id: str, scope: str) -> None:
    """Give an existing key a scope.

    Raises
    ------
    ConfigError
        The scope is not one of :data:`SCOPES`.
    NotFoundError
        No key has this id.
    """
    if scope not in SCOPES:
        raise ConfigError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}.")
    with db.transaction():
        if not db.scalar("SELECT count(*) FROM userseg_api_keys WHERE key_id = ?", [key_id]):
            raise NotFoundError(f"no API key {key_id!r}.")
        db.execute("INSERT OR REPLACE INTO userseg_key_scopes VALUES (?, ?)", [key_id, scope])


def key_scopes(db: Database) -> dict[str, str]:
    """The scope of every key, by key id."""
    rows = db.rows(
        "SELECT k.key_id, coalesce(s.scope, ?) FROM userseg_api_keys k "
        "LEFT JOIN userseg_key_scopes s USING (key_id)",
        [_DEFAULT],
    )
    return dict(rows)


def key_access(db: Database, key_id: str) -> tuple[str, str] | None:
    """``(name, scope)`` of an active key; None once it is revoked, or for an unknown id."""
    rows = db.rows(
        "SELECT k.name, coalesce(s.scope, ?) FROM userseg_api_keys k "
        "LEFT JOIN userseg_key_scopes s USING (key_id) "
        "WHERE k.key_id = ? AND k.revoked_at IS NULL",
        [_DEFAULT, key_id],
    )
    return (rows[0][0], rows[0][1]) if rows else None
