"""Readers: every format into a text table; every broken file into a one-line error."""

from __future__ import annotations

import json
import os

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from userseg.config import Source
from userseg.errors import DataError
from userseg.io import Database, infer_format, read_raw


def _read(path, **kw):
    db = Database(":memory:")
    try:
        cols = read_raw(db, Source(path=str(path), **kw), "t")
        rows = db.rows("SELECT * EXCLUDE (__file, __row) FROM t ORDER BY __row")
        return cols, rows
    finally:
        db.close()


def test_csv_with_semicolons_and_quoted_fields(write) -> None:
    p = write("a.csv", 'id;note;amount\n1;"hello; world";"12.50"\n2;"say ""hi""";3\n')
    cols, rows = _read(p)
    assert cols == ["id", "note", "amount"]
    assert rows == [("1", "hello; world", "12.50"), ("2", 'say "hi"', "3")]


def test_csv_with_explicit_delimiter_and_no_header(write) -> None:
    p = write("a.txt", "u1|5\nu2|7\n")
    cols, rows = _read(p, delimiter="|", header=False, names=["user", "visits"])
    assert cols == ["user", "visits"] and rows == [("u1", "5"), ("u2", "7")]


def test_values_are_read_as_text_so_nothing_is_guessed(write) -> None:
    p = write("a.csv", "id,amount\n007,12.10\n008,abc\n")
    _, rows = _read(p)
    assert rows == [("007", "12.10"), ("008", "abc")]  # leading zeros and cents kept


def test_parquet_and_jsonl(tmp_path) -> None:
    pq.write_table(pa.table({"u": ["a", "b"], "x": [1.5, 2.0]}), tmp_path / "d.parquet")
    cols, rows = _read(tmp_path / "d.parquet")
    assert cols == ["u", "x"] and rows == [("a", "1.5"), ("b", "2.0")]
    (tmp_path / "d.jsonl").write_text(
        "\n".join(json.dumps(r) for r in [{"u": "a", "x": 1}, {"u": "b", "x": 2}])
    )
    cols, rows = _read(tmp_path / "d.jsonl")
    assert cols == ["u", "x"] and rows == [("a", "1"), ("b", "2")]


def test_glob_over_many_files_keeps_each_file_name(tmp_path) -> None:
    for day in ("2024-01-01", "2024-01-02"):
        (tmp_path / f"{day}.csv").write_text(f"id,day\n1,{day}\n2,{day}\n")
    db = Database(":memory:")
    read_raw(db, Source(path=str(tmp_path / "*.csv")), "t")
    files = db.rows("SELECT DISTINCT __file FROM t ORDER BY 1")
    assert [os.path.basename(f) for (f,) in files] == ["2024-01-01.csv", "2024-01-02.csv"]
    assert db.scalar("SELECT count(*) FROM t") == 4


def test_duckdb_table_and_sql_query(tmp_path) -> None:
    other = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE customers AS SELECT 'c' || range AS id, range AS n FROM range(3)")
    con.close()
    db = Database(":memory:")
    cols = read_raw(db, Source(path=str(other), format="duckdb", table="customers"), "t")
    assert cols == ["id", "n"] and db.scalar("SELECT count(*) FROM t") == 3
    cols = read_raw(db, Source(query="SELECT 1 AS a, 'x' AS b"), "q")
    assert cols == ["a", "b"] and db.rows("SELECT a, b FROM q") == [("1", "x")]


def test_infer_format() -> None:
    assert infer_format(Source(path="x.CSV.gz")) == "csv"
    assert infer_format(Source(path="x.parquet")) == "parquet"
    assert infer_format(Source(path="x.ndjson")) == "json"
    assert infer_format(Source(query="select 1")) == "sql"
    with pytest.raises(DataError, match=r"cannot tell the format of x\.xlsx"):
        infer_format(Source(path="x.xlsx"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("", "file is empty"),
        ("a,b\n", "has a header but no data rows"),
    ],
)
def test_broken_files_give_one_line_errors(tmp_path, content, message) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError) as err:
        _read(path)
    assert message in err.value.message
    assert str(path) in err.value.message
    assert "\n" not in err.value.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path) -> None:  # pragma: no cover - CI runs as root
    path = tmp_path / "locked.csv"
    path.write_text("a\n1\n")
    path.chmod(0)
    with pytest.raises(DataError, match="permission denied"):
        _read(path)


def test_folder_and_empty_glob(tmp_path) -> None:
    with pytest.raises(DataError, match="is a folder"):
        _read(tmp_path)
    with pytest.raises(DataError, match="no files match"):
        _read(tmp_path / "*.csv")


def test_ragged_csv_row_names_the_file_and_line(write) -> None:
    p = write("bad.csv", "a,b\n1,2,3\n4,5\n")
    with pytest.raises(DataError) as err:
        _read(p)
    msg = err.value.message
    assert "bad.csv" in msg and "Line: 2" in msg and "Expected Number of Columns: 2" in msg


def test_unknown_duckdb_table(tmp_path) -> None:
    other = tmp_path / "w.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(DataError, match="nope"):
        _read(other, format="duckdb", table="nope")


def test_whitespace_separated_files_are_sniffed_or_named(write) -> None:
    # issue 9 item 9: aligned columns (runs of spaces and tabs) failed with "Expected 7 Found 8"
    p = write(
        "seeds.txt",
        "area perimeter compactness kind\n"
        "15.26  14.84\t0.871   1\n"
        "  14.88   14.57  0.8811  1\n"
        "17.63 15.98    0.8673 2\n",
    )
    expected = [
        ("15.26", "14.84", "0.871", "1"),
        ("14.88", "14.57", "0.8811", "1"),
        ("17.63", "15.98", "0.8673", "2"),
    ]
    for kw in ({}, {"delimiter": "whitespace"}):
        cols, rows = _read(p, **kw)
        assert cols == ["area", "perimeter", "compactness", "kind"]
        assert rows == expected


def test_whitespace_file_with_a_ragged_row_names_the_line(write) -> None:
    p = write("w.txt", "a b c\n1 2 3\n4  5\n")
    with pytest.raises(DataError) as err:
        _read(p, delimiter="whitespace")
    msg = err.value.message
    assert "w.txt" in msg and "line 3" in msg and "expected 3 fields" in msg and "found 2" in msg
