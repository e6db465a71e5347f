"""Segments kept fresh while events arrive: record events, re-feature the users touched, re-score.

:class:`LiveScorer` holds one model version (a stored run) and its feature set
in memory. ``record(payload)`` takes Segment-spec events (see
:mod:`userseg.io.segment_spec`), appends them to the event table idempotently (by
message id), recomputes the features of exactly the users they touch — the
same SQL, population priors and category list as the training features — and
stores each user's current segment, with a history row whenever it changes.
The service's ``POST /v1/events`` and ``userseg stream`` are thin shells over it.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from userseg.errors import DataError, NotFoundError
from userseg.features.build import FeatureSet, compute_features
from userseg.io.database import Database
from userseg.io.segment_spec import append_events, events_table, parse_segment_events
from userseg.io.texts import append_texts
from userseg.segment.segmenter import Segmenter
from userseg.store import get_feature_set, get_run, load_model, load_profiles
from userseg.store.live import (
    LiveSegment,
    live_segment,
    live_segments,
    save_live_segment,
    segment_history,
)
from userseg.store.runs import assigned_segments, assignment_of

__all__ = ["LiveScorer"]


class LiveScorer:
    """Score users live with one stored run.

    Parameters
    ----------
    db : Database
        The userseg database (this process must be its writer).
    run_id : int, optional
        The model version; the latest run by default.
    """

    def __init__(self, db: Database, run_id: int | None = None) -> None:
        self.db = db
        self.run = get_run(db, run_id)
        self.model: Segmenter = load_model(db, self.run.run_id)
        if self.run.feature_set_id is None:
            raise NotFoundError(f"run {self.run.run_id} has no feature set to build features with.")
        self.features: FeatureSet = get_feature_set(db, self.run.feature_set_id)
        self._lock = threading.Lock()  # one writer at a time on the DuckDB connection

    @property
    def run_id(self) -> int:
        return self.run.run_id

    def _names(self, labels: np.ndarray) -> list[str]:
        return [self.model.name_of(int(s)) for s in labels]

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Segment, name and distance for users given as raw feature rows (index: user id)."""
        labels, dist = self.model.predict_with_distance(frame)
        return pd.DataFrame(
            {"segment": labels, "name": self._names(labels), "distance": dist}, index=frame.index
        )

    def record(self, payload: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Record Segment-spec events and return the (possibly new) segment of each user touched.

        Returns
        -------
        dict
            ``accepted`` (new events stored), ``duplicates`` (already seen
            message ids), ``texts`` (new texts stored, from ``properties.text``:
            the users' text features are recomputed with them), ``run_id`` and
            ``users``: one entry per user with ``segment``, ``name``,
            ``distance``, ``previous_segment`` and ``changed``.
        """
        rows = parse_segment_events(payload, now=now)
        with self._lock, self.db.transaction():
            inserted, duplicates = append_events(self.db, rows)
            texts = append_texts(self.db, [(r.user_id, r.ts, r.text) for r in rows if r.text])
            user_ids = list(dict.fromkeys(r.user_id for r in rows))
            results = self._rescore(user_ids, reason="events")
        return {
            "accepted": inserted,
            "duplicates": duplicates,
            "texts": texts,
            "run_id": self.run_id,
            "users": results,
        }

    def score_events(self, payload: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Segments of users from their recent events alone, without storing anything.

        For a visitor whose events are in hand (a session, a cart) but not in
        the event table: the events become features exactly as in training
        (recency measured at the latest of them), attributes come from the
        user table when the user is known, and nothing is written.
        """
        rows = parse_segment_events(payload, now=now)
        user_ids = list(dict.fromkeys(r.user_id for r in rows))
        with self._lock:
            self.db.con.register("__recent_events", events_table(rows))
            try:
                frame = compute_features(self.db, self.features, user_ids, events="__recent_events")
            finally:
                self.db.con.unregister("__recent_events")
        scored = self.score_frame(frame)
        return {
            "run_id": self.run_id,
            "users": [
                {
                    "user_id": u,
                    "segment": int(r.segment),
                    "name": r["name"],
                    "distance": float(r.distance),
                }
                for u, r in scored.iterrows()
            ],
        }

    def _rescore(self, user_ids: list[str], *, reason: str) -> list[dict[str, Any]]:
        frame = compute_features(self.db, self.features, user_ids)
        if frame.empty:
            return []
        scored = self.score_frame(frame)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        # A user's previous segment: the live one, else the one the run assigned in training.
        before = assigned_segments(self.db, self.run_id, user_ids)
        # a live segment under another model version is in other ids
        before.update(live_segments(self.db, self.run_id, user_ids))
        results = []
        for user_id, row in scored.iterrows():
            prev = before.get(user_id)
            seg = int(row.segment)
            save_live_segment(
                self.db,
                LiveSegment(user_id, self.run_id, seg, float(row.distance), now),
                changed=reason if prev is None or prev != seg else None,
            )
            results.append(
                {
                    "user_id": user_id,
                    "segment": seg,
                    "name": row["name"],
                    "distance": float(row.distance),
                    "previous_segment": prev,
                    "changed": prev is not None and prev != seg,
                }
            )
        return results

    def user(self, user_id: str) -> dict[str, Any]:
        """A user's current segment and the history of their segments."""
        cur = live_segment(self.db, user_id)
        if cur is None:
            stored = assignment_of(self.db, self.run_id, user_id)
            if stored is None:
                raise NotFoundError(
                    f"user {user_id!r} has no segment: no events, and not in run {self.run_id}."
                )
            seg, distance = stored
            cur = LiveSegment(user_id, self.run_id, seg, distance, self.run.created_at)
        history = [asdict(h) for h in segment_history(self.db, user_id)]
        if int(cur.run_id) == self.run_id:
            name = self.model.name_of(int(cur.segment))
        else:  # stored under another model version: that version's name for it
            names = {p.segment: p.name for p in load_profiles(self.db, int(cur.run_id))}
            name = names.get(int(cur.segment), "unknown")
        return {
            "user_id": user_id,
            "run_id": int(cur.run_id),
            "segment": int(cur.segment),
            "name": name,
            "distance": cur.distance,
            "updated_at": cur.updated_at,
            "history": history,
        }

    def check_features(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """Raw feature records (``{"user_id": …, feature: value}``) as a frame, validated."""
        if not records:
            raise DataError("no users to assign.")
        frame = pd.DataFrame.from_records(records)
        ids = (
            frame.pop("user_id")
            if "user_id" in frame
            else pd.Series([str(i) for i in range(len(frame))])
        )
        frame.index = ids.astype(str).to_numpy()
        return frame
