"""The userseg database: one DuckDB file holding the data, the features and userseg's own tables.

DuckDB allows one writing process per file. A second process gets
:class:`~userseg.errors.DatabaseLockedError` naming the holder, never a raw
traceback. Every write goes through :meth:`Database.transaction`, so a failure
leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from userseg.crash import crash_point
from userseg.errors import ConfigError, DatabaseError, DatabaseLockedError, DataError

__all__ = [
    "DEFAULT_DB",
    "Database",
    "StatementProgress",
    "default_memory_limit",
    "parse_memory_limit",
    "quote_ident",
]

DEFAULT_DB = "userseg.duckdb"

#: The share of the machine's memory DuckDB may use by default (its own default is 80 %).
MEMORY_FRACTION = 0.10
_MIN_DEFAULT = 1 << 30  # 1 GiB: below it large imports spill more than they gain
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}

#: ``progress(fraction, seconds)``: how far a long statement is (0..1) and how long it has run.
StatementProgress = Callable[[float, float], None]


def _machine_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def default_memory_limit() -> int:
    """Bytes DuckDB may use: ``$USERSEG_MEMORY_LIMIT``, else 10 % of the machine (≥ 1 GiB).

    DuckDB's own default (80 % of the machine) let a 30M-event import grow to
    18.6 GB on a 24 GB machine; under a limit it spills to disk instead.
    """
    env = os.environ.get("USERSEG_MEMORY_LIMIT")
    if env:
        return parse_memory_limit(env, "$USERSEG_MEMORY_LIMIT")
    total = _machine_memory()
    return max(_MIN_DEFAULT, int(total * MEMORY_FRACTION)) if total else 2 * _MIN_DEFAULT


def parse_memory_limit(value: str | int, what: str = "memory limit") -> int:
    """``"2GB"``, ``"1.5GiB"``, ``"512MB"`` or ``"25%"`` (of the machine) → bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        text = str(value).strip().upper().replace(" ", "")
        match = re.fullmatch(r"(\d+(?:\.\d+)?)(%|[KMGT]?I?B?)", text)
        if not match:
            raise ConfigError(
                f"{what} must be a size such as 2GB, 1.5GiB, 512MB or a share such as 25%; "
                f"got {value!r}."
            )
        number, unit = float(match[1]), match[2]
        if unit == "%":
            total = _machine_memory() or 0
            n = int(total * number / 100)
        else:
            unit = unit if unit.endswith("B") or unit == "" else unit + "B"
            n = int(number * _UNITS[unit])
    if n < 64 * 2**20:
        raise ConfigError(f"{what} must be at least 64MB; got {value!r}.")
    return n


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

    def __init__(
        self,
        path: str | Path = DEFAULT_DB,
        *,
        read_only: bool = False,
        memory_limit: str | int | None = None,
    ) -> None:
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
        # userseg shows its own progress (Rich): DuckDB measures it, but never prints it.
        self.con.execute("SET enable_progress_bar = true")
        self.con.execute("SET enable_progress_bar_print = false")
        self._in_tx = False
        self.set_memory_limit(memory_limit)

    def set_memory_limit(self, limit: str | int | None = None) -> int:
        """Bound DuckDB's memory: bytes, ``"2GB"``, ``"25%"``; default :func:`default_memory_limit`.

        Beyond the limit, sorts, joins, aggregates and temporary tables spill to a
        folder beside the database (``<db>.tmp``; the system's temporary folder for
        an in-memory database) instead of the process growing. Returns the bytes.
        """
        n = default_memory_limit() if limit is None else parse_memory_limit(limit)
        self.con.execute(f"SET memory_limit = '{n}B'")
        if self.path == ":memory:":
            spill = Path(tempfile.gettempdir()) / "userseg-spill"
        else:
            spill = Path(self.path).expanduser().resolve().with_name(Path(self.path).name + ".tmp")
        self.con.execute(f"SET temp_directory = {_sql_str(str(spill))}")
        self.memory_limit = n
        return n

    def run(
        self, sql: str, params: Any = None, *, progress: StatementProgress | None = None
    ) -> list[tuple]:
        """Run one long statement and return its rows, reporting its progress while it runs.

        The statement runs in a worker thread (DuckDB releases the GIL) while this
        one polls DuckDB's own measure of how far it is, every 0.2 s.
        """
        if progress is None:
            return self.rows(sql, params)
        out: dict[str, Any] = {}

        def work() -> None:
            try:
                out["rows"] = self.rows(sql, params)
            except BaseException as exc:  # re-raised in the caller's thread
                out["error"] = exc

        t0 = time.perf_counter()
        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        done = 0.0
        while worker.is_alive():
            worker.join(0.2)
            with contextlib.suppress(duckdb.Error):
                pct = self.con.query_progress()
                if pct >= 0:
                    done = max(done, min(pct / 100.0, 1.0))
            progress(done, time.perf_counter() - t0)
        if "error" in out:
            raise out["error"]
        progress(1.0, time.perf_counter() - t0)
        return out["rows"]

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
    def transaction(self, step: str | None = None) -> Iterator[Database]:
        """All statements inside commit together or not at all (nesting joins the outer one).

        ``step`` names what commits (``"ingest"``, ``"run"``): the point where the
        kill tests crash the process (:mod:`userseg.crash`).
        """
        if self._in_tx:
            yield self
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield self
            if step is not None:
                crash_point(step)
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
            if step is not None:
                crash_point(step, committed=True)
        finally:
            self._in_tx = False

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


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
