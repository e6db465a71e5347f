"""Personal data at import (issue 13 items 1-2): found, said, pseudonymised, never features.

Data are generated here: a log keyed by e-mail and a user table with names, phones and
e-mails. A key file (0600) or ``USERSEG_SECRET_KEY`` holds the key.
"""

from __future__ import annotations

import json
import re

import duckdb
import pytest
from typer.testing import CliRunner

from userseg.cli import app
from userseg.config import EventMapping, Source, UserMapping
from userseg.errors import SecretKeyError
from userseg.io.private import PrivacyOptions
from userseg.jobs import pipeline
from userseg.privacy.keys import ENV_VAR, create_key_file, read_key_file
from userseg.privacy.platforms import platform_hash
from userseg.privacy.seal import unseal_digest
from userseg.store import list_actions, open_database

runner = CliRunner()

FIRST = ["Alice", "Bruno", "Chloe", "David", "Emma", "Felix", "Grace", "Henry", "Irene", "James"]
LAST = ["Martin", "Rossi", "Smith", "Garcia", "Muller", "Dubois", "Jansen", "Novak"]
N_USERS = 40


def person(i: int) -> dict[str, str]:
    first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
    return {
        "email": f"{first.lower()}.{last.lower()}{i}@example.com",
        "name": f"{first} {last}",
        "phone": f"+44 20 7946 {i:04d}",
    }


PEOPLE = [person(i) for i in range(N_USERS)]


def write_log(path, people=PEOPLE, upper_first: bool = False) -> None:
    lines = ["email,ts,event,amount,category"]
    for i, p in enumerate(people):
        mail = p["email"].capitalize() if upper_first and i == 0 else p["email"]
        for d in range(1 + i % 4):
            lines.append(f"{mail},2024-03-{1 + d:02d} 10:00,purchase,{10 + i % 7}.50,c{i % 3}")
    path.write_text("\n".join(lines) + "\n")


def write_users(path, people=PEOPLE) -> None:
    lines = ["email,name,phone,age,plan"]
    lines += [
        f"{p['email']},{p['name']},{p['phone']},{20 + i % 50},{'gold' if i % 3 else 'basic'}"
        for i, p in enumerate(people)
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "userseg.key"
    create_key_file(path)
    return path


EVENTS = EventMapping(
    user_id="email", time="ts", event="event", amount="amount", category="category"
)


def ingest_log(db, path, keys=None, **kw):
    return pipeline.ingest(
        db,
        Source(path=str(path)),
        kind="events",
        mapping=EVENTS,
        privacy=PrivacyOptions(keys=keys),
        **kw,
    )


def ingest_users(db, path, keys=None, allow=()):
    return pipeline.ingest(
        db,
        Source(path=str(path)),
        kind="users",
        mapping=UserMapping(user_id="email"),
        privacy=PrivacyOptions(keys=keys, allow_pii=tuple(allow)),
    )


HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_email_ids_without_a_key_are_refused_and_nothing_is_written(tmp_path) -> None:
    log = tmp_path / "log.csv"
    write_log(log)
    db = open_database(tmp_path / "u.duckdb")
    with pytest.raises(SecretKeyError, match=r"'email' holds email values.*--key-file"):
        ingest_log(db, log)
    assert not db.table_exists("events")
    db.close()
    res = runner.invoke(
        app,
        [
            "ingest",
            str(log),
            "--db",
            str(tmp_path / "c.duckdb"),
            "--user-id",
            "email",
            "--time",
            "ts",
        ],
    )
    assert res.exit_code == 2, res.output
    assert "USERSEG_SECRET_KEY" in res.output and "Traceback" not in res.output


def test_email_ids_become_keyed_pseudonyms_stable_across_imports(tmp_path, key_file) -> None:
    keys = read_key_file(key_file)
    log, users = tmp_path / "log.csv", tmp_path / "users.csv"
    write_log(log, upper_first=True)
    write_users(users)
    db = open_database(tmp_path / "u.duckdb")
    rep = ingest_log(db, log, keys)
    ids = {r[0] for r in db.rows("SELECT DISTINCT user_id FROM events")}
    assert len(ids) == N_USERS and all(HEX32.match(i) for i in ids)
    assert not ids & {p["email"] for p in PEOPLE}
    # Alice@… and alice@… are one person
    assert any(i.kind == "personal_data" and i.column == "email" for i in rep.issues)
    ingest_users(db, users, keys)
    assert {r[0] for r in db.rows("SELECT user_id FROM users")} == ids  # the tables join
    ingest_log(db, log, keys)  # again: the same pseudonyms
    assert {r[0] for r in db.rows("SELECT DISTINCT user_id FROM events")} == ids
    db.close()


def test_user_table_personal_columns_are_said_pseudonymised_and_not_features(
    tmp_path, key_file
) -> None:
    keys = read_key_file(key_file)
    users = tmp_path / "users.csv"
    write_users(users)
    db = open_database(tmp_path / "u.duckdb")
    rep = ingest_users(db, users, keys)
    found = {i.column: i.action for i in rep.issues if i.kind == "personal_data"}
    assert set(found) == {"email", "name", "phone"}, found
    assert "person_name" in found["name"] and "pseudonymised" in found["name"]
    assert "not a clustering feature" in found["phone"]
    names = {r[0] for r in db.rows("SELECT name FROM users")}
    assert all(HEX32.match(n) for n in names)
    usable = dict(
        db.rows("SELECT column_name, usable FROM userseg_columns WHERE table_name = 'users'")
    )
    assert usable["name"] is False and usable["phone"] is False and usable["age"] is True
    # the report stored with the import says it too
    stored = json.loads(
        db.scalar("SELECT report FROM userseg_ingests ORDER BY ingest_id DESC LIMIT 1")
    )
    assert any(i["kind"] == "personal_data" for i in stored["issues"])
    db.close()


def test_without_a_key_personal_columns_are_left_out(tmp_path) -> None:
    users = tmp_path / "users.csv"
    users.write_text(
        "user_id,name,phone,age\n"
        + "\n".join(f"u{i},{p['name']},{p['phone']},{20 + i}" for i, p in enumerate(PEOPLE))
        + "\n"
    )
    db = open_database(tmp_path / "u.duckdb")
    rep = pipeline.ingest(db, Source(path=str(users)), kind="users", privacy=PrivacyOptions())
    assert db.columns("users") == ["user_id", "age"]
    assert {i.column for i in rep.issues if i.kind == "personal_data"} == {"name", "phone"}
    db.close()


def test_allow_pii_keeps_the_column_as_a_feature_and_is_audited(tmp_path, key_file) -> None:
    keys = read_key_file(key_file)
    users = tmp_path / "users.csv"
    write_users(users)
    db = open_database(tmp_path / "u.duckdb")
    ingest_users(db, users, keys, allow=["name"])
    assert {r[0] for r in db.rows("SELECT name FROM users")} == {p["name"] for p in PEOPLE}
    acts = [a for a in list_actions(db) if a["action"] == "pii.allow"]
    assert len(acts) == 1 and acts[0]["target"] == "users.name"
    db.close()


def test_cli_ingest_prints_what_was_found_and_takes_the_key_file(tmp_path, key_file) -> None:
    users = tmp_path / "users.csv"
    write_users(users)
    res = runner.invoke(
        app,
        ["ingest", str(users), "--db", str(tmp_path / "u.duckdb"), "--user-id", "email",
         "--key-file", str(key_file), "--allow-pii", "phone"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "personal" in res.output and "person_name" in res.output
    assert "kept raw" in res.output
    for p in PEOPLE:
        assert p["email"] not in res.output and p["name"] not in res.output


def test_hashed_emails_for_activation_are_sealed_not_plain(tmp_path, key_file) -> None:
    keys = read_key_file(key_file)
    users = tmp_path / "users.csv"
    write_users(users)
    db = open_database(tmp_path / "u.duckdb")
    ingest_users(db, users, keys)
    rows = db.rows(
        "SELECT user_id, sealed FROM userseg_contact_hashes "
        "WHERE kind = 'email' AND platform = 'meta'"
    )
    assert len(rows) == N_USERS
    plain = {platform_hash(p["email"], "email", "meta") for p in PEOPLE}
    assert not {s for _, s in rows} & plain
    assert {unseal_digest(keys, s) for _, s in rows} == plain
    db.close()
    assert duckdb  # imported for the shape of other tests


def test_an_appended_log_keeps_the_sealed_hashes_of_earlier_users(tmp_path, key_file) -> None:
    keys = read_key_file(key_file)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_log(first, PEOPLE[:20])
    write_log(second, PEOPLE[20:])
    db = open_database(tmp_path / "u.duckdb")
    ingest_log(db, first, keys)
    ingest_log(db, second, keys, mode="append")
    n = db.scalar(
        "SELECT count(DISTINCT user_id) FROM userseg_contact_hashes WHERE table_name = 'events'"
    )
    assert n == N_USERS
    ingest_log(db, second, keys)  # a replaced log: only its users' hashes are kept
    n = db.scalar(
        "SELECT count(DISTINCT user_id) FROM userseg_contact_hashes WHERE table_name = 'events'"
    )
    assert n == N_USERS - 20
    db.close()
