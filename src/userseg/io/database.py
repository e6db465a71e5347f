"""The userseg database: one DuckDB file holding the data, the features and userseg's own tables.

DuckDB allows one writing process per file. A second process gets
:class:`~userseg.errors.DatabaseLockedError` naming the holder, never a raw
traceback. Every write goes through :meth:`Database.transaction`, so a failure
leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from userseg.errors import DatabaseError, DatabaseLockedError, DataError

__all__ = ["DEFAULT_DB", "Database", "quote_ident"]

DEFAULT_DB = "userseg.duckdb"


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (a column or table name coming from user data)."""
    return '"' + str(name).replace('"', '""') + '"'


class Database:
    """A connection to one userseg database file (or ``:memory:``).

    Parameters
    ----------
    path : str or Path
        The DuckDB file; created when missing (its folder must exist).
    read_only : bool
        Open without the writer lock (fails if another process writes).

    Examples
    --------
    >>> db = Database(":memory:")
    >>> with db.transaction():
    ...     _ = db.execute("CREATE TABLE t AS SELECT 1 AS x")
    >>> db.scalar("SELECT x FROM t")
    1
    """

    def __init__(self, path: str | Path = DEFAULT_DB, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        if self.path != ":memory:":
            folder = Path(self.path).expanduser().resolve().parent
            if not folder.is_dir():
                raise DatabaseError(
                    f"cannot create database {self.path}: folder {folder} does not exist."
                )
            if read_only and not Path(self.path).exists():
                raise DatabaseError(f"database {self.path} does not exist.")
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            raise _translate_open_error(self.path, exc) from None
        except duckdb.Error as exc:
            raise DatabaseError(f"cannot open database {self.path}: {exc}") from None
        # Timestamps with an offset are converted to UTC, and naive ones are read as UTC.
        self.con.execute("SET TimeZone = 'UTC'")
        # userseg shows its own progress (Rich); DuckDB's bar would garble it.
        self.con.execute("SET enable_progress_bar = false")
        self._in_tx = False

    # -- plain SQL --------------------------------------------------------------
    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        """Run one statement; DuckDB errors propagate (callers translate them)."""
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)

    def scalar(self, sql: str, params: Any = None) -> Any:
        rows = self.execute(sql, params).fetchall()  # consume the whole result (DuckDB 2)
        return rows[0][0] if rows else None

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def dicts(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        cur = self.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def table_exists(self, name: str) -> bool:
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_name = ?",
                [name],
            )
        )

    def columns(self, name: str) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                [name],
            )
        ]

    def require_table(self, name: str, hint: str) -> None:
        """Raise a clear :class:`DataError` when a table the step needs is absent."""
        if not self.table_exists(name):
            raise DataError(f"table {name!r} not found in {self.path}: {hint}")

    # -- transactions ----------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """All statements inside commit together or not at all (nesting joins the outer one)."""
        if self._in_tx:
            yield self
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield self
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._in_tx = False

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")


def _translate_open_error(path: str, exc: duckdb.Error) -> DatabaseError:
    text = str(exc)
    match = _LOCK_RE.search(text)
    if match or "lock" in text.lower():
        holder = f" (process {match['pid']}, {Path(match['prog']).name})" if match else ""
        return DatabaseLockedError(
            f"database {path} is in use by another process{holder}; DuckDB allows one "
            "writer at a time. Wait for it to finish, stop it (a running `userseg serve` or "
            "`userseg stream` holds the database for as long as it runs), or use another --db.",
            details={"pid": int(match["pid"]) if match else None},
        )
    if "not a valid DuckDB database" in text or "database file" in text.lower():
        return DatabaseError(
            f"{path} is not a DuckDB database (or is from another version): {text}"
        )
    return DatabaseError(f"cannot open database {path}: {text}")
