"""Keeping segments honest over time: stable ids across model versions, migrations, drift."""

from userseg.monitor.drift import DriftReport, drift_report
from userseg.monitor.matching import LEFT, NEW_USERS, Matching, SegmentMatch, match_segments

__all__ = [
    "LEFT",
    "NEW_USERS",
    "DriftReport",
    "Matching",
    "SegmentMatch",
    "drift_report",
    "match_segments",
]
