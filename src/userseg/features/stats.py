"""Per-user statistics of the event log, kept between feature builds.

Every event feature is a function of a few per-user statistics (counts, sums,
first and last times; :func:`userseg.features.events.stats_sql`) and of the
population figures in the feature spec. Building the statistics is the one
expensive pass over the event log; the features are then a pass over one row
per user. The statistics are kept in ``userseg_user_stats`` so that after
``ingest --mode append`` (or the live service) adds events, the next build
recomputes only the users with new events (:mod:`userseg.io.changes` logs them)
and gives the same features as a build from scratch.

The kept statistics are used only when they can be: the same event table and
session rule, the same top categories, an as-of date not before theirs (they
counted every event then), and an event count that matches the log of appends.
Anything else rebuilds them from the whole log.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from userseg.features.events import FeatureSpec, stats_key, stats_sql
from userseg.io import changes
from userseg.io.database import Database, StatementProgress, quote_ident

__all__ = ["STATS", "StatsResult", "user_stats"]

#: The kept statistics and their description (one row).
STATS = "userseg_user_stats"
META = "userseg_user_stats_meta"


@dataclass
class StatsResult:
    """Where the statistics are and how they were brought up to date."""

    table: str
    mode: str  # "full", "incremental" or "temporary"
    users_recomputed: int


def user_stats(
    db: Database,
    spec: FeatureSpec,
    as_of: dt.date | dt.datetime,
    *,
    events: str,
    last_event: dt.datetime | None,
    progress: StatementProgress | None = None,
) -> StatsResult:
    """Bring the per-user statistics at ``as_of`` up to date; returns where they are.

    ``last_event`` is the latest event time in the table (to know whether the
    statistics count every event, which a later incremental build relies on).
    """
    cut = _as_datetime(as_of)
    if events != changes.EVENTS:  # other tables (a scratch copy, a test) are not kept
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE __user_stats AS {stats_sql(spec, as_of, table=events)}"
        )
        return StatsResult("__user_stats", "temporary", -1)
    n_events = int(db.scalar(f"SELECT count(*) FROM {quote_ident(events)}"))
    key = {"events": events, **stats_key(spec)}
    meta = _meta(db)
    logged = changes.summary(db)
    incremental = (
        meta is not None
        and logged is not None
        and db.table_exists(STATS)
        and {k: meta.get(k) for k in key} == key
        and meta.get("covers_all")
        and dt.datetime.fromisoformat(meta["cut"]) <= cut
        and n_events == meta["n_events"] + logged[1]
    )
    if incremental:
        touched = f"SELECT DISTINCT user_id FROM {changes.CHANGES}"
        db.execute(f"DELETE FROM {STATS} WHERE user_id IN ({touched})")
        sql = stats_sql(spec, as_of, table=events, users=touched)
        db.run(f"INSERT INTO {STATS} {sql}", progress=progress)
        result = StatsResult(STATS, "incremental", logged[0])
    else:
        sql = stats_sql(spec, as_of, table=events)
        db.run(f"CREATE OR REPLACE TABLE {STATS} AS {sql}", progress=progress)
        result = StatsResult(STATS, "full", int(db.scalar(f"SELECT count(*) FROM {STATS}")))
    _write_meta(
        db,
        {
            **key,
            "cut": cut.isoformat(),
            "n_events": n_events,
            "covers_all": last_event is None or last_event < cut,
        },
    )
    changes.start(db)
    return result


def _as_datetime(value: dt.date | dt.datetime) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())


def _meta(db: Database) -> dict[str, Any] | None:
    if not db.table_exists(META):
        return None
    raw = db.scalar(f"SELECT meta FROM {META}")
    return json.loads(raw) if raw else None


def _write_meta(db: Database, meta: dict[str, Any]) -> None:
    db.execute(f"CREATE OR REPLACE TABLE {META} (meta VARCHAR)")
    db.execute(f"INSERT INTO {META} VALUES (?)", [json.dumps(meta)])
