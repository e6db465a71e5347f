"""What happened after a campaign: each user's conversion and revenue, from the log or a file.

From the **event log** (the canonical ``events`` table: ``user_id, ts, event,
amount…``): a user converted when they have a ``purchase`` in the window
``[start, start + days)``; their revenue is the sum of ``purchase`` and
``refund`` amounts in it (refunds are negative, so it is net). The same sums
over the ``pre_days`` before the start give each user's pre-period value for
CUPED. Timestamps are UTC, as the import stores them. The window is a
parameter, never "until now": a window that runs past the end of the data is
said (a warning and ``window_complete = False``), since its outcomes are
missing, not zero.

From a **frame** (an imported file of ``user, converted, revenue``): users in
the file who are not in the campaign are counted, reported with examples and
left out (``unknown="error"`` refuses them), never silently joined; campaign
users absent from the file had no outcome (``missing="zero"``, counted;
``missing="error"`` refuses); a user on several rows is merged (converted if
any row says so, revenues summed), counted.

Every value in the SQL is a bound parameter and the campaign's users travel
as a registered table, never as text.
"""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from userseg.errors import ConfigError, DataError, DataQualityWarning, SchemaError

__all__ = ["Outcomes", "for_lift", "outcomes_from_events", "outcomes_from_frame"]

EVENT_COLUMNS = ("user_id", "ts", "event", "amount")
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}


@dataclass
class Outcomes:
    """Per campaign user: ``user_id, converted, revenue`` (and ``pre_revenue``), plus a report.

    ``report`` holds the counts a reader needs to trust the numbers: users, converters,
    users unknown to the campaign or missing from the source, merged duplicates, the
    window and whether the data covers it.
    """

    frame: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)


def _user_ids(users: Iterable[Any] | pd.DataFrame) -> list[str]:
    if isinstance(users, pd.DataFrame):
        if "user_id" not in users.columns:
            raise SchemaError("the campaign users lack a 'user_id' column.")
        users = users["user_id"]
    ids = [str(u) for u in users]
    if not ids:
        raise DataError("no campaign users: nothing to measure.")
    seen: set[str] = set()
    dups = [u for u in ids if u in seen or seen.add(u)]  # type: ignore[func-returns-value]
    if dups:
        raise DataError(f"{len(dups)} duplicate campaign user id(s) (first: {dups[0]!r}).")
    return ids


def _as_datetime(start: dt.date | dt.datetime | str) -> dt.datetime:
    if isinstance(start, str):
        try:
            start = dt.datetime.fromisoformat(start)
        except ValueError:
            raise ConfigError(
                f"start={start!r} should be an ISO date such as 2024-03-01."
            ) from None
    if isinstance(start, dt.datetime):
        if start.tzinfo is not None:  # the log is stored in UTC, naive
            start = start.astimezone(dt.UTC).replace(tzinfo=None)
        return start
    return dt.datetime.combine(start, dt.time())


def outcomes_from_events(
    db: Any,
    users: Iterable[Any] | pd.DataFrame,
    start: dt.date | dt.datetime | str,
    *,
    days: int = 30,
    pre_days: int | None = None,
    table: str = "events",
    conversion_events: Sequence[str] = ("purchase",),
    revenue_events: Sequence[str] = ("purchase", "refund"),
) -> Outcomes:
    """Conversions and revenue of the campaign users in ``days`` after ``start``.

    Parameters
    ----------
    db : Database or duckdb connection
        Holds the event table.
    users : iterable of user ids, or a DataFrame with ``user_id``
        The campaign's users (both arms).
    start : date, datetime or ISO text
        When the campaign started (UTC).
    days : int
        Length of the outcome window.
    pre_days : int, optional
        Length of the pre-period before ``start`` (default ``days``).
    table : str
        The event table.
    conversion_events, revenue_events : sequence of str
        Event kinds that count as a conversion, and whose amounts are revenue.

    Raises
    ------
    DataError
        The table is missing, the window starts after the last event, no campaign
        user appears in the log, or duplicate/empty users.
    SchemaError
        The table lacks a needed column.
    ConfigError
        ``days`` or ``pre_days`` not a positive whole number.
    """
    for name, value in (("days", days), ("pre_days", pre_days)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name}={value!r} should be a whole number of days >= 1.")
    con = getattr(db, "con", db)
    ids = _user_ids(users)
    _check_event_table(con, table)
    begin = _as_datetime(start)
    end = begin + dt.timedelta(days=days)
    pre = begin - dt.timedelta(days=pre_days or days)
    last = con.execute(f"SELECT max(ts) FROM {_quote(table)}").fetchall()[0][0]
    if last is None or last < begin:
        raise DataError(
            f"the outcome window starts after the last event ({last}) in table {table!r}: "
            "there is nothing to measure yet."
        )
    name = f"__userseg_campaign_users_{uuid.uuid4().hex}"
    con.register(name, pd.DataFrame({"user_id": ids}))
    try:
        per_user = con.execute(
            _OUTCOME_SQL.format(users=_quote(name), table=_quote(table)),
            {
                "conv": list(conversion_events),
                "rev": list(revenue_events),
                "start": begin,
                "end": end,
                "pre": pre,
            },
        ).df()
        absent = [
            r[0]
            for r in con.execute(
                f"SELECT u.user_id FROM {_quote(name)} u WHERE NOT EXISTS (SELECT 1 FROM "
                f"{_quote(table)} e WHERE CAST(e.user_id AS VARCHAR) = u.user_id)"
            ).fetchall()
        ]
    finally:
        con.unregister(name)
    if len(absent) == len(ids):
        raise DataError(
            f"none of the {len(ids)} campaign users appears in table {table!r}: are they the "
            "same ids as the event log's (not pseudonymised, not from another import)?"
        )
    frame = pd.DataFrame({"user_id": ids}).merge(per_user, on="user_id", how="left")
    frame["converted"] = frame["converted"].fillna(False).astype(bool)
    complete = last >= end - dt.timedelta(days=1)
    report = {
        "source": "events",
        "table": table,
        "n_users": len(ids),
        "n_converted": int(frame["converted"].sum()),
        "revenue": float(frame["revenue"].sum()),
        "n_without_events": len(absent),
        "examples_without_events": sorted(absent)[:5],
        "window": [begin.isoformat(), end.isoformat()],
        "pre_window": [pre.isoformat(), begin.isoformat()],
        "last_event": last.isoformat(),
        "window_complete": bool(complete),
        "conversion_events": list(conversion_events),
        "revenue_events": list(revenue_events),
    }
    if absent:
        warnings.warn(
            f"{len(absent)} of {len(ids)} campaign users have no events in {table!r} "
            f"(first: {', '.join(sorted(absent)[:3])}); they count as not converted.",
            DataQualityWarning,
            stacklevel=2,
        )
    if not complete:
        short = (end - last).days
        warnings.warn(
            f"the event log ends at {last}, {short} days before the window ends ({end}): "
            "outcomes after its last event are missing, not zero.",
            DataQualityWarning,
            stacklevel=2,
        )
    return Outcomes(frame[["user_id", "converted", "revenue", "pre_revenue"]], report)


_OUTCOME_SQL = """
SELECT u.user_id,
       coalesce(bool_or(list_contains($conv, e.event) AND e.ts >= $start), false) AS converted,
       CAST(coalesce(sum(e.amount) FILTER (WHERE list_contains($rev, e.event)
                                           AND e.ts >= $start), 0) AS DOUBLE) AS revenue,
       CAST(coalesce(sum(e.amount) FILTER (WHERE list_contains($rev, e.event)
                                           AND e.ts < $start), 0) AS DOUBLE) AS pre_revenue
FROM {users} u
LEFT JOIN (SELECT CAST(user_id AS VARCHAR) AS user_id, ts, event, amount FROM {table}
           WHERE ts >= $pre AND ts < $end) e ON e.user_id = u.user_id
GROUP BY u.user_id
"""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_event_table(con: Any, table: str) -> None:
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]
    if not cols:
        raise DataError(
            f"table {table!r} not found: outcomes come from the imported event log "
            "(`userseg ingest`), or give them as a file."
        )
    missing = [c for c in EVENT_COLUMNS if c not in cols]
    if missing:
        raise SchemaError(
            f"table {table!r} lacks {', '.join(map(repr, missing))}; available: {', '.join(cols)}.",
            details={"missing": missing, "available": cols},
        )


# -- from a frame ------------------------------------------------------------------------------
def outcomes_from_frame(
    frame: pd.DataFrame,
    users: Iterable[Any] | pd.DataFrame,
    *,
    user_col: str = "user_id",
    converted: str = "converted",
    revenue: str = "revenue",
    pre: str | None = None,
    unknown: str = "report",
    missing: str = "zero",
) -> Outcomes:
    """Outcomes of the campaign users from a table of ``user, converted, revenue``.

    Parameters
    ----------
    frame : DataFrame
        One row per user (duplicates are merged and counted).
    users : iterable of user ids, or a DataFrame with ``user_id``
        The campaign's users.
    user_col, converted, revenue, pre : str
        Column names (``pre``: an optional pre-period value for CUPED).
    unknown : {"report", "error"}
        Users not in the campaign: counted, reported and left out, or refused.
    missing : {"zero", "error"}
        Campaign users without a row: no conversion and no revenue, or refused.

    Raises
    ------
    SchemaError
        A named column is missing.
    DataError
        A conversion that is not yes/no, a revenue that is not a finite number,
        or a policy of "error" that applies.
    """
    if unknown not in ("report", "error"):
        raise ConfigError(f"unknown={unknown!r} should be 'report' or 'error'.")
    if missing not in ("zero", "error"):
        raise ConfigError(f"missing={missing!r} should be 'zero' or 'error'.")
    cols = [c for c in (user_col, converted, revenue, pre) if c is not None]
    absent = [c for c in cols if c not in frame.columns]
    if absent:
        raise SchemaError(
            f"the outcomes lack {', '.join(map(repr, absent))}; "
            f"available: {', '.join(map(str, frame.columns))}.",
            details={"missing": absent, "available": [str(c) for c in frame.columns]},
        )
    ids = _user_ids(users)
    data = pd.DataFrame(
        {
            "user_id": frame[user_col].astype(str).to_numpy(),
            "converted": _parse_converted(frame[converted], converted),
        }
    )
    data["revenue"], n_blank = _parse_money(frame[revenue], revenue)
    if pre is not None:
        data["pre_revenue"], _ = _parse_money(frame[pre], pre)
    known = set(ids)
    is_unknown = ~data["user_id"].isin(known)
    unknown_ids = list(dict.fromkeys(data.loc[is_unknown, "user_id"]))
    report: dict[str, Any] = {
        "source": "frame",
        "n_users": len(ids),
        "n_rows": len(frame),
        "n_unknown": len(unknown_ids),
        "examples_unknown": unknown_ids[:5],
        "unknown_revenue": float(data.loc[is_unknown, "revenue"].sum()),
        "unknown_policy": unknown,
        "n_revenue_blank": n_blank,
    }
    if unknown_ids:
        msg = (
            f"{len(unknown_ids)} users in the outcomes are not in the campaign "
            f"(first: {', '.join(unknown_ids[:5])}; revenue {report['unknown_revenue']:,.2f})"
        )
        if unknown == "error":
            raise DataError(msg + "; they were not part of it, so they cannot be measured.")
        warnings.warn(msg + "; left out.", DataQualityWarning, stacklevel=2)
    data = data[~is_unknown]
    n_dup = int(data["user_id"].duplicated().sum())
    agg = {"converted": "max", "revenue": "sum"}
    if pre is not None:
        agg["pre_revenue"] = "sum"
    merged = data.groupby("user_id", sort=False).agg(agg)
    without = [u for u in ids if u not in merged.index]
    if without and missing == "error":
        raise DataError(
            f"{len(without)} campaign user(s) have no row in the outcomes "
            f"(first: {', '.join(map(repr, without[:5]))})."
        )
    out = merged.reindex(ids)
    out["converted"] = out["converted"].fillna(False).astype(bool)
    out["revenue"] = out["revenue"].fillna(0.0).astype(float)
    if pre is not None:
        out["pre_revenue"] = out["pre_revenue"].fillna(0.0).astype(float)
    out = out.rename_axis("user_id").reset_index()
    report.update(
        n_missing=len(without),
        missing_policy=missing,
        n_duplicates_merged=n_dup,
        n_converted=int(out["converted"].sum()),
        revenue=float(out["revenue"].sum()),
    )
    return Outcomes(out, report)


def _parse_converted(col: pd.Series, name: str) -> np.ndarray:
    text = col.astype(str).str.strip().str.lower()
    numeric = pd.to_numeric(col, errors="coerce")
    value = pd.Series(np.nan, index=col.index)
    value[text.isin(_TRUE) | (numeric == 1)] = 1.0
    value[text.isin(_FALSE) | (numeric == 0)] = 0.0
    bad = value.isna().to_numpy()
    if bad.any():
        first = col[bad].iloc[0]
        raise DataError(
            f"{name}: {int(bad.sum())} value(s) that are not yes/no, true/false or 1/0 "
            f"(first: {first!r} in row {int(np.flatnonzero(bad)[0])}).",
            details={"column": name, "count": int(bad.sum())},
        )
    return value.to_numpy() == 1.0


def _parse_money(col: pd.Series, name: str) -> tuple[np.ndarray, int]:
    blank = col.isna().to_numpy() | (col.astype(str).str.strip() == "").to_numpy()
    values = pd.to_numeric(col.where(~blank), errors="coerce").to_numpy(dtype=float)
    bad = ~blank & ~np.isfinite(values)
    if bad.any():
        first = col[bad].iloc[0]
        raise DataError(
            f"{name}: {int(bad.sum())} value(s) that are not finite numbers "
            f"(first: {first!r} in row {int(np.flatnonzero(bad)[0])}).",
            details={"column": name, "count": int(bad.sum())},
        )
    return np.where(blank, 0.0, values), int(blank.sum())


def for_lift(arms: pd.DataFrame, outcomes: Outcomes) -> pd.DataFrame:
    """One row per campaign user with segment, arm and outcomes: the input of :func:`lift`.

    Raises
    ------
    DataError
        A user in the arms has no outcome row.
    """
    left = arms[["user_id", "segment", "arm"]].assign(_key=arms["user_id"].astype(str))
    right = outcomes.frame.assign(_key=outcomes.frame["user_id"].astype(str)).drop(
        columns="user_id"
    )
    merged = left.merge(right, on="_key", how="left", indicator=True)
    lost = merged["_merge"] == "left_only"
    if lost.any():
        raise DataError(
            f"{int(lost.sum())} user(s) in the campaign's arms have no outcome "
            f"(first: {merged.loc[lost, 'user_id'].iloc[0]!r})."
        )
    return merged.drop(columns=["_key", "_merge"]).reset_index(drop=True)
