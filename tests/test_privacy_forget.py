"""Erasure (issue 13 item 3): ``userseg forget`` removes a person everywhere, for good.

A database every job wrote to (import keyed by e-mail, features, fit, live state,
an audience); one person is forgotten: none of their rows is left, nobody else's
changes, a byte scan of the file finds none of their ids or values, a re-import
leaves them out, and the erasure is audited by counts only.
"""

from __future__ import annotations

import json
import shutil

import pytest
from test_privacy_ingest import EVENTS, PEOPLE, write_log, write_users
from typer.testing import CliRunner

from userseg.cli import app
from userseg.config import Source, UserMapping
from userseg.io.private import PrivacyOptions
from userseg.jobs import pipeline
from userseg.jobs.activation import create_audience
from userseg.jobs.refresh import refresh
from userseg.privacy.encryption import scan_bytes
from userseg.privacy.keys import ENV_VAR, create_key_file, read_key_file
from userseg.privacy.pseudonym import Pseudonymizer
from userseg.segment.params import FitConfig
from userseg.store import list_actions, open_database

runner = CliRunner()
VICTIM = 5


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def _import(db, folder, keys) -> None:
    opts = PrivacyOptions(keys=keys)
    pipeline.ingest(
        db, Source(path=str(folder / "log.csv")), kind="events", mapping=EVENTS, privacy=opts
    )
    pipeline.ingest(
        db,
        Source(path=str(folder / "users.csv")),
        kind="users",
        mapping=UserMapping(user_id="email"),
        privacy=opts,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forget")
    key = folder / "userseg.key"
    create_key_file(key)
    keys = read_key_file(key)
    write_log(folder / "log.csv")
    write_users(folder / "users.csv")
    db = open_database(folder / "w.duckdb")
    try:
        _import(db, folder, keys)
        pipeline.features(db)
        pipeline.fit(db, FitConfig(k=3))
        refresh(db, refit="never")  # live state: every user's segment
        create_audience(db, "everyone", segments=[0, 1, 2])
    finally:
        db.close()
    return folder, key, keys


def _counts(path, pid: str) -> dict[str, tuple[int, int]]:
    """(rows of the person, rows of everyone else) per table with a user_id column."""
    db = open_database(path)
    try:
        tables = [
            r[0]
            for r in db.rows(
                "SELECT table_name FROM information_schema.columns WHERE column_name = 'user_id'"
            )
        ]
        out = {}
        for t in tables:
            him = db.scalar(f'SELECT count(*) FROM "{t}" WHERE user_id = ?', [pid])
            rest = db.scalar(f'SELECT count(*) FROM "{t}" WHERE user_id <> ?', [pid])
            out[t] = (int(him), int(rest))
        return out
    finally:
        db.close()


def test_forget_removes_the_person_everywhere_and_leaves_no_bytes(world, tmp_path) -> None:
    folder, key, keys = world
    path = tmp_path / "w.duckdb"
    shutil.copy(folder / "w.duckdb", path)
    person = PEOPLE[VICTIM]
    pid = Pseudonymizer(keys).pseudonym(person["email"])
    before = _counts(path, pid)
    for table in ("events", "users", "userseg_assignments", "userseg_user_segments",
                  "userseg_audience_members", "userseg_contact_hashes"):  # fmt: skip
        assert before[table][0] > 0, table
    # the positive control: the scan sees the stored pseudonym before the erasure
    assert not scan_bytes(path, [pid], sha256=False).clean

    res = runner.invoke(
        app, ["forget", person["email"], "--db", str(path), "--key-file", str(key), "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["found"] == 1 and out["compacted"] is True
    after = _counts(path, pid)
    for table, (_him, rest) in before.items():
        assert after[table] == (0, rest), table  # gone, and nobody else touched
    needles = [pid, person["email"], person["name"], person["phone"]]
    scan = scan_bytes(path, needles)
    assert scan.clean, scan.summary()

    db = open_database(path)
    try:
        acts = [a for a in list_actions(db) if a["action"] == "forget"]
        assert len(acts) == 1 and acts[0]["detail"]["found"] == 1
        assert person["email"] not in json.dumps(acts[0], default=str)
        # a re-import of the same files does not bring them back
        _import(db, folder, keys)
        for table in ("events", "users", "userseg_contact_hashes"):
            assert db.scalar(f"SELECT count(*) FROM {table} WHERE user_id = ?", [pid]) == 0
        n_users = db.scalar("SELECT count(DISTINCT user_id) FROM events")
        assert n_users == len(PEOPLE) - 1
    finally:
        db.close()


def test_forget_by_stored_id_without_a_key_and_unknown_ids(world, tmp_path) -> None:
    folder, _key, keys = world
    path = tmp_path / "w.duckdb"
    shutil.copy(folder / "w.duckdb", path)
    pid = Pseudonymizer(keys).pseudonym(PEOPLE[1]["email"])
    res = runner.invoke(app, ["forget", pid, "nobody@example.com", "--db", str(path)])
    assert res.exit_code == 0, res.output
    assert "forgot 1 of 2" in res.output
    assert _counts(path, pid)["events"][0] == 0


def test_forget_on_a_missing_database_is_exit_2(tmp_path) -> None:
    res = runner.invoke(app, ["forget", "u1", "--db", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2 and "Traceback" not in res.output


def _call(app, method: str, url: str, key: str | None):
    import asyncio

    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def go():
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, url, headers=headers)

    return asyncio.run(go())


def test_delete_user_through_the_api_needs_an_admin_key(world, tmp_path, monkeypatch) -> None:
    from userseg.serve import create_app
    from userseg.serve.auth import create_key
    from userseg.store import set_key_scope

    folder, key, keys = world
    path = tmp_path / "w.duckdb"
    shutil.copy(folder / "w.duckdb", path)
    db = open_database(path)
    try:
        _, admin = create_key(db, "dpo")
        reader_id, reader = create_key(db, "dashboard")
        set_key_scope(db, reader_id, "read")
    finally:
        db.close()
    monkeypatch.setenv(ENV_VAR, key.read_text().splitlines()[0])
    person = PEOPLE[VICTIM]
    pid = Pseudonymizer(keys).pseudonym(person["email"])
    app = create_app(path, rate_limit=None)
    try:
        url = f"/v1/users/{person['email']}"
        assert _call(app, "DELETE", url, None).status_code == 401
        refused = _call(app, "DELETE", url, reader)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        res = _call(app, "DELETE", url, admin)
        assert res.status_code == 200, res.text
        assert res.json()["found"] == 1 and res.json()["compacted"] is True
        # the service goes on answering from the compacted file
        assert _call(app, "GET", f"/v1/users/{pid}", admin).status_code == 404
        other = Pseudonymizer(keys).pseudonym(PEOPLE[0]["email"])
        assert _call(app, "GET", f"/v1/users/{other}", admin).status_code == 200
        assert _call(app, "GET", "/v1/segments", admin).status_code == 200
    finally:
        app.state.service.close()
    scan = scan_bytes(path, [pid, person["email"], person["name"], person["phone"]])
    assert scan.clean, scan.summary()
    db = open_database(path)
    try:
        act = next(a for a in list_actions(db) if a["action"] == "forget")
        assert act["key_name"] == "dpo"
    finally:
        db.close()
