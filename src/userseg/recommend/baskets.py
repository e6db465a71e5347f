"""Purchases with their items, read from the event log (the one place that reads it here).

A purchase line is an event ``purchase`` with an ``item`` (the column
``userseg ingest --item`` maps: a SKU, a StockCode). A **basket** is an order
(``order_id``) when the log has order ids, else the user's purchases of one
calendar day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from userseg.config import parse_date
from userseg.errors import DataError, SchemaError
from userseg.io.database import Database, quote_ident

__all__ = ["purchase_lines"]


def purchase_lines(
    db: Database,
    *,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    table: str = "events",
) -> pd.DataFrame:
    """Distinct (user, basket, item) of the purchases in [start, end).

    Parameters
    ----------
    db : Database
    start, end : date or "YYYY-MM-DD", optional
        The period (``end`` exclusive); default: everything.
    table : str, default="events"

    Returns
    -------
    DataFrame with ``user_id`` (str), ``basket`` (str) and ``item`` (str).

    Raises
    ------
    SchemaError
        The event log has no item column (import it with ``--item``).
    DataError
        No purchase with an item in the period.
    """
    db.require_table(table, "bring an event log in first with `userseg ingest`.")
    cols = set(db.columns(table))
    if "item" not in cols:
        raise SchemaError(
            f"table {table!r} has no item column, so there is nothing to recommend; import the "
            "event log again with the product id column mapped, e.g. `userseg ingest orders.csv "
            "--item StockCode …` (item: in a pipeline file's event columns).",
            details={"table": table, "columns": sorted(cols)},
        )
    where = ["event = 'purchase'", "item IS NOT NULL", "user_id IS NOT NULL"]
    params: list[Any] = []
    for bound, op, name in ((start, ">=", "start"), (end, "<", "end")):
        if bound is not None:
            where.append(f"ts {op} ?")
            params.append(dt.datetime.combine(parse_date(bound, name), dt.time()))
    basket = (
        "coalesce(order_id, user_id || '@' || CAST(CAST(ts AS DATE) AS VARCHAR))"
        if "order_id" in cols
        else "user_id || '@' || CAST(CAST(ts AS DATE) AS VARCHAR)"
    )
    frame = db.execute(
        f"SELECT DISTINCT CAST(user_id AS VARCHAR) AS user_id, {basket} AS basket, "
        f"CAST(item AS VARCHAR) AS item FROM {quote_ident(table)} WHERE {' AND '.join(where)}",
        params,
    ).df()
    if frame.empty:
        span = f" from {start}" if start else ""
        span += f" before {end}" if end else ""
        raise DataError(f"no purchase with an item in table {table!r}{span}.")
    return frame
