"""The bad-input contract of DESIGN.md, row by row, for ``ingest`` and ``fit``.

Each test checks the message, the exit code, and that nothing was written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from userseg.cli import app

runner = CliRunner()
EV = ["--user-id", "user", "--time", "ts", "--amount", "amount"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def tables(db: Path) -> set[str]:
    """User-data tables in the database (userseg's own bookkeeping tables excluded)."""
    if not db.exists():
        return set()
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = {
            t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        ingests = (
            con.execute("SELECT count(*) FROM userseg_ingests").fetchone()[0]
            if "userseg_ingests" in names
            else 0
        )
    finally:
        con.close()
    user = {t for t in names if not t.startswith("userseg_")}
    return user | ({"<ingest log>"} if ingests else set())


def one_line_error(res, *needles: str) -> str:
    assert res.exit_code == 2, res.output
    msg = res.stderr.strip()
    assert msg.startswith("error:") and len(msg.splitlines()) == 1, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


# -- missing file, unreadable file, empty file, header only ------------------------------


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (None, "file not found"),
        (b"", "file is empty"),
        (b"user,ts,amount\n", "has a header but no data rows"),
    ],
)
def test_missing_empty_and_header_only_files(tmp_path, content, expect) -> None:
    src = tmp_path / "events.csv"
    if content is not None:
        src.write_bytes(content)
    db = tmp_path / "u.duckdb"
    res = run("ingest", src, "--db", db, *EV)
    one_line_error(res, str(src), expect)
    assert tables(db) == set()


def test_unreadable_file(tmp_path) -> None:
    src = tmp_path / "events.parquet"
    src.write_bytes(b"this is not parquet at all")
    db = tmp_path / "u.duckdb"
    res = run("ingest", src, "--db", db, *EV)
    one_line_error(res, str(src), "cannot be read as parquet")
    assert tables(db) == set()


# -- a column named in the config is absent ----------------------------------------------


def test_absent_column_lists_missing_and_available(tmp_path) -> None:
    src = tmp_path / "e.csv"
    src.write_text("customer,ts,value\nu1,2024-01-01,3\n")
    db = tmp_path / "u.duckdb"
    res = run("ingest", src, "--db", db, *EV)
    one_line_error(
        res,
        "column(s) not found: user (for user_id), amount (for amount)",
        "Available columns: customer, ts, value",
    )
    assert tables(db) == set()


# -- text in a numeric column, NaN, ±inf, 1e308 -------------------------------------------

BAD = ["abc", "NaN", "inf", "-inf", "1e308"]


def _bad_log(tmp_path: Path) -> Path:
    good = "".join(f"u{i},2024-01-0{1 + i % 9},{i}.25\n" for i in range(500))
    bad = "".join(f"u{i},2024-02-01,{v}\n" for i, v in enumerate(BAD))
    src = tmp_path / "e.csv"
    src.write_text("user,ts,amount\n" + good + bad)
    return src


def test_bad_numbers_rejected_with_a_validation_report(tmp_path) -> None:
    src, db = _bad_log(tmp_path), tmp_path / "u.duckdb"
    res = run("ingest", src, "--db", db, *EV, "--on-bad", "reject", "--json")
    assert res.exit_code == 2
    err = json.loads(res.stdout)["error"]
    assert "import rejected, nothing written" in err["message"]
    issue = err["details"]["issues"][0]
    assert (issue["kind"], issue["column"], issue["count"]) == ("bad_number", "amount", 5)
    assert [e["value"] for e in issue["examples"]] == BAD
    assert [e["row"] for e in issue["examples"]] == [501, 502, 503, 504, 505]
    assert tables(db) == set()


@pytest.mark.parametrize(("policy", "rows"), [("drop", 500), ("impute", 505)])
def test_bad_numbers_dropped_or_imputed_and_the_policy_recorded(tmp_path, policy, rows) -> None:
    src, db = _bad_log(tmp_path), tmp_path / "u.duckdb"
    res = run("ingest", src, "--db", db, *EV, "--on-bad", policy, "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["rows_loaded"] == rows and rep["policy"]["on_bad_value"] == policy
    con = duckdb.connect(str(db), read_only=True)
    logged = json.loads(con.execute("SELECT report FROM userseg_ingests").fetchone()[0])
    con.close()
    assert logged["policy"]["on_bad_value"] == policy
    assert logged["issues"][0]["count"] == 5


# -- negative money, future timestamps, duplicate user ids ---------------------------------


def test_refunds_future_and_duplicate_users_are_counted_and_shown(tmp_path) -> None:
    ev = tmp_path / "e.csv"
    rows = "".join(
        f"u{i % 40},2024-01-{1 + i % 28:02d},{(i % 13) * 7 + 5}.10\n" for i in range(400)
    )
    ev.write_text("user,ts,amount\n" + rows + "u1,2024-01-15,-20.00\nu2,2099-01-01,3\n")
    us = tmp_path / "u.csv"
    us.write_text("user,age\n" + "".join(f"u{i},{20 + i}\n" for i in range(40)) + "u3,\n")
    db = tmp_path / "u.duckdb"
    rep = json.loads(run("ingest", ev, "--db", db, *EV, "--json").stdout)
    kinds = {i["kind"]: i for i in rep["issues"]}
    assert kinds["negative_amount"]["action"].startswith("kept as returns")
    assert kinds["future_time"]["count"] == 1 and "rejected" in kinds["future_time"]["action"]
    rep = json.loads(run("ingest", us, "--kind", "users", "--db", db, "--json").stdout)
    assert rep["issues"][0]["kind"] == "duplicate_user_id"
    assert run("features", "--db", db).exit_code == 0
    assert run("fit", "--db", db, "--k", "2").exit_code == 0
    out = tmp_path / "r.html"
    assert run("report", "--db", db, "--out", out).exit_code == 0
    html = out.read_text()
    for text in (
        "negative amount",
        "kept as returns",
        "future time",
        "duplicate user id",
        "merged: first non-missing value",
    ):
        assert text in html


# -- k < 2, k > number of users, all features constant -------------------------------------


@pytest.fixture
def small_db(tmp_path) -> Path:
    src = tmp_path / "u.csv"
    src.write_text("id,a,b\n" + "".join(f"{i},{i * 1.5},{i % 3}\n" for i in range(30)))
    db = tmp_path / "u.duckdb"
    assert run("ingest", src, "--kind", "users", "--db", db).exit_code == 0
    assert run("features", "--db", db).exit_code == 0
    return db


def _runs(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM userseg_runs").fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        # named by the flag the user typed (issue 10 item 6), never n_segments
        (["--k", "1"], "--k=1 should be an integer >= 2"),
        (["--k", "31"], "--k=31 should be <= the number of users=30"),
        (["--k-min", "1"], "--k-min=1 should be an integer >= 2"),
    ],
)
def test_impossible_k_fails_before_any_work(small_db, args, expect) -> None:
    res = run("fit", "--db", small_db, *args)
    one_line_error(res, expect)
    assert _runs(small_db) == 0


def test_a_parameter_is_named_as_the_user_typed_it(small_db, tmp_path) -> None:
    """--k on the command line, fit.k in a pipeline file, n_segments in Python (issue 10 item 6)."""
    import numpy as np

    from userseg import Segmenter
    from userseg.errors import ParameterError

    res = run("fit", "--db", small_db, "--k", "31")
    msg = one_line_error(res, "--k=31 should be <= the number of users=30")
    assert "n_segments" not in msg
    res = run("fit", "--db", small_db, "--k", "31", "--json")
    err = json.loads(res.stdout)["error"]
    assert err["details"]["parameter"] == "n_segments" and err["details"]["given_as"] == "--k"

    cfg = tmp_path / "pipe.yaml"
    head = f"database: {small_db}\nusers: {{path: {tmp_path / 'u.csv'}}}\n"
    cfg.write_text(head + "fit: {k: 31}\n")
    msg = one_line_error(run("fit", "--config", cfg), "fit.k=31 should be <= the number of users")
    assert "n_segments" not in msg and "--k" not in msg
    # the flag given beside the file is the one named
    one_line_error(run("fit", "--config", cfg, "--k", "40"), "--k=40 should be <= the number")
    # k_max from the file, --k-min from the command line: each in its own words
    cfg.write_text(head + "fit: {k_max: 4}\n")
    one_line_error(run("fit", "--config", cfg, "--k-min", "6"), "fit.k_max=4 should be >= k_min=6")
    assert _runs(small_db) == 0

    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ParameterError, match=r"^n_segments=31 should be <= the number of users=30"):
        Segmenter(n_segments=31).fit(X)


def test_all_features_constant(tmp_path) -> None:
    src = tmp_path / "u.csv"
    src.write_text("id,a,b\n" + "".join(f"{i},7,x\n" for i in range(30)))
    db = tmp_path / "u.duckdb"
    run("ingest", src, "--kind", "users", "--db", db)
    run("features", "--db", db)
    res = run("fit", "--db", db)
    one_line_error(res, "every feature is constant")
    assert _runs(db) == 0


# -- the process is killed mid-import or mid-run -------------------------------------------


def _spawn(args: list[str], env_extra: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "userseg.cli", *map(str, args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _crashed_at(args: list[str], step: str) -> None:
    """Run the command with the deterministic crash hook (userseg.crash) at ``step``."""
    proc = _spawn(args, {"USERSEG_CRASH_AFTER": step})
    assert proc.wait(timeout=300) == -signal.SIGKILL, f"the process did not crash at {step}"


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {t for (t,) in rows}


@pytest.mark.slow
def test_killed_mid_import_leaves_no_partial_rows(tmp_path) -> None:
    from userseg.demo import write_demo

    paths = write_demo(tmp_path / "data", 6000, seed=1)
    db = tmp_path / "k.duckdb"
    flags = [
        "--user-id",
        "user_id",
        "--time",
        "timestamp",
        "--event",
        "event_type",
        "--amount",
        "amount",
        "--event-id",
        "event_id",
    ]
    # a first, acknowledged import of the user table
    assert run("ingest", paths["users"], "--kind", "users", "--db", db).exit_code == 0
    # killed after every event row was written, before the import's commit: nothing of it
    _crashed_at(["ingest", paths["events"], "--db", db, *flags], "ingest")
    con = duckdb.connect(str(db))  # the database opens
    try:
        assert con.execute("SELECT count(*) FROM users").fetchone()[0] == 6000
        assert "events" not in _tables(con)
        logged = "SELECT count(*) FROM userseg_ingests WHERE table_name = 'events'"
        assert con.execute(logged).fetchone()[0] == 0
    finally:
        con.close()
    # killed just after the commit: the import is whole, with its record
    _crashed_at(["ingest", paths["events"], "--db", db, *flags], "ingest:committed")
    con = duckdb.connect(str(db))
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] > 100_000
        assert con.execute(logged).fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM users").fetchone()[0] == 6000
    finally:
        con.close()


@pytest.mark.slow
def test_killed_mid_run_keeps_acknowledged_runs_intact(tmp_path) -> None:
    src = tmp_path / "u.csv"
    src.write_text(
        "id,a,b,c\n"
        + "".join(f"{i},{(i * 7) % 101},{(i * 13) % 97},{i % 5}\n" for i in range(20000))
    )
    db = tmp_path / "k.duckdb"
    run("ingest", src, "--kind", "users", "--db", db)
    run("features", "--db", db)
    assert run("fit", "--db", db, "--k", "3").exit_code == 0

    def runs() -> list[int]:
        con = duckdb.connect(str(db))
        try:
            ids = [r for (r,) in con.execute("SELECT run_id FROM userseg_runs").fetchall()]
            for r in ids:  # every run present is whole
                n = con.execute(
                    "SELECT count(*) FROM userseg_assignments WHERE run_id = ?", [r]
                ).fetchone()[0]
                k = con.execute(
                    "SELECT count(*) FROM userseg_profiles WHERE run_id = ?", [r]
                ).fetchone()[0]
                assert n == 20000 and k >= 2
            orphans = con.execute(
                "SELECT count(*) FROM userseg_assignments WHERE run_id NOT IN "
                "(SELECT run_id FROM userseg_runs)"
            ).fetchone()[0]
            assert orphans == 0
            return sorted(ids)
        finally:
            con.close()

    # killed with the run's record, model, assignments and profiles written, uncommitted
    _crashed_at(["fit", "--db", db], "run")
    assert runs() == [1]
    # killed just after the commit: a whole second run
    _crashed_at(["fit", "--db", db], "run:committed")
    assert runs() == [1, 2]


def test_missing_table_in_a_duckdb_source(tmp_path) -> None:
    src = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(src)).close()
    db = tmp_path / "u.duckdb"
    res = run("ingest", src, "--source-table", "nope", "--db", db, "--kind", "users")
    one_line_error(res, "nope")
    assert tables(db) == set()


def test_price_times_quantity_out_of_range_is_a_bad_value(tmp_path) -> None:
    src = tmp_path / "e.csv"
    src.write_text(
        "user,ts,price,qty\n"
        + "u1,2024-01-02,2.5,4\n" * 300
        + "u1,2024-01-01,1000000000000,100000000000\n"
    )
    db = tmp_path / "u.duckdb"
    res = run(
        "ingest",
        src,
        "--db",
        db,
        "--user-id",
        "user",
        "--time",
        "ts",
        "--price",
        "price",
        "--quantity",
        "qty",
        "--json",
    )
    assert res.exit_code == 0, res.output
    issue = json.loads(res.stdout)["issues"][0]
    assert issue["kind"] == "bad_number" and "price × quantity" in issue["action"]
