"""Recommendations per segment of a stored run, and per user through their segment.

>>> from userseg.recommend import Recommender                       # doctest: +SKIP
>>> rec = Recommender.from_run(db, run_id=3)                         # doctest: +SKIP
>>> rec.for_segment(2, top=10)          # items over-represented in segment 2   # doctest: +SKIP
>>> rec.for_user("17850", top=10)       # the user's segment's list, minus what they bought
>>> rec.rules(2)                        # items bought together in segment 2    # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from userseg.config import parse_date
from userseg.errors import ConfigError, NotFoundError
from userseg.io.database import Database
from userseg.recommend.baskets import purchase_lines
from userseg.recommend.items import check_settings, segment_items
from userseg.recommend.rules import association_rules
from userseg.store import get_run, load_assignments, load_profiles

__all__ = ["Recommender"]


def _check_top(top: Any) -> int:
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ConfigError(f"top={top!r} should be an integer >= 1.")
    return top


@dataclass
class Recommender:
    """A run's segments and the purchases they made, ready to recommend from.

    Build it with :meth:`from_run`. ``items`` holds every segment's ranked
    items (see :func:`~userseg.recommend.items.segment_items`).
    """

    run_id: int
    segments: pd.Series  # segment per user id (text)
    names: dict[int, str]
    lines: pd.DataFrame  # user_id, basket, item of the purchases learned from
    items: pd.DataFrame
    end: dt.date | None  # purchases before this date were used

    @classmethod
    def from_run(
        cls,
        db: Database,
        run_id: int | None = None,
        *,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        min_support: float = 0.01,
        min_users: int = 5,
        rank: str = "support",
        table: str = "events",
    ) -> Recommender:
        """Learn from the purchases of a run's users (the latest run by default).

        ``end`` (exclusive) defaults to the run's as-of date, so the lists are
        built from the data the run saw; ``start`` defaults to the beginning.
        """
        check_settings(min_support, min_users, rank)
        run = get_run(db, run_id)
        if end is None and run.config.get("as_of"):
            end = parse_date(run.config["as_of"], "the run's as_of")
        end_date = parse_date(end, "end") if end is not None else None
        assigned = load_assignments(db, run.run_id)
        segments = pd.Series(
            assigned["segment"].to_numpy(), index=assigned["user_id"].astype(str), name="segment"
        )
        lines = purchase_lines(db, start=start, end=end_date, table=table)
        items = segment_items(
            lines, segments, min_support=min_support, min_users=min_users, rank=rank
        )
        names = {p.segment: p.name for p in load_profiles(db, run.run_id)}
        return cls(run.run_id, segments, names, lines, items, end_date)

    def _segment(self, segment: int) -> int:
        if segment not in self.names:
            raise NotFoundError(
                f"run {self.run_id} has no segment {segment}; segments: {sorted(self.names)}.",
                details={"run_id": self.run_id, "segment": segment},
            )
        return int(segment)

    def for_segment(self, segment: int, top: int = 10) -> pd.DataFrame:
        """The segment's ``top`` items (rank, item, users, support, overall_support, lift)."""
        seg = self._segment(segment)
        part = self.items[self.items["segment"] == seg]
        return part.head(_check_top(top)).drop(columns="segment").reset_index(drop=True)

    def segment_of(self, user_id: str) -> int:
        try:
            return int(self.segments.loc[str(user_id)])
        except KeyError:
            raise NotFoundError(
                f"user {user_id!r} is not in run {self.run_id}.",
                details={"run_id": self.run_id, "user_id": str(user_id)},
            ) from None

    def for_user(
        self, user_id: str, top: int = 10, *, exclude_bought: bool = True
    ) -> dict[str, Any]:
        """The user's segment's list, without what they bought already (unless told)."""
        top = _check_top(top)
        seg = self.segment_of(user_id)
        part = self.items[self.items["segment"] == seg]
        if exclude_bought:
            bought = set(self.lines.loc[self.lines["user_id"] == str(user_id), "item"])
            part = part[~part["item"].isin(bought)]
        part = part.head(top)
        return {
            "user_id": str(user_id),
            "run_id": self.run_id,
            "segment": seg,
            "name": self.names.get(seg, ""),
            "exclude_bought": exclude_bought,
            "items": part.drop(columns="segment").to_dict("records"),
        }

    def rules(
        self,
        segment: int,
        *,
        min_support: float = 0.01,
        min_confidence: float = 0.2,
        min_baskets: int = 3,
        top: int = 20,
    ) -> pd.DataFrame:
        """Items bought together in the segment's baskets (association rules, by lift)."""
        seg = self._segment(segment)
        members = self.segments.index[self.segments.to_numpy() == seg]
        lines = self.lines[self.lines["user_id"].isin(members)]
        out = association_rules(
            lines,
            min_support=min_support,
            min_confidence=min_confidence,
            min_baskets=min_baskets,
        )
        return out.head(_check_top(top))

    def popular(self, top: int = 10) -> pd.DataFrame:
        """The most bought items over all users (the baseline a segment list must beat)."""
        counts = self.lines.drop_duplicates(["user_id", "item"])["item"].value_counts()
        return counts.head(_check_top(top)).rename_axis("item").reset_index(name="users")
