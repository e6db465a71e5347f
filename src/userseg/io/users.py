"""Import a user table: one row per user, attribute columns of inferred kinds.

Column kinds are inferred (numeric when ≥ 90 % of the values are numbers, a
date when ≥ 90 % are dates, else categorical) unless the mapping forces them;
names are made SQL-safe; duplicate users are merged (first non-missing value
per column, in file order); identifier-like text columns and empty columns
are kept out of the features, with a note.
"""

from __future__ import annotations

import datetime as dt
import re
import time

from userseg.config import RowPolicy, Source, UserMapping
from userseg.errors import DataError
from userseg.io.database import Database, quote_ident
from userseg.io.readers import read_raw
from userseg.io.validate import (
    IngestReport,
    Issue,
    _examples,
    _lit,
    _number_expr,
    _policy_dict,
    _present,
    _raise_rejected,
    _require_columns,
    _timestamp_expr,
    _user_id_expr,
    sanitize_name,
)

__all__ = ["ingest_users"]

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


#: Column names that hold calendar years (Year_Birth, yob, signup_year...).
_YEAR_NAME = re.compile(r"(year|yob|birth|(^|_)yr($|_))", re.IGNORECASE)
_FIRST_YEAR = 1900
#: Text that looks like a date in a form the ISO reader does not take (21-08-2013, 8/21/13).
_DATE_LIKE = r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?)?\s*$"


def _date_formats(sep: str) -> list[str]:
    """strptime formats a date written with ``sep`` may have, day-first ones first."""
    days = [
        f"%d{sep}%m{sep}%Y",
        f"%m{sep}%d{sep}%Y",
        f"%Y{sep}%m{sep}%d",
        f"%d{sep}%m{sep}%y",
        f"%m{sep}%d{sep}%y",
    ]
    return [d + t for d in days for t in ("", " %H:%M", " %H:%M:%S")]


def _quality_issues(
    db: Database,
    kinds: dict[str, str],
    forced: dict[str, str],
    prof: tuple,
    wanted: list[str],
    rows_read: int,
    mapping: UserMapping,
) -> list[Issue]:
    """What an analyst must know about a user table before segmenting it.

    Missing values per column, calendar years out of range (a birth year of 1893),
    and text columns that are dates in a form needing ``--date-format`` (they
    would otherwise become a category with one level per day). A trial saw all of
    these only in the report's notes.
    """
    issues: list[Issue] = []
    position = {c: i for i, c in enumerate(wanted)}
    this_year = dt.date.today().year
    for c, kind in kinds.items():
        present = prof[4 * position[c]]
        n_missing = rows_read - present
        if n_missing and present:
            action = "left missing" + (" (imputed later)" if kind != "categorical" else "")
            issues.append(Issue("missing_value", c, n_missing, action))
        if kind == "numeric" and _YEAR_NAME.search(c):
            num = f"TRY_CAST(trim({quote_ident(c)}) AS DOUBLE)"
            in_range = f"{num} BETWEEN {_FIRST_YEAR} AND {this_year + 1}"
            n_years, n_out = db.execute(
                f"SELECT count(*) FILTER (WHERE {num} BETWEEN 1000 AND 9999), "
                f"count(*) FILTER (WHERE {num} IS NOT NULL AND NOT ({in_range})) "
                "FROM __raw_users"
            ).fetchone()
            if n_out and n_years >= 0.9 * present:  # a column of years, a few impossible
                cond = f"{num} IS NOT NULL AND NOT ({in_range})"
                issues.append(
                    Issue(
                        "out_of_range",
                        c,
                        int(n_out),
                        f"kept; years before {_FIRST_YEAR} or after {this_year + 1} are "
                        "probably typos: check the source",
                        _examples(db, "__raw_users", cond, c),
                    )
                )
        if kind == "categorical" and c not in forced and not mapping.date_format:
            issue = _unparsed_dates(db, c, present)
            if issue is not None:
                issues.append(issue)
    return issues


def _unparsed_dates(db: Database, col: str, present: int) -> Issue | None:
    """An issue when most of a text column looks like dates the ISO reader cannot take."""
    text = f"trim({quote_ident(col)})"
    n_like, distinct, sample = db.execute(
        f"SELECT count(*), approx_count_distinct({text}), "
        f"any_value({text}) FROM __raw_users WHERE regexp_matches({text}, {_lit(_DATE_LIKE)})"
    ).fetchone()
    if not present or n_like < 0.9 * present:
        return None
    sep = next((ch for ch in str(sample) if ch in "-/."), "-")
    counts = db.execute(
        "SELECT "
        + ", ".join(f"count(try_strptime({text}, {_lit(f)}))" for f in _date_formats(sep))
        + f" FROM __raw_users WHERE regexp_matches({text}, {_lit(_DATE_LIKE)})"
    ).fetchone()
    fits = [f for f, n in zip(_date_formats(sep), counts, strict=True) if n == n_like]
    if len(fits) == 1:
        hint = f"pass --date-format '{fits[0]}'"
    elif fits:
        hint = (
            "pass --date-format, e.g. "
            + " or ".join(f"'{f}'" for f in fits[:2])
            + " (each reads every value: check which is right)"
        )
    else:
        hint = "pass --date-format with the format of its dates, e.g. '%d-%m-%Y'"
    return Issue(
        "unparsed_date",
        col,
        int(n_like),
        f"read as text (~{distinct:,} distinct values, so a category per date); {hint}",
        _examples(db, "__raw_users", f"regexp_matches({text}, {_lit(_DATE_LIKE)})", col),
    )


def ingest_users(
    db: Database,
    source: Source,
    mapping: UserMapping | None = None,
    policy: RowPolicy | None = None,
    *,
    table: str = "users",
) -> IngestReport:
    """Read a user table (one row per user, attribute columns) into ``table``.

    Column kinds are inferred (numeric, date, categorical) unless forced by
    ``mapping``; names are made SQL-safe (``emp.var.rate`` → ``emp_var_rate``);
    the kinds are recorded in ``userseg_columns`` for the feature step.
    Identifier-like text columns (almost one value per user) and empty columns
    are kept out of the features, with a note.
    """
    mapping = mapping or UserMapping()
    policy = policy or RowPolicy(on_bad_value="impute")
    policy.validate()
    t0 = time.perf_counter()
    where = source.describe()
    with db.transaction():
        raw_cols = read_raw(db, source, "__raw_users")
        rows_read = int(db.scalar("SELECT count(*) FROM __raw_users"))
        issues: list[Issue] = []
        notes: list[str] = []
        id_col = mapping.user_id
        if id_col is not None:
            _require_columns(raw_cols, {"user_id": id_col}, where)
        else:
            id_col = detect_user_id(raw_cols)
            notes.append(
                f"user id column: {id_col!r} (detected)"
                if id_col
                else "no user id column found: users are numbered by row"
            )
            if id_col is None and db.table_exists("events"):
                # Row numbers never match the event log's ids: the two would not join.
                notes.append(
                    "the database holds an event log, whose users these row numbers cannot "
                    "be matched to: name the id column with --user-id (user_id: in a "
                    "pipeline file) so attributes and events describe the same users"
                )
        wanted = list(mapping.columns) if mapping.columns else [c for c in raw_cols if c != id_col]
        forced: dict[str, str] = {}
        for kind, cols in (
            ("categorical", mapping.categorical),
            ("numeric", mapping.numeric),
            ("date", mapping.dates),
        ):
            for c in cols or []:
                forced[c] = kind
        _require_columns(
            raw_cols, {f"column {c}": c for c in [*wanted, *forced, *mapping.exclude]}, where
        )
        wanted = [c for c in wanted if c not in set(mapping.exclude)]

        # Profile every column in one scan: how many values are present, numbers, dates, distinct.
        parts = []
        for i, c in enumerate(wanted):
            parts += [
                f"count(*) FILTER (WHERE {_present(c)}) AS p{i}",
                f"count(*) FILTER (WHERE {_present(c)} AND "
                f"isfinite(TRY_CAST(trim({quote_ident(c)}) AS DOUBLE))) AS n{i}",
                f"count(*) FILTER (WHERE {_present(c)} AND "
                f"({_timestamp_expr(c, mapping.date_format)}) IS NOT NULL) AS d{i}",
                f"approx_count_distinct({quote_ident(c)}) AS u{i}",
            ]
        prof = db.execute(f"SELECT {', '.join(parts)} FROM __raw_users").fetchone() if parts else ()

        kinds: dict[str, str] = {}
        usable: dict[str, bool] = {}
        for i, c in enumerate(wanted):
            present, numeric, dates, distinct = prof[4 * i : 4 * i + 4]
            if c in forced:
                kind = forced[c]
            elif present == 0:
                notes.append(f"column {c!r} is empty in every row: left out")
                continue
            elif numeric >= 0.9 * present:
                kind = "numeric"
            elif dates >= 0.9 * present:
                kind = "date"
            else:
                kind = "categorical"
            kinds[c] = kind
            ok = True
            if kind == "categorical" and distinct > 50 and distinct > 0.5 * present:
                notes.append(
                    f"column {c!r} has ~{distinct} distinct values (identifier-like or "
                    "free text): stored, but not used as a feature"
                )
                ok = False
            usable[c] = ok

        # what the analyst must see, listed after the issues that changed rows
        quality = _quality_issues(db, kinds, forced, prof, wanted, rows_read, mapping)

        names: dict[str, str] = {}
        taken = {"user_id"}
        for c in kinds:
            name = sanitize_name(c)
            base, n = name, 2
            while name in taken:
                name, n = f"{base}_{n}", n + 1
            taken.add(name)
            names[c] = name

        # Parse, count bad values, apply the policy.
        select = ["__row", "__file", f"{_user_id_expr(id_col)} AS user_id"]
        drop_conditions: list[str] = []
        rejected: list[Issue] = []
        for c, kind in kinds.items():
            if kind == "numeric":
                parsed = _number_expr(c, "DOUBLE", policy.max_abs_value)
            elif kind == "date":
                parsed = _timestamp_expr(c, mapping.date_format)
            else:
                parsed = f"NULLIF(trim({quote_ident(c)}), '')"
            select.append(f"{parsed} AS {quote_ident(names[c])}")
            if kind == "categorical":
                continue
            cond = f"({parsed}) IS NULL AND {_present(c)}"
            n_bad = int(db.scalar(f"SELECT count(*) FROM __raw_users WHERE {cond}"))
            if not n_bad:
                continue
            col_policy = policy.for_column(c)
            expected = "a number (not text, NaN, inf or huge)" if kind == "numeric" else "a date"
            action = {
                "drop": "rows dropped",
                "impute": "values left missing (imputed later)",
                "reject": "rows rejected",
            }[col_policy]
            issue = Issue(
                "bad_number" if kind == "numeric" else "bad_date",
                c,
                n_bad,
                f"{action}; expected {expected}",
                _examples(db, "__raw_users", cond, c),
            )
            issues.append(issue)
            if col_policy == "reject":
                rejected.append(issue)
            elif col_policy == "drop":
                drop_conditions.append(cond)
        if drop_conditions and not rejected:
            any_bad = " OR ".join(f"COALESCE({c}, false)" for c in drop_conditions)
            n_drop = int(db.scalar(f"SELECT count(*) FROM __raw_users WHERE {any_bad}"))
            if n_drop > policy.max_bad_fraction * rows_read:
                rejected = [i for i in issues if i.kind.startswith("bad_")]
                notes.append(
                    f"{n_drop} of {rows_read} rows ({n_drop / rows_read:.1%}) would be dropped, "
                    f"over the {policy.max_bad_fraction:.0%} limit (max_bad_fraction); "
                    "use on_bad_value=impute to keep them with the value missing"
                )
        if rejected:
            _raise_rejected(where, rows_read, issues, notes, rejected)

        keep = " AND ".join(f"NOT COALESCE({c}, false)" for c in drop_conditions) or "true"
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE __users AS SELECT {', '.join(select)} "
            f"FROM __raw_users WHERE {keep}"
        )
        n_missing = int(db.scalar("SELECT count(*) FROM __users WHERE user_id IS NULL"))
        if n_missing:
            issues.append(Issue("missing_user_id", id_col, n_missing, "rows dropped"))
        n_dup = int(
            db.scalar(
                "SELECT count(*) - count(DISTINCT user_id) FROM __users WHERE user_id IS NOT NULL"
            )
        )
        if n_dup:
            issues.append(
                Issue(
                    "duplicate_user_id",
                    id_col,
                    n_dup,
                    "merged: first non-missing value per column, in file order",
                )
            )
            if n_dup > 0.5 * rows_read:
                # Most rows repeat a user: an event log was probably read as a user table.
                dates = [c for c, k in kinds.items() if k == "date"]
                time_hint = f"--time {dates[0]}" if dates else "--time COLUMN"
                notes.append(
                    f"{n_dup:,} of {rows_read:,} rows repeat a user id and were merged into "
                    "one row per user: if this is an event log (one row per event), import "
                    f"it with --kind events {time_hint}"
                )
        issues += quality
        aggs = ", ".join(
            f"first({quote_ident(n)} ORDER BY __row) FILTER (WHERE {quote_ident(n)} IS NOT NULL) "
            f"AS {quote_ident(n)}"
            for n in names.values()
        )
        db.execute(
            f"CREATE OR REPLACE TABLE {quote_ident(table)} AS "
            f"SELECT user_id{', ' + aggs if aggs else ''} FROM __users WHERE user_id IS NOT NULL "
            f"GROUP BY user_id ORDER BY min(__row)"
        )
        loaded = int(db.scalar(f"SELECT count(*) FROM {quote_ident(table)}"))
        if loaded == 0:
            raise DataError(f"{where}: no valid rows left after validation.")
        db.execute(
            "CREATE TABLE IF NOT EXISTS userseg_columns (table_name VARCHAR, "
            "column_name VARCHAR, kind VARCHAR, source_column VARCHAR, usable BOOLEAN)"
        )
        db.execute("DELETE FROM userseg_columns WHERE table_name = ?", [table])
        for c, kind in kinds.items():
            db.execute(
                "INSERT INTO userseg_columns VALUES (?, ?, ?, ?, ?)",
                [table, names[c], kind, c, usable[c]],
            )
        for tmp in ("__raw_users", "__users"):
            db.execute(f"DROP TABLE IF EXISTS {tmp}")

    columns = {"user_id": id_col or "(row number)"} | {names[c]: c for c in kinds}
    return IngestReport(
        table=table,
        source=where,
        rows_read=rows_read,
        rows_loaded=loaded,
        users=loaded,
        columns=columns,
        issues=issues,
        notes=notes,
        policy=_policy_dict(policy),
        seconds=time.perf_counter() - t0,
    )
