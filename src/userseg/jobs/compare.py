"""Compare two stored model versions: how run B's segments relate to run A's (`userseg compare`)."""

from __future__ import annotations

import pandas as pd

from userseg.io.database import Database
from userseg.monitor.matching import Matching, match_segments
from userseg.store import get_run, load_assignments, load_profiles

__all__ = ["compare_runs"]


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
