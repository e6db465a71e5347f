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
from userseg.io.private import ImportGuard, PrivacyOptions
from userseg.io.readers import Scan, check_shape, no_rows, open_source, read_errors
from userseg.io.texts import clear_texts, write_texts
from userseg.io.validate import TIME_TYPES as _TIME_TYPES
from userseg.io.validate import (
    IngestProgress,
    IngestReport,
    Issue,
    detect_user_id,
    sanitize_name,
)
from userseg.io.validate import examples_agg as _examples_agg
from userseg.io.validate import examples_of as _examples_of
from userseg.io.validate import is_number_type as _is_number_type
from userseg.io.validate import label_expr as _label_expr
from userseg.io.validate import number_expr as _number_expr
from userseg.io.validate import policy_dict as _policy_dict
from userseg.io.validate import present_expr as _present
from userseg.io.validate import raise_rejected as _raise_rejected
from userseg.io.validate import require_columns as _require_columns
from userseg.io.validate import sql_literal as _lit
from userseg.io.validate import text_expr as _text
from userseg.io.validate import timestamp_expr as _timestamp_expr
from userseg.io.validate import user_id_expr as _user_id_expr

__all__ = ["ingest_users"]

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


def ingest_users(
    db: Database,
    source: Source,
    mapping: UserMapping | None = None,
    policy: RowPolicy | None = None,
    *,
    table: str = "users",
    progress: IngestProgress | None = None,
    privacy: PrivacyOptions | None = None,
) -> IngestReport:
    """Read a user table (one row per user, attribute columns) into ``table``.

    Column kinds are inferred (numeric, date, categorical) unless forced by
    ``mapping``, or taken from a typed source (Parquet); names are made SQL-safe
    (``emp.var.rate`` → ``emp_var_rate``); the kinds are recorded in
    ``userseg_columns`` for the feature step. Identifier-like text columns (almost
    one value per user) and empty columns are kept out of the features, with a
    note. The source is read in streaming passes (profile, check, write), never
    held in memory. Personal data is judged, pseudonymised or left out as
    :mod:`userseg.io.private` says (``privacy``: keys and overrides).
    """
    mapping = mapping or UserMapping()
    policy = policy or RowPolicy(on_bad_value="impute")
    policy.validate()
    t0 = time.perf_counter()
    with db.transaction():
        scan = open_source(db, source, "users")
        try:
            with read_errors(scan, source):
                check_shape(db, scan)
                run = _UserImport(db, scan, source, mapping, policy, progress)
                run.privacy = privacy
                report = run.run(table)
        finally:
            scan.close(db)
    report.seconds = time.perf_counter() - t0
    return report


class _UserImport:
    """The passes of one user-table import."""

    def __init__(
        self,
        db: Database,
        scan: Scan,
        source: Source,
        mapping: UserMapping,
        policy: RowPolicy,
        progress: IngestProgress | None,
    ) -> None:
        self.db, self.scan, self.source, self.mapping = db, scan, source, mapping
        self.policy, self.progress = policy, progress
        self.rows_hint = scan.estimate_rows()
        self.rel = scan.numbered()
        self.privacy: PrivacyOptions | None = None

    def _type(self, col: str) -> str:
        return self.scan.types.get(col, "VARCHAR")

    def _run(self, stage: str, share: tuple[float, float], sql: str) -> list[tuple]:
        if self.progress is None:
            return self.db.rows(sql)
        start, width = share
        rows, progress = self.rows_hint, self.progress

        def report(fraction: float, seconds: float) -> None:
            rate = fraction * rows / seconds if rows and seconds > 0.5 and fraction else None
            progress(stage, start + width * fraction, rate)

        return self.db.run(sql, progress=report)

    def _profile(self, c: str) -> list[str]:
        """Aggregates: values present, numbers among them, dates among them, distinct values."""
        typ = self._type(c).upper()
        q = quote_ident(c)
        if _is_number_type(typ):
            return [f"count({q})", f"count({q})", "0", f"approx_count_distinct({q})"]
        if typ in _TIME_TYPES:
            return [f"count({q})", "0", f"count({q})", f"approx_count_distinct({q})"]
        text = _text(c, typ)
        present = _present(c) if typ == "VARCHAR" else f"({q} IS NOT NULL)"
        return [
            f"count(*) FILTER (WHERE {present})",
            f"count(*) FILTER (WHERE {present} AND isfinite(TRY_CAST(trim({text}) AS DOUBLE)))",
            f"count(*) FILTER (WHERE {present} AND "
            f"({_timestamp_expr(c, self.mapping.date_format, typ)}) IS NOT NULL)",
            f"approx_count_distinct({text})",
        ]

    def _parsed(self, c: str, kind: str) -> str:
        typ = self._type(c)
        if kind == "numeric":
            return _number_expr(c, "DOUBLE", self.policy.max_abs_value, typ)
        if kind == "date":
            return _timestamp_expr(c, self.mapping.date_format, typ)
        return _label_expr(c, typ)

    def run(self, table: str) -> IngestReport:
        db, mapping, policy, where = self.db, self.mapping, self.policy, self.scan.where
        raw_cols = self.scan.columns
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
        text_col = getattr(mapping, "text", None)
        _require_columns(
            raw_cols,
            {f"column {c}": c for c in [*wanted, *forced, *mapping.exclude]}
            | ({"text": text_col} if text_col else {}),
            where,
        )
        # the text column becomes text features (io.texts), not an attribute
        wanted = [c for c in wanted if c not in set(mapping.exclude) and c != text_col]
        guard = ImportGuard.inspect(  # personal data: io/private.py
            db, self.scan.relation, [id_col or "", *wanted], id_col, self.privacy, where
        )
        wanted = [c for c in wanted if not guard.left_out(c)]

        # 1. Profile every column in one scan: values present, numbers, dates, distinct.
        parts = ["count(*)"]
        for c in wanted:
            parts += self._profile(c)
        prof = self._run("profiling", (0.0, 0.3), f"SELECT {', '.join(parts)} FROM {self.rel}")[0]
        rows_read, prof = int(prof[0]), prof[1:]
        if rows_read == 0:
            raise no_rows(self.scan, self.source)

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
            usable[c] = ok and guard.feature_ok(c)

        names: dict[str, str] = {}
        taken = {"user_id"}
        for c in kinds:
            name = sanitize_name(c)
            base, n = name, 2
            while name in taken:
                name, n = f"{base}_{n}", n + 1
            taken.add(name)
            names[c] = name

        # 2. One scan counts bad values (with the first examples), missing ids and repeats.
        uid = guard.id_sql(_user_id_expr(id_col, self._type(id_col) if id_col else "VARCHAR"))
        bad: dict[str, str] = {}
        for c, kind in kinds.items():
            if kind != "categorical":
                bad[c] = f"({self._parsed(c, kind)}) IS NULL AND {_present(c, self._type(c))}"
        years = [
            c
            for c, k in kinds.items()
            if k == "numeric" and _YEAR_NAME.search(c) and not _is_date_type(self._type(c))
        ]
        this_year = dt.date.today().year
        aggs = [
            f"count(*) FILTER (WHERE ({uid}) IS NULL)",
            f"count(*) FILTER (WHERE ({uid}) IS NOT NULL) - count(DISTINCT {uid})",
        ]
        for c, cond in bad.items():
            aggs += [
                f"count(*) FILTER (WHERE {cond})",
                _examples_agg(cond, _text(c, self._type(c))),
            ]
        for c in years:
            num = _number_expr(c, "DOUBLE", policy.max_abs_value, self._type(c))
            out = f"({num}) NOT BETWEEN {_FIRST_YEAR} AND {this_year + 1}"
            aggs += [
                f"count(*) FILTER (WHERE ({num}) BETWEEN 1000 AND 9999)",
                f"count(*) FILTER (WHERE {out})",
                _examples_agg(out, _text(c, self._type(c))),
            ]
        drop_conditions = [bad[c] for c in bad if policy.for_column(c) == "drop"]
        any_drop = " OR ".join(f"COALESCE({c}, false)" for c in drop_conditions) or "false"
        aggs.append(f"count(*) FILTER (WHERE {any_drop})")
        row = self._run("checking", (0.3, 0.3), f"SELECT {', '.join(aggs)} FROM {self.rel}")[0]
        n_missing_id, n_dup = int(row[0]), int(row[1])
        k = 2
        rejected: list[Issue] = []
        for c in bad:
            n_bad, ex = row[k], row[k + 1]
            k += 2
            if not n_bad:
                continue
            col_policy = policy.for_column(c)
            kind = kinds[c]
            expected = "a number (not text, NaN, inf or huge)" if kind == "numeric" else "a date"
            action = {
                "drop": "rows dropped",
                "impute": "values left missing (imputed later)",
                "reject": "rows rejected",
            }[col_policy]
            issue = Issue(
                "bad_number" if kind == "numeric" else "bad_date",
                c,
                int(n_bad),
                f"{action}; expected {expected}",
                _examples_of(ex),
            )
            issues.append(issue)
            if col_policy == "reject":
                rejected.append(issue)
        year_issues = []
        for c in years:
            n_years, n_out, ex = row[k : k + 3]
            k += 3
            present = prof[4 * wanted.index(c)]
            if n_out and n_years >= 0.9 * present:  # a column of years, a few impossible
                year_issues.append(
                    Issue(
                        "out_of_range",
                        c,
                        int(n_out),
                        f"kept; years before {_FIRST_YEAR} or after {this_year + 1} are "
                        "probably typos: check the source",
                        _examples_of(ex),
                    )
                )
        n_drop = int(row[k])
        if drop_conditions and not rejected and n_drop > policy.max_bad_fraction * rows_read:
            rejected = [i for i in issues if i.kind.startswith("bad_")]
            notes.append(
                f"{n_drop} of {rows_read} rows ({n_drop / rows_read:.1%}) would be dropped, "
                f"over the {policy.max_bad_fraction:.0%} limit (max_bad_fraction); "
                "use on_bad_value=impute to keep them with the value missing"
            )
        if rejected:
            _raise_rejected(where, rows_read, issues, notes, rejected)
        if n_missing_id:
            issues.append(Issue("missing_user_id", id_col, n_missing_id, "rows dropped"))
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
                dates = [c for c, kd in kinds.items() if kd == "date"]
                time_hint = f"--time {dates[0]}" if dates else "--time COLUMN"
                notes.append(
                    f"{n_dup:,} of {rows_read:,} rows repeat a user id and were merged into "
                    "one row per user: if this is an event log (one row per event), import "
                    f"it with --kind events {time_hint}"
                )
        # what the analyst must see, listed after the issues that changed rows
        issues += self._quality(kinds, forced, prof, wanted, rows_read, year_issues)

        # 3. Write: rows of users seen once as they are, repeated users merged.
        # (row numbers only where they matter: they make the write follow one thread)
        numbered = bool(n_dup) or id_col is None
        select = ", ".join(
            [f"{uid} AS user_id", "__row" if numbered else "NULL::BIGINT AS __row"]
            + [
                f"{guard.value_sql(c, self._parsed(c, kind))} AS {quote_ident(names[c])}"
                for c, kind in kinds.items()
            ]
        )
        keep = " AND ".join(f"NOT COALESCE({c}, false)" for c in drop_conditions) or "true"
        keep += f" AND {guard.keep_sql(uid)}"
        source = self.rel if numbered else self.scan.relation
        parsed = f"SELECT {select} FROM {source} WHERE {keep}"
        cols = ", ".join(["user_id", *(quote_ident(n) for n in names.values())])
        t = quote_ident(table)
        if not n_dup:
            self._run(
                "writing",
                (0.6, 0.4),
                f"CREATE OR REPLACE TABLE {t} AS SELECT {cols} FROM ({parsed}) "
                "WHERE user_id IS NOT NULL",
            )
        else:
            self._run(
                "finding repeated users",
                (0.6, 0.15),
                f"CREATE OR REPLACE TEMP TABLE __repeated AS SELECT user_id FROM ({parsed}) "
                "WHERE user_id IS NOT NULL GROUP BY user_id HAVING count(*) > 1",
            )
            self._run(
                "writing",
                (0.75, 0.25),
                f"CREATE OR REPLACE TABLE {t} AS SELECT {cols} FROM ({parsed}) "
                "WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT user_id FROM __repeated)",
            )
            aggs = ", ".join(
                f"first({quote_ident(n)} ORDER BY __row) FILTER (WHERE {quote_ident(n)} "
                f"IS NOT NULL) AS {quote_ident(n)}"
                for n in names.values()
            )
            db.execute(
                f"INSERT INTO {t} SELECT user_id{', ' + aggs if aggs else ''} FROM ({parsed}) "
                "WHERE user_id IN (SELECT user_id FROM __repeated) "
                "GROUP BY user_id ORDER BY min(__row)"
            )
            db.execute("DROP TABLE __repeated")
        loaded = int(db.scalar(f"SELECT count(*) FROM {t}"))
        if loaded == 0:
            raise DataError(f"{where}: no valid rows left after validation.")
        if text_col:  # issue 16: one text per user, kept users only
            rows = (f"SELECT {uid} AS user_id, NULL::TIMESTAMP AS ts, "
                    f"{_text(text_col, self._type(text_col))} AS __t FROM {self.rel}")
            issues += write_texts(db, f"SELECT * FROM ({rows}) WHERE user_id IN "
                                  f"(SELECT user_id FROM {t})", column=text_col,
                                  origin="users", where=where)
        else:
            clear_texts(db, "users")  # the table replaced without texts: theirs go too
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
        columns = {"user_id": id_col or "(row number)"} | {names[c]: c for c in kinds}
        report = IngestReport(
            table=table,
            source=where,
            rows_read=rows_read,
            rows_loaded=loaded,
            users=loaded,
            columns=columns,
            issues=issues,
            notes=notes,
            policy=_policy_dict(policy),
        )
        return guard.finish(report, self.rel, uid)

    def _quality(
        self,
        kinds: dict[str, str],
        forced: dict[str, str],
        prof: tuple,
        wanted: list[str],
        rows_read: int,
        year_issues: list[Issue],
    ) -> list[Issue]:
        """What an analyst must know about a user table before segmenting it.

        Missing values per column, calendar years out of range (a birth year of
        1893), and text columns that are dates in a form needing ``--date-format``
        (they would otherwise become a category with one level per day). A trial
        saw all of these only in the report's notes.
        """
        issues: list[Issue] = []
        years = {i.column: i for i in year_issues}
        for c, kind in kinds.items():
            present = prof[4 * wanted.index(c)]
            n_missing = rows_read - present
            if n_missing and present:
                action = "left missing" + (" (imputed later)" if kind != "categorical" else "")
                issues.append(Issue("missing_value", c, n_missing, action))
            if c in years:
                issues.append(years[c])
            if (
                kind == "categorical"
                and c not in forced
                and not self.mapping.date_format
                and self._type(c).upper() == "VARCHAR"
            ):
                issue = self._unparsed_dates(c, present)
                if issue is not None:
                    issues.append(issue)
        return issues

    def _unparsed_dates(self, col: str, present: int) -> Issue | None:
        """An issue when most of a text column looks like dates the ISO reader cannot take."""
        text = f"trim({quote_ident(col)})"
        like = f"regexp_matches({text}, {_lit(_DATE_LIKE)})"
        n_like, distinct, sample = self.db.execute(
            f"SELECT count(*) FILTER (WHERE {like}), "
            f"approx_count_distinct({text}) FILTER (WHERE {like}), "
            f"any_value({text}) FILTER (WHERE {like}) FROM {self.rel}"
        ).fetchone()
        if not present or n_like < 0.9 * present:
            return None
        sep = next((ch for ch in str(sample) if ch in "-/."), "-")
        formats = _date_formats(sep)
        row = self.db.execute(
            "SELECT "
            + ", ".join(
                f"count(try_strptime({text}, {_lit(f)})) FILTER (WHERE {like})" for f in formats
            )
            + ", "
            + _examples_agg(like, quote_ident(col))
            + f" FROM {self.rel}"
        ).fetchone()
        fits = [f for f, n in zip(formats, row[:-1], strict=True) if n == n_like]
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
            _examples_of(row[-1]),
        )


def _is_date_type(typ: str) -> bool:
    return typ.upper() in _TIME_TYPES
