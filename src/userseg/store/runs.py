"""Runs, models, assignments and profiles in the userseg database.

A run is written in one transaction (its record, its model, every user's
assignment and the profiles), so a run is either wholly there or not at all:
a process killed mid-run leaves no partial rows. Models are stored as JSON
parameters plus raw NumPy arrays with their dtype and shape, never pickled.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from userseg._version import __version__
from userseg.errors import DataError, NotFoundError
from userseg.explain.profiles import SegmentProfile
from userseg.features.build import FeatureSet
from userseg.io.database import Database
from userseg.io.ingest import IngestReport
from userseg.json_safe import jsonable
from userseg.segment.segmenter import Segmenter

__all__ = [
    "Run",
    "assigned_segments",
    "assignment_of",
    "count_runs",
    "get_feature_set",
    "get_matching",
    "get_run",
    "latest_feature_set",
    "list_runs",
    "load_assignments",
    "load_model",
    "load_profiles",
    "next_segment_id",
    "record_feature_set",
    "record_ingest",
    "rename_segment",
    "save_run",
    "set_run_timings",
]

_ARRAY_KINDS = "biuf"  # bool, signed, unsigned, float: never object arrays (no pickle)


def _json(value: Any) -> str:
    # NaN kept (the record is read back by json.loads); an unknown kind is a bug, refused
    return json.dumps(jsonable(value, nan_as_null=False, strict=True), allow_nan=True)


def _load_json(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else text


@dataclass
class Run:
    """A stored segmentation run."""

    run_id: int
    created_at: dt.datetime
    algorithm: str
    n_segments: int
    n_users: int
    feature_set_id: int | None
    config: dict[str, Any]
    data_fingerprint: str
    metrics: dict[str, Any]
    k_choice: dict[str, Any]
    timings: dict[str, float]
    library_version: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["created_at"] = self.created_at.isoformat()
        return d


def _next_id(db: Database, table: str, column: str) -> int:
    return int(db.scalar(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))


def record_ingest(
    db: Database, report: IngestReport, *, settings: dict[str, Any] | None = None
) -> int:
    """Log an import (its report) and return its id.

    ``settings`` are how the data were read (the ``date_format``), kept with the
    report so that later reads of the same kind of file read it alike.
    """
    with db.transaction():
        ingest_id = _next_id(db, "userseg_ingests", "ingest_id")
        db.execute(
            "INSERT INTO userseg_ingests VALUES (?, current_timestamp, ?, ?, ?, ?, ?, ?)",
            [
                ingest_id,
                report.table,
                report.source,
                report.rows_read,
                report.rows_loaded,
                report.users,
                _json(report.to_dict() | {"ingest_id": ingest_id, "settings": settings or {}}),
            ],
        )
    report.ingest_id = ingest_id
    return ingest_id


def record_feature_set(db: Database, fs: FeatureSet, config: dict[str, Any]) -> int:
    """Record a built feature table's description; returns its id."""
    with db.transaction():
        fid = _next_id(db, "userseg_feature_sets", "feature_set_id")
        fs.feature_set_id = fid
        db.execute(
            "INSERT INTO userseg_feature_sets VALUES (?, current_timestamp, ?, ?, ?, ?, ?, ?, ?)",
            [
                fid,
                fs.table,
                fs.as_of,
                fs.n_users,
                _json(fs.to_dict()),
                _json(config),
                fs.fingerprint,
                fs.seconds,
            ],
        )
    return fid


def get_feature_set(db: Database, feature_set_id: int) -> FeatureSet:
    row = db.scalar(
        "SELECT features FROM userseg_feature_sets WHERE feature_set_id = ?", [feature_set_id]
    )
    if row is None:
        raise NotFoundError(f"feature set {feature_set_id} not found.")
    return FeatureSet.from_dict(_load_json(row))


def latest_feature_set(db: Database) -> FeatureSet:
    """The most recently built feature set (what ``userseg fit`` uses by default)."""
    fid = db.scalar("SELECT max(feature_set_id) FROM userseg_feature_sets")
    if fid is None:
        raise NotFoundError("no features built in this database: run `userseg features` first.")
    return get_feature_set(db, int(fid))


def save_run(
    db: Database,
    segmenter: Segmenter,
    user_ids: pd.Index | np.ndarray,
    *,
    feature_set: FeatureSet | None,
    config: dict[str, Any],
    timings: dict[str, float] | None = None,
    matching: Any = None,
) -> int:
    """Store a fitted segmenter as a new run (record, model, assignments, profiles) atomically."""
    params, arrays = segmenter.to_state()
    for name, arr in arrays.items():
        if arr.dtype.kind not in _ARRAY_KINDS:
            raise DataError(f"model array {name!r} has dtype {arr.dtype}; only numbers are stored.")
    user_ids = np.asarray(user_ids).astype(str)
    if len(user_ids) != len(segmenter.labels_):
        raise DataError(f"{len(user_ids)} user ids for {len(segmenter.labels_)} labels.")
    assignments = pa.table(
        {
            "user_id": pa.array(user_ids, pa.string()),
            "segment": pa.array(segmenter.labels_.astype(np.int32)),
            "distance": pa.array(segmenter.distances_.astype(np.float64)),
        }
    )
    notes = list(getattr(segmenter, "notes_", []))
    with db.transaction(step="run"):
        run_id = _next_id(db, "userseg_runs", "run_id")
        db.execute(
            "INSERT INTO userseg_runs VALUES "
            "(?, current_timestamp, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                segmenter.algorithm,
                segmenter.n_segments_,
                len(user_ids),
                feature_set.feature_set_id if feature_set else None,
                _json(config),
                feature_set.fingerprint if feature_set else "",
                _json(segmenter.metrics_),
                _json(segmenter.k_choice_),
                _json(timings or segmenter.timings_),
                __version__,
                _json(notes),
            ],
        )
        db.execute(
            "INSERT INTO userseg_models VALUES (?, ?, ?, ?)",
            [run_id, params["format_version"], params["kind"], _json(params)],
        )
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            db.execute(
                "INSERT INTO userseg_model_arrays VALUES (?, ?, ?, ?, ?)",
                [run_id, name, arr.dtype.str, _json(list(arr.shape)), arr.tobytes()],
            )
        db.con.register("__assignments", assignments)
        try:
            db.execute(
                f"INSERT INTO userseg_assignments SELECT {run_id}, user_id, segment, "
                "distance FROM __assignments"
            )
        finally:
            db.con.unregister("__assignments")
        if matching is not None:
            for m in matching.matches:
                db.execute(
                    "INSERT INTO userseg_segment_matches VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        run_id,
                        matching.previous_run_id,
                        m.segment,
                        m.previous_segment,
                        m.status,
                        m.jaccard,
                        _json(m.to_dict()),
                    ],
                )
            notes.append(
                f"segment ids matched to run {matching.previous_run_id} ({matching.method})"
            )
            db.execute("UPDATE userseg_runs SET notes = ? WHERE run_id = ?", [_json(notes), run_id])
            db.execute(
                "INSERT INTO userseg_run_matchings VALUES (?, ?, ?)",
                [run_id, matching.previous_run_id, _json(matching.to_dict())],
            )
        for p in segmenter.profiles_:
            db.execute(
                "INSERT INTO userseg_profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
                [run_id, p.segment, p.name, p.name_source, p.size, p.share, _json(p.to_dict())],
            )
    return run_id


def _run_from_row(row: dict[str, Any]) -> Run:
    return Run(
        run_id=int(row["run_id"]),
        created_at=row["created_at"],
        algorithm=row["algorithm"],
        n_segments=int(row["n_segments"]),
        n_users=int(row["n_users"]),
        feature_set_id=row["feature_set_id"],
        config=_load_json(row["config"]) or {},
        data_fingerprint=row["data_fingerprint"],
        metrics=_load_json(row["metrics"]) or {},
        k_choice=_load_json(row["k_choice"]) or {},
        timings=_load_json(row["timings"]) or {},
        library_version=row["library_version"],
        notes=_load_json(row["notes"]) or [],
    )


def list_runs(db: Database) -> list[Run]:
    """Every stored run, newest first."""
    return [_run_from_row(r) for r in db.dicts("SELECT * FROM userseg_runs ORDER BY run_id DESC")]


def get_run(db: Database, run_id: int | None = None) -> Run:
    """One run; the latest when ``run_id`` is None."""
    if run_id is None:
        rows = db.dicts("SELECT * FROM userseg_runs ORDER BY run_id DESC LIMIT 1")
        if not rows:
            raise NotFoundError("no runs in this database: run `userseg fit` first.")
    else:
        rows = db.dicts("SELECT * FROM userseg_runs WHERE run_id = ?", [int(run_id)])
        if not rows:
            known = [r for (r,) in db.rows("SELECT run_id FROM userseg_runs ORDER BY run_id")]
            raise NotFoundError(f"run {run_id} not found; runs: {known or 'none'}.")
    return _run_from_row(rows[0])


def load_profiles(db: Database, run_id: int) -> list[SegmentProfile]:
    rows = db.rows(
        "SELECT profile, name, name_source FROM userseg_profiles WHERE run_id = ? ORDER BY segment",
        [run_id],
    )
    profiles = []
    for prof, name, source in rows:
        p = SegmentProfile.from_dict(_load_json(prof))
        p.name, p.name_source = name, source
        profiles.append(p)
    return profiles


def load_model(db: Database, run_id: int) -> Segmenter:
    """The run's fitted segmenter, ready to ``predict`` new users."""
    get_run(db, run_id)
    row = db.scalar("SELECT params FROM userseg_models WHERE run_id = ?", [run_id])
    if row is None:
        raise NotFoundError(f"run {run_id} has no stored model.")
    arrays = {}
    for name, dtype, shape, data in db.rows(
        "SELECT name, dtype, shape, data FROM userseg_model_arrays WHERE run_id = ?", [run_id]
    ):
        dt_ = np.dtype(dtype)
        if dt_.kind not in _ARRAY_KINDS:
            raise DataError(f"model array {name!r} of run {run_id} has unsupported dtype {dtype}.")
        arrays[name] = np.frombuffer(data, dtype=dt_).reshape(_load_json(shape)).copy()
    profiles = load_profiles(db, run_id)
    # from_state takes the names (renamed ones included) from the profiles, by segment id
    return Segmenter.from_state(_load_json(row), arrays, profiles)


def get_matching(db: Database, run_id: int) -> dict[str, Any] | None:
    """How a run's segments were matched to its previous version (None for a fresh run)."""
    row = db.scalar("SELECT matching FROM userseg_run_matchings WHERE run_id = ?", [run_id])
    return _load_json(row) if row is not None else None


def load_assignments(db: Database, run_id: int) -> pd.DataFrame:
    return db.execute(
        "SELECT user_id, segment, distance FROM userseg_assignments "
        "WHERE run_id = ? ORDER BY user_id",
        [run_id],
    ).df()


def assigned_segments(db: Database, run_id: int, user_ids: list[str]) -> dict[str, int]:
    """The segment run ``run_id`` assigned to each of ``user_ids`` (users not in it are absent)."""
    if not user_ids:
        return {}
    placeholders = ", ".join("?" for _ in user_ids)
    return dict(
        db.rows(
            f"SELECT user_id, segment FROM userseg_assignments WHERE run_id = ? "
            f"AND user_id IN ({placeholders})",
            [run_id, *user_ids],
        )
    )


def assignment_of(db: Database, run_id: int, user_id: str) -> tuple[int, float | None] | None:
    """(segment, distance) run ``run_id`` assigned to a user, or None when the user is not in it."""
    rows = db.rows(
        "SELECT segment, distance FROM userseg_assignments WHERE run_id = ? AND user_id = ?",
        [run_id, user_id],
    )
    return (int(rows[0][0]), rows[0][1]) if rows else None


def count_runs(db: Database) -> int:
    """How many runs the database holds."""
    return int(db.scalar("SELECT count(*) FROM userseg_runs"))


def set_run_timings(db: Database, run_id: int, timings: dict[str, float]) -> None:
    """Replace a stored run's timings (seconds per step), e.g. once storing it was timed too."""
    db.execute(
        "UPDATE userseg_runs SET timings = ? WHERE run_id = ?",
        [pd.Series(timings).to_json(), run_id],
    )


def next_segment_id(db: Database) -> int:
    """A segment id never used by any run (one past the largest stored)."""
    return int(db.scalar("SELECT coalesce(max(segment), -1) + 1 FROM userseg_profiles"))


def rename_segment(db: Database, run_id: int, segment: int, name: str) -> None:
    """Give a segment of a run a name chosen by a person (kept with the run)."""
    from userseg.explain.naming import check_segment_name

    name = check_segment_name(name, DataError)
    get_run(db, run_id)
    with db.transaction():
        n = db.scalar(
            "SELECT count(*) FROM userseg_profiles WHERE run_id = ? AND segment = ?",
            [run_id, segment],
        )
        if not n:
            raise NotFoundError(f"run {run_id} has no segment {segment}.")
        db.execute(
            "UPDATE userseg_profiles SET name = ?, name_source = 'user' "
            "WHERE run_id = ? AND segment = ?",
            [name, run_id, segment],
        )
