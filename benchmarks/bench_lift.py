"""Campaign lift with CUPED at 10M users x 2 arms: userseg against plain pandas + SciPy.

One simulated campaign: 10M users in 8 segments, 10 % held out, a conversion
flag, revenue, and a pre-period revenue correlated with it (rho ~ 0.6).

* userseg ``activate.measure.lift(frame)``: per segment and overall, conversion
  (Newcombe interval, pooled z test) and revenue per user with CUPED (Welch),
  from per-(segment, arm) statistics accumulated in 1M-row chunks;
* the peer: the same numbers as one would write them with pandas and SciPy --
  group-by transforms for CUPED's theta and adjusted revenue, group-by
  aggregates, ``scipy.stats.ttest_ind_from_stats`` (Welch), Wilson intervals
  from ``scipy.stats.binomtest`` combined as Newcombe does, and
  ``scipy.stats.false_discovery_control`` for Benjamini-Hochberg.

Both run on the same DataFrame (segment int8, arm categorical, converted bool,
revenue and pre_revenue float64); the line prints time and memory beyond the
data for each and their ratio, then the largest difference between their
numbers (they must agree).

    python benchmarks/bench_lift.py [--quick] [--n 10000000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import exact_rss, measure, ratio_line

SEGMENTS = 8


def make_campaign(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, SEGMENTS, n).astype(np.int8)
    treated = rng.random(n) >= 0.1
    base = 0.02 + 0.01 * segment
    converted = rng.random(n) < base + 0.004 * treated
    pre = rng.gamma(2.0, 25.0, n)
    revenue = 5.0 + 0.6 * pre + rng.normal(0.0, 35.0, n) + 1.5 * treated
    arm = pd.Categorical.from_codes(treated.astype(np.int8), ["control", "treatment"])
    return pd.DataFrame(
        {
            "segment": segment,
            "arm": arm,
            "converted": converted,
            "revenue": revenue,
            "pre_revenue": pre,
        }
    )


def ours(df: pd.DataFrame) -> pd.DataFrame:
    from userseg.activate.measure import lift

    return lift(df, correction="bh").table


def _wilson(x: int, n: int) -> tuple[float, float]:
    from scipy import stats

    ci = stats.binomtest(int(x), int(n)).proportion_ci(0.95, method="wilson")
    return ci.low, ci.high


def peer(df: pd.DataFrame) -> pd.DataFrame:
    """The numbers as written with pandas and SciPy, row by row (no userseg code)."""
    from scipy import stats

    rows = []
    frames = [(s, g) for s, g in df.groupby("segment", observed=True)] + [("all", df)]
    for label, g in frames:
        treated = g["arm"] == "treatment"
        # CUPED: theta from the within-arm pooled covariance, revenue adjusted around mean pre
        arm_means = g.groupby(treated)[["revenue", "pre_revenue"]].transform("mean")
        yc = g["revenue"] - arm_means["revenue"]
        xc = g["pre_revenue"] - arm_means["pre_revenue"]
        theta = (yc * xc).sum() / (xc * xc).sum()
        adjusted = g["revenue"] - theta * (g["pre_revenue"] - g["pre_revenue"].mean())
        agg = (
            pd.DataFrame({"t": treated, "y": adjusted, "raw": g["revenue"], "c": g["converted"]})
            .groupby("t")
            .agg(
                n=("y", "size"), m=("y", "mean"), v=("y", "var"), rv=("raw", "var"), x=("c", "sum")
            )
        )
        t, c = agg.loc[True], agg.loc[False]
        welch = stats.ttest_ind_from_stats(
            t.m, np.sqrt(t.v), t.n, c.m, np.sqrt(c.v), c.n, equal_var=False
        )
        a, b = t.v / t.n, c.v / c.n
        dof = (a + b) ** 2 / (a * a / (t.n - 1) + b * b / (c.n - 1))
        half = stats.t.ppf(0.975, dof) * np.sqrt(a + b)
        plain = t.rv / t.n + c.rv / c.n
        pt, pc = t.x / t.n, c.x / c.n
        (l1, u1), (l2, u2) = _wilson(t.x, t.n), _wilson(c.x, c.n)
        pooled = (t.x + c.x) / (t.n + c.n)
        z = (pt - pc) / np.sqrt(pooled * (1 - pooled) * (1 / t.n + 1 / c.n))
        rows.append(
            {
                "segment": label,
                "metric": "conversion",
                "abs_lift": pt - pc,
                "abs_low": pt - pc - np.hypot(pt - l1, u2 - pc),
                "abs_high": pt - pc + np.hypot(u1 - pt, pc - l2),
                "p_value": 2 * stats.norm.sf(abs(z)),
            }
        )
        rows.append(
            {
                "segment": label,
                "metric": "revenue",
                "abs_lift": t.m - c.m,
                "abs_low": t.m - c.m - half,
                "abs_high": t.m - c.m + half,
                "p_value": welch.pvalue,
                "variance_reduction": 1 - (a + b) / plain,
            }
        )
    out = pd.DataFrame(rows)
    for metric in ("conversion", "revenue"):
        seg = (out["metric"] == metric) & (out["segment"].astype(str) != "all")
        out.loc[seg, "p_adjusted"] = stats.false_discovery_control(out.loc[seg, "p_value"])
    return out


def compare(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Largest relative difference over the shared numeric columns."""
    key = ["segment", "metric"]
    a = a.assign(segment=a["segment"].astype(str)).set_index(key)
    b = b.assign(segment=b["segment"].astype(str)).set_index(key).reindex(a.index)
    worst = 0.0
    for col in ("abs_lift", "abs_low", "abs_high", "p_value", "p_adjusted", "variance_reduction"):
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        assert (np.isfinite(x) == np.isfinite(y)).all(), col
        scale = np.maximum(np.abs(y[ok]), 1e-12)
        worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]) / scale)) if ok.any() else 0.0)
    return worst


def main(argv: list[str] | None = None) -> int:
    exact_rss()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1M users")
    ap.add_argument("--n", type=int, default=10_000_000)
    args = ap.parse_args(argv)
    n = 1_000_000 if args.quick else args.n

    ours(make_campaign(20_000, seed=1))  # import SciPy and pandas paths first
    peer(make_campaign(20_000, seed=1))
    df = make_campaign(n)
    data_mb = df.memory_usage(deep=True).sum() / 2**20
    print(f"{n:,} users, {SEGMENTS} segments, 10 % holdout; the data take {data_mb:,.0f} MB")
    p = measure("pandas+SciPy", lambda: peer(df))
    u = measure("userseg", lambda: ours(df))
    diff = compare(u.result, p.result)
    print(ratio_line(f"lift with CUPED, {n / 1e6:g}M users", p, u, f"max rel diff {diff:.1e}"))
    overall = u.result[(u.result["segment"].astype(str) == "all")]
    rev = overall[overall["metric"] == "revenue"].iloc[0]
    print(
        f"overall revenue lift {rev['abs_lift']:.3f} [{rev['abs_low']:.3f}, {rev['abs_high']:.3f}]"
        f", CUPED variance reduction {rev['variance_reduction']:.1%}"
    )
    return 0 if diff < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
