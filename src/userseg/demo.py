"""Realistic synthetic e-commerce data for ``make demo`` and the end-to-end tests.

Users belong to one of a handful of behavioural personas (the truth the tests
check segmentation against); each persona has its own visit rate, browsing
depth, conversion, basket value, return habit, category taste and time of
activity, drawn with noise so that personas overlap as real customers do.
Spend is long-tailed (log-normal, with rare very large orders). The files are
as messy as real exports: missing attributes, a few duplicate rows, and a few
bad rows (text in the amount, an unparseable date, a missing user id, a
timestamp in the future) that the import must count and handle.

Persona labels go to a separate file (``personas.csv``) and never into the
user table, so they cannot leak into the features.

With ``text=True`` each rating event and 40 % of purchases carry a review (column
``review``) whose
topic follows the persona (serial returners write about sizing, lapsed one-time
buyers about delivery, bargain hunters about price…) and whose tone follows the
rating given. The reviews are drawn from a generator of their own, so the
other columns are the same with and without them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from userseg.config import EventMapping, UserMapping
from userseg.errors import ConfigError

__all__ = [
    "EVENT_MAPPING",
    "PERSONAS",
    "REVIEWS",
    "USER_MAPPING",
    "Persona",
    "generate",
    "two_period_scenario",
    "write_demo",
]

CATEGORIES = ("electronics", "home", "fashion", "beauty", "books", "sports", "toys", "grocery")
END = dt.datetime(2026, 6, 30, 20, 0)  # the last moment of simulated activity
DAYS = 365


@dataclass(frozen=True)
class Persona:
    """How one kind of customer behaves (per year, in the simulation window)."""

    name: str
    share: float
    sessions: float  # mean sessions over the user's active span
    views: float  # mean product views per session (plus one)
    cart: float  # probability a view leads to an add-to-cart
    buy: float  # probability a session with a cart ends in a purchase
    aov: float  # median order value
    returns: float  # probability a purchase is returned
    rating: float  # mean rating given
    categories: tuple[float, ...]  # taste over CATEGORIES
    active_from: tuple[float, float]  # days before END the user becomes active (range)
    active_until: tuple[float, float]  # days before END the user is last active (range)
    age: float
    first_purchase: bool = False  # the user's first session always ends in a purchase


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "loyal_high_spenders",
        0.12,
        12,
        2.0,
        0.45,
        0.80,
        140.0,
        0.03,
        4.6,
        (0.35, 0.30, 0.05, 0.05, 0.10, 0.10, 0.02, 0.03),
        (300, 365),
        (0, 10),
        46,
    ),
    Persona(
        "bargain_hunters",
        0.20,
        9,
        2.0,
        0.40,
        0.75,
        22.0,
        0.06,
        3.9,
        (0.04, 0.10, 0.12, 0.32, 0.04, 0.04, 0.12, 0.22),
        (200, 365),
        (0, 20),
        34,
    ),
    Persona(
        "window_shoppers",
        0.23,
        7,
        4.0,
        0.06,
        0.10,
        45.0,
        0.05,
        3.5,
        (0.25, 0.20, 0.20, 0.05, 0.10, 0.10, 0.05, 0.05),
        (120, 365),
        (0, 25),
        31,
    ),
    Persona(
        "lapsed_one_time",
        0.23,
        1.5,
        1.5,
        0.50,
        0.95,
        55.0,
        0.05,
        3.2,
        (0.15, 0.20, 0.15, 0.10, 0.15, 0.10, 0.10, 0.05),
        (250, 365),
        (180, 300),
        41,
        first_purchase=True,
    ),
    Persona(
        "new_users",
        0.12,
        3,
        2.5,
        0.30,
        0.50,
        40.0,
        0.05,
        4.0,
        (0.15, 0.10, 0.20, 0.15, 0.10, 0.10, 0.15, 0.05),
        (3, 30),
        (0, 3),
        27,
        first_purchase=True,
    ),
    Persona(
        "serial_returners",
        0.10,
        7,
        2.0,
        0.45,
        0.80,
        90.0,
        0.6,
        2.4,
        (0.04, 0.04, 0.72, 0.10, 0.02, 0.05, 0.01, 0.02),
        (150, 365),
        (0, 30),
        33,
    ),
)

EVENT_MAPPING = EventMapping(
    user_id="user_id",
    time="timestamp",
    event="event_type",
    amount="amount",
    category="category",
    session="session_id",
    rating="rating",
    order_id="order_id",
    event_id="event_id",
)
USER_MAPPING = UserMapping(user_id="user_id")


def _persona_mix(personas: tuple[Persona, ...]) -> np.ndarray:
    shares = np.array([p.share for p in personas], dtype=np.float64)
    return shares / shares.sum()


def generate(
    n_users: int = 50_000,
    *,
    seed: int = 0,
    messy: bool = True,
    personas: tuple[Persona, ...] = PERSONAS,
    id_prefix: str = "u",
    text: bool = False,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Simulate users, events and the persona truth; returns three Arrow tables.

    Parameters
    ----------
    n_users : int
        Number of users (about 30 events each on average).
    seed : int
        Everything is reproducible from the seed.
    messy : bool
        Add the duplicates, bad rows and missing values of a real export.
    personas : tuple of Persona
        The persona mix (default :data:`PERSONAS`).
    id_prefix : str
        Prefix of user, session, order and event ids (to combine simulations).
    text : bool
        Add a ``review`` column: a review on each rating event and on 40 % of
        purchases, its topic from the persona and its tone from the rating
        (see :data:`REVIEWS`).
    """
    if n_users < 10:
        raise ConfigError(f"n_users={n_users} should be >= 10.")
    rng = np.random.default_rng(seed)
    P = len(personas)
    persona = rng.choice(P, size=n_users, p=_persona_mix(personas))
    par = {
        f: np.array([getattr(p, f) for p in personas], dtype=np.float64)
        for f in ("sessions", "views", "cart", "buy", "aov", "returns", "rating", "age")
    }
    # Each user's own version of their persona: multiplicative noise makes personas overlap.
    jitter = lambda sd: np.exp(rng.normal(0.0, sd, n_users))  # noqa: E731
    u_sessions = par["sessions"][persona] * jitter(0.35)
    u_views = par["views"][persona] * jitter(0.25)
    u_cart = np.clip(par["cart"][persona] * jitter(0.25), 0.0, 0.95)
    u_buy = np.clip(par["buy"][persona] * jitter(0.2), 0.0, 1.0)
    u_aov = par["aov"][persona] * jitter(0.3)
    u_ret = np.clip(par["returns"][persona] * jitter(0.3), 0.0, 0.9)
    act_from = np.array([rng.uniform(*personas[p].active_from) for p in persona])
    act_until = np.array([rng.uniform(*personas[p].active_until) for p in persona])
    act_until = np.minimum(act_until, act_from - 1.0)

    # Sessions: at least one per user, times uniform over the user's active span.
    n_sess = np.maximum(1, rng.poisson(u_sessions))
    s_user = np.repeat(np.arange(n_users), n_sess)
    span = act_from[s_user] - act_until[s_user]
    s_days_before = act_until[s_user] + rng.uniform(0, 1, len(s_user)) * span
    # Every user's last session is on their last active day, so recency follows the persona.
    last = np.cumsum(n_sess) - 1
    s_days_before[last] = act_until
    s_start = END - dt.timedelta(0)
    s_seconds = (s_days_before * 86400.0).astype(np.int64)
    s_views = 1 + rng.poisson(u_views[s_user])
    s_carts = rng.binomial(s_views, u_cart[s_user])
    s_buy = (s_carts > 0) & (rng.uniform(size=len(s_user)) < u_buy[s_user])
    # One-time buyers and new users have bought once: their earliest session is a purchase.
    by_user_then_oldest = np.lexsort((-s_days_before, s_user))
    earliest = by_user_then_oldest[np.cumsum(n_sess) - n_sess]
    must = np.array([p.first_purchase for p in personas])[persona]
    forced = earliest[must]
    s_carts[forced] = np.maximum(s_carts[forced], 1)
    s_buy[forced] = True
    cat_p = np.array([p.categories for p in personas])
    cat_p = cat_p / cat_p.sum(axis=1, keepdims=True)
    cum = np.cumsum(cat_p, axis=1)
    s_cat = (rng.uniform(size=len(s_user))[:, None] > cum[persona[s_user]]).sum(axis=1)
    s_cat = np.minimum(s_cat, len(CATEGORIES) - 1)

    # Events of each session: views, then add-to-carts, then maybe a purchase.
    n_ev = s_views + s_carts + s_buy
    e_sess = np.repeat(np.arange(len(s_user)), n_ev)
    pos = np.arange(len(e_sess)) - np.repeat(np.cumsum(n_ev) - n_ev, n_ev)
    kind = np.where(pos < s_views[e_sess], 0, np.where(pos < (s_views + s_carts)[e_sess], 1, 2))
    # Events of a session are 20 s to 4 min apart, in order.
    gaps = rng.integers(20, 240, len(e_sess))
    gaps[pos == 0] = 0
    offset = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[np.cumsum(n_ev) - n_ev] - 0, n_ev)
    e_seconds = s_seconds[e_sess] - offset
    amount = np.full(len(e_sess), np.nan)
    buys = np.flatnonzero(kind == 2)
    # Long-tailed spend: log-normal around the user's order value, rare very large orders.
    spend = u_aov[s_user[e_sess[buys]]] * rng.lognormal(0.0, 0.45, len(buys))
    whales = rng.uniform(size=len(buys)) < 0.002
    spend[whales] *= rng.uniform(10, 40, whales.sum())
    amount[buys] = np.round(np.maximum(spend, 0.5), 2)
    order_id = np.full(len(e_sess), "", dtype=object)
    order_id[buys] = np.char.add(id_prefix + "o", np.arange(1, len(buys) + 1).astype(str)).astype(
        object
    )

    # Refunds and ratings follow some purchases, days later.
    ret = buys[rng.uniform(size=len(buys)) < u_ret[s_user[e_sess[buys]]]]
    rate = buys[rng.uniform(size=len(buys)) < 0.35]
    r_user_par = par["rating"][persona[s_user[e_sess[rate]]]]
    rating_vals = np.clip(np.round(r_user_par + rng.normal(0, 0.8, len(rate))), 1, 5)
    extra_idx = np.concatenate([ret, rate])
    extra_kind = np.concatenate([np.full(len(ret), 3), np.full(len(rate), 4)])
    extra_seconds = e_seconds[extra_idx] - rng.integers(86400, 14 * 86400, len(extra_idx))
    extra_seconds = np.maximum(extra_seconds, 0)  # never after the end of the window

    all_sess = np.concatenate([e_sess, e_sess[extra_idx]])
    all_kind = np.concatenate([kind, extra_kind])
    all_secs = np.concatenate([e_seconds, extra_seconds])
    all_amount = np.concatenate([amount, -amount[ret], np.full(len(rate), np.nan)])
    all_rating = np.concatenate([np.full(len(kind) + len(ret), np.nan), rating_vals])
    all_order = np.concatenate([order_id, order_id[extra_idx]])
    all_user = s_user[all_sess]
    names = np.array(["view", "add_to_cart", "purchase", "refund", "rating"], dtype=object)
    ts = np.datetime64(s_start, "s") - all_secs.astype("timedelta64[s]")
    order = np.argsort(ts, kind="stable")

    user_ids = np.char.add(id_prefix, np.arange(1, n_users + 1).astype(str)).astype(object)
    amount_text = np.where(np.isnan(all_amount), "", np.char.mod("%.2f", np.nan_to_num(all_amount)))
    rating_text = np.where(np.isnan(all_rating), "", np.char.mod("%.0f", np.nan_to_num(all_rating)))
    session_ids = np.char.add(id_prefix + "s", (all_sess + 1).astype(str))
    cols = {
        "event_id": np.char.add(id_prefix + "e", np.arange(1, len(order) + 1).astype(str)).astype(
            object
        ),
        "user_id": user_ids[all_user[order]],
        "timestamp": np.datetime_as_string(ts[order], unit="s").astype(object),
        "event_type": names[all_kind[order]],
        "amount": amount_text[order].astype(object),
        "category": np.array(CATEGORIES, dtype=object)[s_cat[all_sess[order]]],
        "session_id": session_ids[order].astype(object),
        "order_id": all_order[order],
        "rating": rating_text[order].astype(object),
    }
    cols["timestamp"] = np.char.replace(cols["timestamp"].astype(str), "T", " ").astype(object)
    if text:
        who = persona[all_user[order]]
        cols["review"] = _reviews(who, all_kind[order], all_rating[order], personas, seed)

    # User attributes: weakly tied to personas, with missing values.
    age = np.round(np.clip(rng.normal(par["age"][persona], 9.0), 18, 85))
    signup_days = act_from + rng.uniform(0, 20, n_users)
    signup = np.datetime64(END.date(), "D") - signup_days.astype("timedelta64[D]")
    users = {
        "user_id": user_ids,
        "age": np.where(rng.uniform(size=n_users) < 0.05, "", age.astype(int).astype(str)),
        "gender": rng.choice(
            np.array(["female", "male", "other", ""], dtype=object),
            n_users,
            p=[0.49, 0.46, 0.02, 0.03],
        ),
        "region": rng.choice(
            np.array(["north", "south", "east", "west", "central"], dtype=object),
            n_users,
            p=[0.22, 0.25, 0.18, 0.2, 0.15],
        ),
        "signup_date": np.datetime_as_string(signup, unit="D").astype(object),
        "channel": np.where(
            persona == 4,
            rng.choice(
                np.array(["social", "search", "referral", "email"], dtype=object),
                n_users,
                p=[0.5, 0.3, 0.15, 0.05],
            ),
            rng.choice(
                np.array(["social", "search", "referral", "email"], dtype=object),
                n_users,
                p=[0.25, 0.4, 0.15, 0.2],
            ),
        ),
    }
    if messy:
        cols, users = _make_messy(cols, users, rng)
    truth = pa.table(
        {
            "user_id": user_ids,
            "persona": np.array([p.name for p in personas], dtype=object)[persona],
        }
    )
    return pa.table(users), pa.table(cols), truth


#: persona → (what they praise, what they complain about): the topics of their reviews.
REVIEWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "loyal_high_spenders": (
        ("the build quality is excellent and the battery lasts", "superb sound quality, a "
         "premium device", "beautiful design, solid quality, worth every penny"),
        ("the battery died and the screen flickers", "poor build quality for a premium "
         "device"),
    ),
    "bargain_hunters": (
        ("great price and a real bargain", "cheap and good value for money", "got it on "
         "discount, great deal"),
        ("overpriced, not worth the money", "the discount code did not work, too expensive"),
    ),
    "window_shoppers": (
        ("nice product, looks like the photos", "pretty colour, as described"),
        ("does not look like the photos", "the colour is not as described"),
    ),
    "lapsed_one_time": (
        ("delivery was quick and the courier friendly", "arrived on time, well packed"),
        ("delivery took three weeks and the package arrived damaged", "late delivery, the "
         "courier lost the parcel, customer service never answered", "shipping was slow "
         "and the box was crushed, never again"),
    ),
    "new_users": (
        ("my first order, the app and checkout were easy", "easy signup, smooth checkout, "
         "first order went well"),
        ("the app crashed at checkout on my first order", "signup was confusing and the "
         "checkout failed"),
    ),
    "serial_returners": (
        ("the fit is perfect and true to size", "fits well, nice fabric"),
        ("the size runs small and the fit is wrong, returned it", "too tight, wrong size, "
         "sent it back", "the fabric is cheap and the sizing is off, returning it"),
    ),
}
_GOOD = ("Love it,", "Really happy:", "Great purchase,", "Excellent,")
_BAD = ("Disappointed,", "Terrible,", "Not happy:", "Awful,")


def _reviews(
    persona: np.ndarray,
    kind: np.ndarray,
    rating: np.ndarray,
    personas: tuple[Persona, ...],
    seed: int,
) -> np.ndarray:
    """A review on each rating event and on 40 % of purchases (empty elsewhere).

    Its topic comes from the persona; its tone from the rating given (on a
    purchase: one drawn around the persona's mean rating): 4-5 praise, 1-2
    complain, 3 a mixed word of each.
    """
    rng = np.random.default_rng([seed, 16])  # not the simulation's: its draws stay the same
    out = np.full(len(persona), "", dtype=object)
    mean = np.array([p.rating for p in personas])[persona]
    drawn = np.clip(np.round(mean + rng.normal(0, 0.8, len(persona))), 1, 5)
    on_purchase = (kind == 2) & (rng.uniform(size=len(persona)) < 0.4)
    rating = np.where(np.isnan(rating) & on_purchase, drawn, rating)
    for i in np.flatnonzero(~np.isnan(rating)):
        good, bad = REVIEWS.get(personas[persona[i]].name, REVIEWS["window_shoppers"])
        r = rating[i]
        if r >= 4:
            text = f"{rng.choice(_GOOD)} {rng.choice(good)}."
        elif r <= 2:
            text = f"{rng.choice(_BAD)} {rng.choice(bad)}."
        else:
            text = f"It is okay: {rng.choice(good)}, but {rng.choice(bad)}."
        out[i] = text
    return out


def _make_messy(
    cols: dict[str, np.ndarray], users: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[dict, dict]:
    """Duplicate ~0.1 % of event rows, add a handful of bad rows, repeat a few user rows."""
    n = len(cols["user_id"])
    dup = rng.choice(n, size=max(1, n // 1000), replace=False)
    idx = np.sort(np.concatenate([np.arange(n), dup]))
    cols = {k: v[idx].copy() for k, v in cols.items()}
    n = len(idx)
    purchases = np.flatnonzero(cols["event_type"] == "purchase")
    k = max(1, n // 200_000)
    bad_amount = rng.choice(purchases, size=3 * k, replace=False)
    cols["amount"][bad_amount[:k]] = "12,50"  # decimal comma: not a number here
    cols["amount"][bad_amount[k : 2 * k]] = "abc"
    cols["amount"][bad_amount[2 * k :]] = "NaN"
    rest = rng.choice(np.setdiff1d(np.arange(n), bad_amount), size=3 * k, replace=False)
    cols["timestamp"][rest[:k]] = "31/12/2025 10:00"  # a date in another format
    cols["user_id"][rest[k : 2 * k]] = ""  # an anonymous event
    cols["timestamp"][rest[2 * k :]] = "2099-01-01 00:00:00"  # clock error: in the future
    m = len(users["user_id"])
    again = rng.choice(m, size=max(1, m // 2000), replace=False)
    users = {c: np.concatenate([v, v[again]]) for c, v in users.items()}
    users["age"][m:] = ""  # the duplicate carries less information: merged, first non-missing
    return cols, users


def write_demo(
    out: str | Path,
    n_users: int = 50_000,
    *,
    seed: int = 0,
    messy: bool = True,
    text: bool = False,
) -> dict[str, Path]:
    """Write ``events.csv``, ``users.csv`` and ``personas.csv`` into folder ``out``.

    ``text=True`` adds the ``review`` column to the events (import it with
    ``EVENT_MAPPING`` and ``text="review"``, or ``ingest --text review``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    users, events, truth = generate(n_users, seed=seed, messy=messy, text=text)
    paths = {
        "events": out / "events.csv",
        "users": out / "users.csv",
        "personas": out / "personas.csv",
    }
    for table, path in (
        (events, paths["events"]),
        (users, paths["users"]),
        (truth, paths["personas"]),
    ):
        tmp = path.with_name(path.name + ".tmp")
        pacsv.write_csv(table, tmp)
        tmp.replace(path)
    return paths


def two_period_scenario(n_users: int = 6000, *, seed: int = 0) -> dict[str, object]:
    """The shop over two months, for testing stable ids across a refit.

    Month 1 ends 30 days before the end of the simulation. In month 2 a
    marketing push brings many new users (the ``new_users`` persona grows
    about twofold), and every serial returner deletes their account (the
    ``serial_returners`` persona vanishes from the data). Other personas go on
    unchanged.

    Returns
    -------
    dict
        ``month1`` and ``months12``: event tables (Arrow) of the two fits;
        ``users``: user attributes; ``truth``: persona per user;
        ``cut``: the end of month 1 (datetime).
    """
    cut = END - dt.timedelta(days=30)
    # new users who joined 30-60 days before the end exist in month 1 already
    base_personas = tuple(
        dataclasses.replace(p, active_from=(3, 60)) if p.name == "new_users" else p
        for p in PERSONAS
    )
    users, events, truth = generate(n_users, seed=seed, messy=False, personas=base_personas)
    push = tuple(
        dataclasses.replace(p, share=1.0 if p.name == "new_users" else 0.0) for p in PERSONAS
    )
    users2, events2, truth2 = generate(
        n_users // 8, seed=seed + 1, messy=False, personas=push, id_prefix="g"
    )
    ts = pc.strptime(events["timestamp"], format="%Y-%m-%d %H:%M:%S", unit="s")
    month1 = events.filter(pc.less(ts, pa.scalar(cut, pa.timestamp("s"))))
    gone = pc.is_in(
        events["user_id"],
        value_set=truth.filter(pc.equal(truth["persona"], "serial_returners"))["user_id"],
    )
    months12 = pa.concat_tables([events.filter(pc.invert(gone)), events2])
    return {
        "month1": month1,
        "months12": months12,
        "users": pa.concat_tables([users, users2]),
        "truth": pa.concat_tables([truth, truth2]),
        "cut": cut,
    }
