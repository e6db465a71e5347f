"""Read-only views of the stored aggregates, shaped for the web app's pages.

Every function here reads per-run and per-segment rows (runs, profiles,
matchings, drift reports, the model's small arrays), never the per-user
tables, so a page costs the same for a run of 10 thousand users or 10
million. The one exception is :func:`member_sample`, which stops after
``n`` rows of one run's segment.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np

from userseg.io.database import Database

__all__ = [
    "comparison",
    "drift_reports",
    "member_sample",
    "run_map",
    "runs_overview",
    "save_comparison",
    "segment_shares",
]


def _load(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else text


def runs_overview(db: Database) -> list[dict[str, Any]]:
    """Every run, newest first, with its quality, stability and latest drift check."""
    rows = db.dicts(
        "SELECT r.run_id, r.created_at, r.algorithm, r.n_segments, r.n_users, r.metrics, "
        "m.previous_run_id, d.checked_at AS drift_checked_at, d.refit_advised "
        "FROM userseg_runs r "
        "LEFT JOIN userseg_run_matchings m USING (run_id) "
        "LEFT JOIN (SELECT run_id, checked_at, refit_advised, row_number() OVER "
        "  (PARTITION BY run_id ORDER BY checked_at DESC) AS nth FROM userseg_drift_reports) d "
        "  ON d.run_id = r.run_id AND d.nth = 1 "
        "ORDER BY r.run_id DESC"
    )
    for r in rows:
        r["metrics"] = _load(r["metrics"]) or {}
    return rows


def segment_shares(db: Database, segment: int | None = None) -> list[dict[str, Any]]:
    """Each run's segments (id, name, size, share), oldest run first; one segment id or all.

    Segment ids are kept across refits for the same group of users, so a
    segment's rows across runs are its share over time.
    """
    where, params = ("WHERE p.segment = ?", [int(segment)]) if segment is not None else ("", [])
    return db.dicts(
        "SELECT p.run_id, r.created_at, p.segment, p.name, p.size, p.share "
        f"FROM userseg_profiles p JOIN userseg_runs r USING (run_id) {where} "
        "ORDER BY p.run_id, p.segment",
        params,
    )


def drift_reports(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """The latest drift checks (``userseg drift``/``refresh``), newest first, report decoded."""
    rows = db.dicts(
        "SELECT run_id, checked_at, refit_advised, report FROM userseg_drift_reports "
        "ORDER BY checked_at DESC LIMIT ?",
        [int(limit)],
    )
    for r in rows:
        r["report"] = _load(r["report"]) or {}
    return rows


def member_sample(db: Database, run_id: int, segment: int, n: int = 20) -> list[str]:
    """Up to ``n`` user ids of a run's segment (whichever come first: a look, not a draw)."""
    return [
        u
        for (u,) in db.rows(
            "SELECT user_id FROM userseg_assignments WHERE run_id = ? AND segment = ? LIMIT ?",
            [int(run_id), int(segment), int(n)],
        )
    ]


def run_map(db: Database, run_id: int) -> dict[str, Any] | None:
    """The run's stored 2-D user map (a sample of users), or None when it has none.

    Returns ``x``, ``y``, ``segment`` (the id of each point), ``method`` and ``explained``.
    """
    arrays = {}
    for name, dtype, shape, data in db.rows(
        "SELECT name, dtype, shape, data FROM userseg_model_arrays "
        "WHERE run_id = ? AND name IN ('map.x', 'map.y', 'map.index')",
        [int(run_id)],
    ):
        arrays[name] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(_load(shape))
    if len(arrays) < 3:
        return None
    meta = db.rows(
        "SELECT json_extract(params, '$.segment_ids'), json_extract(params, '$.map') "
        "FROM userseg_models WHERE run_id = ?",
        [int(run_id)],
    )
    ids_json, map_json = meta[0] if meta else (None, None)
    ids = np.asarray(_load(ids_json) or [], dtype=np.int64)
    index = np.asarray(arrays["map.index"], dtype=np.int64)
    segment = ids[index] if len(ids) else index
    info = _load(map_json) or {}
    return {
        "x": arrays["map.x"].astype(float),
        "y": arrays["map.y"].astype(float),
        "segment": segment,
        "method": info.get("method", "pca"),
        "explained": info.get("explained"),
    }


def comparison(db: Database, run_a: int, run_b: int) -> dict[str, Any] | None:
    """How run ``run_b``'s segments relate to ``run_a``'s, when stored; else None.

    Stored when ``run_b`` was fitted as a refit of ``run_a`` (its matching), or
    when the comparison was computed once and kept (:func:`save_comparison`).
    """
    rows = db.rows(
        "SELECT matching FROM userseg_run_matchings WHERE run_id = ? AND previous_run_id = ?",
        [int(run_b), int(run_a)],
    ) or db.rows(
        "SELECT matching FROM userseg_comparisons WHERE run_a = ? AND run_b = ?",
        [int(run_a), int(run_b)],
    )
    return _load(rows[0][0]) if rows else None


def save_comparison(db: Database, run_a: int, run_b: int, matching: dict[str, Any]) -> None:
    """Keep a computed comparison of two runs (``Matching.to_dict()``) for the pages to read."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with db.transaction():
        db.execute(
            "INSERT OR REPLACE INTO userseg_comparisons VALUES (?, ?, ?, ?)",
            [int(run_a), int(run_b), now, json.dumps(matching, default=str)],
        )
