"""Ingest an event log or a user table into the userseg database, validated, in one transaction.

What is wrong in the data is counted, handled by a stated policy and reported;
it is never silently coerced:

============================  ===============================================
problem                       policy (default)
============================  ===============================================
missing user id               row dropped (anonymous traffic), counted
unparseable or missing time   row dropped, or the import fails (``reject``)
text / NaN / inf / 1e308      row dropped, value left missing (``impute``), or
in a numeric column           the import fails (``reject``)
too many bad rows             import fails above ``max_bad_fraction`` (1 %)
negative money                kept, as a return (``refund`` event, negative amount)
future timestamp              row rejected (dropped), or the import fails
duplicate event rows          dropped (same event id, or identical in every column)
duplicate user ids            merged: first non-missing value per column
============================  ===============================================

Money is parsed from its text into ``DECIMAL(38, 8)``, never through binary
floating point, so totals keep every cent.

The source is read in streaming passes and never held in memory (staging it
as a table spilled 6 GB at 30M events and took three times longer): one
aggregate that parses every mapped column and counts every problem above with
its first examples; one that groups a 64-bit hash of the duplicate key, read
from the key columns alone; one that parses only the rows whose key repeats and
decides exactly, in file order; and one that writes the table, in the source's
order. A typed source (Parquet) is read as typed; only text sources are parsed
from text. DuckDB's memory stays under the database's limit
(:meth:`Database.set_memory_limit`), spilling beside the database beyond it.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from userseg.config import EventMapping, RowPolicy, Source
from userseg.errors import ConfigError, DataError
from userseg.io import changes
from userseg.io.database import Database, quote_ident
from userseg.io.private import ImportGuard, PrivacyOptions
from userseg.io.readers import Scan, check_shape, no_rows, open_source, read_errors
from userseg.io.texts import clear_texts, write_texts
from userseg.io.users import ingest_users
from userseg.io.validate import (
    MONEY,
    IngestProgress,
    IngestReport,
    Issue,
    sanitize_name,
)
from userseg.io.validate import examples_agg as _examples_agg
from userseg.io.validate import examples_of as _examples_of
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

__all__ = [
    "MONEY",
    "IngestProgress",
    "IngestReport",
    "Issue",
    "ingest_events",
    "ingest_users",
    "sanitize_name",
]


#: The columns of the canonical event table, in order, with their SQL types.
EVENT_COLUMNS = {
    "user_id": "VARCHAR",
    "ts": "TIMESTAMP",
    "event": "VARCHAR",
    "event_raw": "VARCHAR",
    "amount": MONEY,
    "quantity": "DOUBLE",
    "category": "VARCHAR",
    "session_id": "VARCHAR",
    "rating": "DOUBLE",
    "order_id": "VARCHAR",
    "event_id": "VARCHAR",
}

#: Product ids (for recommendations): a column of the event table only when mapped.
ITEM_COLUMN = {"item": "VARCHAR"}


def _with_item(db: Database, table: str, mode: str, mapping: EventMapping) -> bool:
    """Whether the written rows carry an ``item`` column.

    A new or replaced table has one exactly when the item column is mapped; an
    appended batch follows the table (its items unknown when it maps none), and
    mapping items onto a table without the column is refused, since the rows
    already stored would silently lack them.
    """
    if mode == "replace" or not db.table_exists(table):
        return mapping.item is not None
    has = "item" in db.columns(table)
    if mapping.item and not has:
        raise ConfigError(
            f"cannot append items ({mapping.item!r}) to table {table!r}, which was imported "
            "without an item column; import the whole log again with the item column mapped."
        )
    return has


def ingest_events(
    db: Database,
    source: Source,
    mapping: EventMapping | None = None,
    policy: RowPolicy | None = None,
    *,
    table: str = "events",
    mode: str = "replace",
    progress: IngestProgress | None = None,
    privacy: PrivacyOptions | None = None,
) -> IngestReport:
    """Read an event log into ``table`` (canonical columns), validated, in one transaction.

    The canonical event table has ``user_id, ts, event, event_raw, amount,
    quantity, category, session_id, rating, order_id, event_id`` (and ``item``
    when the mapping names a product column); ``event`` is one of ``view, cart,
    purchase, refund, rating, other``. Rows keep the source's order.

    Parameters
    ----------
    db : Database
    source : Source
    mapping : EventMapping
        Which source column holds the user id, the time, the amount…
    policy : RowPolicy
        What to do with bad, duplicate and future rows.
    table : str
        Destination table.
    mode : {"replace", "append"}
        Replace the table, or append to it. Appended rows are checked against
        the table by user id and event id (an id is unique per user, as within
        one file); without event ids, a row identical in every stored column to
        a stored row is skipped (the same export read again). Map ``event_id``
        when exports overlap and identical events can happen.
    progress : callable, optional
        Called while the source is read, as ``progress(stage, fraction, rows_per_second)``.
    privacy : PrivacyOptions, optional
        Keys and overrides for personal data (:mod:`userseg.io.private`). None
        judges nothing: :func:`userseg.jobs.pipeline.ingest` and the command line always
        pass options (by default the key of ``USERSEG_SECRET_KEY``, when set).

    Returns
    -------
    IngestReport

    Raises
    ------
    DataError
        Unreadable source, no rows, or more bad rows than the policy allows; nothing is written.
    SchemaError
        A mapped column is not in the source.
    SecretKeyError
        The user ids are personal data and no key was given.
    """
    mapping = mapping or EventMapping()
    policy = policy or RowPolicy()
    policy.validate()
    if mode not in ("replace", "append"):
        raise ConfigError(f"mode must be 'replace' or 'append'; got {mode!r}.")
    if not mapping.amount and bool(mapping.quantity) != bool(mapping.price) and mapping.quantity:
        raise ConfigError("quantity needs price (amount = quantity × price), or map amount.")
    if mapping.amount and mapping.price:
        # both would be silently resolved in favour of amount, dropping quantity × price
        raise ConfigError(
            f"map either the amount ({mapping.amount!r}) or the price ({mapping.price!r}, "
            "with the quantity: amount = quantity × price), not both."
        )
    t0 = time.perf_counter()
    now = policy.now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with db.transaction():
        with_item = _with_item(db, table, mode, mapping)  # before reading anything
        scan = open_source(db, source, "events")
        try:
            _require_columns(scan.columns, mapping.mapped(), scan.where)
            with read_errors(scan, source):
                check_shape(db, scan)
                run = _EventImport(db, scan, source, mapping, policy, now, progress)
                run.with_item = with_item
                run.guard = ImportGuard.inspect(  # personal data: io/private.py
                    db,
                    scan.relation,
                    _stored_columns(mapping),
                    mapping.user_id,
                    privacy,
                    scan.where,
                )
                report = run.guard.finish(run.run(table, mode), scan.relation, run.stored_id())
        finally:
            scan.close(db)
    report.source = source.describe()
    report.seconds = time.perf_counter() - t0
    return report


@dataclass
class _Check:
    """A numeric column's bad-value check: its condition over the parsed rows and its policy."""

    canon: str
    column: str
    condition: str
    expected: str
    policy: str


class _EventImport:
    """The SQL of one event-log import, and its three passes over the source."""

    def __init__(
        self,
        db: Database,
        scan: Scan,
        source: Source,
        mapping: EventMapping,
        policy: RowPolicy,
        now: dt.datetime,
        progress: IngestProgress | None,
    ) -> None:
        self.db, self.scan, self.source, self.mapping, self.policy = (
            db,
            scan,
            source,
            mapping,
            policy,
        )
        self.now, self.progress = now, progress
        #: whether the rows written carry an ``item`` column (see :func:`_with_item`)
        self.with_item = False
        self.mapped = mapping.mapped()
        self.rows_hint = scan.estimate_rows()
        self.guard = ImportGuard(db, PrivacyOptions(detect=False), mapping.user_id)
        self.checks = self._checks()
        #: whether some rows lack an event id (known after the first pass; until then, yes)
        self.missing_event_ids = True
        #: the source's rows parsed, with whether the policy keeps each
        self.parsed = self._parsed_sql()
        self.parsed_unnumbered = self._parsed_sql(numbered=False)

    # -- SQL -----------------------------------------------------------------------------
    def stored_id(self) -> str:
        """SQL over the source: the user id as the table stores it."""
        m = self.mapping
        return self.guard.id_sql(_user_id_expr(m.user_id, self._type(m.user_id)))

    def _type(self, col: str | None) -> str:
        return self.scan.types.get(col or "", "VARCHAR")

    def _num(self, col: str, sql_type: str) -> str:
        return _number_expr(col, sql_type, self.policy.max_abs_value, self._type(col))

    def _money(self) -> str:
        m, limit = self.mapping, self.policy.max_abs_value
        if m.amount:
            return self._num(m.amount, MONEY)
        if not m.price:
            return f"CAST(NULL AS {MONEY})"
        price = self._num(m.price, MONEY)
        qty = self._num(m.quantity, MONEY) if m.quantity else "1"
        # DECIMAL(38, 8) × DECIMAL(38, 8) keeps 16 decimals and so only 22 integer
        # digits: two in-range factors can overflow. A float estimate of the product
        # guards the exact multiplication; a product out of range is a bad value.
        p_f = self._num(m.price, "DOUBLE")
        q_f = self._num(m.quantity, "DOUBLE") if m.quantity else "1.0"
        exact = f"CAST(({price}) * ({qty}) AS {MONEY})"
        return f"CASE WHEN abs({p_f} * {q_f}) <= {limit!r} THEN {exact} END"

    def _kind(self) -> str:
        """SQL: the canonical kind before refunds (view, cart, purchase, refund, rating, other)."""
        if not self.mapping.event:
            return "CASE WHEN money IS NOT NULL THEN 'purchase' ELSE 'other' END"
        lookup = self.mapping.event_lookup()
        whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in lookup.items())
        return f"CASE lower(event_raw) {whens} ELSE 'other' END"

    def _checks(self) -> list[_Check]:
        m, limit = self.mapping, self.policy.max_abs_value
        out = []
        for canon, col in (
            ("amount", m.amount),
            ("price", m.price),
            ("quantity", m.quantity),
            ("rating", m.rating),
        ):
            if col:
                out.append(
                    _Check(
                        canon,
                        col,
                        f"{canon}_bad",
                        f"expected a number; text, NaN, inf or |x| > {limit:g}",
                        self.policy.for_column(col),
                    )
                )
        if m.price and not m.amount:
            out.append(
                _Check(
                    "price",
                    m.price,
                    "product_bad",
                    f"price × quantity beyond |x| > {limit:g}",
                    self.policy.for_column(m.price),
                )
            )
        return out

    def _parsed_sql(self, numbered: bool = True, where: str | None = None) -> str:
        """One row per source row: parsed canonical values, what is wrong, and a row key.

        Never materialised: each pass reads the source through it, and DuckDB reads
        and parses only the columns that pass uses (the raw text of a column, kept
        for the first examples of its problems, is read by the checking pass alone).
        ``numbered=False`` leaves out the row number (a pass that needs no order);
        ``where`` filters the source's rows before anything is parsed.
        """
        m, mp = self.mapping, self.mapped
        inner = [
            "__row" if numbered else "NULL::BIGINT AS __row",
            "CAST(__file AS VARCHAR) AS __file",
            f"{_user_id_expr(m.user_id, self._type(m.user_id))} AS user_id",
            f"{_timestamp_expr(m.time, m.date_format, self._type(m.time))} AS ts",
            f"{self._money()} AS money",
            f"{_label_expr(m.event, self._type(m.event))} AS event_raw"
            if m.event
            else "NULL::VARCHAR AS event_raw",
        ]
        for canon, out in (
            ("category", "category"),
            ("session", "session_id"),
            ("order_id", "order_id"),
            ("event_id", "event_id"),
            ("item", "item"),
        ):
            col = mp.get(canon)
            inner.append(
                f"{_label_expr(col, self._type(col))} AS {out}"
                if col
                else f"NULL::VARCHAR AS {out}"
            )
        for canon, sql_type in (("quantity", "DOUBLE"), ("rating", "DOUBLE")):
            col = mp.get(canon)
            inner.append(
                f"{self._num(col, sql_type)} AS {canon}" if col else f"NULL::DOUBLE AS {canon}"
            )
        if m.text:  # the raw text, stored by io.texts (issue 16)
            inner.append(f"{_text(m.text, self._type(m.text))} AS __t")
        raws = ["time"]
        for chk in self.checks:
            if chk.condition == "product_bad":
                both = (
                    self._num(m.price, MONEY)
                    + " IS NOT NULL"
                    + (f" AND {self._num(m.quantity, MONEY)} IS NOT NULL" if m.quantity else "")
                )
                inner.append(f"(money IS NULL AND {both}) AS product_bad")
            else:
                parsed = self._num(
                    chk.column, MONEY if chk.canon in ("amount", "price") else "DOUBLE"
                )
                inner.append(
                    f"(({parsed}) IS NULL AND {_present(chk.column, self._type(chk.column))}) "
                    f"AS {chk.canon}_bad"
                )
                raws.append(chk.canon)
        money_col = m.amount or m.price
        if money_col:
            inner.append(f"{self._rounded(money_col)} AS money_rounded")
            raws.append("amount" if m.amount else "price")
        for canon in dict.fromkeys(raws):  # the text of these columns, for the examples
            col = mp[canon]
            inner.append(f"{_text(col, self._type(col))} AS {quote_ident('raw_' + canon)}")
        inner += [f"{self._row_hash()} AS __row_hash", f"{self._key()} AS __key"]
        source = self.scan.numbered() if numbered else self.scan.relation
        if where:
            source = f"(SELECT * FROM {source} WHERE {where})"
        mid = f"SELECT {', '.join(inner)} FROM {source}"
        return f"""
            SELECT *, {self._kept()} AS __kept FROM (
                SELECT * EXCLUDE (kind0),
                       CASE WHEN kind0 = 'purchase' AND money < 0 THEN 'refund' ELSE kind0 END
                           AS event
                FROM (SELECT *, {self._kind()} AS kind0 FROM ({mid})))"""

    # A key per row for duplicates: the same event id of the same user, or (without event
    # ids, or for a row without one) the same value in every source column, mapped or not
    # (two order lines of different products can share time and amount). Both are SQL over
    # the source's own columns, so a pass can group or filter on the key before parsing.
    def _row_hash(self) -> str:
        m = self.mapping
        if m.event_id and not self.missing_event_ids:
            return "NULL::UBIGINT"  # every row has an id: no need to read every column
        every = ", ".join(quote_ident(c) for c in self.scan.columns)
        if m.event_id:
            return (
                f"CASE WHEN ({_label_expr(m.event_id, self._type(m.event_id))}) IS NULL "
                f"THEN hash({every}) END"
            )
        return f"hash({every})"  # within one user, rows that differ never share a 64-bit hash

    def _key(self) -> str:
        m = self.mapping
        uid = _user_id_expr(m.user_id, self._type(m.user_id))
        if m.event_id:
            event_id = _label_expr(m.event_id, self._type(m.event_id))
            return f"hash({uid}, {event_id}, {self._row_hash()})"
        return f"hash({uid}, {self._row_hash()})"

    def _examples(self, value: Any) -> list[dict[str, Any]]:
        """The first bad rows as dicts (``file``: the source when rows carry no file name)."""
        out = _examples_of(value)
        for e in out:
            e["file"] = e["file"] or self.scan.label
        return out

    def _kept(self) -> str:
        """SQL over the parsed columns: whether the policy keeps the row."""
        drop = ["user_id IS NULL", "ts IS NULL"]
        drop += [c.condition for c in self.checks if c.policy == "drop"]
        if self.policy.future == "drop":
            drop.append(self._future())
        return " AND ".join(f"NOT COALESCE({c}, false)" for c in drop)

    def _rounded(self, col: str) -> str:
        """SQL: a money value with more than the 8 decimals the exact type keeps."""
        typ = self._type(col).upper()
        if typ == "VARCHAR":
            return f"regexp_matches(trim({quote_ident(col)}), '\\.[0-9]{{8}}[0-9]*[1-9]')"
        if typ.startswith("DECIMAL"):
            return f"({quote_ident(col)} <> CAST({quote_ident(col)} AS {MONEY}))"
        return "false"  # binary floats: digits beyond 8 decimals are float noise, not data

    def _future(self) -> str:
        return f"ts > TIMESTAMP {_lit(str(self.now + dt.timedelta(days=1)))}"

    # -- passes --------------------------------------------------------------------------
    def _run(self, stage: str, share: tuple[float, float], sql: str) -> list[tuple]:
        if self.progress is None:
            return self.db.rows(sql)
        start, width = share
        rows = self.rows_hint

        def report(fraction: float, seconds: float) -> None:
            rate = fraction * rows / seconds if rows and seconds > 0.5 and fraction else None
            self.progress(stage, start + width * fraction, rate)

        return self.db.run(sql, progress=report)

    def run(self, table: str, mode: str) -> IngestReport:
        db, m, policy, where = self.db, self.mapping, self.policy, self.scan.where
        money_col = m.amount or m.price
        creates = mode == "replace" or not db.table_exists(table)
        aggs = [
            "count(*)",
            "count(*) FILTER (WHERE user_id IS NULL)",
            "count(*) FILTER (WHERE ts IS NULL)",
            _examples_agg("ts IS NULL", "raw_time"),
            f"count(*) FILTER (WHERE {self._future()})",
            _examples_agg(self._future(), "raw_time"),
            "count(*) FILTER (WHERE __kept)",
            "count(*) FILTER (WHERE __kept AND money < 0)",
            "count(*) FILTER (WHERE __kept AND event = 'refund' AND money > 0)",
            "count(*) FILTER (WHERE __kept AND event = 'other')",
            "count(*) FILTER (WHERE __kept AND event = 'other' AND event_raw IS NOT NULL)",
            "count(*) FILTER (WHERE money_rounded)" if money_col else "0",
            _examples_agg("money_rounded", "raw_" + ("amount" if m.amount else "price"))
            if money_col
            else "NULL",
            "count(DISTINCT user_id) FILTER (WHERE __kept)" if creates else "0",
            "sum(abs(money)) FILTER (WHERE __kept)",
            "count(*) FILTER (WHERE event_id IS NULL)",
        ]
        for chk in self.checks:
            raw = "raw_" + chk.canon
            aggs += [f"count(*) FILTER (WHERE {chk.condition})", _examples_agg(chk.condition, raw)]
        row = self._run("checking", (0.0, 0.3), f"SELECT {', '.join(aggs)} FROM ({self.parsed})")[0]
        (
            rows_read,
            n_missing_id,
            n_bad_time,
            ex_time,
            n_future,
            ex_future,
            n_kept,
            n_neg,
            n_pos_refund,
            n_other,
            n_other_named,
            n_rounded,
            ex_rounded,
            n_users,
            money_all,
            n_without_id,
        ) = row[:16]
        rows_read = int(rows_read)
        self.missing_event_ids = bool(n_without_id)
        self.parsed = self._parsed_sql()
        self.parsed_unnumbered = self._parsed_sql(numbered=False)
        self.rows_hint = rows_read
        if rows_read == 0:
            raise no_rows(self.scan, self.source)
        issues: list[Issue] = []
        notes: list[str] = []
        warnings: list[str] = []

        # What is wrong, per column, and what the policy does about it.
        if n_missing_id == rows_read:
            raise DataError(f"{where}: column {m.user_id!r} has no user ids in any row.")
        if n_missing_id:
            issues.append(
                Issue(
                    "missing_user_id",
                    m.user_id,
                    int(n_missing_id),
                    "rows dropped (anonymous events)",
                )
            )
        bad_total = 0
        time_policy = policy.for_column(m.time)
        rejected: list[Issue] = []
        if n_bad_time:
            hint = "" if m.date_format else " (pass --date-format, e.g. '%d/%m/%Y %H:%M')"
            issue = Issue(
                "bad_time",
                m.time,
                int(n_bad_time),
                ("rows rejected" if time_policy == "reject" else "rows dropped") + hint,
                self._examples(ex_time),
            )
            issues.append(issue)
            bad_total += int(n_bad_time)
            if time_policy == "reject":
                rejected.append(issue)
        for chk, (n_bad, ex) in zip(self.checks, _pairs(row[16:]), strict=True):
            if not n_bad:
                continue
            action = {
                "drop": "rows dropped",
                "impute": "values left missing",
                "reject": "rows rejected",
            }[chk.policy]
            issue = Issue(
                "bad_number",
                chk.column,
                int(n_bad),
                f"{action} ({chk.expected})",
                self._examples(ex),
            )
            issues.append(issue)
            bad_total += int(n_bad)
            if chk.policy == "reject":
                rejected.append(issue)
        if bad_total and bad_total > policy.max_bad_fraction * rows_read and not rejected:
            rejected = [i for i in issues if i.kind in ("bad_time", "bad_number")]
            notes.append(
                f"{bad_total} of {rows_read} rows ({bad_total / rows_read:.1%}) have bad values, "
                f"over the {policy.max_bad_fraction:.0%} limit (max_bad_fraction): this looks like "
                "a wrong column mapping or format, not a few dirty rows"
            )
        if rejected:
            _raise_rejected(where, rows_read, issues, notes, rejected)
        if n_future:
            issue = Issue(
                "future_time",
                m.time,
                int(n_future),
                f"rows rejected (later than {self.now:%Y-%m-%d %H:%M} UTC)",
                self._examples(ex_future),
            )
            issues.append(issue)
            if policy.future == "reject":
                _raise_rejected(where, rows_read, issues, notes, [issue])
        if n_neg:
            col = m.amount or (f"{m.quantity} × {m.price}" if m.quantity else m.price)
            issues.append(
                Issue(
                    "negative_amount",
                    col,
                    int(n_neg),
                    "kept as returns (event 'refund', negative amount)",
                )
            )
        if n_pos_refund:
            notes.append(f"{n_pos_refund} refund events with positive amounts stored as negative")
        if n_rounded:
            issues.append(
                Issue(
                    "rounded_amount",
                    money_col,
                    int(n_rounded),
                    "rounded to 8 decimal places (the exact money type keeps 8)",
                    self._examples(ex_rounded),
                )
            )
        if m.event and n_other_named:
            unknown = db.rows(
                f"SELECT event_raw, count(*) FROM ({self.parsed}) "
                "WHERE __kept AND event = 'other' AND event_raw IS NOT NULL "
                "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
            )
            names = ", ".join(f"{v!r} ({n})" for v, n in unknown)
            issues.append(
                Issue(
                    "unknown_event",
                    m.event,
                    int(n_other),
                    f"kept as activity ('other'): {names}; map them with --map-event KIND=NAME "
                    "(or event_values in a pipeline file)",
                )
            )

        # Duplicates: the same event id, or the same row in every source column. Keys
        # that hash alike are candidates (a grouping of 64-bit numbers over the key columns
        # alone); among the kept rows of those, the exact key decides, in file order, and
        # all but the first row are dropped.
        dup_keep = ""
        if policy.duplicates == "drop" and n_kept:
            self._run(
                "finding duplicates",
                (0.3, 0.2),
                f"""
                CREATE OR REPLACE TEMP TABLE __candidates AS SELECT {self._key()} AS __key
                FROM {self.scan.relation} GROUP BY ALL HAVING count(*) > 1""",
            )
            if db.scalar("SELECT count(*) FROM __candidates"):
                # only the candidates' rows are parsed
                candidates = self._parsed_sql(
                    where=f"{self._key()} IN (SELECT __key FROM __candidates)"
                )
                exact = "user_id, event_id, __row_hash" if m.event_id else "user_id, __row_hash"
                self._run(
                    "finding duplicates",
                    (0.5, 0.1),
                    f"""
                    CREATE OR REPLACE TEMP TABLE __dups AS
                    SELECT __file, __row, money FROM (
                        SELECT __file, __row, money, row_number() OVER (
                            PARTITION BY {exact} ORDER BY __file, __row) AS __n
                        FROM ({candidates})
                        WHERE __kept)
                    WHERE __n > 1""",
                )
                n_dup, dup_money = db.execute(
                    "SELECT count(*), coalesce(sum(abs(money)), 0) FROM __dups"
                ).fetchone()
                if n_dup:
                    issue, warning = _duplicate_issue(
                        int(n_dup), money_all, (money_all or 0) - Decimal(dup_money), m.event_id
                    )
                    issues.append(issue)
                    warnings.extend(warning)
                    # a filter on row numbers keeps the source's order (a join would not)
                    dup_keep = (
                        " AND (__key NOT IN (SELECT __key FROM __candidates) OR "
                        "(__file, __row) NOT IN (SELECT (__file, __row) FROM __dups))"
                    )

        loaded, users = self._write(table, mode, dup_keep, issues, notes)
        if m.text:  # texts of the rows kept, beside the events (issue 16)
            kept = self.parsed if dup_keep else self.parsed_unnumbered
            # stored under the id the event table stores (a pseudonym for personal ids),
            # and never for a forgotten person
            uid = self.guard.id_sql("user_id")
            rows = f"SELECT * REPLACE ({uid} AS user_id) FROM ({kept}) WHERE __kept{dup_keep}"
            rows = f"SELECT * FROM ({rows}) WHERE {self.guard.keep_sql('user_id')}"
            issues += write_texts(
                db, rows, column=m.text, origin="events", where=where, mode=mode
            )
        elif mode == "replace" and table == "events":
            clear_texts(db, "events")  # the log replaced without texts: theirs go too
        if creates:
            users = int(n_users)
        for tmp in ("__candidates", "__dups"):
            db.execute(f"DROP TABLE IF EXISTS {tmp}")
        return IngestReport(
            table=table,
            source=where,
            rows_read=rows_read,
            rows_loaded=loaded,
            users=users,
            columns=self.mapped,
            issues=issues,
            notes=notes,
            policy=_policy_dict(policy, self.now),
            warnings=warnings,
        )

    def _write(
        self,
        table: str,
        mode: str,
        dup_keep: str,
        issues: list[Issue],
        notes: list[str],
    ) -> tuple[int, int]:
        """The third pass: write the kept rows; returns (rows loaded, users in the table)."""
        db, m, where = self.db, self.mapping, self.scan.where
        t = quote_ident(table)
        amount = f"CAST(CASE WHEN event = 'refund' THEN -abs(money) ELSE money END AS {MONEY})"
        cols = {
            "user_id": "user_id",
            "ts": "ts",
            "event": "event",
            "event_raw": "event_raw",
            "amount": amount,
            "quantity": "quantity",
            "category": "category",
            "session_id": "session_id",
            "rating": "rating",
            "order_id": "order_id",
            "event_id": "event_id",
        }
        types = {**EVENT_COLUMNS, **ITEM_COLUMN}
        if self.with_item:
            cols["item"] = "item"
        mp = self.mapped
        for name, canon in _TEXT_COLUMNS.items():  # personal values stored as pseudonyms
            cols[name] = self.guard.value_sql(mp.get(canon), cols[name])
        select = ", ".join(
            f"CAST({expr} AS {types[name]}) AS {name}" for name, expr in cols.items()
        )
        parsed = self.parsed if dup_keep else self.parsed_unnumbered
        keep = self.guard.keep_sql(cols["user_id"])
        body = f"SELECT {select} FROM ({parsed}) p WHERE __kept{dup_keep} AND {keep}"
        exists = db.table_exists(table)
        if mode == "replace" or not exists:
            self._run("writing", (0.6, 0.4), f"CREATE OR REPLACE TABLE {t} AS {body}")
            loaded = int(db.scalar(f"SELECT count(*) FROM {t}"))
            changes.forget(db, table)
            if loaded == 0:
                raise DataError(
                    f"{where}: no valid rows left after validation.",
                    details={"issues": [asdict(i) for i in issues]},
                )
            users = 0  # counted in the first pass
        else:
            if m.event_id:
                already = (
                    f"NOT EXISTS (SELECT 1 FROM {t} t WHERE t.event_id = f.event_id "
                    "AND t.user_id = f.user_id)"
                )
            else:
                # Without event ids a row identical in every stored column to an id-less
                # stored row is the same event imported again (the same file twice, or a
                # growing export re-read by a nightly job), as identical rows within one
                # file are.
                same = " AND ".join(
                    f"t.{c} IS NOT DISTINCT FROM f.{c}" for c in cols if c != "event_id"
                )
                already = f"NOT EXISTS (SELECT 1 FROM {t} t WHERE t.event_id IS NULL AND {same})"
            self._run(
                "writing",
                (0.6, 0.35),
                f"""
                CREATE OR REPLACE TEMP TABLE __new_events AS
                SELECT * FROM ({body}) f WHERE {already}""",
            )
            n_valid = int(db.scalar(f"SELECT count(*) FROM ({body})"))
            loaded = int(db.scalar("SELECT count(*) FROM __new_events"))
            # by name, not position (the table may carry an item column)
            db.execute(f"INSERT INTO {t} ({', '.join(cols)}) SELECT * FROM __new_events")
            changes.record(db, table, "__new_events")
            db.execute("DROP TABLE __new_events")
            notes.append(f"appended to {table}")
            n_known = n_valid - loaded
            if n_known:
                issues.append(
                    Issue(
                        "already_stored",
                        m.event_id,
                        n_known,
                        "skipped (event ids already in the table)"
                        if m.event_id
                        else "skipped (identical to rows already stored; map --event-id "
                        "to tell identical events apart)",
                    )
                )
            users = int(db.scalar(f"SELECT count(DISTINCT user_id) FROM {t}"))
        return loaded, users


#: Stored text columns of the event table and the mapping's name of their source column.
_TEXT_COLUMNS = {
    "user_id": "user_id",
    "event_raw": "event",
    "category": "category",
    "session_id": "session",
    "order_id": "order_id",
    "event_id": "event_id",
}


def _stored_columns(mapping: EventMapping) -> list[str]:
    """The source columns whose text an event table stores (judged for personal data)."""
    mp = mapping.mapped()
    return [mp[c] for c in _TEXT_COLUMNS.values() if mp.get(c)]


def _pairs(values: tuple) -> list[tuple[Any, Any]]:
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


#: Above this share of the money, dropped duplicates are said in the command's output.
DUPLICATE_MONEY_WARNING = 0.001


def _duplicate_issue(
    n_dup: int, money_all: Decimal | None, money_kept: Decimal | None, event_id: str | None
) -> tuple[Issue, list[str]]:
    """The quality-table line for dropped duplicates and, when they carried money, a warning.

    Rows identical in every column may be genuine repeats (the same item scanned twice
    into one invoice): a trial lost 255 such purchases ($4,332.88) to one table line.
    Repeated event ids are duplicates by definition and get no warning.
    """
    what = "repeated event ids" if event_id else "identical in every column"
    dropped = (money_all or Decimal(0)) - (money_kept or Decimal(0))
    share = float(dropped / money_all) if money_all else 0.0
    action = f"dropped ({what})"
    if dropped:
        action = f"dropped ({what}; {dropped:,.2f} of money, {share:.2%} of the total)"
    warnings = []
    if not event_id and share > DUPLICATE_MONEY_WARNING:
        warnings.append(
            f"{n_dup:,} rows identical in every column were dropped as duplicates, with "
            f"{dropped:,.2f} of money ({share:.2%} of the total): if they are real repeat "
            "purchases (the same item bought twice in one order), import with "
            "--keep-duplicates (duplicates: keep in a pipeline file's policy)"
        )
    return Issue("duplicate_rows", event_id, n_dup, action), warnings
