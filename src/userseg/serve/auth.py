"""API keys: created once, shown once, stored only as a salted scrypt hash.

A key looks like ``usk_<key_id>_<secret>``: the key id (12 hex digits) names
the key's row (:mod:`userseg.store.keys`) so a check hashes one candidate, never all of
them; the secret is 256 random bits. The table holds ``scrypt$n$r$p$salt$hash``
(hashlib.scrypt, 16 random bytes of salt), compared in constant time, so a
copy of the database does not give the keys away.

scrypt is slow on purpose (about 0.1 s), far too slow for every request, so
:class:`Keyring` (the service's view of the keys) verifies a secret once and
then remembers a keyed digest of it in memory; revoking a key forgets it at
once. The keyring reads the table when the service starts and again only
after a key is created or revoked in this process: while the service runs,
DuckDB's single-writer lock keeps every other process out of the database, so
nothing else can change it.

Examples
--------
>>> from userseg.store import open_database
>>> db = open_database(":memory:")
>>> key_id, secret = create_key(db, "crm")
>>> verify(db, secret) == key_id
True
>>> revoke_key(db, key_id)["revoked_at"] is not None
True
>>> verify(db, secret) is None
True
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from userseg.errors import ConfigError
from userseg.io.database import Database
from userseg.store.keys import (
    active_key_hash,
    add_key,
    mark_key_revoked,
    mark_keys_used,
    stored_keys,
)

__all__ = ["PREFIX", "Keyring", "create_key", "hash_secret", "list_keys", "revoke_key", "verify"]

PREFIX = "usk_"
_KEY_RE = re.compile(r"^usk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")


def key_id_of(secret: str) -> str | None:
    """The key id a secret claims (``usk_<key id>_…``), or None when it is not shaped like one."""
    match = _KEY_RE.match(secret)
    return match[1] if match else None


_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # OWASP's interactive minimum; ~16 MiB, ~0.1 s
_MAX_NAME = 100

# Bumped when this process creates or revokes a key, so keyrings over the same file reload.
_generation: dict[str, int] = {}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """The stored form of a secret: ``scrypt$n$r$p$salt$hash`` (base64url)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def _matches(secret: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(
            secret.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(_unb64(digest)),
        )
    except (ValueError, TypeError):  # a damaged row never matches (and never crashes)
        return False
    return hmac.compare_digest(got, _unb64(digest))


def _bump(db: Database) -> None:
    _generation[db.path] = _generation.get(db.path, 0) + 1


def create_key(db: Database, name: str) -> tuple[str, str]:
    """Create an API key; returns ``(key_id, secret)``. The secret is not stored: show it once.

    Raises
    ------
    ConfigError
        The name is empty or longer than 100 characters.
    """
    name = (name or "").strip()
    if not name or len(name) > _MAX_NAME:
        raise ConfigError(f"a key name must be 1 to {_MAX_NAME} characters; got {name!r}.")
    key_id = secrets.token_hex(6)
    secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    add_key(db, key_id, name, hash_secret(secret), _now())
    _bump(db)
    return key_id, secret


def list_keys(db: Database) -> list[dict[str, Any]]:
    """Every key, never its hash: key_id, name, created_at, revoked_at, last_used_at, active."""
    return [
        {
            "key_id": k.key_id,
            "name": k.name,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
            "last_used_at": k.last_used_at,
            "active": k.active,
        }
        for k in stored_keys(db)
    ]


def revoke_key(db: Database, key_id: str) -> dict[str, Any]:
    """Revoke a key (at once, for good); revoking it again changes nothing.

    Raises
    ------
    NotFoundError
        No key has this id.
    """
    key = mark_key_revoked(db, key_id, _now())
    _bump(db)
    return {"key_id": key.key_id, "name": key.name, "revoked_at": key.revoked_at}


def verify(db: Database, secret: str) -> str | None:
    """The key id of an active key whose secret this is, else None (slow: one scrypt)."""
    match = _KEY_RE.match(secret or "")
    if not match:
        return None
    stored = active_key_hash(db, match[1])
    return match[1] if stored is not None and _matches(secret, stored) else None


@dataclass
class _Key:
    name: str
    key_hash: str
    active: bool


class Keyring:
    """The service's in-memory view of the API keys (see the module docstring).

    Parameters
    ----------
    db : Database
        The userseg database (its API keys, read through :mod:`userseg.store.keys`).
    lock : threading.Lock, optional
        Held around every use of the database connection (shared with the app).
    """

    def __init__(self, db: Database, lock: threading.Lock | None = None) -> None:
        self.db = db
        self.lock = lock or threading.Lock()
        # Digest key for the verified-secret cache; new per process, so the cache is useless
        # to anyone who reads this process's memory layout from elsewhere.
        self._pepper = secrets.token_bytes(32)
        self._verified: dict[bytes, str] = {}
        self._failed: OrderedDict[bytes, None] = OrderedDict()
        self._used: dict[str, dt.datetime] = {}
        self._keys: dict[str, _Key] = {}
        self._seen = -1
        self.reload()

    def reload(self) -> None:
        """Read the key table again (after a key was created or revoked in this process)."""
        with self.lock:
            seen = _generation.get(self.db.path, 0)
            keys = stored_keys(self.db)
        self._keys = {k.key_id: _Key(k.name, k.key_hash, k.active) for k in keys}
        self._verified = {
            d: k for d, k in self._verified.items() if k in self._keys and self._keys[k].active
        }
        self._failed.clear()
        self._seen = seen

    def active_ids(self) -> list[str]:
        """Ids of the keys that are accepted now."""
        return [k for k, key in self._keys.items() if key.active]

    def _digest(self, secret: str) -> bytes:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).digest()

    def check_cached(self, secret: str) -> str | bool | None:
        """Cheap check: the key id when known good, None when known bad, False when unknown."""
        if _generation.get(self.db.path, 0) != self._seen:
            self.reload()
        digest = self._digest(secret)
        key_id = self._verified.get(digest)
        if key_id is not None:
            self._used[key_id] = _now()
            return key_id
        if digest in self._failed:
            return None
        match = _KEY_RE.match(secret)
        if not match or match[1] not in self._keys or not self._keys[match[1]].active:
            return None  # no scrypt for an unknown or revoked key id
        return False

    def verify(self, secret: str) -> str | None:
        """The active key id of ``secret``, or None; one scrypt on first sight, then cached."""
        cached = self.check_cached(secret)
        if cached is not False:
            return cached  # type: ignore[return-value]
        key_id = _KEY_RE.match(secret)[1]  # type: ignore[index]
        digest = self._digest(secret)
        if _matches(secret, self._keys[key_id].key_hash):
            self._verified[digest] = key_id
            self._used[key_id] = _now()
            return key_id
        self._failed[digest] = None
        while len(self._failed) > 4096:  # bounded: a flood of wrong secrets cannot grow it
            self._failed.popitem(last=False)
        return None

    def create(self, name: str) -> tuple[str, str]:
        """Create a key through the service's connection; usable at once."""
        with self.lock:
            out = create_key(self.db, name)
        self.reload()
        return out

    def revoke(self, key_id: str) -> dict[str, Any]:
        """Revoke a key through the service's connection; refused from the next request on."""
        with self.lock:
            out = revoke_key(self.db, key_id)
        self.reload()
        return out

    def flush_last_used(self) -> None:
        """Write when each key was last used (kept in memory between flushes)."""
        used, self._used = self._used, {}
        if not used:
            return
        with self.lock:
            mark_keys_used(self.db, used)
