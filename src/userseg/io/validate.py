"""What every import shares: the report of what was wrong, and SQL that parses text safely.

The readers hand over every column as text. The expressions here turn text
into timestamps, exact money and numbers, returning NULL instead of failing
on a bad value, so that the caller can count the bad values, show the first
ones and apply its policy (:mod:`userseg.io.ingest`, :mod:`userseg.io.users`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from userseg.config import RowPolicy
from userseg.errors import DataError, SchemaError
from userseg.io.database import quote_ident

__all__ = [
    "MONEY",
    "TIME_TYPES",
    "IngestProgress",
    "IngestReport",
    "Issue",
    "detect_user_id",
    "examples_agg",
    "examples_of",
    "is_number_type",
    "label_expr",
    "number_expr",
    "policy_dict",
    "present_expr",
    "raise_rejected",
    "require_columns",
    "sanitize_name",
    "sql_literal",
    "text_expr",
    "timestamp_expr",
    "user_id_expr",
]

#: ``progress(stage, fraction, rows_per_second)``: what an import is doing and how far it is.
IngestProgress = Callable[[str, float, float | None], None]

#: SQL type of every money value: exact, 8 decimals, 30 integer digits.
MONEY = "DECIMAL(38, 8)"
_MAX_EXAMPLES = 5


@dataclass
class Issue:
    """One kind of problem found in a column: how many rows, what was done, the first examples."""

    kind: str
    column: str | None
    count: int
    action: str
    examples: list[dict[str, Any]] = field(default_factory=list)

    def line(self, *, action: bool = True) -> str:
        """One readable line: count, kind, column, (action), first examples."""
        where = f" in column {self.column!r}" if self.column else ""
        ex = ", ".join(f"row {e['row']} {e['value']!r}" for e in self.examples[:3] if "value" in e)
        text = f"{self.count} {self.kind.replace('_', ' ')}{where}"
        if action:
            text += f": {self.action}"
        return text + (f" (first: {ex})" if ex else "")


@dataclass
class IngestReport:
    """What an import read, loaded, found wrong and did about it."""

    table: str
    source: str
    rows_read: int
    rows_loaded: int
    users: int
    columns: dict[str, str]
    issues: list[Issue]
    notes: list[str]
    policy: dict[str, Any]
    seconds: float = 0.0
    ingest_id: int | None = None
    #: what the command must say in its own output, not only in the quality table
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_USER_ID_NAMES = (
    "user_id",
    "userid",
    "customer_id",
    "customerid",
    "cust_id",
    "client_id",
    "member_id",
    "account_id",
    "user",
    "customer",
    "client",
    "id",
)


def detect_user_id(raw_cols: list[str]) -> str | None:
    """The column that looks like the user id (``CustomerID``, ``cust_id``, ``user``…), or None."""
    by_key = {re.sub(r"[^a-z0-9]", "", c.lower()): c for c in raw_cols}
    for name in _USER_ID_NAMES:
        col = by_key.get(name.replace("_", ""))
        if col is not None:
            return col
    return None


def sanitize_name(name: str) -> str:
    """A column name usable as a feature name: lower case ``[a-z0-9_]``, no leading digit."""
    clean = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower() or "column"
    return f"c_{clean}" if clean[0].isdigit() else clean


def sql_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def require_columns(raw_cols: list[str], wanted: dict[str, str], where: str) -> None:
    missing = [f"{src} (for {role})" for role, src in wanted.items() if src not in raw_cols]
    if missing:
        hints = []
        if len(raw_cols) == 1:  # one column whose name holds the others: a wrong delimiter
            seen = [d for d in (";", ",", "\t", "|") if d in raw_cols[0]]
            if seen:
                shown = "\\t" if seen[0] == "\t" else seen[0]
                hints.append(
                    f"the file looks {shown!r}-separated (its one column is named "
                    f"{raw_cols[0][:80]!r}): pass --delimiter '{shown}'"
                )
        if wanted.get("user_id") == "user_id" and "user_id" not in raw_cols:
            guess = detect_user_id(raw_cols)
            hints.append(
                "name the user id column with --user-id"
                + (f" ({guess!r} looks like one)" if guess and guess != "user_id" else "")
            )
        raise SchemaError(
            f"{where}: column(s) not found: {', '.join(missing)}. "
            f"Available columns: {', '.join(raw_cols)}."
            + (" Hint: " + "; ".join(hints) + "." if hints else ""),
            details={
                "missing": [wanted[r] for r in wanted if wanted[r] not in raw_cols],
                "available": raw_cols,
            },
        )


def examples_agg(condition: str, raw: str) -> str:
    """SQL aggregate: the first rows (by ``__row``) meeting ``condition``, with their text.

    Used inside one scan that counts every problem at once: no second pass to find
    the first bad rows.
    """
    return (
        f"min({{'row': __row, 'file': CAST(__file AS VARCHAR), 'value': {raw}}}, "
        f"{_MAX_EXAMPLES}) FILTER (WHERE {condition})"
    )


def examples_of(value: Any) -> list[dict[str, Any]]:
    """The rows of an :func:`examples_agg` result as ``{"row", "file", "value"}`` dicts."""
    return [{"row": int(e["row"]), "file": e["file"], "value": e["value"]} for e in (value or [])]


_INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}
TIME_TYPES = {
    "TIMESTAMP",
    "TIMESTAMP_S",
    "TIMESTAMP_MS",
    "TIMESTAMP_NS",
    "DATE",
    "TIMESTAMP WITH TIME ZONE",
}


def is_number_type(typ: str) -> bool:
    t = typ.upper()
    return t in _INTEGER_TYPES or t in ("FLOAT", "DOUBLE") or t.startswith("DECIMAL")


def text_expr(col: str, typ: str = "VARCHAR") -> str:
    """SQL: the column as text (for messages, hashes and text parsing)."""
    c = quote_ident(col)
    return c if typ.upper() == "VARCHAR" else f"CAST({c} AS VARCHAR)"


def timestamp_expr(col: str, date_format: str | None, typ: str = "VARCHAR") -> str:
    """SQL parsing a column to a UTC TIMESTAMP, NULL when it cannot be parsed.

    A typed source (a Parquet timestamp or date) is taken as it is; text is parsed.
    """
    if typ.upper() in TIME_TYPES:  # zoned values are read in UTC (the session's zone)
        return f"CAST({quote_ident(col)} AS TIMESTAMP)"
    c = f"trim({text_expr(col, typ)})"
    if date_format:
        return f"try_strptime({c}, {sql_literal(date_format)})"
    # Plain ISO text without an offset (most logs) takes the cheap cast: a zoned cast of
    # every row cost twice as much. Then ISO forms with an offset or zone (converted to
    # UTC), then Unix epoch seconds or milliseconds.
    x = text_expr(col, typ)  # (the cast takes surrounding spaces; with them, the slow path)
    naive = (
        f"CASE WHEN NOT regexp_matches({x}, '[+Zz]|[A-Za-z]{{2}}|[0-9]-[0-9:]+$') "
        f"THEN TRY_CAST({x} AS TIMESTAMP) END"
    )
    return (
        f"COALESCE({naive}, CAST(TRY_CAST({c} AS TIMESTAMPTZ) AS TIMESTAMP), "
        f"CASE WHEN regexp_full_match({c}, '\\d{{9,10}}(\\.\\d+)?') "
        f"THEN CAST(to_timestamp(CAST({c} AS DOUBLE)) AS TIMESTAMP) "
        f"WHEN regexp_full_match({c}, '\\d{{12,13}}') "
        f"THEN CAST(to_timestamp(CAST({c} AS DOUBLE) / 1000) AS TIMESTAMP) END)"
    )


def number_expr(col: str, sql_type: str, max_abs: float, typ: str = "VARCHAR") -> str:
    """SQL parsing a column to a number; NULL for text, NaN, ±inf or magnitudes beyond ``max_abs``.

    Numbers of a typed source are cast, not printed and parsed again.
    """
    # (DuckDB's casts from text take surrounding whitespace: no trim, which costs per row)
    source = quote_ident(col) if is_number_type(typ) else text_expr(col, typ)
    c = f"TRY_CAST({source} AS {sql_type})"
    finite = "" if sql_type.startswith("DECIMAL") else f" AND isfinite({c})"
    return f"CASE WHEN abs({c}) <= {max_abs!r}{finite} THEN {c} END"


#: Text that means "no value" in numeric and date columns (not a bad value).
_MISSING_MARKERS = ("", "na", "n/a", "null", "none", "-", "?")


def present_expr(col: str, typ: str = "VARCHAR") -> str:
    """SQL: the column holds a value (text other than a missing-value marker)."""
    if typ.upper() != "VARCHAR":
        return f"({quote_ident(col)} IS NOT NULL)"
    markers = ", ".join(sql_literal(m) for m in _MISSING_MARKERS)
    c = quote_ident(col)
    return f"({c} IS NOT NULL AND {c} <> '' AND lower(trim({c})) NOT IN ({markers}))"


def label_expr(col: str, typ: str = "VARCHAR") -> str:
    """SQL: a label column (event name, category, ids) as trimmed text, NULL when empty."""
    if typ.upper() != "VARCHAR":
        return f"CAST({quote_ident(col)} AS VARCHAR)"
    c = quote_ident(col)
    # trim only values that have a space to trim: trimming every value costs per row
    return (
        f"CASE WHEN {c} = '' THEN NULL WHEN {c} LIKE ' %' OR {c} LIKE '% ' "
        f"THEN NULLIF(trim({c}), '') ELSE {c} END"
    )


def user_id_expr(col: str | None, typ: str = "VARCHAR") -> str:
    """Trimmed id; ids written as floats by spreadsheets ('17850.0') become '17850'."""
    if col is None:
        return "CAST(__row AS VARCHAR)"
    if typ.upper() in _INTEGER_TYPES:
        return f"CAST({quote_ident(col)} AS VARCHAR)"
    x = text_expr(col, typ)
    # trim and the regular expression only where they can change the value: both cost
    return (
        f"CASE WHEN {x} = '' THEN NULL WHEN {x} LIKE '%.%' OR {x} LIKE ' %' OR {x} LIKE '% ' "
        f"THEN NULLIF(regexp_replace(trim({x}), '^(-?[0-9]+)\\.0+$', '\\1'), '') "
        f"ELSE {x} END"
    )


def policy_dict(policy: RowPolicy, now: dt.datetime | None = None) -> dict[str, Any]:
    d = asdict(policy)
    d["now"] = (policy.now or now).isoformat() if (policy.now or now) else None
    return d


def raise_rejected(
    where: str, rows_read: int, issues: list[Issue], notes: list[str], rejected: list[Issue]
) -> None:
    first = rejected[0]
    summary = "; ".join(i.line(action=False) for i in rejected)
    hints = {i.action.split("(pass ")[1].rstrip(")") for i in rejected if "(pass " in i.action}
    if hints:
        summary += f" ({'; '.join(sorted(hints))})"
    lead = notes[-1] + ". " if notes else ""
    raise DataError(
        f"{where}: import rejected, nothing written. {lead}{summary}",
        details={
            "rows_read": rows_read,
            "issues": [asdict(i) for i in issues],
            "column": first.column,
            "notes": notes,
        },
    )
