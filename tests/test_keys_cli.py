"""``userseg keys create|list|revoke`` and ``userseg serve``'s refusals, through Typer's runner.

The commands are registered on a fresh Typer app (``serve_cmds.register``),
the way ``userseg.cli.app`` registers them, without changing the real app.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from userseg.cli.serve_cmds import register
from userseg.serve.auth import verify
from userseg.store import open_database

runner = CliRunner()


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """userseg (test harness)."""

    register(app)
    return app


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "keys.duckdb"
    open_database(path).close()  # an empty userseg database (migrated)
    return path


def run(cli: typer.Typer, *args: object):
    return runner.invoke(cli, [str(a) for a in args])


def test_create_list_revoke(cli, db) -> None:
    made = run(cli, "keys", "create", "crm", "--db", db, "--json")
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)
    assert set(key) == {"key_id", "name", "secret"} and key["name"] == "crm"
    database = open_database(db)
    try:
        assert verify(database, key["secret"]) == key["key_id"]
    finally:
        database.close()

    people = run(cli, "keys", "create", "web app", "--db", db)
    assert people.exit_code == 0 and "shown only this once" in people.stdout
    assert "usk_" in people.stdout

    listed = json.loads(run(cli, "keys", "list", "--db", db, "--json").stdout)
    assert [k["name"] for k in listed] == ["crm", "web app"]
    assert all(k["active"] and "secret" not in k and "key_hash" not in k for k in listed)
    table = run(cli, "keys", "list", "--db", db)
    assert table.exit_code == 0 and key["key_id"] in table.stdout and "active" in table.stdout
    assert key["secret"] not in table.stdout

    gone = run(cli, "keys", "revoke", key["key_id"], "--db", db, "--json")
    assert gone.exit_code == 0 and json.loads(gone.stdout)["revoked_at"]
    again = run(cli, "keys", "revoke", key["key_id"], "--db", db)
    assert again.exit_code == 0 and "revoked" in again.stdout
    listed = json.loads(run(cli, "keys", "list", "--db", db, "--json").stdout)
    assert [k["active"] for k in listed] == [False, True]
    assert "revoked" in run(cli, "keys", "list", "--db", db).stdout
    database = open_database(db)
    try:
        assert verify(database, key["secret"]) is None
    finally:
        database.close()


def test_errors_are_one_line_and_exit_2(cli, db) -> None:
    unknown = run(cli, "keys", "revoke", "ffffffffffff", "--db", db)
    assert unknown.exit_code == 2 and "no API key" in unknown.output
    as_json = run(cli, "keys", "revoke", "ffffffffffff", "--db", db, "--json")
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["error"]["code"] == "not_found"
    blank = run(cli, "keys", "create", "   ", "--db", db, "--json")
    assert blank.exit_code == 2 and json.loads(blank.stdout)["error"]["code"] == "config_error"
    empty = run(cli, "keys", "list", "--db", db)
    assert empty.exit_code == 0 and "no API keys yet" in empty.stdout
    missing_folder = run(cli, "keys", "list", "--db", db.parent / "nowhere" / "x.duckdb")
    assert missing_folder.exit_code == 2 and "not found: check --db" in missing_folder.output


def test_serve_refuses_a_database_without_runs(cli, db) -> None:
    res = run(cli, "serve", "--db", db, "--port", "1")
    assert res.exit_code == 2 and "no runs" in res.output


def test_help_lists_the_commands(cli) -> None:
    res = run(cli, "--help")
    assert "serve" in res.stdout and "keys" in res.stdout
    keys = run(cli, "keys", "--help")
    for sub in ("create", "list", "revoke"):
        assert sub in keys.stdout
    assert "--no-auth" in run(cli, "serve", "--help").stdout


def test_create_with_a_scope_and_list_it(cli, db) -> None:
    made = run(cli, "keys", "create", "marketing", "--scope", "read", "--db", db, "--json")
    assert made.exit_code == 0, made.output
    run(cli, "keys", "create", "ops", "--db", db)
    listed = json.loads(run(cli, "keys", "list", "--db", db, "--json").stdout)
    assert {k["name"]: k["scope"] for k in listed} == {"marketing": "read", "ops": "admin"}
    assert "read" in run(cli, "keys", "list", "--db", db).stdout
    bad = run(cli, "keys", "create", "x", "--scope", "root", "--db", db)
    assert bad.exit_code == 2
    assert "--scope must be one of read, write, admin; got 'root'" in bad.output
    assert len(json.loads(run(cli, "keys", "list", "--db", db, "--json").stdout)) == 2
