"""Drift: are today's users still the users the model was fitted on?

Three signals, each compared with what the model recorded at fit time
(``Segmenter.baseline_``): the population stability index of every feature,
the change of each segment's share when today's users are assigned, and the
share of users far from every segment (farther than 99 % of the training
users were). A refit is advised when any of them passes its threshold; the
reasons say which.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from userseg.errors import DataError
from userseg.evaluate.psi import PSI_MAJOR, psi, psi_level
from userseg.segment.segmenter import Segmenter

__all__ = ["DriftReport", "drift_report"]

SHARE_CHANGE = 0.10  # absolute change of a segment's share that advises a refit
FAR_SHARE = 0.05  # share of users beyond the training p99 distance (1 % expected)
#: Fewer users than this cannot show drift: a decile bin holds 10 of them, and one user
#: moves a share by a whole percent (3 users read PSI 6.98 in a trial).
MIN_USERS = 200


@dataclass
class DriftReport:
    """What changed since the model was fitted, and whether to refit."""

    run_id: int | None
    n_users: int
    features: list[dict[str, Any]]  # name, psi, level (sorted, largest first)
    segments: list[dict[str, Any]]  # segment, name, share_then, share_now, change
    far_share: float
    refit_advised: bool
    reasons: list[str] = field(default_factory=list)
    #: how the data changed after the feature table the users came from was built
    #: (``store.lineage.Freshness.to_dict``); None when current, or users given directly
    features_stale: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def drift_report(
    model: Segmenter, current: pd.DataFrame, *, run_id: int | None = None
) -> DriftReport:
    """Compare ``current`` users (raw features, one row a user) with the model's training users."""
    base = getattr(model, "baseline_", None)
    if not base:
        raise DataError(
            "this model has no record of its training users (fitted by an older "
            "userseg); refit it to monitor drift."
        )
    if len(current) == 0:
        raise DataError("no current users to compare with the model's training users.")
    if current.index.has_duplicates:
        dup = current.index[current.index.duplicated()]
        raise DataError(
            f"{len(dup)} user id(s) appear more than once among the current users (such as "
            f"{str(dup[0])!r}); give one row a user, or each would count as another user."
        )
    numbers = model.to_numbers(current)  # dates as days, as the baseline was recorded
    feats = []
    for name, ref in base["features"].items():
        if name not in current.columns:
            raise DataError(
                f"current data lack feature {name!r}; the model was fitted on "
                f"{list(base['features'])}."
            )
        value = psi(ref, numbers[name])
        feats.append({"feature": name, "psi": value, "level": psi_level(value)})
    feats.sort(key=lambda f: -f["psi"])
    labels, dist = model.predict_with_distance(current)
    now = pd.Series(labels).value_counts(normalize=True)
    segments = []
    for seg in sorted({*map(int, base["segment_shares"]), *map(int, now.index)}):
        if seg < 0:
            continue
        then = float(base["segment_shares"].get(seg, base["segment_shares"].get(str(seg), 0.0)))
        share = float(now.get(seg, 0.0))
        segments.append(
            {
                "segment": seg,
                "name": model.name_of(seg) if seg in set(model.segment_ids_.tolist()) else "?",
                "share_then": then,
                "share_now": share,
                "change": share - then,
            }
        )
    far = float(np.mean(dist > base["distance_p99"])) if base["distance_p99"] > 0 else 0.0
    reasons = [
        f"{f['feature']} shifted (PSI {f['psi']:.2f} ≥ {PSI_MAJOR})"
        for f in feats
        if f["psi"] >= PSI_MAJOR
    ]
    reasons += [
        f"segment {s['segment']} ({s['name']}) went from {s['share_then']:.0%} to "
        f"{s['share_now']:.0%} of users"
        for s in segments
        if abs(s["change"]) >= SHARE_CHANGE
    ]
    if far >= FAR_SHARE:
        reasons.append(f"{far:.1%} of users are far from every segment (1% expected)")
    if len(current) < MIN_USERS:
        # the figures are still shown, but they are noise at this size: no advice on them
        reasons = []
        note = [
            f"too few users ({len(current)}) to judge drift: at least {MIN_USERS} are "
            "needed; the figures above are not a reason to refit"
        ]
    else:
        note = []
    return DriftReport(run_id, len(current), feats, segments, far, bool(reasons), reasons or note)
