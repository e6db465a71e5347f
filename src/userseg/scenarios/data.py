"""Generated data for the seed's industry scenarios, each with planted groups.

``userseg demo --scenario NAME``: ``shop`` is the e-commerce demo of
:mod:`userseg.demo` (unchanged); the others are generated here, each as a user
table and an event log in the shape a real export has, and the planted group
of each user in a separate file (never in the data, so it cannot leak into the
features):

=========  ===================================  ===========================================
scenario   planted groups                        the data
=========  ===================================  ===========================================
bank       low / medium / high risk              card transactions by category; income, credit
                                                 limit, utilisation, late payments
clinic     low / rising / high risk              visits by kind and their cost; age, BMI,
                                                 chronic conditions, blood pressure, no-shows
social     news / entertainment / social         posts read, liked and shared by topic; age
travel     outdoor / culture / leisure           bookings by kind and their price; age, trips
=========  ===================================  ===========================================

Every attribute and rate is drawn per user around their group's value with
noise, so groups overlap as real customers do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from userseg.config import EventMapping, UserMapping
from userseg.errors import ConfigError

__all__ = ["EVENT_MAPPING", "SCENARIOS", "USER_MAPPING", "Group", "Scenario", "generate", "write"]

END = dt.datetime(2026, 6, 30, 20, 0)
DAYS = 365


@dataclass(frozen=True)
class Group:
    """One planted group: its share, attribute means and event habits."""

    name: str
    share: float
    attributes: dict[str, float]  # mean of each numeric attribute (noise: its scenario's sd)
    events: float  # mean events over the year
    taste: tuple[float, ...]  # weights over the scenario's categories
    amount: float  # median money per event (0: no money)
    recent_days: float = 30.0  # mean days since the last event


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    categories: tuple[str, ...]
    event_names: tuple[str, ...]  # raw event names, mapped to canonical kinds by EVENT_MAPPING
    spread: dict[str, float]  # sd of each attribute (relative to its mean for "log" ones)
    groups: tuple[Group, ...]


EVENT_MAPPING = EventMapping(
    user_id="user_id",
    time="timestamp",
    event="event_type",
    amount="amount",
    category="category",
    event_values={
        "view": ["read", "visit", "search"],
        "cart": ["like", "enquiry", "share"],
        "purchase": ["transaction", "payment", "booking"],
    },
)
USER_MAPPING = UserMapping(user_id="user_id")

SCENARIOS: dict[str, Scenario] = {
    "bank": Scenario(
        "bank",
        "a bank's customers by risk",
        ("groceries", "fuel", "travel", "online", "cash_advance", "gambling"),
        ("transaction",),
        {"income": 0.25, "credit_limit": 0.25, "utilisation": 0.08, "late_payments": 0.8},
        (
            Group(
                "low risk",
                0.5,
                {"income": 72_000, "credit_limit": 15_000, "utilisation": 0.15, "late_payments": 0},
                90,
                (0.35, 0.2, 0.25, 0.2, 0.0, 0.0),
                60.0,
            ),
            Group(
                "medium risk",
                0.33,
                {"income": 41_000, "credit_limit": 6_000, "utilisation": 0.55, "late_payments": 1},
                120,
                (0.35, 0.25, 0.05, 0.3, 0.05, 0.0),
                35.0,
            ),
            Group(
                "high risk",
                0.17,
                {"income": 26_000, "credit_limit": 2_500, "utilisation": 0.92, "late_payments": 5},
                150,
                (0.25, 0.15, 0.0, 0.2, 0.25, 0.15),
                25.0,
            ),
        ),
    ),
    "clinic": Scenario(
        "clinic",
        "a clinic's patients by risk level",
        ("checkup", "lab", "specialist", "emergency"),
        ("visit", "payment"),
        {"age": 6.0, "bmi": 2.5, "chronic_conditions": 0.7, "systolic_bp": 8.0},
        (
            # healthy: a yearly check-up or two
            Group(
                "low risk",
                0.5,
                {"age": 34, "bmi": 23, "chronic_conditions": 0, "systolic_bp": 118},
                3,
                (0.85, 0.1, 0.05, 0.0),
                40.0,
                120,
            ),
            # rising: under monitoring, mostly lab tests
            Group(
                "rising risk",
                0.3,
                {"age": 56, "bmi": 31, "chronic_conditions": 2, "systolic_bp": 142},
                10,
                (0.15, 0.7, 0.15, 0.0),
                70.0,
                40,
            ),
            # high: specialists and emergencies
            Group(
                "high risk",
                0.2,
                {"age": 74, "bmi": 29, "chronic_conditions": 5, "systolic_bp": 162},
                24,
                (0.05, 0.15, 0.4, 0.4),
                260.0,
                10,
            ),
        ),
    ),
    "social": Scenario(
        "social",
        "a social platform's users by interest",
        ("news", "entertainment", "social"),
        ("read", "like", "share"),
        {"age": 7.0},
        (
            Group("news", 0.35, {"age": 47}, 160, (0.8, 0.1, 0.1), 0.0),
            Group("entertainment", 0.4, {"age": 27}, 220, (0.1, 0.8, 0.1), 0.0),
            Group("social", 0.25, {"age": 33}, 260, (0.1, 0.1, 0.8), 0.0),
        ),
    ),
    "travel": Scenario(
        "travel",
        "a travel company's customers by preference",
        ("hiking", "camping", "museum", "city_break", "beach", "spa"),
        ("search", "enquiry", "booking"),
        {"age": 7.0},
        (
            Group("outdoor", 0.35, {"age": 36}, 25, (0.5, 0.4, 0.02, 0.04, 0.02, 0.02), 350.0),
            Group("culture", 0.3, {"age": 52}, 20, (0.02, 0.02, 0.5, 0.4, 0.03, 0.03), 600.0),
            Group("leisure", 0.35, {"age": 44}, 18, (0.02, 0.02, 0.03, 0.05, 0.5, 0.38), 900.0),
        ),
    ),
}


def generate(
    scenario: str, n_users: int = 5000, *, seed: int = 0
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Users, events and the planted group of each user (three Arrow tables).

    Parameters
    ----------
    scenario : str
        One of :data:`SCENARIOS`.
    n_users : int, default=5000
    seed : int, default=0
    """
    if scenario not in SCENARIOS:
        raise ConfigError(
            f"scenario {scenario!r} is not one of shop, {', '.join(sorted(SCENARIOS))}."
        )
    if n_users < 10:
        raise ConfigError(f"n_users={n_users} should be >= 10.")
    sc = SCENARIOS[scenario]
    rng = np.random.default_rng(seed)
    shares = np.array([g.share for g in sc.groups])
    group = rng.choice(len(sc.groups), size=n_users, p=shares / shares.sum())
    ids = np.char.add("u", np.arange(1, n_users + 1).astype(str)).astype(object)

    users: dict[str, np.ndarray] = {"user_id": ids}
    for attr, sd in sc.spread.items():
        mean = np.array([g.attributes[attr] for g in sc.groups])[group]
        if attr in ("income", "credit_limit"):  # money: log-normal around the group's value
            values = np.round(mean * rng.lognormal(0.0, sd, n_users), -2)
        elif attr in ("late_payments", "chronic_conditions"):  # counts
            values = rng.poisson(np.maximum(mean + rng.normal(0, sd, n_users), 0.05))
        else:
            values = mean + rng.normal(0.0, sd, n_users)
            if attr == "utilisation":
                values = np.clip(values, 0.0, 1.2)
            values = np.round(values, 2)
        users[attr] = values

    # Events: a Poisson number per user over the year, categories by the group's taste.
    n_ev = np.maximum(1, rng.poisson(np.array([g.events for g in sc.groups])[group]))
    e_user = np.repeat(np.arange(n_users), n_ev)
    recent = rng.exponential(np.array([g.recent_days for g in sc.groups])[group])
    span = DAYS - np.minimum(recent, DAYS - 1)
    days_before = recent[e_user] + rng.uniform(0, 1, len(e_user)) * span[e_user]
    taste = np.array([g.taste for g in sc.groups], dtype=float)
    taste = taste / taste.sum(axis=1, keepdims=True)
    cum = np.cumsum(taste, axis=1)[group[e_user]]
    cat = np.minimum((rng.uniform(size=len(e_user))[:, None] > cum).sum(axis=1), len(cum[0]) - 1)
    names = np.array(sc.event_names, dtype=object)
    kind = names[rng.integers(0, len(names), len(e_user))]
    amount_median = np.array([g.amount for g in sc.groups])[group[e_user]]
    paid = np.isin(kind, ["transaction", "payment", "booking"]) & (amount_median > 0)
    amount = np.where(paid, amount_median * rng.lognormal(0.0, 0.5, len(e_user)), np.nan)
    ts = np.datetime64(END, "s") - (days_before * 86400).astype("timedelta64[s]")
    order = np.argsort(ts, kind="stable")
    events = {
        "user_id": ids[e_user[order]],
        "timestamp": np.char.replace(
            np.datetime_as_string(ts[order], unit="s").astype(str), "T", " "
        ).astype(object),
        "event_type": kind[order],
        "amount": np.where(
            np.isnan(amount[order]), "", np.char.mod("%.2f", np.nan_to_num(amount[order]))
        ).astype(object),
        "category": np.array(sc.categories, dtype=object)[cat[order]],
    }
    truth = {
        "user_id": ids,
        "group": np.array([g.name for g in sc.groups], dtype=object)[group],
    }
    return pa.table(users), pa.table(events), pa.table(truth)


def write(scenario: str, out: str | Path, n_users: int = 5000, *, seed: int = 0) -> dict[str, Path]:
    """Write ``events.csv``, ``users.csv`` and ``groups.csv`` (the truth) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    users, events, truth = generate(scenario, n_users, seed=seed)
    paths = {
        "events": out / "events.csv",
        "users": out / "users.csv",
        "groups": out / "groups.csv",
    }
    for table, name in ((events, "events"), (users, "users"), (truth, "groups")):
        path = paths[name]
        tmp = path.with_name(path.name + ".tmp")
        pacsv.write_csv(table, tmp)
        tmp.replace(path)
    return paths
