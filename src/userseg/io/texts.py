"""Free texts (reviews, tickets, messages) stored beside the events: the ``texts`` table.

An import that maps a text column (``ingest --text COL``, of an event log or a
user table) writes one row per usable text: ``user_id``, ``ts`` (NULL for a user
table's texts), ``text`` and ``origin`` (``events`` or ``users``, so that
re-importing one kind replaces only its own texts). The text is stored as read,
cut to :data:`MAX_TEXT_CHARS`; cleaning, language, sentiment and topics are the
feature step's job (:mod:`userseg.features.text`).

What cannot be read as text is counted and left out, never a crash:

=======================  ============================================================
problem                  policy
=======================  ============================================================
empty or blank text      not stored (a row without a review is still an event)
binary junk              not stored: NUL / control bytes or U+FFFD (undecodable bytes)
over MAX_TEXT_CHARS      stored cut to that many characters (a 1 MB paste is a mistake,
                         and sentiment reads the start well enough)
no usable text at all    the import fails (a wrong column), nothing is written
=======================  ============================================================
"""

from __future__ import annotations

from userseg.errors import DataError
from userseg.io.database import Database, quote_ident
from userseg.io.validate import Issue

__all__ = [
    "MAX_TEXT_CHARS",
    "TEXT_TABLE",
    "append_texts",
    "clear_texts",
    "texts_of",
    "write_texts",
]

#: The table of texts.
TEXT_TABLE = "texts"
#: Longest text stored, in characters (``userseg.text.DEFAULT_MAX_CHARS``; pinned by a test).
MAX_TEXT_CHARS = 20_000

_COLUMNS = "user_id VARCHAR, ts TIMESTAMP, text VARCHAR, origin VARCHAR"
# control characters other than tab / line breaks, and the replacement character that
# decoders put for bytes they could not read: what binary content looks like as text
_JUNK = "regexp_matches(__t, '[\\x00-\\x08\\x0b\\x0e-\\x1f\\x{FFFD}]')"


def _ensure(db: Database) -> None:
    db.execute(f"CREATE TABLE IF NOT EXISTS {TEXT_TABLE} ({_COLUMNS})")


def write_texts(
    db: Database,
    rows_sql: str,
    *,
    column: str,
    origin: str,
    where: str,
    mode: str = "replace",
) -> list[Issue]:
    """Store the texts of ``rows_sql`` (columns ``user_id, ts, __t``) and return what was wrong.

    Runs inside the caller's transaction: a failure leaves nothing behind.

    Parameters
    ----------
    rows_sql : str
        SQL yielding the imported rows kept by the import, with the raw text as ``__t``.
    column : str
        The source's text column (for messages).
    origin : {"events", "users"}
        Which import the texts come from; ``mode="replace"`` replaces only these.
    where : str
        The source, for messages.

    Raises
    ------
    DataError
        When no row has a usable text (every one empty or binary).
    """
    body = f"SELECT user_id, ts, CAST(__t AS VARCHAR) AS __t FROM ({rows_sql})"
    n, n_empty, n_junk, n_long = db.execute(
        f"""SELECT count(*),
                   count(*) FILTER (WHERE __t IS NULL OR trim(__t) = ''),
                   count(*) FILTER (WHERE trim(__t) <> '' AND {_JUNK}),
                   count(*) FILTER (WHERE length(__t) > {MAX_TEXT_CHARS})
            FROM ({body})"""
    ).fetchone()
    usable = int(n) - int(n_empty) - int(n_junk)
    if usable <= 0:
        raise DataError(
            f"{where}: text column {column!r} has no usable text in {int(n):,} rows "
            f"({int(n_empty):,} empty, {int(n_junk):,} binary or undecodable); "
            "expected reviews, tickets or messages: is it the right column?",
            details={"column": column, "rows": int(n), "empty": int(n_empty),
                     "binary": int(n_junk)},
        )
    _ensure(db)
    new = ""
    if mode == "replace":
        clear_texts(db, origin)
    else:  # an export read again: its texts are stored already
        new = (
            f" AND NOT EXISTS (SELECT 1 FROM {TEXT_TABLE} t WHERE t.user_id = b.user_id AND "
            f"t.ts IS NOT DISTINCT FROM b.ts AND t.text = left(b.__t, {MAX_TEXT_CHARS}))"
        )
    db.execute(
        f"INSERT INTO {TEXT_TABLE} SELECT user_id, ts, left(__t, {MAX_TEXT_CHARS}), ? "
        f"FROM ({body}) b WHERE __t IS NOT NULL AND trim(__t) <> '' AND NOT {_JUNK}{new}",
        [origin],
    )
    issues = []
    if n_empty:
        issues.append(Issue("empty_text", column, int(n_empty), "no text stored (row kept)"))
    if n_junk:
        issues.append(
            Issue("binary_text", column, int(n_junk),
                  "not stored (control bytes or undecodable characters; row kept)")
        )
    if n_long:
        issues.append(
            Issue("long_text", column, int(n_long), f"cut to {MAX_TEXT_CHARS:,} characters")
        )
    return issues


def clear_texts(db: Database, origin: str) -> None:
    """Forget the texts of one origin (its import is being replaced)."""
    if db.table_exists(TEXT_TABLE):
        db.execute(f"DELETE FROM {TEXT_TABLE} WHERE origin = ?", [origin])


def append_texts(db: Database, rows: list[tuple[str, object, str]]) -> int:
    """Append ``(user_id, ts, text)`` rows of live events (already checked); returns how many.

    A text already stored for the user at the same time (the same message sent
    again) is skipped, as its event is.
    """
    if not rows:
        return 0
    _ensure(db)
    before = int(db.scalar(f"SELECT count(*) FROM {TEXT_TABLE}"))
    for user_id, ts, text in dict.fromkeys((str(u), t, str(x)) for u, t, x in rows):
        db.execute(
            f"INSERT INTO {TEXT_TABLE} SELECT ?, ?, left(?, {MAX_TEXT_CHARS}), 'events' "
            f"WHERE NOT EXISTS (SELECT 1 FROM {TEXT_TABLE} WHERE user_id = ? AND ts "
            f"IS NOT DISTINCT FROM ? AND text = left(?, {MAX_TEXT_CHARS}))",
            [user_id, ts, text, user_id, ts, text],
        )
    return int(db.scalar(f"SELECT count(*) FROM {TEXT_TABLE}")) - before


def texts_of(db: Database, user_ids: list[str] | None = None, table: str = TEXT_TABLE) -> str:
    """SQL selecting ``user_id, ts, text`` of some users (all when ``user_ids`` is None)."""
    sql = f"SELECT user_id, ts, text FROM {quote_ident(table)}"
    if user_ids is None:
        return sql
    ids = ", ".join("'" + str(u).replace("'", "''") + "'" for u in user_ids) or "NULL"
    return f"{sql} WHERE user_id IN ({ids})"
