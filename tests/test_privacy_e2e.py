"""The proof of issue 13 item 5: personal data never leaves the import in any form.

A log keyed by e-mail and a user table with names, phones and e-mails go through the
command line (ingest, features, fit, segments, report) and the REST API; then a byte
scan of the database file and its WAL, the HTML report, every command's output and
every API answer finds 0 raw values and 0 plain SHA-256 of them (the scan's positive
control: the source files themselves are found).
"""

from __future__ import annotations

import json

import pytest
from test_privacy_ingest import PEOPLE, write_log, write_users
from typer.testing import CliRunner

from userseg.cli import app
from userseg.privacy.encryption import scan_bytes
from userseg.privacy.keys import ENV_VAR, create_key_file, read_key_file
from userseg.privacy.pseudonym import Pseudonymizer

runner = CliRunner()
NEEDLES = [v for p in PEOPLE for v in (p["email"], p["name"], p["phone"])]


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def _cli(out_dir, name: str, *args: object) -> dict:
    res = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    (out_dir / f"{name}.out").write_text(res.output)
    return json.loads(res.output) if "--json" in args else {}


def test_no_raw_value_and_no_plain_sha256_anywhere(tmp_path) -> None:
    from test_privacy_forget import _call

    from userseg.serve import create_app
    from userseg.serve.auth import create_key
    from userseg.store import open_database

    key = tmp_path / "userseg.key"
    create_key_file(key)
    log, users, db = tmp_path / "log.csv", tmp_path / "users.csv", tmp_path / "u.duckdb"
    write_log(log)
    write_users(users)
    outs = tmp_path / "outputs"
    outs.mkdir()
    common = ["--db", db, "--key-file", key]
    _cli(outs, "ingest_events", "ingest", log, *common, "--user-id", "email", "--time", "ts",
         "--event", "event", "--amount", "amount", "--category", "category", "--json")  # fmt: skip
    _cli(outs, "ingest_users", "ingest", users, *common, "--kind", "users", "--user-id", "email")
    _cli(outs, "features", "features", "--db", db, "--json")
    _cli(outs, "fit", "fit", "--db", db, "--k", "3", "--json")
    _cli(outs, "segments", "segments", "--db", db, "--json")
    _cli(outs, "segments_text", "segments", "--db", db)
    _cli(outs, "report", "report", "--db", db, "--out", tmp_path / "report.html")

    dbh = open_database(db)
    try:
        _, secret = create_key(dbh, "proof")
    finally:
        dbh.close()
    pid = Pseudonymizer(read_key_file(key)).pseudonym(PEOPLE[0]["email"])
    api = create_app(db, rate_limit=None)
    try:
        for i, url in enumerate(
            ["/v1/segments", "/v1/segments/0", "/v1/runs", "/v1/model", f"/v1/users/{pid}"]
        ):
            res = _call(api, "GET", url, secret)
            assert res.status_code == 200, (url, res.text)
            (outs / f"api_{i}.json").write_bytes(res.content)
    finally:
        api.state.service.close()

    files = [db, tmp_path / "report.html", *sorted(outs.iterdir())]
    for f in files:
        scan = scan_bytes(f, NEEDLES)
        assert scan.clean, f"{f.name}: {scan.summary()}"
    # the positive control: the scan finds the values where they are
    assert len(scan_bytes(users, NEEDLES, sha256=False).hits) == len(set(NEEDLES))
