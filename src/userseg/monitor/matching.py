"""Stable segment ids across model versions: match a refit's segments to the previous ones.

When a model is refitted on newer data, "segment 3 — Recent high spenders"
must stay segment 3 with its name when it is the same group of people;
otherwise every dashboard, audience and campaign keyed on the id breaks at
each refit. Segments are matched by the Hungarian algorithm on their shared
members: the Jaccard overlap of the two versions' member sets, counted over
the users present in both (so a segment that grows with new users still
matches). When the versions share almost no users, the segments' mean
profiles are matched instead.

Each segment ends up ``kept`` (same id; same name when a person gave it or
at least half the members are the same — a group that changed much gets a
freshly generated name, and the detail says what it was called), ``appeared``
(a new id; the detail says when it split off an old segment) or, for the old
version, ``gone`` (the detail says where its users went). The migration matrix counts
the users going from each old segment to each new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

__all__ = ["Matching", "SegmentMatch", "match_segments"]

NEW_USERS = "(new users)"
#: Below this member overlap a kept segment's generated name is generated anew.
SAME_NAME_JACCARD = 0.5
LEFT = "(left)"


@dataclass
class SegmentMatch:
    """The fate of one segment across two model versions."""

    status: str  # kept | appeared | gone
    segment: int | None  # the id in the new version (None when gone)
    previous_segment: int | None  # the id in the previous version (None when appeared)
    name: str
    jaccard: float = 0.0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Matching:
    """How a new model version's segments relate to the previous version's."""

    ids: list[int]  # stable id for each new segment, in the new segments' order
    matches: list[SegmentMatch]
    migration: pd.DataFrame  # rows: previous ids + NEW_USERS; columns: new ids + LEFT
    shared_users: int
    method: str  # "members" or "profiles"
    names: dict[int, tuple[str, str]] = field(default_factory=dict)  # inherited names
    previous_run_id: int | None = None
    run_id: int | None = None  # the matched run, when it is already stored (compare)

    def to_dict(self) -> dict[str, Any]:
        mig = self.migration
        return {
            "ids": self.ids,
            "matches": [m.to_dict() for m in self.matches],
            "migration": {
                "rows": [str(r) for r in mig.index],
                "columns": [str(c) for c in mig.columns],
                "counts": mig.to_numpy().astype(int).tolist(),
            },
            "shared_users": self.shared_users,
            "method": self.method,
            "previous_run_id": self.previous_run_id,
            "run_id": self.run_id,
        }


def _profile_costs(old_means: pd.DataFrame, new_means: pd.DataFrame) -> np.ndarray:
    """Distances between segment mean profiles, features standardised across both versions."""
    common = [c for c in old_means.columns if c in new_means.columns]
    both = pd.concat([old_means[common], new_means[common]])
    scale = both.std(ddof=0).replace(0, 1.0)
    a = ((old_means[common] - both.mean()) / scale).to_numpy()
    b = ((new_means[common] - both.mean()) / scale).to_numpy()
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    return d / max(np.sqrt(len(common)), 1.0)


def _jaccard(p: pd.Series, c: pd.Series, old_ids: list[int], k_new: int) -> np.ndarray:
    """Member overlap (Jaccard) of every previous segment with every current one."""
    inter = pd.crosstab(p, c).reindex(index=old_ids, columns=range(k_new), fill_value=0)
    size_old = p.value_counts().reindex(old_ids, fill_value=0).to_numpy()[:, None]
    size_new = c.value_counts().reindex(range(k_new), fill_value=0).to_numpy()[None, :]
    union = size_old + size_new - inter.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter.to_numpy() / union, 0.0)


def _origin(column: pd.Series, previous_names: dict[int, tuple[str, str]]) -> str:
    """Where most users of a new segment come from (its migration column), when most do."""
    before = column.drop(NEW_USERS)
    if before.sum() > 0:
        top = int(before.idxmax())
        share = before.max() / max(column.sum(), 1)
        if share >= 0.5:
            return (
                f"{share:.0%} of its users come from segment {top} "
                f"({previous_names.get(top, ('?',))[0]})"
            )
    return ""


def _where_gone(
    row: pd.Series, ids: list[int], names: dict[int, tuple[str, str]], current_names: list[str]
) -> str:
    """Where the users of a previous segment that has no match went (its migration row)."""
    total = int(row.sum())
    n_left = int(row[LEFT])
    moved = row.drop(LEFT)
    if n_left > moved.sum():
        return f"{n_left} of its {total} users are no longer in the data"
    j = int(moved.idxmax())
    return (
        f"{moved.max() / max(total, 1):.0%} of its users moved to segment {ids[j]} "
        f"({names.get(ids[j], (current_names[j],))[0]})"
    )


def match_segments(
    previous: pd.Series,
    current: pd.Series,
    *,
    previous_names: dict[int, tuple[str, str]],
    current_names: list[str],
    previous_means: pd.DataFrame | None = None,
    current_means: pd.DataFrame | None = None,
    min_jaccard: float = 0.3,
    max_profile_distance: float = 0.5,
    next_id: int | None = None,
    current_ids: list[int] | None = None,
) -> Matching:
    """Match the current version's segments to the previous version's.

    Parameters
    ----------
    previous : Series
        user_id → previous segment id.
    current : Series
        user_id → current segment index (0..k-1, as fitted; -1 noise).
    previous_names : dict
        previous id → (name, name source).
    current_names : list of str
        Generated names of the current segments, by index.
    previous_means, current_means : DataFrame, optional
        Mean feature profile per segment (index: id / index), used when the
        versions share too few users (< 1 % of the current users).
    min_jaccard : float
        Smallest member overlap that counts as "the same group".
    max_profile_distance : float
        Largest (standardised, per-feature RMS) profile distance that counts as the same group.
    next_id : int, optional
        First id for new segments (default: one past the largest previous id).
    current_ids : list of int, optional
        Keep these ids for the current segments (compare two stored runs
        without renumbering either); matches then pair previous and current ids.

    Returns
    -------
    Matching
    """
    previous = previous[previous >= 0]
    cur = current[current >= 0]
    old_ids = sorted(int(i) for i in previous.unique())
    k_new = len(current_names)
    shared = previous.index.intersection(cur.index)
    migration = pd.crosstab(previous.reindex(current.index).fillna(-1).astype(int), current).rename(
        index={-1: NEW_USERS}
    )
    left = previous[~previous.index.isin(current.index)].value_counts()
    migration = migration.reindex(index=[*old_ids, NEW_USERS], columns=range(k_new), fill_value=0)
    migration[LEFT] = [int(left.get(i, 0)) for i in old_ids] + [0]

    if len(shared) >= 0.01 * max(len(cur), 1) and old_ids:
        method = "members"
        jac = _jaccard(previous.loc[shared], cur.reindex(shared), old_ids, k_new)
        cost = 1.0 - jac
        ok = jac >= min_jaccard
    else:
        method = "profiles"
        if previous_means is None or current_means is None or not old_ids:
            jac = np.zeros((len(old_ids), k_new))
            cost, ok = np.ones_like(jac), np.zeros_like(jac, dtype=bool)
        else:
            cost = _profile_costs(previous_means.loc[old_ids], current_means.loc[range(k_new)])
            jac = np.zeros_like(cost)
            ok = cost <= max_profile_distance

    rows, cols = linear_sum_assignment(cost) if cost.size else ([], [])
    pairs = {int(c): int(r) for r, c in zip(rows, cols, strict=True) if ok[r, c]}
    start = next_id if next_id is not None else (max(old_ids) + 1 if old_ids else 0)
    ids: list[int] = []
    names: dict[int, tuple[str, str]] = {}
    matches: list[SegmentMatch] = []
    fresh = start
    for j in range(k_new):
        if j in pairs:
            old = old_ids[pairs[j]]
            ids.append(old if current_ids is None else current_ids[j])
            before = previous_names.get(old, (current_names[j], "generated"))
            overlap = float(jac[pairs[j], j])
            detail = f"matched on {method}"
            # The id always stays; the name stays when a person gave it or the group is
            # clearly the same one. A generated name of a group that changed much (it
            # absorbed another, say) would describe the old group: it is generated anew.
            if before[1] == "user" or method == "profiles" or overlap >= SAME_NAME_JACCARD:
                names[ids[-1]] = before
            elif current_names[j] != before[0]:
                detail += (
                    f"; the group changed (overlap {overlap:.2f}), named anew (was {before[0]!r})"
                )
            matches.append(
                SegmentMatch(
                    "kept",
                    ids[-1],
                    old,
                    names.get(ids[-1], (current_names[j],))[0],
                    overlap,
                    detail,
                )
            )
        else:
            ids.append(fresh if current_ids is None else current_ids[j])
            origin = _origin(migration[j], previous_names)
            matches.append(
                SegmentMatch(
                    "appeared", ids[-1], None, current_names[j], 0.0, origin or "a new group"
                )
            )
            fresh += 1
    matched = set(pairs.values())
    for i, old in enumerate(old_ids):
        if i not in matched:
            where = _where_gone(migration.loc[old], ids, names, current_names)
            matches.append(
                SegmentMatch("gone", None, old, previous_names.get(old, ("?", ""))[0], 0.0, where)
            )
    migration = migration.rename(columns={j: ids[j] for j in range(k_new)})
    return Matching(ids, matches, migration, len(shared), method, names)
