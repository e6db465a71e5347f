"""Readers: any supported source → a temporary DuckDB table of text columns.

Everything is read as text first (``all_varchar``) so that validation can see
and count what is wrong in a column ("12,50", "n/a", an impossible date)
instead of the reader silently guessing a type or turning values into NULL.
Each raw table carries ``__row`` (1-based data row, for messages) and
``__file`` (for globs over many files).
"""

from __future__ import annotations

import contextlib
import csv
import glob
import gzip
import os
from pathlib import Path

import duckdb

from userseg.config import Source
from userseg.errors import DataError
from userseg.io.database import Database, quote_ident

__all__ = ["infer_format", "read_raw"]

_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".dat": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
    ".duckdb": "duckdb",
    ".db": "duckdb",
}


def infer_format(source: Source) -> str:
    """The source's format: given explicitly, or from its file suffix (``.gz`` ignored)."""
    if source.format:
        return source.format
    if source.path and Path(source.path).expanduser().is_dir():
        raise DataError(
            f"{source.path}: is a folder; give a file or a glob such as {source.path}/*.csv."
        )
    if source.query:
        return "sql"
    if not source.path:
        raise DataError("a source needs a path, or a query.")
    name = source.path.lower().removesuffix(".gz").removesuffix(".zst")
    fmt = _SUFFIX_FORMATS.get(Path(name).suffix)
    if fmt is None:
        raise DataError(
            f"cannot tell the format of {source.path} from its suffix; expected one of "
            f"{sorted(set(_SUFFIX_FORMATS))} or an explicit format "
            "(csv, parquet, json, duckdb, sql)."
        )
    return fmt


def _check_files(path: str) -> list[str]:
    """Resolve a path or glob; a one-line error for missing, unreadable or empty files."""
    if any(ch in path for ch in "*?["):
        files = sorted(glob.glob(os.path.expanduser(path)))
        if not files:
            raise DataError(f"{path}: no files match this pattern.")
    else:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataError(f"{path}: file not found.")
        if p.is_dir():
            raise DataError(f"{path}: is a folder; give a file or a glob such as {path}/*.csv.")
        files = [str(p)]
    for f in files:
        if not os.access(f, os.R_OK):
            raise DataError(f"{f}: cannot be read (permission denied).")
        if os.path.getsize(f) == 0:
            raise DataError(f"{f}: file is empty.")
    return files


_DELIMITERS = (",", ";", "\t", "|")
#: ``--delimiter whitespace``: fields separated by runs of spaces and tabs (aligned columns)
WHITESPACE = "whitespace"
_WS_SPLIT = "[ \t]+"


def _first_line(path: str) -> str:
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
        return fh.readline().rstrip("\r\n")


def _csv_relation(files: list[str], source: Source) -> str:
    """SQL reading CSV files as text.

    One file is read strictly with a dialect taken from its first line (the
    delimiter that splits it most; RFC 4180 quoting), so a ragged row fails
    with its line number instead of DuckDB's sniffer silently falling back to
    one column. Several files (a glob) are read with DuckDB's detection and
    their columns matched by name.
    """
    header = "true" if source.header else "false"
    quote = _sql_str(source.quote or '"')
    if len(files) == 1 and not files[0].lower().endswith((".zst",)):
        line = _first_line(files[0])
        if _is_whitespace(source.delimiter, files[0], line):
            return _whitespace_relation(files[0], source, line)
        delim = source.delimiter or max(_DELIMITERS, key=line.count)
        if not source.delimiter and line.count(delim) == 0:
            delim = ","  # a single column
        fields = next(csv.reader([line], delimiter=delim, quotechar=source.quote or '"'), [])
        if source.names:
            names = list(source.names)
        elif source.header:
            names = [f.strip() or f"column{i}" for i, f in enumerate(fields)]
        else:
            names = [f"column{i}" for i in range(len(fields))]
        seen: dict[str, int] = {}
        unique = []
        for n in names:  # duplicate headers get a suffix; DuckDB's names ignore case
            seen[n.lower()] = seen.get(n.lower(), 0) + 1
            unique.append(n if seen[n.lower()] == 1 else f"{n}_{seen[n.lower()] - 1}")
        cols = "{" + ", ".join(f"{_sql_str(n)}: 'VARCHAR'" for n in unique) + "}"
        return (
            f"read_csv({_sql_str(files[0])}, delim = {_sql_str(delim)}, quote = {quote}, "
            f"escape = {quote}, header = {header}, auto_detect = false, columns = {cols}, "
            "filename = '__file')"
        )
    opts = [
        "all_varchar = true",
        f"header = {header}",
        "filename = '__file'",
        "union_by_name = true",
    ]
    if source.delimiter:
        opts.append(f"delim = {_sql_str(source.delimiter)}")
    if source.quote:
        opts.append(f"quote = {quote}")
    if source.names:
        opts.append("names = [" + ", ".join(_sql_str(n) for n in source.names) + "]")
    file_list = "[" + ", ".join(_sql_str(f) for f in files) + "]"
    return f"read_csv({file_list}, {', '.join(opts)})"


def _is_whitespace(delimiter: str | None, path: str, first: str) -> bool:
    """Whether to split on runs of spaces and tabs: asked for, or sniffed.

    Sniffed when the first line has none of the usual delimiters but splits on
    whitespace, and the next line splits into as many fields (a one-column file of
    names with spaces does not).
    """
    if delimiter is not None:
        return delimiter.lower() == WHITESPACE
    if any(d in first for d in _DELIMITERS) or len(first.split()) < 2:
        return False
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
        fh.readline()
        second = fh.readline().strip()
    return not second or len(second.split()) == len(first.split())


def _whitespace_relation(path: str, source: Source, first: str) -> str:
    """SQL reading a file whose fields are separated by runs of spaces and tabs.

    Each line is read whole and split; ``__line`` is its line number (for the
    ragged-row check in :func:`read_raw`). Quoting is not supported in this form.
    """
    fields = first.split()
    if source.names:
        names = list(source.names)
    elif source.header:
        names = fields
    else:
        names = [f"column{i}" for i in range(len(fields))]
    lines = (
        f"read_csv({_sql_str(path)}, columns = {{'__text': 'VARCHAR'}}, delim = '\x01', "
        "quote = '', escape = '', header = false, auto_detect = false)"
    )
    split = f"regexp_split_to_array(trim(__text, ' \t'), {_sql_str(_WS_SPLIT)})"
    cols = ", ".join(f"__f[{i + 1}] AS {quote_ident(n)}" for i, n in enumerate(names))
    skip = 1 if source.header else 0
    return (
        f"(SELECT {cols}, __line, len(__f) AS __n_fields, {len(names)} AS __n_names "
        f"FROM (SELECT {split} AS __f, __text, row_number() OVER () AS __line FROM {lines}) "
        f"WHERE __line > {skip} AND trim(coalesce(__text, ''), ' \t') <> '')"
    )


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_raw(db: Database, source: Source, name: str) -> list[str]:
    """Load ``source`` into temporary table ``name`` (all columns text) and return its columns.

    The temporary table lives for the connection; the caller's transaction
    decides whether anything permanent is written.
    """
    fmt = infer_format(source)
    files: list[str] = []
    if fmt in ("csv", "parquet", "json"):
        if not source.path:
            raise DataError(f"a {fmt} source needs a path.")
        files = _check_files(source.path)
    file_list = "[" + ", ".join(_sql_str(f) for f in files) + "]"
    if fmt == "csv":
        relation = _csv_relation(files, source)
    elif fmt == "parquet":
        relation = f"read_parquet({file_list}, filename = '__file', union_by_name = true)"
    elif fmt == "json":
        relation = (
            f"read_json({file_list}, format = 'newline_delimited', filename = '__file', "
            "union_by_name = true)"
        )
    elif fmt == "duckdb":
        if not source.path or not source.table:
            raise DataError("a duckdb source needs both path (the DuckDB file) and table.")
        _check_files(source.path)
        alias = "__src_" + name
        try:
            db.execute(f"ATTACH {_sql_str(source.path)} AS {quote_ident(alias)} (READ_ONLY)")
        except duckdb.Error as exc:
            raise DataError(
                f"{source.path}: cannot open as a DuckDB database: {_first(exc)}"
            ) from None
        relation = f"{quote_ident(alias)}.{quote_ident(source.table)}"
    elif fmt == "sql":
        if not source.query:
            raise DataError("an sql source needs a query.")
        relation = f"({source.query})"
    else:  # pragma: no cover - infer_format only returns the above
        raise DataError(f"unsupported format {fmt!r}.")

    where = source.describe()
    try:
        cols = [d[0] for d in db.execute(f"SELECT * FROM {relation} LIMIT 0").description]
        if "__n_fields" in cols:  # whitespace-separated: every line must have every field
            ragged = db.rows(
                f"SELECT __line, __n_fields, __n_names FROM {relation} "
                "WHERE __n_fields <> __n_names ORDER BY __line LIMIT 1"
            )
            if ragged:
                line, found, expected = ragged[0]
                raise DataError(
                    f"{where}: line {line}: expected {expected} fields, found {found} "
                    "(read as whitespace-separated: runs of spaces and tabs separate fields)."
                )
        data_cols = [c for c in cols if c not in ("__file", "__line", "__n_fields", "__n_names")]
        casts = ", ".join(
            f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in data_cols
        )
        file_expr = "__file" if "__file" in cols else _sql_str(where)
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(name)} AS "
            f"SELECT {casts}, CAST({file_expr} AS VARCHAR) AS __file, "
            f"row_number() OVER () AS __row FROM {relation}"
        )
    except duckdb.CatalogException as exc:
        raise DataError(f"{where}: {_first(exc)}") from None
    except duckdb.Error as exc:
        hint = ""
        if fmt == "csv" and source.delimiter == " ":
            hint = (
                " Hint: for columns aligned with runs of spaces or tabs, pass "
                "--delimiter whitespace."
            )
        raise DataError(f"{where}: cannot be read as {fmt}: {_csv_problem(exc)}{hint}") from None
    finally:
        if fmt == "duckdb":  # a failed read may have aborted the transaction: the DETACH too
            with contextlib.suppress(duckdb.Error):
                db.execute(f"DETACH {quote_ident('__src_' + name)}")
    n = db.scalar(f"SELECT count(*) FROM {quote_ident(name)}")
    if n == 0:
        what = "has a header but no data rows" if fmt == "csv" and source.header else "has no rows"
        raise DataError(f"{where}: {what}.")
    if fmt == "csv" and data_cols == ["column0"] and source.header:
        raise DataError(f"{where}: has no header line with column names.")
    return data_cols


def _csv_problem(exc: BaseException) -> str:
    """The informative part of a DuckDB read error: the line, and what was expected there."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    marks = ("CSV Error on Line", "Original Line", "Expected Number of Columns")
    keep = [ln[ln.index(m) :] for ln in lines for m in marks if m in ln]
    if keep:
        return "; ".join(keep)
    return _first(exc)


def _first(exc: BaseException) -> str:
    """DuckDB messages run to several lines; the first one says what matters."""
    return str(exc).strip().splitlines()[0]
