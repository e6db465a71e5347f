"""Items bought together within a segment: association rules A → B from pair counts (DuckDB SQL).

Over the segment's baskets (an order, or a user's day of purchases):

* ``support`` = baskets holding A and B / baskets;
* ``confidence`` = baskets holding A and B / baskets holding A (how often B
  comes with A);
* ``lift`` = confidence / share of baskets holding B (above 1: bought together
  more than by chance).

Only pairs are mined (one item recommends another): the pair counts are one
self-join in SQL, which ``benchmarks/bench_recommend.py`` measured against
mlxtend's FP-growth on the same baskets (same supports, SQL faster; see
``docs/recommend.md``).
"""

from __future__ import annotations

import math

import pandas as pd

from userseg.errors import ConfigError
from userseg.io.database import Database

__all__ = ["association_rules"]


def association_rules(
    lines: pd.DataFrame,
    *,
    min_support: float = 0.01,
    min_confidence: float = 0.2,
    min_baskets: int = 3,
) -> pd.DataFrame:
    """Rules A → B among the baskets of ``lines`` (one segment's purchase lines).

    Parameters
    ----------
    lines : DataFrame
        ``basket`` and ``item`` per purchase line.
    min_support : float, default=0.01
        Share of baskets holding both items.
    min_confidence : float, default=0.2
    min_baskets : int, default=3
        Baskets holding both, at least (a floor on small segments).

    Returns
    -------
    DataFrame with ``antecedent, consequent, baskets, support, confidence,
    lift``, by lift then confidence, highest first.
    """
    for name, v in (("min_support", min_support), ("min_confidence", min_confidence)):
        if not (isinstance(v, int | float) and 0 <= float(v) <= 1 and math.isfinite(v)):
            raise ConfigError(f"{name}={v!r} should be in [0, 1].")
    if not isinstance(min_baskets, int) or isinstance(min_baskets, bool) or min_baskets < 1:
        raise ConfigError(f"min_baskets={min_baskets!r} should be an integer >= 1.")
    db = Database(":memory:")
    try:
        db.con.register("__lines", lines[["basket", "item"]])
        n = int(db.scalar("SELECT count(DISTINCT basket) FROM __lines"))
        if n == 0:
            n = 1  # no baskets: the query below returns no rule
        floor = max(int(min_baskets), math.ceil(float(min_support) * n - 1e-9))
        return db.execute(f"""
            WITH b AS (SELECT DISTINCT basket, item FROM __lines),
            ic AS (SELECT item, count(*) AS c FROM b GROUP BY item HAVING count(*) >= {floor}),
            bf AS (SELECT b.basket, b.item FROM b JOIN ic USING (item)),
            pc AS (
                SELECT x.item AS a, y.item AS c_item, count(*) AS both_
                FROM bf x JOIN bf y ON x.basket = y.basket AND x.item <> y.item
                GROUP BY 1, 2 HAVING count(*) >= {floor}
            )
            SELECT pc.a AS antecedent, pc.c_item AS consequent,
                   CAST(pc.both_ AS BIGINT) AS baskets,
                   pc.both_ / {n} AS support,
                   pc.both_ / ia.c AS confidence,
                   (pc.both_ / ia.c) / (ib.c / {n}) AS lift
            FROM pc JOIN ic ia ON ia.item = pc.a JOIN ic ib ON ib.item = pc.c_item
            WHERE pc.both_ / ia.c >= {float(min_confidence)}
            ORDER BY lift DESC, confidence DESC, antecedent, consequent
        """).df()
    finally:
        db.close()
