"""Per-user behavioural features from the canonical event log, computed in SQL inside DuckDB.

Every feature is measured at an explicit as-of date: events on or after it are
ignored, and recency and tenure count days up to it. The default as-of date is
the day after the last event in the data, never the wall clock, so a log from
last year does not make every user look lapsed.

Only features the data can support are produced: no funnel without views and
carts, no category shares without categories, no return rate without returns.
What the data supported, and the population rates the smoothing shrinks
toward, are frozen in a :class:`FeatureSpec`, so that new events (a new user,
a live event stream) are turned into exactly the same features later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from userseg.errors import DataError
from userseg.io.database import Database, quote_ident
from userseg.io.ingest import MONEY, sanitize_name

__all__ = ["FeatureInfo", "FeatureSpec", "default_as_of", "event_feature_sql", "spec_from_data"]


@dataclass(frozen=True)
class FeatureInfo:
    """What a feature is: name, kind, unit and a plain-language description."""

    name: str
    kind: str  # "numeric" or "categorical"
    unit: str  # days, count, money, ratio, share, rating, value, year, category
    description: str
    source: str = "events"
    label: str = ""  # the words profiles and names use (a display name, or the name in words)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class FeatureSpec:
    """The data-dependent choices of a feature set, frozen for featuring new events alike.

    Attributes
    ----------
    kinds : list of str
        Event kinds present (purchase, view, cart, refund, rating, other).
    has_orders, has_sessions, has_rating : bool
        Whether order ids, session ids and ratings were present.
    window_start : str
        ISO time of the first event used: a user who never bought counts the
        days since then as "days since purchase".
    rates : dict
        Population rates the smoothed features shrink toward.
    categories : list of [name, share]
        The categories given a share feature, with their population share.
    other_share : float or None
        Population share of the remaining categories ("share_other"), if any.
    """

    kinds: list[str]
    has_orders: bool
    has_sessions: bool
    has_rating: bool
    window_start: str
    rates: dict[str, float] = field(default_factory=dict)
    categories: list[list[Any]] = field(default_factory=list)
    other_share: float | None = None
    smoothing: float = 5.0
    session_gap_minutes: float = 30.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(**d)


def default_as_of(db: Database, table: str = "events") -> dt.date:
    """The day after the last event: recency 0 means "active on the last day of data"."""
    last = db.scalar(f"SELECT max(ts) FROM {quote_ident(table)}")
    if last is None:
        raise DataError(f"table {table!r} has no events.")
    return last.date() + dt.timedelta(days=1)


def _window(table: str, as_of: dt.date | dt.datetime) -> str:
    return f"(SELECT * FROM {quote_ident(table)} WHERE ts < TIMESTAMP '{as_of.isoformat()}')"


def spec_from_data(
    db: Database,
    as_of: dt.date,
    *,
    table: str = "events",
    session_gap_minutes: float = 30.0,
    top_categories: int = 8,
    smoothing: float = 5.0,
) -> FeatureSpec:
    """Look at the events before ``as_of`` and decide what features they support."""
    window = _window(table, as_of)
    stats = db.execute(
        f"SELECT count(*), min(ts), count(order_id), count(session_id), count(rating), "
        f"count(*) FILTER (WHERE event = 'view'), count(*) FILTER (WHERE event = 'cart'), "
        f"count(*) FILTER (WHERE event = 'purchase'), count(*) FILTER (WHERE event = 'refund') "
        f"FROM {window}"
    ).fetchone()
    n, first, n_orders, n_sessions, n_rating, views, carts, buys, refunds = stats
    if not n:
        raise DataError(f"no events before the as-of date {as_of}: nothing to build features from.")
    kinds = sorted(k for (k,) in db.rows(f"SELECT DISTINCT event FROM {window}"))
    rates = {
        "view_to_cart": carts / max(views, 1),
        "cart_to_purchase": buys / max(carts, 1),
        "view_to_purchase": buys / max(views, 1),
        "return_rate": refunds / max(buys, 1),
    }
    counts = db.rows(
        f"SELECT category, count(*) FROM {window} WHERE category IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    total = sum(c for _, c in counts)
    top = counts[: int(top_categories)]
    rest = sum(c for _, c in counts[len(top) :])
    return FeatureSpec(
        kinds=kinds,
        has_orders=bool(n_orders),
        has_sessions=bool(n_sessions),
        has_rating=bool(n_rating),
        window_start=first.isoformat(),
        rates=rates,
        categories=[[cat, c / total] for cat, c in top],
        other_share=rest / total if rest else None,
        smoothing=float(smoothing),
        session_gap_minutes=float(session_gap_minutes),
    )


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def event_feature_sql(
    spec: FeatureSpec,
    as_of: dt.date | dt.datetime,
    *,
    table: str = "events",
    users: str | None = None,
) -> tuple[str, list[FeatureInfo]]:
    """The SQL of one row per user with every feature ``spec`` supports, and their descriptions.

    Rates (funnel ratios, category shares, returns) are shrunk toward the
    population's value with a prior worth ``spec.smoothing`` events:
    ``(hits + a·p) / (n + a)``.

    Parameters
    ----------
    spec : FeatureSpec
        From :func:`spec_from_data` (training) or a stored feature set (scoring).
    as_of : date or datetime
        Events before it count; recency and tenure are measured at it.
    table : str
        The canonical event table.
    users : str, optional
        An SQL subquery of ``user_id`` values to restrict the computation to.

    Returns
    -------
    sql : str
        ``SELECT user_id, …`` one row per user.
    features : list of FeatureInfo
    """
    kinds = set(spec.kinds)
    has_purchases = "purchase" in kinds
    has_browse = bool(kinds & {"view", "cart", "other"})
    cutoff = f"TIMESTAMP '{as_of.isoformat()}'"
    window = _window(table, as_of)
    if users is not None:
        window = f"(SELECT * FROM {window} WHERE user_id IN ({users}))"
    start = dt.datetime.fromisoformat(spec.window_start)
    as_of_dt = as_of if isinstance(as_of, dt.datetime) else dt.datetime.combine(as_of, dt.time())
    observed_days = (as_of_dt - start).total_seconds() / 86400
    a = float(spec.smoothing)
    days = f"(epoch({cutoff}) - epoch({{}})) / 86400.0"
    feats: list[FeatureInfo] = []
    cols: list[str] = []

    def add(expr: str, name: str, unit: str, description: str) -> None:
        cols.append(f"{expr} AS {quote_ident(name)}")
        feats.append(FeatureInfo(name, "numeric", unit, description))

    def rate(num: str, den: str, pop: float) -> str:
        return f"({num} + {a * pop!r}) / ({den} + {a!r})"

    add(days.format("max(ts)"), "recency_days", "days", "days since the user's last event")
    if has_purchases and has_browse:
        last_buy = days.format("max(ts) FILTER (WHERE event = 'purchase')")
        add(
            f"coalesce({last_buy}, {observed_days!r})",
            "days_since_purchase",
            "days",
            "days since the last purchase (the whole observed window if none)",
        )
    buys = "count(*) FILTER (WHERE event = 'purchase')"
    if has_purchases:
        # orders: distinct order ids, plus each purchase that came without one (a live
        # event need not carry its order id)
        freq = (
            "(count(DISTINCT order_id) FILTER (WHERE event = 'purchase') + "
            "count(*) FILTER (WHERE event = 'purchase' AND order_id IS NULL))"
            if spec.has_orders
            else buys
        )
        add(
            freq,
            "frequency",
            "count",
            "number of orders" if spec.has_orders else "number of purchases",
        )
        add(
            f"CAST(coalesce(sum(amount) FILTER (WHERE event IN ('purchase', 'refund')), 0) "
            f"AS {MONEY})",
            "monetary",
            "money",
            "net spend (purchases minus refunds)",
        )
        add(
            f"coalesce(CAST(sum(amount) FILTER (WHERE event = 'purchase') AS DOUBLE) "
            f"/ nullif({freq}, 0), 0)",
            "avg_order_value",
            "money",
            "average spend per order (0 without orders)",
        )
    add(days.format("min(ts)"), "tenure_days", "days", "days since the user's first event")
    add("count(*)", "n_events", "count", "number of events")
    add("count(DISTINCT CAST(ts AS DATE))", "active_days", "count", "number of days with any event")
    if spec.has_sessions or has_browse:
        expr = "count(DISTINCT session_id)" if spec.has_sessions else "sum(__new_session)"
        how = (
            "session ids"
            if spec.has_sessions
            else f"a {spec.session_gap_minutes:g}-minute inactivity gap"
        )
        add(expr, "sessions", "count", f"number of sessions ({how})")
    if "view" in kinds and "cart" in kinds:
        views = "count(*) FILTER (WHERE event = 'view')"
        carts = "count(*) FILTER (WHERE event = 'cart')"
        add(
            rate(carts, views, spec.rates["view_to_cart"]),
            "view_to_cart",
            "ratio",
            "add-to-carts per product view (smoothed)",
        )
        if has_purchases:
            add(
                rate(buys, carts, spec.rates["cart_to_purchase"]),
                "cart_to_purchase",
                "ratio",
                "purchases per add-to-cart (smoothed)",
            )
            add(
                rate(buys, views, spec.rates["view_to_purchase"]),
                "view_to_purchase",
                "ratio",
                "purchases per product view (smoothed)",
            )
    if "refund" in kinds and has_purchases:
        refunds = "count(*) FILTER (WHERE event = 'refund')"
        add(
            rate(refunds, buys, spec.rates["return_rate"]),
            "return_rate",
            "ratio",
            "refunds per purchase (smoothed)",
        )
    if spec.has_rating:
        add("avg(rating)", "avg_rating", "rating", "average rating given")
    if spec.categories:
        # Shares shrunk toward the population's mix: a user with two events is not "100 % toys".
        n_cat = "count(category)"
        used: set[str] = {"share_other"}  # reserved for the remaining categories
        for cat, share in spec.categories:
            name = "share_" + sanitize_name(cat)
            while name in used:
                name += "_"
            used.add(name)
            add(
                rate(f"count(*) FILTER (WHERE category = {_lit(cat)})", n_cat, share),
                name,
                "share",
                f"share of the user's events in {cat!r} (smoothed)",
            )
        if spec.other_share is not None:
            in_top = ", ".join(_lit(c) for c, _ in spec.categories)
            add(
                rate(
                    f"count(*) FILTER (WHERE category IS NOT NULL AND category NOT IN ({in_top}))",
                    n_cat,
                    spec.other_share,
                ),
                "share_other",
                "share",
                "share of the user's events in other categories (smoothed)",
            )

    source = window
    if not spec.has_sessions and has_browse:
        gap = float(spec.session_gap_minutes) * 60.0
        source = (
            f"(SELECT *, CASE WHEN lag(ts) OVER w IS NULL OR "
            f"epoch(ts) - epoch(lag(ts) OVER w) > {gap!r} THEN 1 ELSE 0 END AS __new_session "
            f"FROM {window} WINDOW w AS (PARTITION BY user_id ORDER BY ts))"
        )
    sql = f"SELECT user_id, {', '.join(cols)} FROM {source} GROUP BY user_id"
    return sql, feats
