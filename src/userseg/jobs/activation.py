"""Audiences, exports and campaigns over the userseg database: the Python API of issue 11.

This module joins the activation library (:mod:`userseg.activate`) to the
stored runs (:mod:`userseg.store`), as :mod:`userseg.jobs.pipeline` does for
segmentation; the command line and the service call it.

* An audience is defined by the run it follows (``"latest"``: after a refit
  it follows the *stable* segment ids the refit kept; or a fixed run id),
  segment ids and/or a filter on the features. :func:`create_audience`
  stores the definition and its first version; :func:`refresh_audience`
  materialises it again as a new version.
* :func:`export_audience` sends a version to a member file, a Google / Meta
  customer-match file, or a webhook (resumable: its progress is in the store),
  and records the export.
* :func:`create_campaign` draws the stratified holdout and stores the arms.
  **A user in two running campaigns**: refused unless ``allow_overlap=True``,
  and then recorded (see :func:`create_campaign`).
* :func:`plan_campaign` gives the MDE per segment before launch;
  :func:`measure_campaign` the lift per segment, kept with the campaign.

Examples
--------
>>> from userseg.jobs import activation                                # doctest: +SKIP
>>> activation.create_audience(db, "vip", run="latest", segments=[1, 4])  # doctest: +SKIP
>>> activation.create_campaign(db, "spring", "vip", "10%")             # doctest: +SKIP
>>> activation.measure_campaign(db, "spring", days=30)                 # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from userseg.activate import (
    DeliveryProgress,
    LiftResult,
    WebhookDestination,
    assign_holdout,
    columns_of,
    deliver,
    for_lift,
    lift,
    lift_png,
    outcomes_from_events,
    outcomes_from_frame,
    parse_share,
    parse_where,
    plan,
    write_customer_match,
    write_members,
)
from userseg.activate.exports import CONTACT_KINDS, DEFAULT_MIN_SIZE, atomic_path
from userseg.errors import ConfigError, DataError, ExportError, NotFoundError, SchemaError
from userseg.features.build import load_features
from userseg.io.database import Database, quote_ident
from userseg.store import activation as st
from userseg.store import get_feature_set, get_run, load_assignments, load_profiles

__all__ = [
    "Destination",
    "MeasureResult",
    "StoreDeliveryState",
    "campaign_report_items",
    "campaign_response",
    "campaigns_of_segment",
    "create_audience",
    "create_campaign",
    "diff_audience",
    "export_audience",
    "measure_campaign",
    "parse_destination",
    "parse_segments",
    "plan_campaign",
    "refresh_audience",
    "write_lift_chart",
]


# -- audiences ---------------------------------------------------------------------------------
def parse_segments(text: str | None) -> list[int] | None:
    """``"1,4"`` → ``[1, 4]``; a clear error for anything else."""
    if text is None or not str(text).strip():
        return None
    out = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            out.append(int(part))
        except ValueError:
            raise ConfigError(
                f"--segments {text!r}: {part!r} is not a segment id; expected ids such as 1,4."
            ) from None
    return sorted(set(out))


def _run_spec(run: str | int | None) -> str:
    if run is None or str(run).strip().lower() == "latest":
        return "latest"
    try:
        value = int(str(run).strip())
    except ValueError:
        raise ConfigError(f"--run {run!r} should be a run id or 'latest'.") from None
    if value < 1:
        raise ConfigError(f"--run {run!r} should be a run id (>= 1) or 'latest'.")
    return str(value)


def _materialise(
    db: Database, run_spec: str, segments: list[int] | None, where: str | None, *, strict: bool
) -> tuple[pd.DataFrame, int, int | None, dict[str, Any]]:
    """The members a definition selects now: ``(members, run_id, feature_set_id, definition)``."""
    run = get_run(db, None if run_spec == "latest" else int(run_spec))
    members = load_assignments(db, run.run_id)[["user_id", "segment"]]
    definition: dict[str, Any] = {"run": run_spec, "run_id": run.run_id}
    if segments is not None:
        known = sorted(p.segment for p in load_profiles(db, run.run_id))
        gone = [s for s in segments if s not in known]
        if gone and (strict or len(gone) == len(segments)):
            raise NotFoundError(
                f"run {run.run_id} has no segment {', '.join(map(str, gone))}; its segments: "
                f"{', '.join(map(str, known))}.",
                details={"run_id": run.run_id, "missing": gone, "segments": known},
            )
        if gone:
            warnings.warn(
                f"segment(s) {', '.join(map(str, gone))} no longer exist in run {run.run_id} "
                "(a refit did not keep them); the audience holds the others.",
                UserWarning,
                stacklevel=3,
            )
        definition.update(segments=segments, missing_segments=gone)
        members = members[members["segment"].isin(segments)]
    if where is not None:
        if run.feature_set_id is None:
            raise DataError(f"run {run.run_id} has no feature set to filter on.")
        fs = get_feature_set(db, run.feature_set_id)
        features = load_features(db, fs)
        filt = parse_where(where, columns_of(features))
        mask = filt.evaluate(features)
        chosen = set(features.index[mask].astype(str))
        members = members[members["user_id"].astype(str).isin(chosen)]
        definition["where"] = str(filt)
        definition["feature_set_id"] = fs.feature_set_id
    if members.empty:
        raise DataError(
            f"the audience definition selects no users in run {run.run_id} "
            f"({_describe(segments, definition.get('where'))}); nothing was stored.",
            details=definition,
        )
    members = members.sort_values("user_id", ignore_index=True)
    return members, run.run_id, run.feature_set_id, definition


def _describe(segments: list[int] | None, where: str | None) -> str:
    parts = []
    if segments is not None:
        parts.append(f"segments {', '.join(map(str, segments))}")
    if where is not None:
        parts.append(f"where {where}")
    return " and ".join(parts) or "every user"


def create_audience(
    db: Database,
    name: str,
    *,
    run: str | int | None = "latest",
    segments: list[int] | None = None,
    where: str | None = None,
    description: str | None = None,
) -> tuple[st.Audience, st.AudienceVersion]:
    """Define an audience and store its first version with its members.

    Raises
    ------
    ConfigError
        A bad name, run or filter, or an audience of that name exists.
    NotFoundError
        The run or a segment does not exist.
    DataError
        The definition selects nobody (nothing is stored).
    """
    name = _check_name(name, "audience")
    spec = _run_spec(run)
    if where is not None and not where.strip():
        raise ConfigError('--where is empty; expected a filter such as "recency_days < 30".')
    # materialise first: a bad definition leaves no audience behind
    members, run_id, fs_id, definition = _materialise(db, spec, segments, where, strict=True)
    with db.transaction():
        audience_id = st.create_audience(
            db,
            name,
            run_spec=spec,
            segments=segments,
            where=definition.get("where"),
            description=description,
        )
        st.add_audience_version(
            db, audience_id, members, run_id=run_id, feature_set_id=fs_id, definition=definition
        )
    audience = st.get_audience(db, name)
    return audience, st.get_audience_version(db, audience, None)


def refresh_audience(db: Database, name: str) -> st.AudienceVersion:
    """Materialise an audience again (on the latest run if it follows ``latest``): a new version."""
    audience = st.get_audience(db, name)
    members, run_id, fs_id, definition = _materialise(
        db, audience.run_spec, audience.segments, audience.where, strict=False
    )
    st.add_audience_version(
        db,
        audience.audience_id,
        members,
        run_id=run_id,
        feature_set_id=fs_id,
        definition=definition,
    )
    return st.get_audience_version(db, st.get_audience(db, name), None)


def diff_audience(
    db: Database, name: str, old: int | None = None, new: int | None = None
) -> dict[str, Any]:
    """Who joined and left (and moved segment) between two versions (default: the last two)."""
    audience = st.get_audience(db, name)
    new_v = st.get_audience_version(db, audience, new)
    if old is None:
        if new_v.version == 1:
            raise NotFoundError(
                f"audience {name!r} has one version only: nothing to compare with yet "
                "(refresh it after a refit with `userseg audience refresh`)."
            )
        old = new_v.version - 1
    old_v = st.get_audience_version(db, audience, old)
    joined, left, moved = st.audience_diff(db, audience.audience_id, old_v.version, new_v.version)
    return {
        "audience": name,
        "old": old_v.to_dict(),
        "new": new_v.to_dict(),
        "joined": joined,
        "left": left,
        "moved": moved,
    }


def _check_name(name: str, what: str) -> str:
    text = str(name).strip()
    if not text or len(text) > 100 or any(ord(c) < 32 for c in text):
        raise ConfigError(f"{what} name {name!r} should be 1 to 100 printable characters.")
    return text


# -- exports -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Destination:
    """Where ``--to`` points: ``kind`` is csv, parquet, google, meta or webhook."""

    kind: str
    target: str


def parse_destination(to: str) -> Destination:
    """``members.csv``, ``x.parquet``, ``google:FILE``, ``meta:FILE`` or ``webhook:URL``."""
    text = str(to).strip()
    prefix, sep, rest = text.partition(":")
    if sep and prefix.lower() in ("google", "meta", "webhook"):
        if not rest.strip():
            raise ConfigError(f"--to {to!r}: nothing after '{prefix}:'; expected {prefix}:FILE.")
        return Destination(prefix.lower(), rest.strip())
    suffix = Path(text).suffix.lower()
    if suffix == ".csv":
        return Destination("csv", text)
    if suffix in (".parquet", ".pq"):
        return Destination("parquet", text)
    raise ConfigError(
        f"--to {to!r}: expected members.csv, members.parquet, google:FILE.csv, meta:FILE.csv "
        "or webhook:https://…"
    )


def _contact_frame(
    db: Database, members: pd.DataFrame, contacts: dict[str, str] | None, table: str = "users"
) -> tuple[pd.DataFrame, dict[str, str]]:
    if not db.table_exists(table):
        raise SchemaError(
            f"a customer-match file needs contact columns (e-mail, phone, names…) from the user "
            f"table, and there is no table {table!r}: import it with `userseg ingest FILE "
            "--kind users`."
        )
    available = db.columns(table)
    if contacts is None:
        contacts = {k: k for k in CONTACT_KINDS if k in available}
    bad = [k for k in contacts if k not in CONTACT_KINDS]
    if bad:
        raise ConfigError(f"--contact {bad[0]!r} is not one of {', '.join(CONTACT_KINDS)}.")
    missing = [c for c in contacts.values() if c not in available]
    if not contacts or missing:
        raise SchemaError(
            f"the user table lacks the contact column(s) "
            f"{', '.join(map(repr, missing or list(CONTACT_KINDS)))}; available: "
            f"{', '.join(available)}. Map them with --contact KIND=COLUMN.",
            details={"missing": missing, "available": available},
        )
    cols = ", ".join(f"{quote_ident(c)} AS {quote_ident(k)}" for k, c in contacts.items())
    name = "__userseg_export_members"
    db.con.register(name, members[["user_id"]].astype(str))
    try:
        frame = db.execute(
            f"SELECT m.user_id, {cols} FROM {name} m LEFT JOIN {quote_ident(table)} u "
            "ON CAST(u.user_id AS VARCHAR) = m.user_id ORDER BY m.user_id"
        ).df()
    finally:
        db.con.unregister(name)
    return frame, {k: k for k in contacts}


class StoreDeliveryState:
    """:class:`~userseg.activate.webhook.DeliveryState` on the userseg database.

    Each save is its own committed transaction (in the store), so the progress of
    every acknowledged batch survives a crash of the process that sent it.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, export_id: str) -> DeliveryProgress | None:
        saved = st.load_delivery(self.db, export_id)
        return None if saved is None else DeliveryProgress.from_dict(saved)

    def save(self, progress: DeliveryProgress) -> None:
        st.save_delivery(self.db, progress.export_id, progress.to_dict())


def export_audience(
    db: Database,
    name: str,
    to: str,
    *,
    version: int | None = None,
    min_size: int | None = None,
    allow_small: bool = False,
    secret: str | None = None,
    resume: str | None = None,
    batch_size: int = 1000,
    max_attempts: int = 6,
    contacts: dict[str, str] | None = None,
    default_region: str | None = None,
    recorded_as: str | None = None,
) -> dict[str, Any]:
    """Send an audience version to a destination and record the export.

    Returns the :class:`~userseg.activate.ExportResult` as a dict, with
    ``audience`` and ``version``. A failed webhook export is recorded as
    ``failed`` with its export id; ``resume=`` that id sends the rest.
    ``recorded_as`` replaces the target in the record (the web app writes a
    file in a temporary folder and records it as ``download:NAME``).

    Raises
    ------
    PrivacyError
        Under the minimum size without ``allow_small`` (nothing written or sent).
    ExportError
        The file cannot be written (nothing is left behind) or the webhook failed.
    ConfigError, NotFoundError
        A bad destination or setting; no such audience, version or export.
    """
    audience = st.get_audience(db, name)
    dest = parse_destination(to)
    limit = DEFAULT_MIN_SIZE if min_size is None else min_size
    if resume is not None:
        prior = st.get_export(db, resume)
        if prior is None or prior["audience_id"] != audience.audience_id:
            raise NotFoundError(f"export {resume!r} of audience {name!r} not found; nothing sent.")
        version = int(prior["version"])
    v = st.get_audience_version(db, audience, version)
    members = st.load_members(db, audience.audience_id, v.version)
    export_id = resume or f"exp-{uuid.uuid4().hex[:16]}"
    if dest.kind in ("csv", "parquet"):
        res = write_members(
            members,
            dest.target,
            format=dest.kind,
            export_id=export_id,
            min_size=limit,
            override_min_size=allow_small,
        )
    elif dest.kind in ("google", "meta"):
        frame, mapping = _contact_frame(db, members, contacts)
        res = write_customer_match(
            frame,
            dest.target,
            dest.kind,
            contacts=mapping,
            default_region=default_region,
            export_id=export_id,
            min_size=limit,
            override_min_size=allow_small,
        )
    else:
        if not secret:
            raise ConfigError(
                "a webhook export needs the shared secret: name the environment variable that "
                "holds it with --secret-env VAR (never put a secret on the command line)."
            )
        destination = WebhookDestination(
            dest.target,
            secret,
            batch_size=batch_size,
            max_attempts=max_attempts,
            min_size=limit,
        )
        destination.validate()
        try:
            res = deliver(
                members,
                destination,
                export_id,
                StoreDeliveryState(db),
                override_min_size=allow_small,
            )
        except ExportError as exc:
            st.record_export(
                db,
                audience.audience_id,
                v.version,
                {
                    "export_id": export_id,
                    "destination": "webhook",
                    "target": dest.target,
                    "n_members": len(members),
                    "n_written": 0,
                    "min_size": limit,
                    "size_override": bool(allow_small and len(members) < limit),
                    "error": exc.message,
                    "details": exc.details,
                },
                status="failed",
            )
            exc.message += (
                f" The export is recorded as failed; to resume: userseg export {name} --to "
                f"webhook:{dest.target} --secret-env VAR --resume {export_id}"
            )
            exc.details["resume"] = export_id
            raise ExportError(exc.message, details=exc.details) from None
    out = res.to_dict() | {"audience": name, "version": v.version}
    if recorded_as is not None:
        out["target"] = recorded_as
    st.record_export(db, audience.audience_id, v.version, out)
    return out


def secret_from_env(var: str | None) -> str | None:
    """The webhook secret held in environment variable ``var`` (a clear error when unset)."""
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise ConfigError(f"--secret-env {var}: the environment variable {var} is not set.")
    return value


# -- campaigns ---------------------------------------------------------------------------------
def _as_start(start: str | dt.date | dt.datetime | None) -> dt.datetime:
    if start is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    if isinstance(start, str):
        try:
            start = dt.datetime.fromisoformat(start.strip())
        except ValueError:
            raise ConfigError(
                f"--start {start!r} should be an ISO date such as 2024-03-01."
            ) from None
    if isinstance(start, dt.datetime):
        if start.tzinfo is not None:
            start = start.astimezone(dt.UTC).replace(tzinfo=None)
        return start
    return dt.datetime.combine(start, dt.time())


def create_campaign(
    db: Database,
    name: str,
    audience: str,
    holdout: str | float,
    *,
    version: int | None = None,
    start: str | dt.date | dt.datetime | None = None,
    allow_overlap: bool = False,
) -> tuple[st.Campaign, pd.DataFrame]:
    """Draw a campaign's stratified holdout on an audience version and store the arms.

    A user already in another **running** campaign is refused (a
    :class:`ConfigError` naming the campaigns and how many users they share;
    nothing is stored) unless ``allow_overlap=True``. Then each campaign keeps
    its own, independent holdout (the hash is salted by the campaign's name),
    so each lift stays unbiased but measures the effect on top of whatever the
    other campaign did; the overlap is stored with the campaign and shown when
    it is measured. End a campaign (:func:`userseg.store.activation.end_campaign`)
    to free its users.

    Returns the campaign and the per-segment summary of the split.
    """
    name = _check_name(name, "campaign")
    share = parse_share(holdout)
    aud = st.get_audience(db, audience)
    v = st.get_audience_version(db, aud, version)
    members = st.load_members(db, aud.audience_id, v.version)
    overlap = st.campaign_overlap(db, members["user_id"])
    if overlap and not allow_overlap:
        listed = ", ".join(f"{k} ({n:,} users)" for k, n in overlap.items())
        raise ConfigError(
            f"{sum(overlap.values()):,} user(s) of audience {audience!r} are already in running "
            f"campaign(s): {listed}. Two campaigns on one user make each lift measure the effect "
            "on top of the other; end the other campaign (`userseg campaign end`), or pass "
            "--allow-overlap to run both with independent holdouts (recorded). Nothing was "
            "stored.",
            details={"overlap": overlap},
        )
    split = assign_holdout(members, name, share)
    start_at = _as_start(start)
    st.create_campaign(
        db,
        name,
        audience_id=aud.audience_id,
        version=v.version,
        holdout=share,
        start_at=start_at,
        arms=split.arms,
        overlap={"campaigns": overlap, "allowed": bool(overlap)},
    )
    return st.get_campaign(db, name), split.summary


def _baseline(
    db: Database, members: pd.DataFrame, start: dt.datetime, days: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = outcomes_from_events(
            db, members["user_id"], start - dt.timedelta(days=days), days=days
        )
    frame = members.merge(out.frame, on="user_id")
    per = frame.groupby("segment").agg(
        n=("user_id", "size"),
        baseline_rate=("converted", "mean"),
        revenue_sd=("revenue", "std"),
    )
    report = out.report | {"warnings": [str(w.message) for w in caught]}
    return per.reset_index(), report


def plan_campaign(
    db: Database,
    audience: str,
    holdout: str | float,
    *,
    days: int = 30,
    start: str | dt.date | dt.datetime | None = None,
    effect: float | None = None,
    relative_effect: float | None = None,
    baseline_rate: float | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Before launch: per segment, the MDE at 80 % power and α = 0.05, and the holdout needed.

    The baseline conversion rate (and revenue spread) of each segment is read
    from the event log over the ``days`` before ``start`` (default now), unless
    ``baseline_rate`` is given.
    """
    share = parse_share(holdout)
    aud = st.get_audience(db, audience)
    v = st.get_audience_version(db, aud, None)
    members = st.load_members(db, aud.audience_id, v.version)
    if baseline_rate is not None:
        if not 0 < baseline_rate < 1:
            raise ConfigError(f"--baseline-rate {baseline_rate} should be between 0 and 1.")
        segs = members.groupby("segment").size().rename("n").reset_index()
        segs["baseline_rate"] = baseline_rate
        info: dict[str, Any] = {"baseline": "given", "baseline_rate": baseline_rate}
    else:
        if not db.table_exists("events"):
            raise DataError(
                "no event log to read each segment's baseline conversion from: give "
                "--baseline-rate (e.g. 0.05)."
            )
        begin = _as_start(start)
        segs, report = _baseline(db, members, begin, days)
        info = {"baseline": "events", "window": report["window"], "warnings": report["warnings"]}
    table = plan(segs, share, effect=effect, relative_effect=relative_effect)
    return table, info | {"audience": audience, "version": v.version, "holdout": share}


@dataclass
class MeasureResult:
    """A campaign's measured lift, the outcomes' report and the campaign."""

    campaign: st.Campaign
    result: LiftResult
    outcomes: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign.to_dict(),
            "lift": self.result.to_dict(),
            "outcomes": self.outcomes,
            "warnings": self.warnings,
        }


def _read_outcomes(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"outcomes file {p} not found (or not a file).")
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"outcomes file {p} is empty; expected a header user_id,converted,revenue."
        ) from None
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"outcomes file {p} cannot be read as CSV: {exc}.") from None
    if frame.empty:
        raise DataError(f"outcomes file {p} has a header and no rows.")
    return frame


def measure_campaign(
    db: Database,
    name: str,
    *,
    days: int = 30,
    outcomes: str | Path | None = None,
    unknown: str = "error",
    correction: str = "holm",
    record: bool = True,
) -> MeasureResult:
    """Lift per segment and overall (intervals, corrected p-values, CUPED), kept with the campaign.

    Outcomes come from the event log (``days`` after the campaign's start) or
    from ``outcomes`` (a CSV of ``user_id, converted, revenue`` and optionally
    ``pre_revenue``). Users in the file who are not in the campaign are refused
    (``unknown="error"``, the default: a file for another campaign is the usual
    cause) or counted and left out (``"report"``).
    """
    campaign = st.get_campaign(db, name)
    arms = st.load_arms(db, campaign.campaign_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if outcomes is not None:
            frame = _read_outcomes(outcomes)
            pre = "pre_revenue" if "pre_revenue" in frame.columns else None
            out = outcomes_from_frame(frame, arms["user_id"], pre=pre, unknown=unknown)
            source = f"file:{outcomes}"
        else:
            out = outcomes_from_events(db, arms["user_id"], campaign.start_at, days=days)
            source = "events"
        result = lift(for_lift(arms, out), correction=correction)
    notes = [str(w.message) for w in caught]
    if campaign.overlap.get("campaigns"):
        listed = ", ".join(f"{k} ({n:,})" for k, n in campaign.overlap["campaigns"].items())
        notes.append(
            f"created with --allow-overlap: users shared with running campaign(s) {listed}; "
            "the lift is on top of what those did."
        )
    report = dict(out.report) | {"source": source}
    if record:
        st.record_measurement(db, campaign.campaign_id, source, result.to_dict(), report)
    return MeasureResult(campaign, result, report, notes)


def campaigns_of_segment(db: Database, run_id: int, segment: int) -> list[dict[str, Any]]:
    """The latest measured lift of every campaign on this run's audiences, for one segment.

    Read from the stored measurements only (no outcome is recomputed): per
    campaign its ``name, audience, version, holdout, start, measured_at,
    source, correction`` and ``rows``, the lift table's rows of this segment
    (one per metric). Campaigns whose audience left the segment out, or not
    measured yet, are not listed.
    """
    items = []
    for c in st.list_campaigns(db, run_id=run_id):
        m = st.latest_measurement(db, c.campaign_id)
        if m is None:
            continue
        rows = [r for r in m["result"].get("rows", []) if str(r.get("segment")) == str(segment)]
        if not rows:
            continue
        items.append(
            {
                "name": c.name,
                "audience": c.audience,
                "version": c.version,
                "holdout": c.holdout,
                "start": c.start_at,
                "status": c.status,
                "measured_at": m["measured_at"],
                "source": m["source"],
                "correction": m["result"].get("correction"),
                "rows": rows,
            }
        )
    return items


CAMPAIGN_TARGET = "campaign:"


def campaign_response(
    db: Database, name: str, *, days: int | None = None
) -> tuple[pd.Series, list[str]]:
    """A campaign's response as a target for ``fit --target campaign:NAME``.

    The response is whether a *treated* user converted in the campaign's outcome
    window, from the event log (:func:`~userseg.activate.outcomes_from_events`):
    1 or 0 per treated user, indexed by user id. Control users did not receive
    the campaign, so they have no response (they are the lift's baseline, not
    its respondents) and, like every user outside the campaign, are left out
    of the target. The window is that of the campaign's latest measurement
    from the event log when there is one (what ``userseg lift`` showed), else
    ``days`` (default 30) after its start.

    Returns
    -------
    response : Series
        ``converted`` (0/1) by user id (text), named ``campaign:NAME``.
    notes : list of str
        What the response is, and the event log's warnings (a window past its end).

    Raises
    ------
    ConfigError
        No campaign name; ``days`` not a positive whole number.
    NotFoundError
        No campaign has this name.
    DataError
        The campaign has no treated users, or the window starts after the last event.
    """
    text = str(name).strip()
    if not text:
        raise ConfigError(
            "--target campaign:NAME needs a campaign name after 'campaign:' "
            "(`userseg campaign list` shows them)."
        )
    campaign = st.get_campaign(db, text)
    arms = st.load_arms(db, campaign.campaign_id)
    treated = arms.loc[arms["arm"] == "treatment", "user_id"]
    if treated.empty:
        raise DataError(f"campaign {text!r} has no treated users: it has no response.")
    if days is None:
        days = 30
        last = st.latest_measurement(db, campaign.campaign_id)
        window = (last or {}).get("outcomes", {}).get("window") if last else None
        if last is not None and last["source"] == "events" and window:
            span = dt.datetime.fromisoformat(window[1]) - dt.datetime.fromisoformat(window[0])
            days = max(1, span.days)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = outcomes_from_events(db, treated, campaign.start_at, days=days)
    begin, end = (w[:10] for w in out.report["window"])
    notes = [
        f"target campaign:{text}: conversion of its {len(treated):,} treated users from "
        f"{begin} to {end} (event log); its control group is left out.",
        *(str(w.message) for w in caught),
    ]
    frame = out.frame
    response = pd.Series(
        frame["converted"].astype(int).to_numpy(),
        index=frame["user_id"].astype(str).to_numpy(),
        name=f"{CAMPAIGN_TARGET}{text}",
    )
    return response, notes


def write_lift_chart(result: LiftResult, path: str | Path, metric: str = "conversion") -> Path:
    """The lift picture as a PNG file, written atomically."""
    data = lift_png(result, metric)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _result_from_dict(d: dict[str, Any]) -> LiftResult:
    table = pd.DataFrame(d["rows"])
    for col in table.columns:
        if col not in ("segment", "metric", "method", "status", "note", "significant"):
            table[col] = pd.to_numeric(table[col], errors="coerce")
    table["significant"] = table["significant"].fillna(False).astype(bool)
    return LiftResult(
        table=table,
        correction=d["correction"],
        alpha=float(d["alpha"]),
        min_per_arm=int(d["min_per_arm"]),
        cuped=bool(d["cuped"]),
    )


def campaign_report_items(db: Database, run_id: int) -> list[dict[str, Any]]:
    """The campaigns on a run's audiences with their latest lift (for the HTML report).

    ``names`` maps each of the run's segment ids to its name, so that the report
    names the segments in the lift table as it does everywhere else.
    """
    items = []
    names = {p.segment: p.name for p in load_profiles(db, run_id)}
    for c in st.list_campaigns(db, run_id=run_id):
        m = st.latest_measurement(db, c.campaign_id)
        if m is None:
            continue
        result = _result_from_dict(m["result"])
        items.append(
            {
                "name": c.name,
                "audience": c.audience,
                "version": c.version,
                "holdout": c.holdout,
                "start": c.start_at,
                "measured_at": m["measured_at"],
                "source": m["source"],
                "table": result.table,
                "summary": result.summary_lines(),
                "png": lift_png(result, "conversion"),
                "names": names,
            }
        )
    return items
