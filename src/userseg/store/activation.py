"""Audiences, exports, webhook deliveries and campaigns in the userseg database.

The tables come from migration 3. An audience is a definition (the run it
follows, stable segment ids and/or a filter on features); every
materialisation is a numbered version with its members, written in one
transaction with them. Exports are recorded against the audience version
they sent; a webhook export's progress per batch is kept (``load_delivery``,
``save_delivery``: :class:`userseg.jobs.activation.StoreDeliveryState` puts the
``DeliveryState`` interface on them), so it resumes where a failed one
stopped. A campaign keeps its arms per user; a measurement keeps the lift
table it printed.

No other module runs SQL on these tables.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from userseg.errors import ConfigError, NotFoundError
from userseg.io.database import Database

__all__ = [
    "Audience",
    "AudienceVersion",
    "Campaign",
    "add_audience_version",
    "audience_diff",
    "campaign_overlap",
    "create_audience",
    "create_campaign",
    "end_campaign",
    "get_audience",
    "get_audience_version",
    "get_campaign",
    "get_export",
    "latest_measurement",
    "list_audiences",
    "list_campaigns",
    "list_exports",
    "list_versions",
    "load_arms",
    "load_delivery",
    "load_members",
    "member_counts",
    "record_export",
    "record_measurement",
    "save_delivery",
]


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _load(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else text


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class Audience:
    """An audience's definition and its latest version number (0: none yet)."""

    audience_id: int
    name: str
    created_at: dt.datetime
    run_spec: str  # "latest" (follows refits by stable segment id) or a run id
    segments: list[int] | None
    where: str | None
    description: str | None
    latest_version: int = 0
    n_members: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["created_at"] = self.created_at.isoformat()
        return d


@dataclass
class AudienceVersion:
    """One materialisation of an audience: on which run, how many members, how defined."""

    audience_id: int
    version: int
    created_at: dt.datetime
    run_id: int
    feature_set_id: int | None
    n_members: int
    definition: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["created_at"] = self.created_at.isoformat()
        return d


@dataclass
class Campaign:
    """A campaign: its audience version, holdout share, start and status."""

    campaign_id: int
    name: str
    created_at: dt.datetime
    audience_id: int
    audience: str
    version: int
    holdout: float
    start_at: dt.datetime
    status: str  # running | ended
    ended_at: dt.datetime | None
    overlap: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("created_at", "start_at", "ended_at"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        return d


def _next_id(db: Database, table: str, column: str) -> int:
    return int(db.scalar(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))


def _insert_frame(db: Database, table: str, prefix: list[Any], frame: pa.Table) -> None:
    name = "__userseg_activation_rows"
    db.con.register(name, frame)
    try:
        marks = ", ".join("?" for _ in prefix)
        db.execute(f"INSERT INTO {table} SELECT {marks}, * FROM {name}", prefix)
    finally:
        db.con.unregister(name)


# -- audiences ---------------------------------------------------------------------------------
_AUDIENCE_SQL = """
SELECT a.*, v.version AS latest_version, v.n_members
FROM userseg_audiences a
LEFT JOIN (SELECT audience_id, max(version) AS version FROM userseg_audience_versions
           GROUP BY audience_id) m USING (audience_id)
LEFT JOIN userseg_audience_versions v
       ON v.audience_id = a.audience_id AND v.version = m.version
"""


def _audience(row: dict[str, Any]) -> Audience:
    return Audience(
        audience_id=int(row["audience_id"]),
        name=row["name"],
        created_at=row["created_at"],
        run_spec=row["run_spec"],
        segments=_load(row["segments"]),
        where=row["where_text"],
        description=row["description"],
        latest_version=int(row["latest_version"] or 0),
        n_members=None if row["n_members"] is None else int(row["n_members"]),
    )


def list_audiences(db: Database) -> list[Audience]:
    """Every audience, by name."""
    return [_audience(r) for r in db.dicts(_AUDIENCE_SQL + " ORDER BY a.name")]


def get_audience(db: Database, name: str) -> Audience:
    """The audience called ``name``.

    Raises
    ------
    NotFoundError
        No such audience (the message lists those that exist).
    """
    rows = db.dicts(_AUDIENCE_SQL + " WHERE a.name = ?", [name])
    if not rows:
        known = [r for (r,) in db.rows("SELECT name FROM userseg_audiences ORDER BY name")]
        raise NotFoundError(
            f"audience {name!r} not found; audiences: {', '.join(known) or 'none'} "
            "(create one with `userseg audience create`).",
            details={"audience": name, "known": known},
        )
    return _audience(rows[0])


def create_audience(
    db: Database,
    name: str,
    *,
    run_spec: str,
    segments: list[int] | None,
    where: str | None,
    description: str | None = None,
) -> int:
    """Record an audience's definition; returns its id (its first version is added apart)."""
    with db.transaction():
        if db.scalar("SELECT count(*) FROM userseg_audiences WHERE name = ?", [name]):
            raise ConfigError(
                f"an audience called {name!r} exists already: refresh it with `userseg audience "
                "refresh`, or choose another name.",
                details={"audience": name},
            )
        audience_id = _next_id(db, "userseg_audiences", "audience_id")
        db.execute(
            "INSERT INTO userseg_audiences VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                audience_id,
                name,
                _now(),
                run_spec,
                None if segments is None else _json(segments),
                where,
                description,
            ],
        )
    return audience_id


def add_audience_version(
    db: Database,
    audience_id: int,
    members: pd.DataFrame,
    *,
    run_id: int,
    feature_set_id: int | None,
    definition: dict[str, Any],
) -> int:
    """Store a new version of an audience with its members (``user_id, segment``), atomically.

    The members per segment are kept with the version (``definition["sizes"]``), so that
    pages and listings read them without counting millions of member rows.
    """
    sizes = members["segment"].astype("int64").value_counts().sort_index()
    definition = definition | {"sizes": {str(k): int(n) for k, n in sizes.items()}}
    table = pa.table(
        {
            "user_id": pa.array(members["user_id"].astype(str).to_numpy(), pa.string()),
            "segment": pa.array(members["segment"].astype("int32").to_numpy()),
        }
    )
    with db.transaction():
        version = int(
            db.scalar(
                "SELECT coalesce(max(version), 0) + 1 FROM userseg_audience_versions "
                "WHERE audience_id = ?",
                [audience_id],
            )
        )
        db.execute(
            "INSERT INTO userseg_audience_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                audience_id,
                version,
                _now(),
                run_id,
                feature_set_id,
                len(members),
                _json(definition),
            ],
        )
        _insert_frame(db, "userseg_audience_members", [audience_id, version], table)
    return version


def get_audience_version(db: Database, audience: Audience, version: int | None) -> AudienceVersion:
    """A version of ``audience`` (the latest when ``version`` is None)."""
    if audience.latest_version == 0:
        raise NotFoundError(f"audience {audience.name!r} has no version yet.")
    v = audience.latest_version if version is None else int(version)
    rows = db.dicts(
        "SELECT * FROM userseg_audience_versions WHERE audience_id = ? AND version = ?",
        [audience.audience_id, v],
    )
    if not rows:
        raise NotFoundError(
            f"audience {audience.name!r} has no version {v}; versions: 1 to "
            f"{audience.latest_version}.",
            details={"audience": audience.name, "version": v},
        )
    r = rows[0]
    return AudienceVersion(
        audience_id=int(r["audience_id"]),
        version=int(r["version"]),
        created_at=r["created_at"],
        run_id=int(r["run_id"]),
        feature_set_id=r["feature_set_id"],
        n_members=int(r["n_members"]),
        definition=_load(r["definition"]) or {},
    )


def list_versions(db: Database, audience: Audience) -> list[AudienceVersion]:
    """Every version of ``audience``, oldest first."""
    return [get_audience_version(db, audience, v) for v in range(1, audience.latest_version + 1)]


def load_members(
    db: Database,
    audience_id: int,
    version: int,
    *,
    offset: int = 0,
    limit: int | None = None,
) -> pd.DataFrame:
    """The members of a version, ``user_id, segment``, ordered by user id (a page of them)."""
    sql = (
        "SELECT user_id, segment FROM userseg_audience_members "
        "WHERE audience_id = ? AND version = ? ORDER BY user_id"
    )
    params: list[Any] = [audience_id, version]
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [int(limit), int(offset)]
    return db.execute(sql, params).df()


def member_counts(db: Database, audience_id: int, version: int) -> dict[int, int]:
    """Members per segment of a version: as stored with it, else counted (older versions)."""
    stored = db.scalar(
        "SELECT definition FROM userseg_audience_versions WHERE audience_id = ? AND version = ?",
        [audience_id, version],
    )
    sizes = (_load(stored) or {}).get("sizes") if stored is not None else None
    if sizes is not None:
        return {int(s): int(n) for s, n in sorted(sizes.items(), key=lambda kv: int(kv[0]))}
    rows = db.rows(
        "SELECT segment, count(*) FROM userseg_audience_members "
        "WHERE audience_id = ? AND version = ? GROUP BY segment ORDER BY segment",
        [audience_id, version],
    )
    return {int(s): int(n) for s, n in rows}


def audience_diff(
    db: Database, audience_id: int, old: int, new: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Who joined, who left, and who moved segment between two versions.

    Returns ``(joined, left, moved)``: ``user_id, segment`` for the first two,
    ``user_id, old_segment, new_segment`` for the third.
    """
    q = (
        "SELECT user_id, segment FROM userseg_audience_members "
        "WHERE audience_id = ? AND version = ?"
    )
    a = db.execute(q, [audience_id, old]).df()
    b = db.execute(q, [audience_id, new]).df()
    both = a.merge(b, on="user_id", how="outer", suffixes=("_old", "_new"), indicator=True)
    joined = both[both["_merge"] == "right_only"]
    left = both[both["_merge"] == "left_only"]
    stay = both[both["_merge"] == "both"]
    moved = stay[stay["segment_old"] != stay["segment_new"]]
    return (
        joined[["user_id", "segment_new"]]
        .rename(columns={"segment_new": "segment"})
        .astype({"segment": "int64"})
        .sort_values("user_id", ignore_index=True),
        left[["user_id", "segment_old"]]
        .rename(columns={"segment_old": "segment"})
        .astype({"segment": "int64"})
        .sort_values("user_id", ignore_index=True),
        moved[["user_id", "segment_old", "segment_new"]]
        .rename(columns={"segment_old": "old_segment", "segment_new": "new_segment"})
        .astype({"old_segment": "int64", "new_segment": "int64"})
        .sort_values("user_id", ignore_index=True),
    )


# -- exports -----------------------------------------------------------------------------------
def record_export(
    db: Database,
    audience_id: int,
    version: int,
    result: dict[str, Any],
    *,
    status: str = "done",
) -> None:
    """Record (or update, for a resumed webhook export) what an export did."""
    with db.transaction():
        db.execute("DELETE FROM userseg_exports WHERE export_id = ?", [result["export_id"]])
        db.execute(
            "INSERT INTO userseg_exports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                result["export_id"],
                _now(),
                audience_id,
                version,
                result["destination"],
                result["target"],
                status,
                result.get("n_members"),
                result.get("n_written"),
                result.get("min_size"),
                bool(result.get("size_override", False)),
                _json(result),
            ],
        )


def list_exports(db: Database, audience_id: int | None = None) -> list[dict[str, Any]]:
    """The recorded exports (of one audience), newest first."""
    sql = "SELECT * FROM userseg_exports"
    params: list[Any] = []
    if audience_id is not None:
        sql += " WHERE audience_id = ?"
        params.append(audience_id)
    rows = db.dicts(sql + " ORDER BY created_at DESC, export_id", params)
    for r in rows:
        r["result"] = _load(r["result"])
    return rows


def get_export(db: Database, export_id: str) -> dict[str, Any] | None:
    """A recorded export, or None."""
    rows = db.dicts("SELECT * FROM userseg_exports WHERE export_id = ?", [export_id])
    if not rows:
        return None
    rows[0]["result"] = _load(rows[0]["result"])
    return rows[0]


def load_delivery(db: Database, export_id: str) -> dict[str, Any] | None:
    """The saved webhook progress of ``export_id`` (a ``DeliveryProgress`` as a dict), or None."""
    text = db.scalar(
        "SELECT progress FROM userseg_webhook_deliveries WHERE export_id = ?", [export_id]
    )
    return None if text is None else _load(text)


def save_delivery(db: Database, export_id: str, progress: dict[str, Any]) -> None:
    """Replace the saved webhook progress of ``export_id``, in its own committed transaction,
    so the progress of every acknowledged batch survives a crash of the sender."""
    with db.transaction():
        db.execute("DELETE FROM userseg_webhook_deliveries WHERE export_id = ?", [export_id])
        db.execute(
            "INSERT INTO userseg_webhook_deliveries VALUES (?, ?, ?)",
            [export_id, _json(progress), _now()],
        )


# -- campaigns ---------------------------------------------------------------------------------
_CAMPAIGN_SQL = (
    "SELECT c.*, a.name AS audience FROM userseg_campaigns c "
    "JOIN userseg_audiences a USING (audience_id)"
)


def _campaign(r: dict[str, Any]) -> Campaign:
    return Campaign(
        campaign_id=int(r["campaign_id"]),
        name=r["name"],
        created_at=r["created_at"],
        audience_id=int(r["audience_id"]),
        audience=r["audience"],
        version=int(r["version"]),
        holdout=float(r["holdout"]),
        start_at=r["start_at"],
        status=r["status"],
        ended_at=r["ended_at"],
        overlap=_load(r["overlap"]) or {},
    )


def list_campaigns(db: Database, *, run_id: int | None = None) -> list[Campaign]:
    """Every campaign, newest first; with ``run_id``, those whose audience version used it."""
    sql, params = _CAMPAIGN_SQL, []
    if run_id is not None:
        sql += (
            " JOIN userseg_audience_versions v ON v.audience_id = c.audience_id "
            "AND v.version = c.version WHERE v.run_id = ?"
        )
        params.append(run_id)
    return [_campaign(r) for r in db.dicts(sql + " ORDER BY c.campaign_id DESC", params)]


def get_campaign(db: Database, name: str) -> Campaign:
    """The campaign called ``name`` (NotFoundError listing the others when absent)."""
    rows = db.dicts(_CAMPAIGN_SQL + " WHERE c.name = ?", [name])
    if not rows:
        known = [r for (r,) in db.rows("SELECT name FROM userseg_campaigns ORDER BY name")]
        raise NotFoundError(
            f"campaign {name!r} not found; campaigns: {', '.join(known) or 'none'}.",
            details={"campaign": name, "known": known},
        )
    return _campaign(rows[0])


def campaign_overlap(db: Database, user_ids: pd.Series) -> dict[str, int]:
    """Per running campaign, how many of ``user_ids`` are in its arms."""
    name = "__userseg_overlap_users"
    db.con.register(name, pd.DataFrame({"user_id": user_ids.astype(str).to_numpy()}))
    try:
        rows = db.rows(
            "SELECT c.name, count(*) FROM userseg_campaign_arms r "
            "JOIN userseg_campaigns c USING (campaign_id) "
            f"JOIN {name} u ON u.user_id = r.user_id "
            "WHERE c.status = 'running' GROUP BY c.name ORDER BY c.name"
        )
    finally:
        db.con.unregister(name)
    return {n: int(k) for n, k in rows}


def create_campaign(
    db: Database,
    name: str,
    *,
    audience_id: int,
    version: int,
    holdout: float,
    start_at: dt.datetime,
    arms: pd.DataFrame,
    overlap: dict[str, Any],
) -> int:
    """Store a campaign and its arms (``user_id, segment, arm``) in one transaction."""
    table = pa.table(
        {
            "user_id": pa.array(arms["user_id"].astype(str).to_numpy(), pa.string()),
            "segment": pa.array(arms["segment"].astype("int32").to_numpy()),
            "arm": pa.array(arms["arm"].astype(str).to_numpy(), pa.string()),
        }
    )
    with db.transaction():
        if db.scalar("SELECT count(*) FROM userseg_campaigns WHERE name = ?", [name]):
            raise ConfigError(
                f"a campaign called {name!r} exists already; its arms are fixed. Choose "
                "another name.",
                details={"campaign": name},
            )
        campaign_id = _next_id(db, "userseg_campaigns", "campaign_id")
        db.execute(
            "INSERT INTO userseg_campaigns VALUES (?, ?, ?, ?, ?, ?, ?, 'running', NULL, ?)",
            [campaign_id, name, _now(), audience_id, version, holdout, start_at, _json(overlap)],
        )
        _insert_frame(db, "userseg_campaign_arms", [campaign_id], table)
    return campaign_id


def end_campaign(db: Database, name: str) -> Campaign:
    """Mark a campaign ended: its users may then join another campaign."""
    c = get_campaign(db, name)
    with db.transaction():
        db.execute(
            "UPDATE userseg_campaigns SET status = 'ended', ended_at = ? WHERE campaign_id = ?",
            [_now(), c.campaign_id],
        )
    return get_campaign(db, name)


def load_arms(db: Database, campaign_id: int) -> pd.DataFrame:
    """A campaign's arms: ``user_id, segment, arm``, ordered by user id."""
    return db.execute(
        "SELECT user_id, segment, arm FROM userseg_campaign_arms WHERE campaign_id = ? "
        "ORDER BY user_id",
        [campaign_id],
    ).df()


def record_measurement(
    db: Database, campaign_id: int, source: str, result: dict[str, Any], outcomes: dict[str, Any]
) -> None:
    """Keep a lift measurement (its table as JSON) with the campaign."""
    with db.transaction():
        db.execute(
            "INSERT INTO userseg_campaign_measurements VALUES (?, ?, ?, ?, ?)",
            [campaign_id, _now(), source, _json(result), _json(outcomes)],
        )


def latest_measurement(db: Database, campaign_id: int) -> dict[str, Any] | None:
    """The campaign's latest measurement: ``measured_at, source, result, outcomes``."""
    rows = db.dicts(
        "SELECT * FROM userseg_campaign_measurements WHERE campaign_id = ? "
        "ORDER BY measured_at DESC LIMIT 1",
        [campaign_id],
    )
    if not rows:
        return None
    r = rows[0]
    return {
        "measured_at": r["measured_at"],
        "source": r["source"],
        "result": _load(r["result"]),
        "outcomes": _load(r["outcomes"]),
    }
