"""Recommendations on Online Retail: hit rate@10 of segment lists vs global popularity vs own
history, and association-rule pair counts in DuckDB SQL vs mlxtend's FP-growth.

Data: the UCI Online Retail subset in ``../shared/data/online_retail/by-day``
(Dec 2010 – Aug 2011). The event log is imported with its items (StockCode),
features are built as of 2011-06-01 and the users segmented (the default
``userseg fit``); recommendations learn from the purchases before 2011-06-01
(Dec 2010 – May 2011) and are checked on June – August 2011.

A test user is a customer of the run who bought in the test period. A hit:
at least one of the user's 10 recommended items bought in the test period.
Lists compared (each of 10 items):

* segment: the items most bought in the user's segment (``rank="support"``);
* segment by lift: the items most over-represented in it (``rank="lift"``);
* global popularity: the items most bought by all users;
* own history: the items the user bought most often (as many as they have);

the first three also "new items only" (without what the user bought before).

The rules part mines pairs in every basket of the largest segment both ways
and prints time, memory and the largest support difference.

    python benchmarks/bench_recommend.py [--data ../shared/data/online_retail/by-day] [--workdir D]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import measure, ratio_line

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "online_retail" / "by-day"
CUT, END = "2011-06-01", "2011-09-01"


def _hit_rate(lists: dict[str, list[str]], test: dict[str, set[str]]) -> float:
    hits = [bool(set(lists.get(u, ())) & items) for u, items in test.items()]
    return sum(hits) / len(hits)


def _fpgrowth(lines: pd.DataFrame, min_support: float) -> pd.DataFrame:
    from mlxtend.frequent_patterns import fpgrowth

    onehot = pd.crosstab(lines["basket"], lines["item"]).astype(bool)
    return fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--workdir", type=Path, help="keep the database here (reused when present)")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"no Online Retail data at {args.data}: nothing to measure")
        return 0
    warnings.filterwarnings("ignore")
    from userseg.config import EventMapping, FeatureConfig, Source
    from userseg.jobs import pipeline
    from userseg.recommend import Recommender, association_rules, purchase_lines
    from userseg.store import get_run

    mapping = EventMapping(
        user_id="CustomerID",
        time="InvoiceDate",
        quantity="Quantity",
        price="UnitPrice",
        order_id="InvoiceNo",
        item="StockCode",
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.workdir or Path(tmp)) / "retail.duckdb"
        fresh = not path.exists()
        db = pipeline.open_db(path)
        t0 = time.perf_counter()
        if fresh:
            src = Source(path=str(args.data / "*.csv"))
            pipeline.ingest(db, src, kind="events", mapping=mapping)
            pipeline.features(db, FeatureConfig(as_of=pd.Timestamp(CUT).date()))
            pipeline.fit(db)
        run = get_run(db)
        run_id = run.run_id
        print(
            f"run {run_id}: {run.n_segments} segments of {run.n_users:,} customers "
            f"(features as of {CUT}), {time.perf_counter() - t0:.1f}s"
        )
        top = args.top
        rec = {r: Recommender.from_run(db, run_id, rank=r) for r in ("support", "lift")}
        test_lines = purchase_lines(db, start=CUT, end=END)
        train = rec["support"].lines
        members = set(rec["support"].segments.index)
        learned = members & set(train["user_id"])
        test = {u: set(g["item"]) for u, g in test_lines.groupby("user_id") if u in learned}
        bought = train.drop_duplicates(["user_id", "item"]).groupby("user_id")["item"].apply(set)
        popular = rec["support"].popular(top=200)["item"].tolist()

        def segment_lists(r: Recommender, new_only: bool) -> dict[str, list[str]]:
            ranked = {s: g["item"].tolist() for s, g in r.items.groupby("segment")}
            out = {}
            for u in test:
                items = ranked.get(int(r.segments.loc[u]), [])
                if new_only:
                    items = [i for i in items if i not in bought.get(u, set())]
                out[u] = items[:top]
            return out

        def popular_list(new_only: bool) -> dict[str, list[str]]:
            return {
                u: [i for i in popular if not (new_only and i in bought.get(u, set()))][:top]
                for u in test
            }

        counts = (
            train.groupby(["user_id", "item"])["basket"]
            .nunique()
            .reset_index()
            .sort_values(["user_id", "basket", "item"], ascending=[True, False, True])
        )
        own = {u: g["item"].head(top).tolist() for u, g in counts.groupby("user_id")}
        print(
            f"hit rate@{top} on {len(test):,} customers buying in {CUT}..{END} "
            f"(learned from {len(train):,} purchase lines before {CUT}):"
        )
        rows = [
            ("segment (most bought in it)", segment_lists(rec["support"], False)),
            ("segment by lift", segment_lists(rec["lift"], False)),
            ("global popularity", popular_list(False)),
            ("own history", own),
            ("segment, new items only", segment_lists(rec["support"], True)),
            ("segment by lift, new items only", segment_lists(rec["lift"], True)),
            ("global popularity, new items only", popular_list(True)),
        ]
        rates = {name: _hit_rate(lists, test) for name, lists in rows}
        for name, rate in rates.items():
            print(f"  {name:36s} {rate:6.1%}")
        seg_r, pop_r = rates["segment (most bought in it)"], rates["global popularity"]
        print(
            f"  segment vs global popularity: {seg_r:.1%} vs {pop_r:.1%} "
            f"({(seg_r - pop_r) * 100:+.1f} points, ratio {seg_r / pop_r:.2f}x); "
            f"new items only: {rates['segment, new items only']:.1%} vs "
            f"{rates['global popularity, new items only']:.1%}"
        )

        # Pair counts: DuckDB SQL vs mlxtend FP-growth, on the largest segment's baskets.
        r = rec["support"]
        big = int(r.segments.value_counts().idxmax())
        lines = train[train["user_id"].isin(r.segments.index[r.segments.to_numpy() == big])]
        support = 0.01
        ours = measure(
            "sql",
            lambda: association_rules(
                lines, min_support=support, min_confidence=0.0, min_baskets=1
            ),
        )
        try:
            peer = measure("fpgrowth", lambda: _fpgrowth(lines, support))
        except ImportError:
            print("mlxtend is not installed (pip install -e '.[dev]'): userseg only")
            print(f"pair counts (DuckDB SQL) {ours.seconds:.3f}s")
            return 0
        pairs = peer.result[peer.result["itemsets"].map(len) == 2]
        theirs = {
            tuple(sorted(s)): v for s, v in zip(pairs["itemsets"], pairs["support"], strict=True)
        }
        mine = {
            (a, c): s
            for a, c, s in zip(
                ours.result["antecedent"],
                ours.result["consequent"],
                ours.result["support"],
                strict=True,
            )
            if a < c
        }
        diff = max((abs(theirs[k] - mine.get(k, 0.0)) for k in theirs), default=0.0)
        same = set(theirs) == set(mine)
        n_baskets = lines["basket"].nunique()
        print(
            ratio_line(
                f"item pairs, {n_baskets:,} baskets, support >= {support:g}",
                peer,
                ours,
                f"{len(mine):,} pairs; same pairs: {same}; supports differ by <= {diff:.1e}",
            )
        )
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
