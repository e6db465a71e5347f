"""Items over-represented in each segment: support in the segment, lift over all users.

For a segment S and an item i, over the *buyers* (users with a purchase line):

* ``users``: buyers of S who bought i;
* ``support`` = users / buyers of S (the share of the segment that bought it);
* ``overall_support``: the same share over all buyers;
* ``lift`` = support / overall_support (2: twice as common in S as overall).

An item needs ``support >= min_support`` and ``users >= min_users`` to be
listed: a lift computed on two buyers is noise. Each segment's list is
ranked by ``rank``: ``"support"`` (what the segment buys most, the default:
it predicts the next purchases best, see ``docs/recommend.md``) or
``"lift"`` (what sets the segment apart).
"""

from __future__ import annotations

import pandas as pd

from userseg.errors import ConfigError
from userseg.io.database import Database

__all__ = ["RANKS", "segment_items"]

RANKS = ("support", "lift")


def check_settings(min_support: float, min_users: int, rank: str) -> None:
    """Validate the settings of :func:`segment_items` (public callers validate first)."""
    if not (isinstance(min_support, int | float) and 0 <= float(min_support) < 1):
        raise ConfigError(f"min_support={min_support!r} should be in [0, 1).")
    if not isinstance(min_users, int) or isinstance(min_users, bool) or min_users < 1:
        raise ConfigError(f"min_users={min_users!r} should be an integer >= 1.")
    if rank not in RANKS:
        raise ConfigError(f"rank={rank!r} should be one of {', '.join(RANKS)}.")


def segment_items(
    lines: pd.DataFrame,
    segments: pd.Series,
    *,
    min_support: float = 0.01,
    min_users: int = 5,
    rank: str = "support",
) -> pd.DataFrame:
    """Every segment's items with their support and lift, ranked (see the module docstring).

    Parameters
    ----------
    lines : DataFrame
        ``user_id``, ``item`` (and anything else) per purchase line
        (:func:`~userseg.recommend.baskets.purchase_lines`).
    segments : Series
        Segment per user id (index: user id, as text).
    min_support, min_users, rank
        See the module docstring.

    Returns
    -------
    DataFrame with ``segment, rank, item, users, buyers, support,
    overall_support, lift``, sorted by segment and rank (1 = first).
    """
    check_settings(min_support, min_users, rank)
    seg = pd.DataFrame(
        {"user_id": segments.index.astype(str), "segment": segments.to_numpy().astype("int64")}
    )
    order = "support DESC, lift DESC" if rank == "support" else "lift DESC, support DESC"
    db = Database(":memory:")
    try:
        db.con.register("__lines", lines[["user_id", "item"]])
        db.con.register("__seg", seg)
        return db.execute(f"""
            WITH ui AS (
                SELECT DISTINCT l.user_id, l.item, s.segment
                FROM __lines l JOIN __seg s USING (user_id)
            ), buyers AS (
                SELECT segment, count(DISTINCT user_id) AS buyers FROM ui GROUP BY segment
            ), everyone AS (SELECT count(DISTINCT user_id) AS n FROM ui),
            overall AS (
                SELECT item, count(*) / (SELECT n FROM everyone) AS overall_support
                FROM ui GROUP BY item
            ), per AS (
                SELECT segment, item, count(*) AS users FROM ui GROUP BY segment, item
            ), scored AS (
                SELECT p.segment, p.item, p.users, b.buyers,
                       p.users / b.buyers AS support, o.overall_support,
                       (p.users / b.buyers) / o.overall_support AS lift
                FROM per p JOIN buyers b USING (segment) JOIN overall o USING (item)
                WHERE p.users >= {int(min_users)} AND p.users / b.buyers >= {float(min_support)}
            )
            SELECT segment,
                   CAST(row_number() OVER (PARTITION BY segment ORDER BY {order}, item)
                        AS INTEGER) AS rank,
                   item, CAST(users AS BIGINT) AS users, CAST(buyers AS BIGINT) AS buyers,
                   support, overall_support, lift
            FROM scored ORDER BY segment, rank
        """).df()
    finally:
        db.close()
