"""What privacy keeps in the userseg database, and the erasure of a person.

* ``userseg_privacy_settings``: the salt of the suppression list (made on first use);
* ``userseg_suppressed``: salted HMACs of the stored ids of people who were
  forgotten, so that a later import leaves them out (never the ids themselves);
* ``userseg_contact_hashes``: the hashes ad platforms match on, sealed under the
  secret key (:mod:`userseg.privacy.seal`), by table and pseudonymised user id.

:func:`forget_users` deletes a person's rows from every table with a ``user_id``
column (events, users, features, assignments, live state, audiences, campaign arms,
contact hashes, caches…) in one transaction; :func:`compact_database` then copies
the database into a fresh file, because DuckDB does not zero the blocks it frees.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from userseg.errors import DatabaseError
from userseg.io.database import Database, quote_ident
from userseg.io.private import CONTACTS, SUPPRESSED, suppression_hasher
from userseg.store.audit import record_action

if TYPE_CHECKING:
    from userseg.privacy.keys import KeyRing

__all__ = [
    "ForgetResult",
    "compact_database",
    "compact_open",
    "forget_users",
    "load_suppression",
    "save_contacts",
    "suppression_salt",
]

_SALT = "suppression_salt"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def suppression_salt(db: Database, *, create: bool = False) -> bytes | None:
    """The database's salt for the suppression list (made when ``create`` and absent)."""
    row = db.rows("SELECT value FROM userseg_privacy_settings WHERE name = ?", [_SALT])
    if row:
        return bytes.fromhex(row[0][0])
    if not create:
        return None
    salt = secrets.token_bytes(32)
    db.execute("INSERT INTO userseg_privacy_settings VALUES (?, ?)", [_SALT, salt.hex()])
    return salt


def load_suppression(db: Database) -> bytes | None:
    """Load the suppressed id hashes into the import's temporary table; returns the salt.

    None (and no table) when nobody was forgotten: the import then skips the check.
    """
    if not db.table_exists("userseg_suppressed") or not db.scalar(
        "SELECT count(*) FROM userseg_suppressed"
    ):
        return None
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {SUPPRESSED} AS SELECT id_hash FROM userseg_suppressed"
    )
    return suppression_salt(db)


def save_contacts(db: Database, table: str, key_id: str, *, replace: bool = True) -> int:
    """Keep the sealed contact hashes an import left in its temporary table; returns rows.

    ``replace``: the import replaced ``table``, so its earlier hashes go; else (an
    appended log) only those of the users the import holds are replaced.
    """
    if not db.table_exists(CONTACTS):
        return 0
    with db.transaction():
        if replace:
            db.execute("DELETE FROM userseg_contact_hashes WHERE table_name = ?", [table])
        # a user's hashes of this import replace theirs from an earlier one (an appended
        # log keeps the hashes of users it does not hold)
        db.execute(
            "DELETE FROM userseg_contact_hashes h WHERE table_name = ? AND EXISTS ("
            f"SELECT 1 FROM {CONTACTS} c WHERE c.user_id = h.user_id AND c.kind = h.kind "
            "AND c.platform = h.platform)",
            [table],
        )
        db.execute(
            "INSERT INTO userseg_contact_hashes SELECT ?, user_id, kind, platform, sealed, ? "
            f"FROM {CONTACTS}",
            [table, key_id],
        )
        n = int(db.scalar(f"SELECT count(*) FROM {CONTACTS}"))
        db.execute(f"DROP TABLE {CONTACTS}")
    return n


@dataclass
class ForgetResult:
    """What :func:`forget_users` did: people asked for, found, and rows deleted per table."""

    asked: int
    found: int
    rows: dict[str, int] = field(default_factory=dict)
    compacted: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "asked": self.asked,
            "found": self.found,
            "rows_deleted": self.rows,
            "compacted": self.compacted,
        }


def _user_tables(db: Database) -> list[str]:
    """Base tables of the main schema with a ``user_id`` column."""
    return [
        r[0]
        for r in db.rows(
            "SELECT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
            "WHERE c.column_name = 'user_id' AND t.table_type = 'BASE TABLE' "
            "AND c.table_schema = 'main' AND c.table_catalog = current_database() "
            "ORDER BY 1"
        )
    ]


def _stored_forms(users: Sequence[str], keys: KeyRing | None) -> list[str]:
    """Every form a given id may be stored in: as given, and its pseudonyms with a key."""
    forms: list[str] = []
    pz = None
    if keys is not None:
        from userseg.privacy.pseudonym import Pseudonymizer

        pz = Pseudonymizer(keys)
    for u in users:
        forms.append(u)
        if pz is not None:
            forms += [str(pz.pseudonym(u)), str(pz.pseudonym(u.strip().lower()))]
    return list(dict.fromkeys(forms))


def forget_users(
    db: Database,
    users: Sequence[str],
    *,
    keys: KeyRing | None = None,
    key_id: str | None = None,
    key_name: str | None = None,
) -> ForgetResult:
    """Delete people from every table and add them to the suppression list, audited.

    Parameters
    ----------
    users : sequence of str
        Ids as the source had them (e-mails…) or as stored (pseudonyms).
    keys : KeyRing, optional
        The key the data were pseudonymised with; needed to find people by raw id.
    key_id, key_name : str, optional
        The API key that asked (for the audit log).

    Notes
    -----
    The bytes stay in the file's freed blocks until :func:`compact_database`.
    """
    forms = _stored_forms(users, keys)
    result = ForgetResult(asked=len(users), found=0)
    with db.transaction():
        db.execute("CREATE OR REPLACE TEMP TABLE __forget (user_id VARCHAR)")
        db.con.executemany("INSERT INTO __forget VALUES (?)", [[f] for f in forms])
        found: set[str] = set()
        for table in _user_tables(db):
            t = quote_ident(table)
            hit = db.rows(
                f"SELECT DISTINCT CAST(user_id AS VARCHAR) FROM {t} "
                "WHERE CAST(user_id AS VARCHAR) IN (SELECT user_id FROM __forget)"
            )
            if not hit:
                continue
            found.update(h[0] for h in hit)
            n = db.scalar(
                f"SELECT count(*) FROM {t} "
                "WHERE CAST(user_id AS VARCHAR) IN (SELECT user_id FROM __forget)"
            )
            db.execute(
                f"DELETE FROM {t} WHERE CAST(user_id AS VARCHAR) IN (SELECT user_id FROM __forget)"
            )
            result.rows[table] = int(n)
        db.execute("DROP TABLE __forget")
        hasher = suppression_hasher(suppression_salt(db, create=True))
        for h in hasher.pseudonymize(forms):
            db.execute("INSERT OR IGNORE INTO userseg_suppressed VALUES (?, ?)", [h, _now()])
        result.found = len({_person(f, users, keys) for f in found})
        record_action(
            db,
            action="forget",
            outcome="ok",
            key_id=key_id,
            key_name=key_name,
            target=f"{len(users)} user(s)",
            # counts only: the ids themselves are what is being erased
            detail={"found": result.found, "rows_deleted": result.rows},
        )
    return result


def _person(form: str, users: Sequence[str], keys: KeyRing | None) -> int:
    """Index of the given id a stored form belongs to (for counting people found)."""
    for i, u in enumerate(users):
        if form in _stored_forms([u], keys):
            return i
    return -1


def compact_database(path: str | Path) -> Path:
    """Rewrite a closed database into a fresh file, leaving no freed block behind.

    DuckDB reuses freed blocks but does not zero them: deleted values stay readable
    in the file until overwritten. A copy of every table, view and constraint
    (``COPY FROM DATABASE``) holds only live rows; it replaces the file atomically
    and the old WAL is removed (the copy starts from a checkpoint).

    Raises
    ------
    DatabaseError
        The file is open elsewhere (locked) or cannot be copied; the original is left as it was.
    """
    import duckdb

    src = Path(path)
    tmp = src.with_name(src.name + ".compact")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{_sql(src)}' AS __old (READ_ONLY)")
        con.execute(f"ATTACH '{_sql(tmp)}' AS __fresh")
        con.execute("COPY FROM DATABASE __old TO __fresh")
        con.execute("DETACH __old")
        con.execute("DETACH __fresh")
    except duckdb.Error as exc:
        tmp.unlink(missing_ok=True)
        raise DatabaseError(f"{src}: could not compact the database: {exc}") from exc
    finally:
        con.close()
    os.replace(tmp, src)
    Path(str(src) + ".wal").unlink(missing_ok=True)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return src


def compact_open(db: Database) -> None:
    """Compact the file of an open database and reconnect ``db`` to the fresh copy.

    For a long-lived holder of ``db`` (the service): everyone holding this object
    sees the new connection. The caller holds whatever lock guards ``db``;
    functions registered on the old connection are gone.
    """
    if db.path == ":memory:":
        return
    limit = db.memory_limit
    db.con.close()
    try:
        compact_database(db.path)
    finally:
        db.con = Database(db.path, memory_limit=limit).con


def _sql(path: Path) -> str:
    return str(path).replace("'", "''")
