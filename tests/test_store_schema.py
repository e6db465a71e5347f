"""One owner for the database schema: every ``userseg_*`` table is the store's.

Every ``userseg_*`` table is created by a migration in ``store/`` and read or
written only through ``store/`` (issue 10 item 2): no module outside
``store/`` names such a table, and no table appears that no migration declares.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import pytest

from userseg import demo
from userseg.config import Source
from userseg.io import Database
from userseg.jobs import pipeline
from userseg.segment.params import FitConfig
from userseg.store import SCHEMA_VERSION, open_database, schema_version
from userseg.store.migrations import MIGRATIONS

SRC = Path(__file__).resolve().parents[1] / "src" / "userseg"

# A name that starts like a userseg table. Anchored on a word boundary so that temporary
# names such as ``__userseg_campaign_users_…`` or the SQL function ``_userseg_rekey`` are
# not mistaken for one; a bare prefix (``"userseg_" + name``) is caught too.
_NAME = re.compile(r"\buserseg_\w*")

# Strings that look like a table name but name something else; each must never be a table.
_NOT_TABLES = {
    "userseg_error": "the error code of UsersegError (errors.py)",
    "userseg_version": "a key in a stored model's JSON (the library version that wrote it)",
    "userseg_session": "the web app's session cookie (web/session.py)",
    "userseg_signin": "the web app's sign-in CSRF cookie (web/session.py)",
    "userseg_spark_events": "a Spark temporary view of the events, never a DuckDB table",
}

# The table the migration runner keeps its own record in (created by ``migrate`` itself).
_BOOKKEEPING = "userseg_schema"

# The one exception, by module and table, and why. The import of a user table records
# each column's kind (io) for the feature step to read (features), on any Database,
# migrated or not, and both layers sit below store/, which they may not import
# (test_api.test_layers_never_import_a_later_layer). Moving it needs a decision on the
# layer order (see the branch's report). The list can only shrink: an entry that is no
# longer needed fails the test below.
_DATA_LAYER: dict[str, set[str]] = {
    "io/users.py": {"userseg_columns"},
    "features/build.py": {"userseg_columns"},
    # Caches of the incremental feature build (issue 17), rebuilt by the data layer with
    # CREATE OR REPLACE; their columns follow the feature spec, so no migration can declare
    # them. Same layer decision as userseg_columns.
    "features/stats.py": {"userseg_user_stats", "userseg_user_stats_meta"},
    "io/changes.py": {"userseg_event_changes"},
}

# Tables the data layer rebuilds itself (above): left by the jobs, declared by no migration.
_DATA_LAYER_CACHES = {"userseg_user_stats", "userseg_user_stats_meta", "userseg_event_changes"}


def _declared_tables() -> set[str]:
    """The userseg tables the migrations create."""
    created = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(userseg_\w+)", re.I)
    return {
        m[1].lower()
        for _, _, statements in MIGRATIONS
        for sql in statements
        for m in created.finditer(sql)
    }


def _userseg_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'userseg\\_%' "
        "ESCAPE '\\'"
    ).fetchall()
    return {r[0] for r in rows}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (prose, not code)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string literal in the code; an f-string with ``{}`` for its fields.

    Adjacent literals were joined by the parser, so a statement split over lines
    is one string; a table name kept in a constant is a literal of its own.
    """
    skip = _docstrings(tree)
    inner: set[int] = set()  # the constant parts of f-strings, read with their f-string
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for v in node.values:
                inner.add(id(v))
                parts.append(v.value if isinstance(v, ast.Constant) else "{}")
            out.append((node.lineno, "".join(str(p) for p in parts)))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip | inner
        ):
            out.append((node.lineno, node.value))
    return out


def _offences(root: Path, allowed: dict[str, set[str]] | None = None) -> list[str]:
    """``module:line: tables: text`` for each string naming a userseg table outside store/."""
    allowed = allowed or {}
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "store":
            continue
        for line, text in sorted(_strings(ast.parse(path.read_text(), str(path)))):
            names = {n for n in _NAME.findall(text) if n not in _NOT_TABLES}
            names -= allowed.get(rel.as_posix(), set())
            if names:
                found.append(f"{rel}:{line}: {', '.join(sorted(names))}: {text[:90]!r}")
    return found


def test_no_module_outside_the_store_names_a_userseg_table() -> None:
    offences = _offences(SRC, _DATA_LAYER)
    assert not offences, "SQL on userseg tables outside store/:\n" + "\n".join(offences)


def test_every_exception_is_still_needed() -> None:
    """An exception whose module no longer names its table must leave the list."""
    unneeded = [
        f"{module}: {table}"
        for module, tables in _DATA_LAYER.items()
        for table in tables
        if not any(
            table in _NAME.findall(text)
            for _, text in _strings(ast.parse((SRC / module).read_text()))
        )
    ]
    assert not unneeded, f"drop these from _DATA_LAYER: {unneeded}"


def test_the_scan_sees_sql_in_every_shape_it_takes(tmp_path) -> None:
    """The scan is honest: plain, joined, f-string, constant and prefix forms are all found."""
    pkg = tmp_path / "pkg"
    (pkg / "store").mkdir(parents=True)
    (pkg / "store" / "ok.py").write_text('Q = "SELECT * FROM userseg_runs"\n')
    (pkg / "a.py").write_text(
        '"""Docstrings may speak of userseg_runs."""\n'
        'A = "SELECT * FROM userseg_runs"\n'
        'B = ("INSERT INTO "\n     "userseg_keys VALUES (?)")\n'
        'TABLE = "userseg_stats"\n'
        'C = f"DELETE FROM {TABLE} WHERE x = {1}"\n'
        'D = f"SELECT * FROM userseg_{TABLE}"\n'
        'E = "userseg_" + TABLE\n'
        'F = {"userseg_version": 1}, "__userseg_tmp", "_userseg_fn"\n'
    )
    lines = sorted(int(o.split(":")[1]) for o in _offences(pkg))
    assert lines == [2, 3, 5, 7, 8]  # A, B, TABLE, D, E; never the docstring, F or store/


def test_names_that_are_not_tables_never_become_tables(db) -> None:
    assert not set(_NOT_TABLES) & (_userseg_tables(db.con) | _declared_tables())


def test_a_freshly_migrated_database_holds_exactly_the_declared_tables() -> None:
    db = open_database(":memory:")
    try:
        assert _userseg_tables(db.con) == _declared_tables() | {_BOOKKEEPING}
    finally:
        db.close()


@pytest.fixture(scope="module")
def worked(tmp_path_factory) -> Path:
    """A database that every job has written to: ingest, features, fit, refit, drift, keys, live."""
    from userseg.jobs.live import LiveScorer
    from userseg.jobs.refresh import refresh
    from userseg.serve.auth import create_key, revoke_key

    folder = tmp_path_factory.mktemp("worked")
    paths = demo.write_demo(folder, 800, seed=5)
    db = pipeline.open_db(folder / "w.duckdb")
    try:
        pipeline.ingest(
            db, Source(path=str(paths["events"])), kind="events", mapping=demo.EVENT_MAPPING
        )
        pipeline.ingest(
            db, Source(path=str(paths["users"])), kind="users", mapping=demo.USER_MAPPING
        )
        pipeline.features(db)
        pipeline.fit(db, FitConfig(k=4))
        refresh(db, refit="never")  # drift checked and recorded, every user rescored
        refresh(db, refit="always", fit_config=FitConfig(k=4))  # matched to the previous run
        key_id, _ = create_key(db, "crm")
        revoke_key(db, key_id)
        LiveScorer(db).record(
            [
                {
                    "type": "track",
                    "userId": "u1",
                    "event": "Product Viewed",
                    "messageId": "m1",
                    "timestamp": "2026-06-30T10:00:00Z",
                }
            ]
        )
    finally:
        db.close()
    return folder / "w.duckdb"


def test_every_table_the_jobs_leave_was_created_by_a_migration(worked) -> None:
    con = duckdb.connect(str(worked), read_only=True)
    try:
        tables = _userseg_tables(con)
    finally:
        con.close()
    assert "userseg_runs" in tables and "userseg_api_keys" in tables
    left = tables - {_BOOKKEEPING} - _DATA_LAYER_CACHES
    missing = sorted(left - _declared_tables())
    assert not missing, f"tables no migration creates: {missing}"


def _drift_migration() -> int:
    """The version of the migration that creates the drift reports table."""
    table = "userseg_drift_reports"
    return next(v for v, _, sqls in MIGRATIONS if any(table in s for s in sqls))


def _database_at(path: Path, version: int) -> None:
    """A database as a userseg of schema ``version`` left it (migrations up to it applied)."""
    db = Database(path)
    try:
        db.execute(
            "CREATE TABLE userseg_schema (version INTEGER PRIMARY KEY, description VARCHAR, "
            "applied_at TIMESTAMP DEFAULT current_timestamp)"
        )
        for v, description, statements in MIGRATIONS:
            if v <= version:
                for sql in statements:
                    db.execute(sql)
                db.execute(
                    "INSERT INTO userseg_schema (version, description) VALUES (?, ?)",
                    [v, description],
                )
    finally:
        db.close()


def test_a_database_of_the_previous_version_upgrades_and_keeps_its_drift_reports(
    tmp_path,
) -> None:
    """Before the drift table had a migration, ``refresh`` created it on first use, with rows."""
    previous = _drift_migration() - 1
    path = tmp_path / "old.duckdb"
    _database_at(path, previous)
    db = Database(path)
    db.execute(  # the statement refresh ran before its table moved into a migration
        "CREATE TABLE IF NOT EXISTS userseg_drift_reports (run_id INTEGER, "
        "checked_at TIMESTAMP, refit_advised BOOLEAN, report JSON)"
    )
    db.execute("INSERT INTO userseg_drift_reports VALUES (1, current_timestamp, true, '{}')")
    db.close()
    db = open_database(path)
    try:
        assert schema_version(db) == SCHEMA_VERSION
        assert db.rows("SELECT run_id, refit_advised FROM userseg_drift_reports") == [(1, True)]
        assert _userseg_tables(db.con) == _declared_tables() | {_BOOKKEEPING}
    finally:
        db.close()
    old = tmp_path / "older.duckdb"  # never refreshed: the table is new to it
    _database_at(old, previous)
    db = open_database(old)
    try:
        assert schema_version(db) == SCHEMA_VERSION
        assert db.scalar("SELECT count(*) FROM userseg_drift_reports") == 0
    finally:
        db.close()
