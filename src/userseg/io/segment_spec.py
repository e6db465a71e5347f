"""Live events: Segment-spec messages → canonical event rows → the event table, idempotently.

The service (``POST /v1/events``) and the stream reader (``userseg stream``)
receive events in the shape of the Segment tracking spec::

    {"type": "track", "userId": "u1", "event": "Order Completed",
     "properties": {"revenue": 25.5, "category": "shoes", "order_id": "o1"},
     "timestamp": "2024-05-01T10:00:00Z", "messageId": "m-123"}

and ``"page"`` calls (product views). Each becomes one row of the canonical
event table; ``messageId`` is the event id, so the same message sent twice is
stored once. Money is parsed from the number's shortest decimal text, so 25.5
is stored as exactly 25.50.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from userseg.config import CANONICAL_EVENTS, MAX_ABS_VALUE
from userseg.errors import DataError
from userseg.io.database import Database, quote_ident
from userseg.io.ingest import MONEY
from userseg.io.texts import MAX_TEXT_CHARS

__all__ = [
    "CanonicalEvent",
    "append_events",
    "ensure_event_table",
    "events_table",
    "parse_segment_events",
]

_LOOKUP = {v: k for k, vs in CANONICAL_EVENTS.items() for v in vs}
_LOOKUP.update({"product_reviewed": "rating", "checkout_started": "cart", "page": "view"})
_MONEY_KEYS = ("revenue", "total", "value", "amount")
MAX_BATCH = 1000
#: Events before this time are refused (live events are recent by nature).
EARLIEST_EVENT_TIME = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class CanonicalEvent:
    """One row of the canonical event table."""

    user_id: str
    ts: dt.datetime
    event: str
    event_raw: str
    amount: Decimal | None
    quantity: float | None
    category: str | None
    session_id: str | None
    rating: float | None
    order_id: str | None
    event_id: str | None
    text: str | None = None  # a review or message (properties.text): stored in the texts table


def _text(value: Any, where: str) -> str | None:
    """A text field (numbers are read as their text); objects, lists and NUL are refused."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise DataError(f"{where} must be text or a number; got {type(value).__name__}.")
    text = str(value).strip()
    if "\x00" in text:
        raise DataError(f"{where} contains a NUL character; got {text[:60]!r}.")
    return text or None


def _free_text(value: Any, where: str) -> str | None:
    """A review or message: text of at most MAX_TEXT_CHARS, no binary content; blank is none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(
            f"{where} must be text (a review or a message); got {type(value).__name__}."
        )
    if not value.strip():
        return None
    if len(value) > MAX_TEXT_CHARS:
        raise DataError(
            f"{where} is {len(value):,} characters; at most {MAX_TEXT_CHARS:,} (a review or a "
            "message, not a document)."
        )
    if _BINARY.search(value):
        raise DataError(
            f"{where} contains control or undecodable characters (binary content?); "
            f"got {value[:40]!r}."
        )
    return value


_BINARY = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")


def _money(value: Any, where: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise DataError(f"{where} must be a number; got {value!r}.")
    try:
        money = Decimal(str(value))
    except InvalidOperation:
        raise DataError(f"{where} must be a number; got {value!r}.") from None
    return _in_range(money, where, value)


_EIGHT_PLACES = Decimal("1e-8")


def _in_range(money: Decimal, where: str, value: Any) -> Decimal:
    """A finite amount below 1e15, rounded to the 8 decimals the money type keeps."""
    if not money.is_finite() or abs(money) > Decimal(MAX_ABS_VALUE):
        raise DataError(f"{where} must be a finite amount below {MAX_ABS_VALUE:g}; got {value!r}.")
    return money.quantize(_EIGHT_PLACES) if money.as_tuple().exponent < -8 else money


def _number(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond 1e308
        raise DataError(f"{where} must be a number; got {value!r:.100}.") from None
    if x != x or x in (float("inf"), float("-inf")) or abs(x) > MAX_ABS_VALUE:
        raise DataError(f"{where} must be a finite number below {MAX_ABS_VALUE:g}; got {value!r}.")
    return x


def _timestamp(value: Any, where: str, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise DataError(f"{where} must be an ISO 8601 date-time string; got {value!r}.")
    try:
        ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if ts.tzinfo is not None:
            ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise DataError(f"{where} must be an ISO 8601 date-time; got {value!r}.") from None
    if ts > now + dt.timedelta(days=1):
        raise DataError(f"{where} is in the future ({value}); check the sender's clock.")
    if ts < EARLIEST_EVENT_TIME:
        # a default date (0001-01-01) or a wrong epoch, not an event: its tenure of
        # centuries would pull the user's features far from everyone's
        raise DataError(
            f"{where} is before {EARLIEST_EVENT_TIME:%Y-%m-%d} ({value}); check the sender's "
            "clock or the field it fills."
        )
    return ts


def parse_segment_events(
    payload: Any, *, now: dt.datetime | None = None, max_batch: int = MAX_BATCH
) -> list[CanonicalEvent]:
    """Validate Segment-spec messages (one, a list, or ``{"batch": [...]}``) into canonical rows.

    Raises
    ------
    DataError
        Naming the message index and the field that is wrong; nothing is parsed half-way.
    """
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if isinstance(payload, dict) and "batch" in payload:
        payload = payload["batch"]
    messages = payload if isinstance(payload, list) else [payload]
    if not messages:
        raise DataError("no events in the request.")
    if len(messages) > max_batch:
        raise DataError(f"a batch holds at most {max_batch} events; got {len(messages)}.")
    rows: list[CanonicalEvent] = []
    for i, msg in enumerate(messages):
        where = f"events[{i}]"
        if not isinstance(msg, dict):
            raise DataError(f"{where} must be an object; got {type(msg).__name__}.")
        kind = msg.get("type", "track")
        if kind not in ("track", "page"):
            raise DataError(f"{where}.type must be 'track' or 'page'; got {kind!r}.")
        user = _text(msg.get("userId"), f"{where}.userId") or _text(
            msg.get("anonymousId"), f"{where}.anonymousId"
        )
        if user is None:
            raise DataError(f"{where} needs a userId (or an anonymousId).")
        props = msg.get("properties") or {}
        context = msg.get("context") or {}
        if not isinstance(props, dict) or not isinstance(context, dict):
            raise DataError(f"{where}.properties and {where}.context must be objects.")
        raw = "page" if kind == "page" else _text(msg.get("event"), f"{where}.event")
        if raw is None:
            raise DataError(f"{where}.event is required for a track call.")
        canon = _LOOKUP.get(re.sub(r"[\s-]+", "_", raw.lower()), "other")
        amount = next(
            (
                _money(props[k], f"{where}.properties.{k}")
                for k in _MONEY_KEYS
                if props.get(k) not in (None, "")
            ),
            None,
        )
        quantity = _number(props.get("quantity"), f"{where}.properties.quantity")
        if amount is None and props.get("price") not in (None, ""):
            price = _money(props["price"], f"{where}.properties.price")
            amount = _in_range(
                price * Decimal(str(quantity if quantity is not None else 1)),
                f"{where}.properties.price × quantity",
                props.get("quantity"),
            )
        if canon == "purchase" and amount is not None and amount < 0:
            canon = "refund"
        if canon == "refund" and amount is not None:
            amount = -abs(amount)
        rows.append(
            CanonicalEvent(
                user_id=user,
                ts=_timestamp(msg.get("timestamp") or msg.get("sentAt"), f"{where}.timestamp", now),
                event=canon,
                event_raw=raw,
                amount=amount,
                quantity=quantity,
                category=_text(props.get("category"), f"{where}.properties.category"),
                session_id=_text(
                    props.get("session_id") or context.get("sessionId"),
                    f"{where}.properties.session_id",
                ),
                rating=_number(props.get("rating"), f"{where}.properties.rating"),
                order_id=_text(
                    props.get("order_id") or props.get("orderId"), f"{where}.properties.order_id"
                ),
                event_id=_text(msg.get("messageId"), f"{where}.messageId"),
                text=_free_text(props.get("text"), f"{where}.properties.text"),
            )
        )
    return rows


_SCHEMA = (
    "user_id VARCHAR, ts TIMESTAMP, event VARCHAR, event_raw VARCHAR, amount "
    f"{MONEY}, quantity DOUBLE, category VARCHAR, session_id VARCHAR, rating DOUBLE, "
    "order_id VARCHAR, event_id VARCHAR"
)


def ensure_event_table(db: Database, table: str = "events") -> None:
    """Create the canonical event table when a live source is the first to write."""
    db.execute(f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} ({_SCHEMA})")


def events_table(rows: list[CanonicalEvent]) -> pa.Table:
    """Canonical rows as an Arrow table (money as exact decimals), with their position."""
    return pa.table(
        {
            "user_id": [r.user_id for r in rows],
            "ts": [r.ts for r in rows],
            "event": [r.event for r in rows],
            "event_raw": [r.event_raw for r in rows],
            "amount": pa.array([r.amount for r in rows], pa.decimal128(38, 8)),
            "quantity": pa.array([r.quantity for r in rows], pa.float64()),
            "category": pa.array([r.category for r in rows], pa.string()),
            "session_id": pa.array([r.session_id for r in rows], pa.string()),
            "rating": pa.array([r.rating for r in rows], pa.float64()),
            "order_id": pa.array([r.order_id for r in rows], pa.string()),
            "event_id": pa.array([r.event_id for r in rows], pa.string()),
            "__pos": list(range(len(rows))),
        }
    )


def append_events(
    db: Database, rows: list[CanonicalEvent], table: str = "events"
) -> tuple[int, int]:
    """Append rows, skipping event ids already stored; returns (inserted, duplicates)."""
    if not rows:
        return 0, 0
    arrow = events_table(rows)
    t = quote_ident(table)
    with db.transaction():
        ensure_event_table(db, table)
        db.con.register("__incoming", arrow)
        try:
            before = int(db.scalar(f"SELECT count(*) FROM {t}"))
            # Within the batch and against the table: one row per (user, event id).
            db.execute(f"""
                INSERT INTO {t} (user_id, ts, event, event_raw, amount, quantity, category,
                                 session_id, rating, order_id, event_id)
                SELECT user_id, ts, event, event_raw, amount, quantity, category, session_id,
                       rating, order_id, event_id
                FROM __incoming i
                WHERE i.event_id IS NULL OR (
                    NOT EXISTS (SELECT 1 FROM {t} e
                                WHERE e.event_id = i.event_id AND e.user_id = i.user_id)
                    AND i.__pos = (SELECT min(j.__pos) FROM __incoming j
                                   WHERE j.event_id = i.event_id AND j.user_id = i.user_id))
                ORDER BY __pos
            """)
            inserted = int(db.scalar(f"SELECT count(*) FROM {t}")) - before
        finally:
            db.con.unregister("__incoming")
    return inserted, len(rows) - inserted
