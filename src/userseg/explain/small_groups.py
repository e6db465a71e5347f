"""Small groups in what userseg shows: nothing describing fewer than k users.

A segment of 3 users, or "2 users of segment 4 in category tuba", says something
about identifiable people. Profiles shown by the report, the command line and the
API pass through here: a segment below ``k`` users keeps its id and name but its
size, share and every figure describing it become the marker (``"<10"``); in a
larger segment, a category cell holding fewer than k of its users is masked
alike. Each answer says how many values were hidden and why.

Limit: primary suppression only (see :mod:`userseg.privacy.suppress`): the total
of users is still published, so one hidden segment's size can be recovered by
subtraction; the figures describing it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from userseg.errors import ConfigError
from userseg.explain.profiles import SegmentProfile

__all__ = ["DEFAULT_MIN_GROUP", "SmallGroups", "check_min_group", "hide_small_groups"]

#: Groups of fewer users than this are not described (issue 13: k = 10 by default).
DEFAULT_MIN_GROUP = 10

#: What stands in a suppressed segment for the figures that describe its users.
_DESCRIBING = ("means", "zscores", "categories", "facts")


def check_min_group(k: int) -> int:
    """``k`` validated: an integer >= 1 (1 hides nothing)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(
            f"min_group={k!r} should be an integer >= 1 (groups of fewer users are hidden; "
            "1 hides nothing)."
        )
    return k


@dataclass
class SmallGroups:
    """Profiles as dicts with small groups masked, and what was hidden."""

    profiles: list[dict[str, Any]]
    k: int
    segments: list[int]  # segments hidden whole
    cells: int  # category cells hidden in larger segments

    @property
    def marker(self) -> str:
        return f"<{self.k}"

    def note(self) -> str:
        """One sentence for a report or an answer."""
        if not self.segments and not self.cells:
            return f"nothing describes fewer than {self.k} users; nothing hidden"
        parts = []
        if self.segments:
            ids = ", ".join(map(str, self.segments))
            parts.append(f"segment(s) {ids} have fewer than {self.k} users: not described")
        if self.cells:
            parts.append(f"{self.cells} category share(s) of fewer than {self.k} users hidden")
        return "; ".join(parts) + f" (shown as {self.marker!r}; --min-group sets k)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_group": self.k,
            "hidden_segments": self.segments,
            "hidden_cells": self.cells,
            "note": self.note(),
        }


def hide_small_groups(profiles: list[SegmentProfile], k: int = DEFAULT_MIN_GROUP) -> SmallGroups:
    """Each profile's ``to_dict()``, with every value describing fewer than ``k`` users masked.

    The input is never changed.
    """
    k = check_min_group(k)
    marker = f"<{k}"
    out, hidden, cells = [], [], 0
    for p in profiles:
        d = p.to_dict()
        if k > 1 and p.size < k:
            hidden.append(p.segment)
            d.update(size=marker, share=marker, suppressed=True)
            if p.name_source == "generated":  # a generated name describes the users
                d["name"] = f"segment {p.segment}"
            for key in _DESCRIBING:
                d[key] = {}
            d.update(distinctions=[], top_features=[], rule=None, outcome=None)
        else:
            d["suppressed"] = False
            for col, shares in (d.get("categories") or {}).items():
                masked = {}
                for level, share in shares.items():
                    n = round(float(share) * p.size) if share is not None else 0
                    small = k > 1 and 0 < n < k
                    masked[level] = marker if small else share
                    cells += small
                d["categories"][col] = masked
        out.append(d)
    return SmallGroups(out, k, hidden, cells)
