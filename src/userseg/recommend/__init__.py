"""Recommendations per segment: over-represented items, items bought together, per user.

* :func:`purchase_lines`: the purchases with an item, from the event log
  (``userseg ingest --item``);
* :func:`segment_items`: items over-represented in each segment (support,
  lift over all users, minimum support), ranked;
* :func:`association_rules`: items bought together (support, confidence, lift);
* :class:`Recommender`: all of it for a stored run, per segment and per user.

See ``docs/recommend.md``.
"""

from __future__ import annotations

from userseg.recommend.baskets import purchase_lines
from userseg.recommend.items import RANKS, segment_items
from userseg.recommend.recommender import Recommender
from userseg.recommend.rules import association_rules

__all__ = ["RANKS", "Recommender", "association_rules", "purchase_lines", "segment_items"]
