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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from userseg.config import Source
from userseg.errors import DataError
from userseg.io.database import Database, quote_ident

__all__ = [
    "Scan",
    "check_shape",
    "infer_format",
    "no_rows",
    "open_source",
    "read_errors",
    "read_raw",
]

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


@dataclass
class Scan:
    """A source opened for reading: an SQL relation over it, never materialised.

    Attributes
    ----------
    relation : str
        A ``FROM`` item yielding the source's columns (and ``__file``).
    columns : list of str
        The data columns, in source order.
    types : dict
        DuckDB type of each column (``VARCHAR`` for every column of a text file).
    where : str
        The source, for messages.
    fmt : str
        csv, parquet, json, duckdb or sql.
    text : bool
        Whether values come as text (CSV): they are parsed and checked from it.
    rows : int or None
        The number of rows when the source knows it without reading (Parquet).
    nbytes : int
        The size of the files, for an estimate of the rows of a text source.
    """

    relation: str
    columns: list[str]
    types: dict[str, str]
    where: str
    fmt: str
    text: bool
    rows: int | None = None
    nbytes: int = 0
    files: int = 0
    label: str = ""  # the one file's name (or the source), where rows do not carry one
    line_bytes: float = 0.0
    checks: list[str] = field(default_factory=list)
    _detach: str | None = None

    def numbered(self) -> str:
        """The relation with ``__row``: the 1-based data row, in file order.

        Parquet files number their rows themselves (per file, read in parallel);
        other sources are numbered across files by ``row_number() OVER ()``, which
        streams in the source's order (it is not a sort).
        """
        if self.fmt == "parquet":
            return (
                "(SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS __row "
                f"FROM {self.relation})"
            )
        return f"(SELECT *, row_number() OVER () AS __row FROM {self.relation})"

    def estimate_rows(self) -> int | None:
        """The rows of the source: exact when known (Parquet), else from its first lines."""
        if self.rows is not None:
            return self.rows
        return int(self.nbytes / self.line_bytes) if self.line_bytes else None

    def close(self, db: Database) -> None:
        if self._detach:
            with contextlib.suppress(duckdb.Error):  # a failed read aborted the transaction
                db.execute(f"DETACH DATABASE IF EXISTS {quote_ident(self._detach)}")
            self._detach = None


def open_source(db: Database, source: Source, name: str = "src") -> Scan:
    """Open ``source`` for reading in ``db``; nothing is read beyond its schema.

    Missing, unreadable and empty files, a header without names and an unknown
    table are one-line :class:`DataError` errors here; errors in the data (a ragged
    CSV row) surface when the relation is read (:func:`read_errors`).
    """
    fmt = infer_format(source)
    files: list[str] = []
    if fmt in ("csv", "parquet", "json"):
        if not source.path:
            raise DataError(f"a {fmt} source needs a path.")
        files = _check_files(source.path)
    file_list = "[" + ", ".join(_sql_str(f) for f in files) + "]"
    where = source.describe()
    detach = None
    rows = None
    if fmt == "csv":
        relation = _csv_relation(files, source)
    elif fmt == "parquet":
        relation = (
            f"read_parquet({file_list}, filename = '__file', union_by_name = true, "
            "file_row_number = true)"
        )
    elif fmt == "json":
        relation = (
            f"read_json({file_list}, format = 'newline_delimited', filename = '__file', "
            "union_by_name = true)"
        )
    elif fmt == "duckdb":
        if not source.path or not source.table:
            raise DataError("a duckdb source needs both path (the DuckDB file) and table.")
        _check_files(source.path)
        detach = "__src_" + name
        # (a failed statement aborts the caller's transaction: never let one fail here)
        db.execute(f"DETACH DATABASE IF EXISTS {quote_ident(detach)}")
        try:
            db.execute(f"ATTACH {_sql_str(source.path)} AS {quote_ident(detach)} (READ_ONLY)")
        except duckdb.Error as exc:
            raise DataError(
                f"{source.path}: cannot open as a DuckDB database: {_first(exc)}"
            ) from None
        relation = f"{quote_ident(detach)}.{quote_ident(source.table)}"
    elif fmt == "sql":
        if not source.query:
            raise DataError("an sql source needs a query.")
        relation = f"({source.query})"
    else:  # pragma: no cover - infer_format only returns the above
        raise DataError(f"unsupported format {fmt!r}.")
    scan = Scan(relation, [], {}, where, fmt, text=fmt == "csv", _detach=detach)
    try:
        desc = db.execute(f"SELECT * FROM {relation} LIMIT 0").description
        if fmt == "parquet":
            rows = int(db.scalar(f"SELECT sum(num_rows) FROM parquet_file_metadata({file_list})"))
    except duckdb.CatalogException as exc:
        scan.close(db)
        raise DataError(f"{where}: {_first(exc)}") from None
    except duckdb.Error as exc:
        scan.close(db)
        raise DataError(f"{where}: cannot be read as {fmt}: {_read_problem(exc, source)}") from None
    internal = ("__file", "__line", "__n_fields", "__n_names", "file_row_number")
    names = [d[0] for d in desc]
    types = {d[0]: str(d[1]) for d in desc}
    scan.columns = [c for c in names if c not in internal]
    scan.types = {c: "VARCHAR" if scan.text else types[c] for c in scan.columns}
    scan.rows = rows
    scan.nbytes = sum(os.path.getsize(f) for f in files)
    scan.files = len(files)
    scan.label = files[0] if len(files) == 1 else where
    if scan.text and files and not files[0].lower().endswith((".gz", ".zst")):
        scan.line_bytes = _line_bytes(files[0])
    if "__file" not in names:
        scan.relation = f"(SELECT *, {_sql_str(where)} AS __file FROM {relation})"
    if "__n_fields" in names:
        scan.checks.append(relation)
    if fmt == "csv" and scan.columns == ["column0"] and source.header:
        scan.close(db)
        raise DataError(f"{where}: has no header line with column names.")
    return scan


def _line_bytes(path: str) -> float:
    """Average bytes per line in the first 256 KiB (for a row estimate of a text file)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 18)
    lines = head.count(b"\n")
    return len(head) / lines if lines else 0.0


def check_shape(db: Database, scan: Scan) -> None:
    """Whitespace-separated files: every line must have every field (CSV checks itself)."""
    for relation in scan.checks:
        ragged = db.rows(
            f"SELECT __line, __n_fields, __n_names FROM {relation} "
            "WHERE __n_fields <> __n_names ORDER BY __line LIMIT 1"
        )
        if ragged:
            line, found, expected = ragged[0]
            raise DataError(
                f"{scan.where}: line {line}: expected {expected} fields, found {found} "
                "(read as whitespace-separated: runs of spaces and tabs separate fields)."
            )


@contextlib.contextmanager
def read_errors(scan: Scan, source: Source) -> Iterator[None]:
    """Turn DuckDB's errors while reading a source into a one-line :class:`DataError`."""
    try:
        yield
    except duckdb.CatalogException as exc:
        raise DataError(f"{scan.where}: {_first(exc)}") from None
    except duckdb.OutOfMemoryException as exc:
        raise DataError(
            f"{scan.where}: out of memory while reading ({_first(exc)}); raise --memory-limit "
            "or free disk space for spilling beside the database."
        ) from None
    except (duckdb.ConversionException, duckdb.InvalidInputException, duckdb.IOException) as exc:
        raise DataError(
            f"{scan.where}: cannot be read as {scan.fmt}: {_read_problem(exc, source)}"
        ) from None


def no_rows(scan: Scan, source: Source) -> DataError:
    """The error for a source without data rows."""
    header_only = scan.fmt == "csv" and source.header
    what = "has a header but no data rows" if header_only else "has no rows"
    return DataError(f"{scan.where}: {what}.")


def read_raw(db: Database, source: Source, name: str) -> list[str]:
    """Load ``source`` into temporary table ``name`` (all columns text) and return its columns.

    For small sources (rows to score, a quick look): imports read the source
    through :func:`open_source` without materialising it. The temporary table
    carries ``__row`` and ``__file``; it lives for the connection, and the
    caller's transaction decides whether anything permanent is written.
    """
    scan = open_source(db, source, name)
    try:
        with read_errors(scan, source):
            check_shape(db, scan)
            casts = ", ".join(
                f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in scan.columns
            )
            db.execute(
                f"CREATE OR REPLACE TEMP TABLE {quote_ident(name)} AS "
                f"SELECT {casts}, CAST(__file AS VARCHAR) AS __file, __row "
                f"FROM {scan.numbered()}"
            )
    finally:
        scan.close(db)
    n = db.scalar(f"SELECT count(*) FROM {quote_ident(name)}")
    if n == 0:
        raise no_rows(scan, source)
    return scan.columns


def _read_problem(exc: BaseException, source: Source) -> str:
    hint = ""
    if source.delimiter == " ":
        hint = (
            " Hint: for columns aligned with runs of spaces or tabs, pass --delimiter whitespace."
        )
    return _csv_problem(exc) + hint


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
