"""Stream Segment-spec events from a growing JSON-lines file, exactly once (``userseg stream``).

The position reached in a file is committed with the events it covers; with
``online=True`` the model's centres follow the stream (:mod:`userseg.cluster.online`).
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

from userseg.cluster.assigners import CentroidAssigner
from userseg.cluster.online import OnlineKMeans
from userseg.errors import ConfigError, DataError
from userseg.features.build import compute_features
from userseg.io.database import Database
from userseg.io.segment_spec import MAX_BATCH, parse_segment_events
from userseg.jobs.live import LiveScorer
from userseg.store.offsets import save_stream_offset, stream_offset

__all__ = ["StreamStats", "stream"]


@dataclass
class StreamStats:
    """What a stream session did (also its summary on stop)."""

    lines: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    texts: int = 0  # texts stored (properties.text)
    rejected: int = 0
    changed: int = 0
    errors: list[str] = field(default_factory=list)
    centre_shift: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, errors=self.errors[:20])


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
        online_model = OnlineKMeans(scorer.model.assigner_.centers, decay)
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
    online_model: OnlineKMeans | None,
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
            stats.texts += result.get("texts", 0)
            stats.changed += sum(1 for u in result["users"] if u["changed"])
            if online_model is not None and result["users"]:
                frame = compute_features(
                    db, scorer.features, [u["user_id"] for u in result["users"]]
                )
                online_model.partial_fit(
                    scorer.model.preparer_.transform(scorer.model.to_numbers(frame))
                )
                scorer.model.assigner_.move_centres(online_model.cluster_centers_)
        if save_offset:
            save_stream_offset(
                db, key, position, stats.events, dt.datetime.now(dt.UTC).replace(tzinfo=None)
            )
    return position
