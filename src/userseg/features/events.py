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

__all__ = [
    "FeatureInfo",
    "FeatureSpec",
    "Population",
    "default_as_of",
    "event_feature_sql",
    "population",
    "spec_from_data",
    "stats_key",
    "stats_sql",
]


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


def _window(table: str, as_of: dt.date | dt.datetime | None) -> str:
    if as_of is None:
        return quote_ident(table)
    return f"(SELECT * FROM {quote_ident(table)} WHERE ts < TIMESTAMP '{as_of.isoformat()}')"


@dataclass
class Population:
    """What the events before an as-of date hold, from one narrow pass over the table."""

    n: int
    first: dt.datetime | None
    last: dt.datetime | None
    n_orders: int
    n_sessions: int
    n_rating: int
    kinds: dict[str, int]
    categories: list[tuple[str, int]]  # by count, then name


def population(db: Database, table: str, as_of: dt.date | None) -> Population:
    """Counts per event kind and category, time span, ids present: one grouped scan.

    With ``as_of=None`` every event counts (the default as-of date is the day
    after the last one, so no event is after it).
    """
    rows = db.rows(
        f"SELECT event, category, count(*), min(ts), max(ts), count(order_id), "
        f"count(session_id), count(rating) FROM {_window(table, as_of)} GROUP BY ALL"
    )
    kinds: dict[str, int] = {}
    cats: dict[str, int] = {}
    firsts, lasts = [r[3] for r in rows if r[3] is not None], [r[4] for r in rows if r[4]]
    for event, category, n, *_ in rows:
        kinds[event] = kinds.get(event, 0) + n
        if category is not None:
            cats[category] = cats.get(category, 0) + n
    return Population(
        n=sum(r[2] for r in rows),
        first=min(firsts) if firsts else None,
        last=max(lasts) if lasts else None,
        n_orders=sum(r[5] for r in rows),
        n_sessions=sum(r[6] for r in rows),
        n_rating=sum(r[7] for r in rows),
        kinds=kinds,
        categories=sorted(cats.items(), key=lambda kv: (-kv[1], kv[0])),
    )


def spec_from_data(
    db: Database,
    as_of: dt.date,
    *,
    table: str = "events",
    session_gap_minutes: float = 30.0,
    top_categories: int = 8,
    smoothing: float = 5.0,
    pop: Population | None = None,
) -> FeatureSpec:
    """Look at the events before ``as_of`` and decide what features they support.

    ``pop`` is :func:`population` of the same window, when the caller has it.
    """
    pop = pop or population(db, table, as_of)
    if not pop.n:
        raise DataError(f"no events before the as-of date {as_of}: nothing to build features from.")
    views, carts = pop.kinds.get("view", 0), pop.kinds.get("cart", 0)
    buys, refunds = pop.kinds.get("purchase", 0), pop.kinds.get("refund", 0)
    rates = {
        "view_to_cart": carts / max(views, 1),
        "cart_to_purchase": buys / max(carts, 1),
        "view_to_purchase": buys / max(views, 1),
        "return_rate": refunds / max(buys, 1),
    }
    total = sum(c for _, c in pop.categories)
    top = pop.categories[: int(top_categories)]
    rest = sum(c for _, c in pop.categories[len(top) :])
    return FeatureSpec(
        kinds=sorted(pop.kinds),
        has_orders=bool(pop.n_orders),
        has_sessions=bool(pop.n_sessions),
        has_rating=bool(pop.n_rating),
        window_start=pop.first.isoformat(),
        rates=rates,
        categories=[[cat, c / total] for cat, c in top],
        other_share=rest / total if rest else None,
        smoothing=float(smoothing),
        session_gap_minutes=float(session_gap_minutes),
    )


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def gap_sessions(spec: FeatureSpec) -> bool:
    """Whether sessions are cut by inactivity gaps (no session ids, but browsing events)."""
    return not spec.has_sessions and bool(set(spec.kinds) & {"view", "cart", "other"})


def stats_key(spec: FeatureSpec) -> dict[str, Any]:
    """What per-user statistics depend on besides the events: kept statistics must match it."""
    return {
        "categories": _stat_categories(spec),
        "sessions": f"gap:{spec.session_gap_minutes!r}" if gap_sessions(spec) else "ids",
    }


def _stat_categories(spec: FeatureSpec) -> list[str]:
    """The categories counted per user, by name: their ranking may change, the set not."""
    return sorted(c for c, _ in spec.categories)


def stats_sql(
    spec: FeatureSpec,
    as_of: dt.date | dt.datetime,
    *,
    table: str = "events",
    users: str | None = None,
) -> str:
    """One row per user of per-user statistics (counts, sums, first and last times).

    Every feature is a function of these statistics and of ``spec``
    (:func:`event_feature_sql`), so statistics kept in a table let a feature
    build recompute only the users whose events changed. ``users`` restricts the
    computation to an SQL subquery of ``user_id`` values.
    """
    window = _window(table, as_of)
    if users is not None:
        window = f"(SELECT * FROM {window} WHERE user_id IN ({users}))"
    if gap_sessions(spec):
        gap = float(spec.session_gap_minutes) * 60.0
        window = (
            f"(SELECT *, CASE WHEN lag(ts) OVER w IS NULL OR "
            f"epoch(ts) - epoch(lag(ts) OVER w) > {gap!r} THEN 1 ELSE 0 END AS __new_session "
            f"FROM {window} WINDOW w AS (PARTITION BY user_id ORDER BY ts))"
        )
        sessions = "sum(__new_session)"
    else:
        sessions = "count(DISTINCT session_id)"
    cols = [
        "count(*) AS n_events",
        "min(ts) AS first_ts",
        "max(ts) AS last_ts",
        "max(ts) FILTER (WHERE event = 'purchase') AS last_purchase_ts",
        *(f"count(*) FILTER (WHERE event = '{k}') AS n_{k}" for k in _KINDS),
        "count(DISTINCT order_id) FILTER (WHERE event = 'purchase') AS n_orders",
        "count(*) FILTER (WHERE event = 'purchase' AND order_id IS NULL) AS n_purchase_no_order",
        "sum(amount) FILTER (WHERE event IN ('purchase', 'refund')) AS money_net",
        "sum(amount) FILTER (WHERE event = 'purchase') AS money_purchase",
        "count(DISTINCT CAST(ts AS DATE)) AS active_days",
        f"{sessions} AS sessions",
        "avg(rating) AS avg_rating",
        "count(category) AS n_categorised",
        *(
            f"count(*) FILTER (WHERE category = {_lit(cat)}) AS cat_{i}"
            for i, cat in enumerate(_stat_categories(spec))
        ),
    ]
    return f"SELECT user_id, {', '.join(cols)} FROM {window} GROUP BY user_id"


_KINDS = ("view", "cart", "purchase", "refund")


def event_feature_sql(
    spec: FeatureSpec,
    as_of: dt.date | dt.datetime,
    *,
    table: str = "events",
    users: str | None = None,
    stats: str | None = None,
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
    stats : str, optional
        A table of :func:`stats_sql` rows computed at ``as_of`` (then ``table``
        and ``users`` are not read).

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

    add(days.format("last_ts"), "recency_days", "days", "days since the user's last event")
    if has_purchases and has_browse:
        add(
            f"coalesce({days.format('last_purchase_ts')}, {observed_days!r})",
            "days_since_purchase",
            "days",
            "days since the last purchase (the whole observed window if none)",
        )
    # orders: distinct order ids, plus each purchase that came without one (a live
    # event need not carry its order id)
    freq = "(n_orders + n_purchase_no_order)" if spec.has_orders else "n_purchase"
    if has_purchases:
        add(
            freq,
            "frequency",
            "count",
            "number of orders" if spec.has_orders else "number of purchases",
        )
        add(
            f"CAST(coalesce(money_net, 0) AS {MONEY})",
            "monetary",
            "money",
            "net spend (purchases minus refunds)",
        )
        add(
            f"coalesce(CAST(money_purchase AS DOUBLE) / nullif({freq}, 0), 0)",
            "avg_order_value",
            "money",
            "average spend per order (0 without orders)",
        )
    add(days.format("first_ts"), "tenure_days", "days", "days since the user's first event")
    add("n_events", "n_events", "count", "number of events")
    add("active_days", "active_days", "count", "number of days with any event")
    if spec.has_sessions or has_browse:
        how = (
            "session ids"
            if spec.has_sessions
            else f"a {spec.session_gap_minutes:g}-minute inactivity gap"
        )
        add("sessions", "sessions", "count", f"number of sessions ({how})")
    if "view" in kinds and "cart" in kinds:
        add(
            rate("n_cart", "n_view", spec.rates["view_to_cart"]),
            "view_to_cart",
            "ratio",
            "add-to-carts per product view (smoothed)",
        )
        if has_purchases:
            add(
                rate("n_purchase", "n_cart", spec.rates["cart_to_purchase"]),
                "cart_to_purchase",
                "ratio",
                "purchases per add-to-cart (smoothed)",
            )
            add(
                rate("n_purchase", "n_view", spec.rates["view_to_purchase"]),
                "view_to_purchase",
                "ratio",
                "purchases per product view (smoothed)",
            )
    if "refund" in kinds and has_purchases:
        add(
            rate("n_refund", "n_purchase", spec.rates["return_rate"]),
            "return_rate",
            "ratio",
            "refunds per purchase (smoothed)",
        )
    if spec.has_rating:
        add("avg_rating", "avg_rating", "rating", "average rating given")
    if spec.categories:
        # Shares shrunk toward the population's mix: a user with two events is not "100 % toys".
        used: set[str] = {"share_other"}  # reserved for the remaining categories
        column = {cat: f"cat_{i}" for i, cat in enumerate(_stat_categories(spec))}
        for cat, share in spec.categories:
            name = "share_" + sanitize_name(cat)
            while name in used:
                name += "_"
            used.add(name)
            add(
                rate(column[cat], "n_categorised", share),
                name,
                "share",
                f"share of the user's events in {cat!r} (smoothed)",
            )
        if spec.other_share is not None:
            in_top = " + ".join(column.values())
            add(
                rate(f"(n_categorised - ({in_top}))", "n_categorised", spec.other_share),
                "share_other",
                "share",
                "share of the user's events in other categories (smoothed)",
            )
    source = (
        quote_ident(stats) if stats else f"({stats_sql(spec, as_of, table=table, users=users)})"
    )
    sql = f"SELECT user_id, {', '.join(cols)} FROM {source}"
    return sql, feats
