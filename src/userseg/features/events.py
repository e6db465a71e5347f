"""Per-user behavioural features from the canonical event log, computed in SQL inside DuckDB.

Every feature is measured at an explicit as-of date: events on or after it are
ignored, and recency and tenure count days up to it. The default as-of date is
the day after the last event in the data, never the wall clock, so a log from
last year does not make every user look lapsed.

Only features the data can support are produced: no funnel without views and
carts, no category shares without categories, no return rate without returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from userseg.errors import DataError
from userseg.io.database import Database, quote_ident
from userseg.io.ingest import MONEY, sanitize_name

__all__ = ["FeatureInfo", "default_as_of", "event_feature_sql"]


@dataclass(frozen=True)
class FeatureInfo:
    """What a feature is: name, kind, unit and a plain-language description."""

    name: str
    kind: str  # "numeric" or "categorical"
    unit: str  # days, count, money, ratio, share, rating, value, category
    description: str
    source: str = "events"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def default_as_of(db: Database, table: str = "events") -> dt.date:
    """The day after the last event: recency 0 means "active on the last day of data"."""
    last = db.scalar(f"SELECT max(ts) FROM {quote_ident(table)}")
    if last is None:
        raise DataError(f"table {table!r} has no events.")
    return last.date() + dt.timedelta(days=1)


def _has(db: Database, sql: str) -> bool:
    return bool(db.scalar(sql))


def event_feature_sql(
    db: Database,
    as_of: dt.date,
    *,
    table: str = "events",
    session_gap_minutes: float = 30.0,
    top_categories: int = 8,
    smoothing: float = 5.0,
) -> tuple[str, list[FeatureInfo]]:
    """Build the SQL of one row per user with every supported feature, and describe them.

    Rates (funnel ratios, category shares) are shrunk toward the population's
    value with a prior worth ``smoothing`` events: ``(hits + a·p) / (n + a)``.

    Returns
    -------
    sql : str
        A ``SELECT user_id, …`` over the events before ``as_of``.
    features : list of FeatureInfo
    """
    t = quote_ident(table)
    cutoff = f"TIMESTAMP '{as_of.isoformat()}'"
    window = f"(SELECT * FROM {t} WHERE ts < {cutoff})"
    if not _has(db, f"SELECT count(*) FROM {window}"):
        raise DataError(f"no events before the as-of date {as_of}: nothing to build features from.")
    kinds = {k for (k,) in db.rows(f"SELECT DISTINCT event FROM {window}")}
    has_purchases = "purchase" in kinds
    has_browse = bool(kinds & {"view", "cart", "other"})
    has_refunds = "refund" in kinds
    has_orders = _has(db, f"SELECT count(order_id) FROM {window}")
    has_sessions = _has(db, f"SELECT count(session_id) FROM {window}")
    has_rating = _has(db, f"SELECT count(rating) FROM {window}")
    has_category = _has(db, f"SELECT count(category) FROM {window}")
    first_day = db.scalar(f"SELECT min(ts) FROM {window}")
    observed_days = (dt.datetime.combine(as_of, dt.time()) - first_day).total_seconds() / 86400

    days = f"(epoch({cutoff}) - epoch({{}})) / 86400.0"
    feats: list[FeatureInfo] = []
    cols: list[str] = []

    def add(expr: str, info: FeatureInfo) -> None:
        cols.append(f"{expr} AS {quote_ident(info.name)}")
        feats.append(info)

    add(
        days.format("max(ts)"),
        FeatureInfo("recency_days", "numeric", "days", "days since the user's last event"),
    )
    if has_purchases and has_browse:
        last_buy = days.format("max(ts) FILTER (WHERE event = 'purchase')")
        add(
            f"coalesce({last_buy}, {observed_days!r})",
            FeatureInfo(
                "days_since_purchase",
                "numeric",
                "days",
                "days since the last purchase (the whole observed window if none)",
            ),
        )
    if has_purchases:
        freq = (
            "count(DISTINCT order_id) FILTER (WHERE event = 'purchase')"
            if has_orders
            else "count(*) FILTER (WHERE event = 'purchase')"
        )
        add(
            freq,
            FeatureInfo(
                "frequency",
                "numeric",
                "count",
                "number of orders" if has_orders else "number of purchases",
            ),
        )
        add(
            f"CAST(coalesce(sum(amount) FILTER (WHERE event IN ('purchase', 'refund')), 0) "
            f"AS {MONEY})",
            FeatureInfo("monetary", "numeric", "money", "net spend (purchases minus refunds)"),
        )
        add(
            f"coalesce(CAST(sum(amount) FILTER (WHERE event = 'purchase') AS DOUBLE) "
            f"/ nullif({freq}, 0), 0)",
            FeatureInfo(
                "avg_order_value", "numeric", "money", "average spend per order (0 without orders)"
            ),
        )
    add(
        days.format("min(ts)"),
        FeatureInfo("tenure_days", "numeric", "days", "days since the user's first event"),
    )
    add("count(*)", FeatureInfo("n_events", "numeric", "count", "number of events"))
    add(
        "count(DISTINCT CAST(ts AS DATE))",
        FeatureInfo("active_days", "numeric", "count", "number of days with any event"),
    )
    if has_sessions or has_browse:
        expr = "count(DISTINCT session_id)" if has_sessions else "sum(__new_session)"
        how = "session ids" if has_sessions else f"a {session_gap_minutes:g}-minute inactivity gap"
        add(expr, FeatureInfo("sessions", "numeric", "count", f"number of sessions ({how})"))
    a = float(smoothing)
    if "view" in kinds and "cart" in kinds:
        views = "count(*) FILTER (WHERE event = 'view')"
        carts = "count(*) FILTER (WHERE event = 'cart')"
        buys = "count(*) FILTER (WHERE event = 'purchase')"
        n_views, n_carts, n_buys = db.execute(
            f"SELECT {views}, {carts}, {buys} FROM {window}"
        ).fetchone()

        # Rates shrunk toward the population rate with a prior of `smoothing` events, so
        # that one view and one cart do not make a user a 100 % converter.
        def rate(num: str, den: str, pop: float) -> str:
            return f"({num} + {a * pop!r}) / ({den} + {a!r})"

        add(
            rate(carts, views, n_carts / max(n_views, 1)),
            FeatureInfo(
                "view_to_cart", "numeric", "ratio", "add-to-carts per product view (smoothed)"
            ),
        )
        if has_purchases:
            add(
                rate(buys, carts, n_buys / max(n_carts, 1)),
                FeatureInfo(
                    "cart_to_purchase", "numeric", "ratio", "purchases per add-to-cart (smoothed)"
                ),
            )
            add(
                rate(buys, views, n_buys / max(n_views, 1)),
                FeatureInfo(
                    "view_to_purchase", "numeric", "ratio", "purchases per product view (smoothed)"
                ),
            )
    if has_refunds and has_purchases:
        refunds = "count(*) FILTER (WHERE event = 'refund')"
        purchases = "count(*) FILTER (WHERE event = 'purchase')"
        n_ref, n_pur = db.execute(f"SELECT {refunds}, {purchases} FROM {window}").fetchone()
        add(
            f"({refunds} + {a * n_ref / max(n_pur, 1)!r}) / ({purchases} + {a!r})",
            FeatureInfo("return_rate", "numeric", "ratio", "refunds per purchase (smoothed)"),
        )
    if has_rating:
        add("avg(rating)", FeatureInfo("avg_rating", "numeric", "rating", "average rating given"))
    if has_category:
        counts = db.rows(
            f"SELECT category, count(*) FROM {window} WHERE category IS NOT NULL "
            f"GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        total = sum(n for _, n in counts)
        top = counts[: int(top_categories)]
        n_cat = "count(category)"
        used = set()
        # Shares shrunk toward the population's mix with a prior of `smoothing` events: a
        # user with two events is not "100 % toys".
        for cat, n in top:
            name = "share_" + sanitize_name(cat)
            while name in used:
                name += "_"
            used.add(name)
            lit = "'" + cat.replace("'", "''") + "'"
            add(
                f"(count(*) FILTER (WHERE category = {lit}) + {a * n / total!r}) / "
                f"({n_cat} + {a!r})",
                FeatureInfo(
                    name, "numeric", "share", f"share of the user's events in {cat!r} (smoothed)"
                ),
            )
        if len(counts) > len(top):
            in_top = ", ".join("'" + c.replace("'", "''") + "'" for c, _ in top)
            rest = sum(n for _, n in counts[len(top) :]) / total
            add(
                f"(count(*) FILTER (WHERE category IS NOT NULL AND category NOT IN ({in_top}))"
                f" + {a * rest!r}) / ({n_cat} + {a!r})",
                FeatureInfo(
                    "share_other",
                    "numeric",
                    "share",
                    "share of the user's events in other categories (smoothed)",
                ),
            )

    source = window
    if not has_sessions and (has_sessions or has_browse):
        gap = float(session_gap_minutes) * 60.0
        source = (
            f"(SELECT *, CASE WHEN lag(ts) OVER w IS NULL OR "
            f"epoch(ts) - epoch(lag(ts) OVER w) > {gap!r} THEN 1 ELSE 0 END AS __new_session "
            f"FROM {window} WINDOW w AS (PARTITION BY user_id ORDER BY ts))"
        )
    sql = f"SELECT user_id, {', '.join(cols)} FROM {source} GROUP BY user_id"
    return sql, feats
