"""``userseg ingest`` through Typer's runner: the flags and output of the front door."""

from __future__ import annotations

import json

import duckdb
from typer.testing import CliRunner

from userseg.cli import app

runner = CliRunner()


def run(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args])


def _retail(tmp_path):
    # an order-line log without ids: 30 lines bought twice for real (5 % of the money)
    lines = [
        f"5{i:05d},SKU{i % 7},2,2024-03-{1 + i % 28:02d} 10:00,{10 + i % 5}.25,c{i % 40}"
        for i in range(600)
    ]
    lines += lines[:30]
    src = tmp_path / "retail.csv"
    src.write_text(
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n" + "\n".join(lines) + "\n"
    )
    return src


RETAIL_FLAGS = [
    "--user-id",
    "CustomerID",
    "--time",
    "InvoiceDate",
    "--quantity",
    "Quantity",
    "--price",
    "UnitPrice",
    "--order-id",
    "InvoiceNo",
]


def test_ingest_says_what_dropped_duplicates_carried_and_keeps_them_on_request(tmp_path) -> None:
    src = _retail(tmp_path)
    res = run("ingest", src, "--db", tmp_path / "a.duckdb", *RETAIL_FLAGS)
    assert res.exit_code == 0, res.output
    out = " ".join(res.stdout.split())
    assert "600 of 630 rows loaded" in out
    assert "warning:" in out and "--keep-duplicates" in out and "735.00" in out
    res = run("ingest", src, "--db", tmp_path / "b.duckdb", *RETAIL_FLAGS, "--keep-duplicates")
    assert res.exit_code == 0, res.output
    assert "630 of 630 rows loaded" in res.stdout and "--keep-duplicates" not in res.stdout
    with duckdb.connect(str(tmp_path / "b.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (630,)


def test_ingest_reads_a_whitespace_separated_file(tmp_path) -> None:
    src = tmp_path / "wholesale.txt"
    src.write_text(
        "Channel Region  Fresh   Milk\n2       3       12669   9656\n"
        "2\t3\t7057    9810\n1   3  6353  8808\n"
    )
    db = tmp_path / "w.duckdb"
    res = run("ingest", src, "--kind", "users", "--db", db, "--delimiter", "whitespace", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["rows_loaded"] == 3 and set(rep["columns"]) >= {"fresh", "milk"}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT sum(fresh) FROM users").fetchone() == (26079.0,)


def test_user_import_prints_a_data_quality_table(tmp_path) -> None:
    rows = [
        f"{1000 + i},{1893 if i == 3 else 1950 + i % 40},{'' if i % 20 == 0 else 40000 + i},"
        f"{1 + i % 28:02d}-{1 + i % 12:02d}-2013"
        for i in range(200)
    ]
    src = tmp_path / "marketing.csv"
    src.write_text("ID,Year_Birth,Income,Dt_Customer\n" + "\n".join(rows) + "\n")
    res = run("ingest", src, "--kind", "users", "--db", tmp_path / "u.duckdb")
    assert res.exit_code == 0, res.output
    out = " ".join(res.stdout.split())
    assert "data quality" in out
    assert "missing value" in out and "Income" in out
    assert "out of range" in out and "Year_Birth" in out
    assert "unparsed date" in out and "--date-format" in out and "'%d-%m-%Y'" in out
