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
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict
from decimal import Decimal

from userseg.config import EventMapping, RowPolicy, Source
from userseg.errors import ConfigError, DataError
from userseg.io.database import Database, quote_ident
from userseg.io.readers import read_raw
from userseg.io.users import ingest_users
from userseg.io.validate import (
    MONEY,
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

__all__ = ["MONEY", "IngestReport", "Issue", "ingest_events", "ingest_users", "sanitize_name"]


def ingest_events(
    db: Database,
    source: Source,
    mapping: EventMapping | None = None,
    policy: RowPolicy | None = None,
    *,
    table: str = "events",
    mode: str = "replace",
) -> IngestReport:
    """Read an event log into ``table`` (canonical columns), validated, in one transaction.

    The canonical event table has ``user_id, ts, event, event_raw, amount,
    quantity, category, session_id, rating, order_id, event_id``; ``event`` is
    one of ``view, cart, purchase, refund, rating, other``.

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

    Returns
    -------
    IngestReport

    Raises
    ------
    DataError
        Unreadable source, no rows, or more bad rows than the policy allows; nothing is written.
    SchemaError
        A mapped column is not in the source.
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
    where = source.describe()
    mapped = mapping.mapped()
    lookup = mapping.event_lookup()
    now = policy.now or dt.datetime.now(dt.UTC).replace(tzinfo=None)

    with db.transaction():
        raw_cols = read_raw(db, source, "__raw_events")
        _require_columns(raw_cols, mapped, where)
        rows_read = int(db.scalar("SELECT count(*) FROM __raw_events"))
        issues: list[Issue] = []
        notes: list[str] = []
        warnings: list[str] = []

        # 1. Parse every mapped column from text, keeping the text beside it for messages.
        money_expr: str | None = None
        if mapping.amount:
            money_expr = _number_expr(mapping.amount, MONEY, policy.max_abs_value)
        elif mapping.price:
            price = _number_expr(mapping.price, MONEY, policy.max_abs_value)
            qty = (
                _number_expr(mapping.quantity, MONEY, policy.max_abs_value)
                if mapping.quantity
                else "1"
            )
            # DECIMAL(38, 8) × DECIMAL(38, 8) keeps 16 decimals and so only 22 integer
            # digits: two in-range factors can overflow. A float estimate of the product
            # guards the exact multiplication; a product out of range is a bad value.
            p_f = f"TRY_CAST(trim({quote_ident(mapping.price)}) AS DOUBLE)"
            q_f = (
                f"TRY_CAST(trim({quote_ident(mapping.quantity)}) AS DOUBLE)"
                if mapping.quantity
                else "1.0"
            )
            money_expr = (
                f"CASE WHEN abs({p_f} * {q_f}) <= {policy.max_abs_value!r} "
                f"THEN CAST(({price}) * ({qty}) AS {MONEY}) END"
            )
        numeric_cols = {
            "amount": (mapping.amount, MONEY),
            "price": (mapping.price, MONEY),
            "quantity": (mapping.quantity, "DOUBLE"),
            "rating": (mapping.rating, "DOUBLE"),
        }
        select = [
            "__row",
            "__file",
            f"{_user_id_expr(mapping.user_id)} AS user_id",
            f"{_timestamp_expr(mapping.time, mapping.date_format)} AS ts",
            f"{money_expr} AS money" if money_expr else f"CAST(NULL AS {MONEY}) AS money",
        ]
        for canon in ("event", "category", "session", "order_id", "event_id"):
            col = mapped.get(canon)
            select.append(
                f"NULLIF(trim({quote_ident(col)}), '') AS {canon}"
                if col
                else f"NULL::VARCHAR AS {canon}"
            )
        for canon, (col, sql_type) in numeric_cols.items():
            if col:
                select.append(f"{_number_expr(col, sql_type, policy.max_abs_value)} AS {canon}_num")
        # Raw text of every mapped column, for bad-value checks and examples.
        for canon, col in mapped.items():
            select.append(f"{quote_ident(col)} AS {quote_ident('raw_' + canon)}")
        # A hash of the whole source row: "identical rows" are identical in every column,
        # mapped or not (two order lines of different products can share time and amount).
        select.append("hash(" + ", ".join(quote_ident(c) for c in raw_cols) + ") AS __row_hash")
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE __ev AS SELECT {', '.join(select)} FROM __raw_events"
        )

        # 2. Count what is wrong, per column.
        drop_conditions: list[str] = []
        n_missing_id = int(db.scalar("SELECT count(*) FROM __ev WHERE user_id IS NULL"))
        if n_missing_id == rows_read:
            raise DataError(f"{where}: column {mapping.user_id!r} has no user ids in any row.")
        if n_missing_id:
            issues.append(
                Issue(
                    "missing_user_id",
                    mapping.user_id,
                    n_missing_id,
                    "rows dropped (anonymous events)",
                )
            )
            drop_conditions.append("user_id IS NULL")

        bad_total = 0
        bad_time = "ts IS NULL"
        n_bad_time = int(db.scalar(f"SELECT count(*) FROM __ev WHERE {bad_time}"))
        time_policy = policy.for_column(mapping.time)
        if n_bad_time:
            hint = "" if mapping.date_format else " (pass --date-format, e.g. '%d/%m/%Y %H:%M')"
            issues.append(
                Issue(
                    "bad_time",
                    mapping.time,
                    n_bad_time,
                    ("rows rejected" if time_policy == "reject" else "rows dropped") + hint,
                    _examples(db, "__ev", bad_time, "raw_time"),
                )
            )
            drop_conditions.append(bad_time)
            bad_total += n_bad_time
        rejected = [i for i in issues if i.kind == "bad_time" and time_policy == "reject"]

        checks = [
            (
                canon,
                col,
                f"{canon}_num IS NULL AND {_present('raw_' + canon)}",
                f"expected a number; text, NaN, inf or |x| > {policy.max_abs_value:g}",
            )
            for canon, (col, _) in numeric_cols.items()
            if col
        ]
        if mapping.price and not mapping.amount:
            both = "price_num IS NOT NULL" + (
                " AND quantity_num IS NOT NULL" if mapping.quantity else ""
            )
            checks.append(
                (
                    "price",
                    mapping.price,
                    f"money IS NULL AND {both}",
                    f"price × quantity beyond |x| > {policy.max_abs_value:g}",
                )
            )
        for canon, col, cond, expected in checks:
            n_bad = int(db.scalar(f"SELECT count(*) FROM __ev WHERE {cond}"))
            if not n_bad:
                continue
            col_policy = policy.for_column(col)
            action = {
                "drop": "rows dropped",
                "impute": "values left missing",
                "reject": "rows rejected",
            }[col_policy]
            issue = Issue(
                "bad_number",
                col,
                n_bad,
                f"{action} ({expected})",
                _examples(db, "__ev", cond, "raw_" + canon),
            )
            issues.append(issue)
            bad_total += n_bad
            if col_policy == "reject":
                rejected.append(issue)
            elif col_policy == "drop":
                drop_conditions.append(cond)

        if bad_total and bad_total > policy.max_bad_fraction * rows_read and not rejected:
            rejected = [i for i in issues if i.kind in ("bad_time", "bad_number")]
            notes.append(
                f"{bad_total} of {rows_read} rows ({bad_total / rows_read:.1%}) have bad values, "
                f"over the {policy.max_bad_fraction:.0%} limit (max_bad_fraction): this looks like "
                "a wrong column mapping or format, not a few dirty rows"
            )
        if rejected:
            _raise_rejected(where, rows_read, issues, notes, rejected)

        future_cond = f"ts > TIMESTAMP {_lit(str(now + dt.timedelta(days=1)))}"
        n_future = int(db.scalar(f"SELECT count(*) FROM __ev WHERE {future_cond}"))
        if n_future:
            issue = Issue(
                "future_time",
                mapping.time,
                n_future,
                f"rows rejected (later than {now:%Y-%m-%d %H:%M} UTC)",
                _examples(db, "__ev", future_cond, "raw_time"),
            )
            issues.append(issue)
            if policy.future == "reject":
                _raise_rejected(where, rows_read, issues, notes, [issue])
            drop_conditions.append(future_cond)

        # 3. Classify events; money stays exact; refunds carry negative amounts.
        if mapping.event:
            db.execute("CREATE OR REPLACE TEMP TABLE __event_map (raw VARCHAR, kind VARCHAR)")
            db.execute(
                "INSERT INTO __event_map VALUES "
                + ", ".join(f"({_lit(k)}, {_lit(v)})" for k, v in lookup.items())
            )
            kind0 = "COALESCE(m.kind, 'other')"
            join = "LEFT JOIN __event_map m ON lower(e.event) = m.raw"
        else:
            kind0 = "CASE WHEN e.money IS NOT NULL THEN 'purchase' ELSE 'other' END"
            join = ""
        keep = " AND ".join(f"NOT COALESCE({c}, false)" for c in drop_conditions) or "true"
        money = "e.money"  # NULL where an imputed part was bad
        db.execute(f"""
            CREATE OR REPLACE TEMP TABLE __ev2 AS
            SELECT e.__row, e.__file, e.__row_hash, e.user_id, e.ts, e.event AS event_raw,
                   CASE WHEN {kind0} = 'purchase' AND {money} < 0 THEN 'refund' ELSE {kind0} END
                       AS event,
                   {money} AS money_raw,
                   {"e.quantity_num" if mapping.quantity else "NULL::DOUBLE"} AS quantity,
                   e.category, e.session AS session_id,
                   {"e.rating_num" if mapping.rating else "NULL::DOUBLE"} AS rating,
                   e.order_id, e.event_id
            FROM __ev e {join}
            WHERE {keep}
        """)
        n_neg = int(db.scalar("SELECT count(*) FROM __ev2 WHERE money_raw < 0"))
        if n_neg:
            issues.append(
                Issue(
                    "negative_amount",
                    mapping.amount
                    or (
                        f"{mapping.quantity} × {mapping.price}"
                        if mapping.quantity
                        else mapping.price
                    ),
                    n_neg,
                    "kept as returns (event 'refund', negative amount)",
                )
            )
        n_pos_refund = int(
            db.scalar("SELECT count(*) FROM __ev2 WHERE event = 'refund' AND money_raw > 0")
        )
        if n_pos_refund:
            notes.append(f"{n_pos_refund} refund events with positive amounts stored as negative")
        money_col = mapping.amount or mapping.price
        if money_col:
            raw_money = quote_ident("raw_" + ("amount" if mapping.amount else "price"))
            cond = f"regexp_matches(trim({raw_money}), '\\.[0-9]{{8}}[0-9]*[1-9]')"
            n_rounded = int(db.scalar(f"SELECT count(*) FROM __ev WHERE {cond}"))
            if n_rounded:
                issues.append(
                    Issue(
                        "rounded_amount",
                        money_col,
                        n_rounded,
                        "rounded to 8 decimal places (the exact money type keeps 8)",
                        _examples(
                            db, "__ev", cond, "raw_" + ("amount" if mapping.amount else "price")
                        ),
                    )
                )
        if mapping.event:
            unknown = db.rows(
                "SELECT event_raw, count(*) FROM __ev2 "
                "WHERE event = 'other' AND event_raw IS NOT NULL "
                "GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
            )
            if unknown:
                n_unknown = int(db.scalar("SELECT count(*) FROM __ev2 WHERE event = 'other'"))
                names = ", ".join(f"{v!r} ({n})" for v, n in unknown)
                issues.append(
                    Issue(
                        "unknown_event",
                        mapping.event,
                        n_unknown,
                        f"kept as activity ('other'): {names}; map them with --map-event KIND=NAME "
                        "(or event_values in a pipeline file)",
                    )
                )

        # 4. Duplicates: the same event id, or the same row in every mapped column.
        if mapping.event_id:
            # a row without an id is a duplicate only of a row identical in every column
            dup_key = "user_id, coalesce(event_id, 'row:' || CAST(__row_hash AS VARCHAR))"
        else:
            dup_key = (
                "__row_hash, user_id, ts, event_raw, money_raw, quantity, category, "
                "session_id, rating, order_id"
            )
        final = "__ev2"
        if policy.duplicates == "drop":
            db.execute(f"""
                CREATE OR REPLACE TEMP TABLE __ev3 AS SELECT * FROM __ev2
                QUALIFY row_number() OVER (PARTITION BY {dup_key} ORDER BY __row) = 1
            """)
            n_all, money_all = db.execute(
                "SELECT count(*), sum(abs(money_raw)) FROM __ev2"
            ).fetchone()
            n_kept, money_kept = db.execute(
                "SELECT count(*), sum(abs(money_raw)) FROM __ev3"
            ).fetchone()
            n_dup = int(n_all - n_kept)
            if n_dup:
                issue, warning = _duplicate_issue(n_dup, money_all, money_kept, mapping.event_id)
                issues.append(issue)
                warnings.extend(warning)
            final = "__ev3"
        amount = (
            f"CAST(CASE WHEN f.event = 'refund' THEN -abs(f.money_raw) ELSE f.money_raw END "
            f"AS {MONEY})"
        )
        already = ""
        if mode == "append" and db.table_exists(table) and mapping.event_id:
            already = (
                f" WHERE NOT EXISTS (SELECT 1 FROM {quote_ident(table)} t "
                f"WHERE t.event_id = f.event_id AND t.user_id = f.user_id)"
            )
        elif mode == "append" and db.table_exists(table):
            # Without event ids a row identical in every stored column to an id-less stored
            # row is the same event imported again (the same file twice, or a growing export
            # re-read by a nightly job), as identical rows within one file are.
            same = " AND ".join(
                f"t.{c} IS NOT DISTINCT FROM f.{c}"
                for c in ("ts", "event_raw", "quantity", "category", "session_id", "rating")
            )
            already = (
                f" WHERE NOT EXISTS (SELECT 1 FROM {quote_ident(table)} t "
                f"WHERE t.event_id IS NULL AND t.user_id = f.user_id AND {same} "
                f"AND t.amount IS NOT DISTINCT FROM {amount} "
                f"AND t.order_id IS NOT DISTINCT FROM f.order_id)"
            )

        # 5. Write.
        body = f"""
            SELECT user_id, ts, event, event_raw, {amount} AS amount,
                   quantity, category, session_id, rating, order_id, event_id
            FROM {final} f{already}
            ORDER BY __row
        """
        if mode == "replace" or not db.table_exists(table):
            db.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} AS {body}")
            loaded = int(db.scalar(f"SELECT count(*) FROM {quote_ident(table)}"))
        else:
            before = int(db.scalar(f"SELECT count(*) FROM {quote_ident(table)}"))
            db.execute(f"INSERT INTO {quote_ident(table)} {body}")
            loaded = int(db.scalar(f"SELECT count(*) FROM {quote_ident(table)}")) - before
            notes.append(f"appended to {table}")
            if already:
                n_known = int(db.scalar(f"SELECT count(*) FROM {final}")) - loaded
                if n_known:
                    issues.append(
                        Issue(
                            "already_stored",
                            mapping.event_id,
                            n_known,
                            "skipped (event ids already in the table)"
                            if mapping.event_id
                            else "skipped (identical to rows already stored; map --event-id "
                            "to tell identical events apart)",
                        )
                    )
        if loaded == 0 and not (mode == "append" and db.table_exists(table)):
            raise DataError(
                f"{where}: no valid rows left after validation.",
                details={"issues": [asdict(i) for i in issues]},
            )
        users = int(db.scalar(f"SELECT count(DISTINCT user_id) FROM {quote_ident(table)}"))
        for tmp in ("__raw_events", "__ev", "__ev2", "__ev3", "__event_map"):
            db.execute(f"DROP TABLE IF EXISTS {tmp}")

    return IngestReport(
        table=table,
        source=where,
        rows_read=rows_read,
        rows_loaded=loaded,
        users=users,
        columns=mapped,
        issues=issues,
        notes=notes,
        policy=_policy_dict(policy, now),
        seconds=time.perf_counter() - t0,
        warnings=warnings,
    )


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
