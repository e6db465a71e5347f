"""Event log → one row per customer: frequency, recency, T and spend at an as-of date (DuckDB SQL).

What counts (the conventions of Fader & Hardie and of lifetimes' ``freq="D"``):

* a **transaction** is a calendar day (UTC) with at least one purchase event;
  its spend is the sum of that day's purchase amounts (refunds and other events
  are left out);
* **frequency** is the number of transactions after the first (repeat purchases);
* **recency** is the days from the first transaction to the last;
* **T** is the days from the first transaction to the last day observed, the
  day before the as-of date (so a customer who first bought on that day has T = 0);
* **monetary** is the mean spend of the repeat transactions (the first is left
  out, as the models want; missing without a repeat purchase);
* **spend_total** is everything the customer spent before the as-of date;
* **spend_net** is spend_total less the refunds before the as-of date (what
  the customer is worth so far: a serial returner's gross spend overstates it).

Events on or after the as-of date are ignored; the default as-of date is the
day after the last event in the data, never the wall clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from userseg.config import parse_date
from userseg.errors import DataError, SchemaError
from userseg.io.database import Database, quote_ident

__all__ = [
    "EventSource",
    "check_purchases",
    "event_source",
    "purchase_days",
    "summary_sql",
    "transaction_summary",
]

_FRAME_VIEW = "__value_events"


@dataclass
class EventSource:
    """Where the events are: a database, the SQL of a relation with canonical columns, a label."""

    db: Database
    relation: str  # (SELECT user_id, ts, event, amount FROM ...)
    where: str
    has_amount: bool

    def purchases(self, start: dt.date | None, end: dt.date) -> str:
        """SQL of the purchase events in [start, end)."""
        lower = f" AND ts >= TIMESTAMP '{start.isoformat()}'" if start else ""
        return (
            f"(SELECT user_id, ts, amount FROM {self.relation} "
            f"WHERE event = 'purchase' AND ts < TIMESTAMP '{end.isoformat()}'{lower})"
        )

    def default_as_of(self) -> dt.date:
        """The day after the last event: the default end of observation."""
        last = self.db.scalar(f"SELECT max(ts) FROM {self.relation}")
        if last is None:
            raise DataError(f"{self.where} has no events.")
        return last.date() + dt.timedelta(days=1)

    def resolve_as_of(self, as_of: Any) -> dt.date:
        return self.default_as_of() if as_of is None else parse_date(as_of, "as_of")


@contextlib.contextmanager
def event_source(source: Any, table: str = "events") -> Iterator[EventSource]:
    """Open ``source`` (a userseg :class:`Database` or a DataFrame of events) for reading.

    A DataFrame needs ``user_id`` and ``ts`` columns (datetimes or ISO text),
    and may have ``amount`` (purchase value) and ``event`` (only ``"purchase"``
    rows are purchases; without it every row is one). It is read in place
    through an in-memory DuckDB, never changed.
    """
    if isinstance(source, Database):
        source.require_table(table, "bring an event log in first with `userseg ingest`.")
        cols = set(source.columns(table))
        need = {"user_id", "ts", "event", "amount"}
        if not need <= cols:
            raise SchemaError(
                f"table {table!r} lacks {', '.join(sorted(need - cols))}; is it an event log "
                "imported by `userseg ingest`?"
            )
        relation = f"(SELECT user_id, ts, event, amount FROM {quote_ident(table)})"
        has_amount = bool(source.scalar(f"SELECT count(amount) > 0 FROM {quote_ident(table)}"))
        yield EventSource(source, relation, f"table {table!r}", has_amount)
        return
    if not isinstance(source, pd.DataFrame):
        raise DataError(
            f"value needs a userseg database or a DataFrame of events; got {type(source).__name__}."
        )
    missing = [c for c in ("user_id", "ts") if c not in source.columns]
    if missing:
        raise SchemaError(
            f"the events frame lacks {', '.join(missing)}; expected user_id, ts and optionally "
            f"amount and event; available: {', '.join(map(str, source.columns))}.",
            details={"missing": missing, "available": [str(c) for c in source.columns]},
        )
    keep = [c for c in ("user_id", "ts", "event", "amount") if c in source.columns]
    db = Database(":memory:")
    try:
        db.con.register(_FRAME_VIEW, source[keep])
        event = "CAST(event AS VARCHAR)" if "event" in keep else "'purchase'"
        amount = "CAST(amount AS DOUBLE)" if "amount" in keep else "CAST(NULL AS DOUBLE)"
        relation = (
            f"(SELECT user_id, CAST(ts AS TIMESTAMP) AS ts, {event} AS event, "
            f"{amount} AS amount FROM {_FRAME_VIEW} WHERE user_id IS NOT NULL)"
        )
        try:
            db.scalar(f"SELECT count(*) FROM {relation}")
        except Exception as exc:  # duckdb conversion errors: a bad ts or amount column
            raise DataError(f"the events frame cannot be read: {exc}") from None
        yield EventSource(db, relation, "the events frame", "amount" in keep)
    finally:
        db.close()


def check_purchases(src: EventSource, as_of: dt.date) -> None:
    first, n_negative = src.db.execute(
        f"SELECT min(ts), count(*) FILTER (WHERE amount < 0) FROM {src.purchases(None, as_of)}"
    ).fetchone()
    any_first = src.db.scalar(f"SELECT min(ts) FROM {src.purchases(None, dt.date.max)}")
    if any_first is None:
        raise DataError(f"no purchase events in {src.where}: there is nothing to model.")
    if first is None:
        raise DataError(
            f"as-of date {as_of} is on or before the first purchase ({any_first:%Y-%m-%d}) in "
            f"{src.where}: there is no purchase history to model; choose a later date.",
            details={"as_of": as_of.isoformat(), "first_purchase": any_first.date().isoformat()},
        )
    if n_negative:
        users = [
            u
            for (u,) in src.db.rows(
                f"SELECT DISTINCT user_id FROM {src.purchases(None, as_of)} WHERE amount < 0 "
                "ORDER BY 1 LIMIT 5"
            )
        ]
        raise DataError(
            f"negative spend: {n_negative} purchase(s) in {src.where} have a negative amount "
            f"(users {users}); a return is a refund event, not a purchase (`userseg ingest` "
            "turns negative amounts into refunds).",
            details={"count": int(n_negative), "users": users},
        )


def summary_sql(src: EventSource, as_of: dt.date, start: dt.date | None = None) -> str:
    """SQL of the per-customer summary of the purchases in [start, as_of)."""
    last_day = (as_of - dt.timedelta(days=1)).isoformat()
    lower = f" AND ts >= TIMESTAMP '{start.isoformat()}'" if start else ""
    return f"""
        WITH refunds AS (
            SELECT user_id, sum(abs(amount)) AS refunded FROM {src.relation}
            WHERE event = 'refund' AND ts < TIMESTAMP '{as_of.isoformat()}'{lower}
            GROUP BY user_id
        ), tx AS (
            SELECT user_id, CAST(ts AS DATE) AS day, sum(amount) AS spend
            FROM {src.purchases(start, as_of)} GROUP BY user_id, day
        ), tx1 AS (
            SELECT *, min(day) OVER (PARTITION BY user_id) AS first_day FROM tx
        )
        SELECT user_id,
               CAST(count(*) - 1 AS BIGINT) AS frequency,
               CAST(date_diff('day', min(day), max(day)) AS DOUBLE) AS recency,
               CAST(date_diff('day', min(day), DATE '{last_day}') AS DOUBLE) AS "T",
               CAST(avg(spend) FILTER (WHERE day > first_day) AS DOUBLE) AS monetary,
               CAST(sum(spend) AS DOUBLE) AS spend_total,
               CAST(sum(spend) - coalesce(any_value(r.refunded), 0) AS DOUBLE) AS spend_net,
               min(day) AS first_purchase,
               max(day) AS last_purchase
        FROM tx1 LEFT JOIN refunds r USING (user_id) GROUP BY user_id ORDER BY user_id
    """


def transaction_summary(
    source: Any, *, as_of: dt.date | str | None = None, table: str = "events"
) -> pd.DataFrame:
    """Per-customer frequency, recency, T (days) and spend at ``as_of``.

    Parameters
    ----------
    source : Database or DataFrame
        A userseg database (its ``table`` of events) or a DataFrame of events
        (``user_id``, ``ts``, optional ``amount`` and ``event``).
    as_of : date or "YYYY-MM-DD", optional
        End of observation (exclusive); default the day after the last event.
    table : str, default="events"

    Returns
    -------
    DataFrame indexed by ``user_id``, sorted by it, with ``frequency`` (int),
    ``recency``, ``T``, ``monetary``, ``spend_total``, ``spend_net``, ``first_purchase``,
    ``last_purchase``; ``attrs["as_of"]`` holds the as-of date.

    Raises
    ------
    DataError
        No purchases, an as-of date on or before the first purchase, or a
        purchase with a negative amount.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": ["a", "a", "a", "b"],
    ...                     "ts": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-10",
    ...                                           "2024-01-20"]),
    ...                     "amount": [10.0, 20.0, 30.0, 12.5]})
    >>> s = transaction_summary(log, as_of="2024-01-31")
    >>> s[["frequency", "recency", "T", "monetary"]].to_dict("index")["a"]
    {'frequency': 2, 'recency': 9.0, 'T': 29.0, 'monetary': 25.0}
    """
    with event_source(source, table) as src:
        as_of = src.resolve_as_of(as_of)
        check_purchases(src, as_of)
        frame = src.db.execute(summary_sql(src, as_of)).df()
    frame = frame.set_index("user_id")
    frame["frequency"] = frame["frequency"].astype("int64")
    frame.attrs["as_of"] = as_of
    return frame


def purchase_days(src: EventSource, start: dt.date, end: dt.date) -> pd.Series:
    """Transactions (distinct purchase days) per customer in [start, end)."""
    rows = src.db.execute(
        f"SELECT user_id, count(DISTINCT CAST(ts AS DATE)) FROM {src.purchases(start, end)} "
        "GROUP BY user_id"
    ).fetchall()
    return pd.Series(
        {u: int(n) for u, n in rows}, dtype="int64", name="actual", index=None
    ).rename_axis("user_id")
