"""Control groups for campaigns: a deterministic hash-based holdout, stratified by segment.

Each user gets a 64-bit hash, BLAKE2b keyed by the campaign id: the same in
every process and on every machine (never Python's salted ``hash()``), and
independent between campaigns. Within each segment the users are ranked by
hash and the first ``round(p·n)`` form the control group, so every segment's
control group is exactly its share, within one user.

**Balance and stability cannot both come from a formula of the current
users alone.** If a user's arm may depend only on the user (a hash below a
threshold), adding users never moves anyone, but the control group's size is
binomial: ±√(n·p·(1−p)) users, not ±1. If it depends on the whole set (the
ranking above), adding a user with a small hash pushes the user at the edge
of the quota from control to treatment. So the arms are *remembered*: pass the
stored arms as ``previous`` and every user in them keeps their arm and their
stratum (the segment they had when assigned), and only the new users are
ranked, taking what each segment's control group lacks to be ``round(p·N)``
of its ``N`` users now. Both properties then hold at every assignment: no arm
ever changes, and each segment stays within one user of its share. What is
given up: the arms depend on the order in which users arrived (a rerun with
the same stored arms is identical; a fresh campaign on today's users may
differ), and users who left are not replaced.

Examples
--------
>>> import pandas as pd
>>> members = pd.DataFrame({"user_id": [f"u{i}" for i in range(10)], "segment": [0] * 10})
>>> h = assign_holdout(members, "spring-sale", 0.2)
>>> int((h.arms["arm"] == "control").sum())
2
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from userseg.errors import ConfigError, DataError, SchemaError

__all__ = ["ARMS", "Holdout", "assign_holdout", "control_size", "parse_share", "user_hashes"]

ARMS = ("treatment", "control")


@dataclass
class Holdout:
    """The arms of a campaign.

    Attributes
    ----------
    campaign_id : str
    holdout : float
        The share of each segment held out as control.
    arms : DataFrame
        ``user_id, segment, arm`` (``"treatment"`` or ``"control"``); the rows of
        ``previous`` first, unchanged, then the users added by this call.
    summary : DataFrame
        Per segment: ``n, n_control, n_treatment, control_share, target_control,
        n_added, note`` (a note when a segment has no control or no treatment user).
    n_added : int
        Users assigned by this call.
    """

    campaign_id: str
    holdout: float
    arms: pd.DataFrame
    summary: pd.DataFrame
    n_added: int


def parse_share(value: str | float) -> float:
    """A holdout share from ``"10%"``, ``"0.1"`` or ``0.1``, strictly between 0 and 1.

    Raises
    ------
    ConfigError
        Not a number, or 0 % or 100 % (or beyond).
    """
    text = str(value).strip()
    m = re.fullmatch(r"([-+]?(?:\d+\.?\d*|\.\d+))\s*(%?)", text)
    if m is None:
        raise ConfigError(f"holdout {value!r} should be a share such as 10% or 0.1.")
    share = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
    check_share(share, value)
    return share


def check_share(share: float, shown: object) -> None:
    if not (isinstance(share, (int, float)) and 0.0 < share < 1.0):
        raise ConfigError(
            f"holdout={shown!r} should be strictly between 0 % and 100 % (e.g. 10% or 0.1): "
            "with no control group there is nothing to measure the lift against, and with "
            "no treatment group nobody gets the campaign.",
            details={"holdout": str(shown)},
        )


def user_hashes(user_ids: Iterable[object], campaign_id: str) -> np.ndarray:
    """Each user's 64-bit hash for ``campaign_id`` (BLAKE2b keyed by the campaign), as uint64.

    User ids are hashed as text, so ``42`` and ``"42"`` are the same user.
    """
    key = hashlib.sha256(b"userseg-holdout\x00" + campaign_id.encode("utf-8")).digest()
    base = hashlib.blake2b(digest_size=8, key=key)

    def one(u: object) -> int:
        h = base.copy()
        h.update(str(u).encode("utf-8"))
        return int.from_bytes(h.digest(), "big")

    ids = list(user_ids)
    return np.fromiter((one(u) for u in ids), dtype=np.uint64, count=len(ids))


def assign_holdout(
    members: pd.DataFrame,
    campaign_id: str,
    holdout: float,
    *,
    previous: pd.DataFrame | None = None,
    user_col: str = "user_id",
    segment_col: str = "segment",
) -> Holdout:
    """Split an audience into treatment and control, stratified by segment.

    Parameters
    ----------
    members : DataFrame
        One row per user: ``user_col`` and ``segment_col``.
    campaign_id : str
        Salts the hash: two campaigns draw independent control groups.
    holdout : float
        Share of each segment held out, strictly between 0 and 1 (see :func:`parse_share`).
    previous : DataFrame, optional
        The arms stored by an earlier call for this campaign (``user_id, segment,
        arm``). Their users keep arm and segment; only users not in it are assigned.

    Returns
    -------
    Holdout

    Raises
    ------
    ConfigError
        ``holdout`` not strictly between 0 and 1, or an empty ``campaign_id``.
    SchemaError
        A column is missing.
    DataError
        No users, missing or duplicate user ids, or ``previous`` holding an arm
        other than treatment/control.
    """
    check_share(holdout, holdout)
    if not isinstance(campaign_id, str) or not campaign_id.strip():
        raise ConfigError(f"campaign_id={campaign_id!r} should be a non-empty text.")
    _check_columns(members, [user_col, segment_col], "members")
    members = members[[user_col, segment_col]].rename(
        columns={user_col: "user_id", segment_col: "segment"}
    )
    if previous is None:
        previous = pd.DataFrame({"user_id": [], "segment": [], "arm": []})
    else:
        _check_columns(previous, ["user_id", "segment", "arm"], "previous arms")
        bad = sorted(set(previous["arm"].astype(str)) - set(ARMS))
        if bad:
            raise DataError(
                f"previous arms hold {', '.join(map(repr, bad))}; expected only "
                f"{' and '.join(map(repr, ARMS))}."
            )
        previous = previous[["user_id", "segment", "arm"]].reset_index(drop=True)
    if members.empty and previous.empty:
        raise DataError("no users to assign: the audience is empty.")
    _check_ids(members["user_id"], "members")
    _check_ids(previous["user_id"], "previous arms")

    known = set(previous["user_id"].astype(str))
    new = members[~members["user_id"].astype(str).isin(known)].reset_index(drop=True)
    if new.empty:
        arms = previous.copy()
    else:
        new_arms = _assign_new(new, previous, campaign_id, holdout)
        arms = new_arms if previous.empty else pd.concat([previous, new_arms], ignore_index=True)
    return Holdout(
        campaign_id=campaign_id,
        holdout=float(holdout),
        arms=arms,
        summary=_summary(arms, new, holdout),
        n_added=len(new),
    )


def _check_columns(frame: pd.DataFrame, needed: list[str], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{what} lack the column(s) {', '.join(map(repr, missing))}; "
            f"available: {', '.join(map(str, frame.columns))}.",
            details={"missing": missing, "available": [str(c) for c in frame.columns]},
        )


def _check_ids(ids: pd.Series, what: str) -> None:
    n_missing = int(ids.isna().sum())
    if n_missing:
        raise DataError(f"{what}: {n_missing} missing user id(s); every user needs one.")
    dup = ids.astype(str)[ids.astype(str).duplicated()]
    if len(dup):
        first = ", ".join(map(repr, dup.unique()[:5]))
        raise DataError(
            f"{what}: {len(dup)} duplicate user id(s) (first: {first}); a user is in one arm.",
            details={"duplicates": len(dup)},
        )


def control_size(n: np.ndarray | int, holdout: float) -> np.ndarray:
    """Control users of a segment of ``n``: ``round(holdout · n)``, halves rounded up."""
    # round half up: floor(p·n + ½); Python's round() is half-to-even, which would let
    # the quota of n + m users exceed the quota of n by more than m.
    return np.floor(holdout * np.asarray(n) + 0.5).astype(np.int64)


def _assign_new(
    new: pd.DataFrame, previous: pd.DataFrame, campaign_id: str, holdout: float
) -> pd.DataFrame:
    """Rank the new users by hash within each segment; each segment fills its quota."""
    codes, segments = pd.factorize(new["segment"], sort=True)
    n_new = np.bincount(codes, minlength=len(segments))
    # matched as text: stored arms may hold segment 3 as "3"
    prev_seg = pd.Index(segments.astype(str)).get_indexer(previous["segment"].astype(str))
    seen = prev_seg >= 0
    n_old = np.bincount(prev_seg[seen], minlength=len(segments))
    c_old = np.bincount(
        prev_seg[seen],
        weights=(previous["arm"].to_numpy()[seen] == "control"),
        minlength=len(segments),
    ).astype(np.int64)
    take = np.clip(control_size(n_old + n_new, holdout) - c_old, 0, n_new)

    ids = new["user_id"].astype(str).to_numpy()
    hashes = user_hashes(ids, campaign_id)
    order = np.lexsort((ids, hashes, codes))  # by segment, then hash; the id breaks ties
    start = np.concatenate([[0], np.cumsum(n_new)[:-1]])
    rank = np.empty(len(new), dtype=np.int64)
    rank[order] = np.arange(len(new)) - start[codes[order]]
    control = rank < take[codes]
    return pd.DataFrame(
        {
            "user_id": new["user_id"].to_numpy(),
            "segment": new["segment"].to_numpy(),
            "arm": np.where(control, "control", "treatment").astype(object),
        }
    )


def _summary(arms: pd.DataFrame, new: pd.DataFrame, holdout: float) -> pd.DataFrame:
    g = arms.assign(control=arms["arm"] == "control").groupby("segment", sort=True)
    out = pd.DataFrame({"n": g.size(), "n_control": g["control"].sum().astype(np.int64)})
    out["n_treatment"] = out["n"] - out["n_control"]
    out["control_share"] = out["n_control"] / out["n"]
    out["target_control"] = control_size(out["n"].to_numpy(), holdout)
    added = new.groupby("segment").size() if len(new) else pd.Series(dtype=np.int64)
    out["n_added"] = added.reindex(out.index).fillna(0).astype(np.int64)
    notes = []
    for n, c in zip(out["n"], out["n_control"], strict=True):
        if c == 0:
            notes.append(
                f"no control users: {n} users × {holdout:.0%} rounds to 0; "
                "no lift can be measured for this segment"
            )
        elif c == n:
            notes.append("no treatment users: the whole segment is held out")
        else:
            notes.append("")
    out["note"] = notes
    return out.reset_index()
