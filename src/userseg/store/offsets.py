"""How far ``userseg stream`` has read each source (``userseg_stream_offsets``).

The offset moves in the transaction that records the events read up to it,
so a stream that restarts reads every line exactly once.
"""

from __future__ import annotations

import datetime as dt

from userseg.io.database import Database

__all__ = ["save_stream_offset", "stream_offset"]


def stream_offset(db: Database, source: str) -> int:
    """The byte position reached in ``source`` (0 for a source never read)."""
    return int(
        db.scalar("SELECT position FROM userseg_stream_offsets WHERE source = ?", [source]) or 0
    )


def save_stream_offset(
    db: Database, source: str, position: int, events: int, when: dt.datetime
) -> None:
    """Record the position reached in ``source`` and the events read in the session so far."""
    db.execute(
        "INSERT OR REPLACE INTO userseg_stream_offsets VALUES (?, ?, ?, ?)",
        [source, position, events, when],
    )
