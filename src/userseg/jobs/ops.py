"""Operations on a live segmentation: compare versions, check drift, refresh, stream events.

These are the steps a scheduler or a service runs around the pipeline:
``userseg compare`` (how two model versions relate), ``userseg drift`` (is the
model still right for today's users), ``userseg refresh`` (the nightly job:
new data → features → drift → refit with stable ids, or rescore) and
``userseg stream`` (events from a growing JSON-lines file, exactly once).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from userseg.cluster.assigners import CentroidAssigner
from userseg.config import FeatureConfig, PrepareConfig
from userseg.errors import ConfigError, DataError
from userseg.features.build import compute_features, load_features
from userseg.io.database import Database, quote_ident
from userseg.io.segment_spec import MAX_BATCH, parse_segment_events
from userseg.jobs.live import LiveScorer
from userseg.jobs.pipeline import features as build_feature_set
from userseg.jobs.pipeline import fit as fit_run
from userseg.jobs.pipeline import ingest_config
from userseg.jobs.pipeline_config import PipelineConfig
from userseg.monitor.drift import DriftReport, drift_report
from userseg.monitor.matching import Matching, match_segments
from userseg.segment.params import FitConfig
from userseg.store import (
    feature_freshness,
    get_feature_set,
    get_run,
    latest_feature_set,
    load_assignments,
    load_model,
    load_profiles,
)
from userseg.store.drift import record_drift_report
from userseg.store.live import save_rescored
from userseg.store.offsets import save_stream_offset, stream_offset
from userseg.store.runs import count_runs

__all__ = ["StreamStats", "compare_runs", "drift", "refresh", "stream"]


def compare_runs(db: Database, run_a: int, run_b: int) -> Matching:
    """How run ``run_b``'s segments relate to run ``run_a``'s (neither is renumbered)."""
    a, b = get_run(db, run_a), get_run(db, run_b)
    prev = load_assignments(db, a.run_id).set_index("user_id")["segment"]
    cur_ids = load_assignments(db, b.run_id).set_index("user_id")["segment"]
    pa, pb = load_profiles(db, a.run_id), load_profiles(db, b.run_id)
    order = [p.segment for p in pb]
    position = {s: i for i, s in enumerate(order)}
    current = cur_ids.map(lambda s: position.get(int(s), -1))
    matching = match_segments(
        prev,
        current,
        previous_names={p.segment: (p.name, p.name_source) for p in pa},
        current_names=[p.name for p in pb],
        previous_means=pd.DataFrame({p.segment: p.means for p in pa}).T,
        current_means=pd.DataFrame({i: p.means for i, p in enumerate(pb)}).T,
        current_ids=order,
    )
    matching.previous_run_id, matching.run_id = a.run_id, b.run_id
    return matching


def drift(
    db: Database, run_id: int | None = None, current: pd.DataFrame | None = None
) -> DriftReport:
    """Drift of the current users (those of the latest feature table) against a run's model.

    Without ``current``, the users' features are computed as the model's feature
    set computed them: with its smoothing priors (the population rates a user with
    few events is shrunk toward). The latest feature table has new priors, and a
    prior that moves with one day of data shifted every light user's rates: a trial
    saw return_rate read PSI 0.52 and a refit advised after one new day, the refit
    then matching every segment at 0.97-0.99 overlap.

    The users are those of the latest feature table; when the data changed after
    it was built, ``features_stale`` says how (users new since are not in it).
    """
    run = get_run(db, run_id)
    model = load_model(db, run.run_id)
    stale = None
    if current is None:
        latest = latest_feature_set(db)
        stale = feature_freshness(db, latest).to_dict()
        trained = get_feature_set(db, run.feature_set_id) if run.feature_set_id else None
        if trained is not None and trained.spec is not None:
            current = compute_features(
                db, trained, None, id_query=f"SELECT user_id FROM {quote_ident(latest.table)}"
            )
        else:  # attributes only (no priors), or a feature set of an older userseg
            current = load_features(db, latest)
    report = drift_report(model, current, run_id=run.run_id)
    report.features_stale = stale
    return report


def refresh(
    db: Database,
    config: PipelineConfig | None = None,
    *,
    refit: str = "auto",
    fit_config: FitConfig | None = None,
    prepare: PrepareConfig | None = None,
    features_config: FeatureConfig | None = None,
) -> dict[str, Any]:
    """The nightly job: ingest new data, rebuild features, check drift, refit (ids kept) or rescore.

    Parameters
    ----------
    config : PipelineConfig, optional
        New data to ingest first (events are appended, skipping known event
        ids; the user table is replaced).
    refit : {"auto", "always", "never"}
        Refit when drift advises it (auto), every time, or never (the latest
        model rescores every user).

    Returns
    -------
    dict
        What was done: ingests, feature set, drift report, and either the new
        run (with its matching to the previous one) or the number rescored.
    """
    if refit not in ("auto", "always", "never"):
        raise ConfigError(f"refit must be 'auto', 'always' or 'never'; got {refit!r}.")
    summary: dict[str, Any] = {"ingests": []}
    if config is not None:
        # new events are appended (known event ids skipped); the user table is replaced
        summary["ingests"] = [r.to_dict() for r in ingest_config(db, config, event_mode="append")]
        features_config = features_config or config.features
        fit_config = fit_config or config.fit
        prepare = prepare or config.prepare
    fs = build_feature_set(db, features_config or FeatureConfig(as_of=None))
    summary["feature_set"] = fs.feature_set_id
    has_runs = bool(count_runs(db))
    report = drift(db) if has_runs else None
    if report is not None:
        record_drift_report(db, report)
        summary["drift"] = report.to_dict()
    if not has_runs or refit == "always" or (refit == "auto" and report.refit_advised):
        run_id, seg = fit_run(db, fit_config, prepare, previous_run="latest" if has_runs else None)
        summary.update(action="refit", run_id=run_id, n_segments=seg.n_segments_)
    else:
        scorer = LiveScorer(db)
        current = load_features(db, fs)
        scored = scorer.score_frame(current)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        table = scored.reset_index(names="user_id")
        save_rescored(db, scorer.run_id, table, now, reason="refresh")
        summary.update(action="rescore", run_id=scorer.run_id, rescored=len(table))
    return summary


# -- streaming ------------------------------------------------------------------------------


@dataclass
class StreamStats:
    """What a stream session did (also its summary on stop)."""

    lines: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    changed: int = 0
    errors: list[str] = field(default_factory=list)
    centre_shift: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, errors=self.errors[:20])


class _OnlineCentres:
    """Mini-batch k-means update with exponential forgetting: bounded memory (k centres)."""

    def __init__(self, assigner: CentroidAssigner, decay: float) -> None:
        self.assigner = assigner
        self.start = assigner.centers.copy()
        self.decay = decay

    def update(self, Z: np.ndarray) -> None:
        labels, _ = self.assigner.predict(Z)
        centres = self.assigner.centers
        for j in np.unique(labels):
            # each batch pulls a centre toward its new members, by `decay` of the way
            centres[j] += self.decay * (Z[labels == j].mean(axis=0) - centres[j])

    def shifts(self, ids: np.ndarray) -> dict[int, float]:
        moved = np.linalg.norm(self.assigner.centers - self.start, axis=1)
        return {int(i): float(m) for i, m in zip(ids, moved, strict=True)}


def _lines(
    fh: IO[bytes], *, follow: bool, poll: float, stop: Callable[[], bool]
) -> Iterator[bytes | None]:
    """Complete lines of ``fh`` as bytes; ``None`` when nothing new is there (time to flush).

    Bytes, not text: the offset committed with each batch must count the
    bytes on disk (text mode would turn ``\\r\\n`` into one character).
    """
    pending = b""
    while not stop():
        chunk = fh.readline()
        if chunk:
            pending += chunk
            if pending.endswith(b"\n"):
                yield pending
                pending = b""
            continue
        yield None  # idle: the caller flushes its batch
        if not follow:
            return
        time.sleep(poll)


def stream(
    db: Database,
    source: str,
    *,
    run_id: int | None = None,
    follow: bool = True,
    batch: int = 500,
    poll: float = 0.25,
    max_seconds: float | None = None,
    online: bool = False,
    decay: float = 0.05,
    on_batch: Callable[[StreamStats], None] | None = None,
) -> StreamStats:
    """Read Segment-spec events, one JSON message (or batch) per line, and keep segments fresh.

    The position reached in a file is committed together with the events it
    covers, so a stopped (even killed) stream resumes where it left off;
    message ids make replays harmless, so nothing is lost or counted twice.
    ``source`` is a file path, or ``-`` for standard input. SIGINT/SIGTERM
    stop it cleanly after the current batch.

    With ``online=True`` the model's centres follow the stream (mini-batch
    updates with forgetting ``decay``, in (0, 1]: the share of the way a batch
    pulls a centre toward its new members); how far each moved is reported.
    Standard input is read to its end (a pipe that ends can bring nothing
    more); a file is followed as it grows unless ``follow=False``.
    """
    _check_stream_options(batch=batch, poll=poll, max_seconds=max_seconds, decay=decay)
    scorer = LiveScorer(db, run_id)
    stats = StreamStats()
    online_model = None
    if online:
        if not isinstance(scorer.model.assigner_, CentroidAssigner):
            raise ConfigError("online updates need a k-means model (centres).")
        online_model = _OnlineCentres(scorer.model.assigner_, decay)
    stopping = {"now": False}
    deadline = time.monotonic() + max_seconds if max_seconds else None

    def stop() -> bool:
        return stopping["now"] or (deadline is not None and time.monotonic() > deadline)

    def handler(signum: int, frame: Any) -> None:
        stopping["now"] = True

    old = (
        {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        if _main_thread()
        else {}
    )
    key = "stdin" if source == "-" else str(Path(source).resolve())
    try:
        if source == "-":
            fh, position = sys.stdin.buffer, 0
        else:
            if not Path(source).exists():
                if not follow:
                    raise DataError(f"{source}: file not found.")
                Path(source).touch()
            fh = open(source, "rb")  # noqa: SIM115 - closed in finally
            position = stream_offset(db, key)
            if position > Path(source).stat().st_size:  # rotated or truncated: a new file
                stats.errors.append(
                    f"{source} is shorter than the position reached before "
                    f"({position} bytes): read from its start"
                )
                position = 0
            fh.seek(position)
        pending: list[Any] = []
        consumed = 0
        for line in _lines(fh, follow=follow and source != "-", poll=poll, stop=stop):
            if line is not None:
                stats.lines += 1
                at = position + consumed  # where the line starts in the file: errors say it
                consumed += len(line)
                text = line.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
                if text:
                    try:
                        msg = json.loads(text)
                        msgs = msg["batch"] if isinstance(msg, dict) and "batch" in msg else msg
                        msgs = msgs if isinstance(msgs, list) else [msgs]
                        pending.extend((at, m) for m in msgs)
                    except (json.JSONDecodeError, TypeError, KeyError) as exc:
                        stats.rejected += 1
                        stats.errors.append(f"line at byte {at}: not JSON ({exc})")
            idle = line is None
            if (pending and (idle or len(pending) >= batch)) or (idle and consumed):
                position = _flush(
                    db,
                    scorer,
                    pending,
                    stats,
                    key,
                    position + consumed,
                    source != "-",
                    online_model,
                )
                pending, consumed = [], 0
                if on_batch:
                    on_batch(stats)
        if pending or consumed:
            _flush(
                db, scorer, pending, stats, key, position + consumed, source != "-", online_model
            )
        if online_model is not None:
            stats.centre_shift = online_model.shifts(scorer.model.segment_ids_)
    finally:
        if source != "-" and "fh" in locals():
            fh.close()
        for s, h in old.items():
            signal.signal(s, h)
    return stats


def _check_stream_options(*, batch: Any, poll: Any, max_seconds: Any, decay: Any) -> None:
    """Refuse settings that would make a stream misbehave instead of failing."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be a whole number of events >= 1; got {batch!r}.")
    if not isinstance(poll, int | float) or not poll > 0:
        raise ConfigError(f"poll must be a number of seconds > 0; got {poll!r}.")
    if max_seconds is not None and (
        not isinstance(max_seconds, int | float) or not max_seconds > 0
    ):
        raise ConfigError(f"max_seconds must be a number of seconds > 0; got {max_seconds!r}.")
    if not isinstance(decay, int | float) or not 0 < decay <= 1:
        # above 1 a batch throws a centre past its new members (a trial saw it move 30 units)
        raise ConfigError(
            f"decay must be in (0, 1] (the share of the way a batch pulls a centre); got {decay!r}."
        )


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _flush(
    db: Database,
    scorer: LiveScorer,
    messages: list[tuple[int, Any]],
    stats: StreamStats,
    key: str,
    position: int,
    save_offset: bool,
    online_model: _OnlineCentres | None,
) -> int:
    """Record one batch and move the file offset, in one transaction.

    ``messages`` are (byte offset of their line, message) pairs.
    """
    with db.transaction():
        good: list[Any] = []
        for at, msg in messages:  # one by one, so one bad message does not sink the batch
            try:
                parse_segment_events(msg)
                good.append(msg)
            except DataError as exc:
                stats.rejected += 1
                stats.errors.append(f"line at byte {at}: {exc.message}")
        for start in range(0, len(good), MAX_BATCH):  # the recorder takes 1,000 at a time
            chunk = good[start : start + MAX_BATCH]
            result = scorer.record(chunk)
            stats.events += len(chunk)
            stats.accepted += result["accepted"]
            stats.duplicates += result["duplicates"]
            stats.changed += sum(1 for u in result["users"] if u["changed"])
            if online_model is not None and result["users"]:
                frame = compute_features(
                    db, scorer.features, [u["user_id"] for u in result["users"]]
                )
                online_model.update(
                    scorer.model.preparer_.transform(scorer.model.to_numbers(frame))
                )
        if save_offset:
            save_stream_offset(
                db, key, position, stats.events, dt.datetime.now(dt.UTC).replace(tzinfo=None)
            )
    return position
