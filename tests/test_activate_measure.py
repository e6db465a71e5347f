"""Lift: intervals checked against published values and SciPy, and by simulated campaigns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from userseg.activate.measure import (
    adjust_pvalues,
    arm_stats,
    compare_arms,
    lift,
    newcombe_interval,
    pool_strata,
    wilson_interval,
)
from userseg.errors import ConfigError, DataError, SchemaError


# --- the interval formulas against published and reference values -------------------------------
def test_wilson_interval_matches_the_textbook() -> None:
    # Newcombe (1998a), Statistics in Medicine 17:857, table I: 81/263 -> 0.2553 to 0.3662
    lo, hi = wilson_interval(np.array([81]), np.array([263]))
    assert (round(lo[0], 4), round(hi[0], 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        # Newcombe (1998b), Statistics in Medicine 17:873, table II, method 10 (hybrid score)
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (10, 10, 0, 10, 0.6075, 1.0000),
    ],
)
def test_newcombe_hybrid_score_interval_matches_the_paper(x1, n1, x2, n2, low, high) -> None:
    lo, hi = newcombe_interval(np.array([x1]), np.array([n1]), np.array([x2]), np.array([n2]))
    assert (round(lo[0], 4), round(hi[0], 4)) == (low, high)


def _two_arm_frame(n: int = 3000, seed: int = 0, segments: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pre = rng.gamma(2.0, 30.0, n)
    treated = rng.random(n) < 0.7
    return pd.DataFrame(
        {
            "segment": rng.integers(0, segments, n),
            "arm": np.where(treated, "treatment", "control"),
            "converted": rng.random(n) < 0.1 + 0.03 * treated,
            "revenue": 10 + 0.8 * pre + rng.normal(0, 30, n) + 4 * treated,
            "pre_revenue": pre,
        }
    )


def test_welch_matches_scipy() -> None:
    df = _two_arm_frame()
    res = lift(df, pre=None)
    row = res.row("all", "revenue")
    t = df.loc[df["arm"] == "treatment", "revenue"]
    c = df.loc[df["arm"] == "control", "revenue"]
    ref = stats.ttest_ind(t, c, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert (row["abs_low"], row["abs_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert row["abs_lift"] == pytest.approx(t.mean() - c.mean(), rel=1e-12)
    assert row["treatment"] == pytest.approx(t.mean()) and row["control"] == pytest.approx(c.mean())


def test_cuped_equals_welch_on_the_adjusted_values() -> None:
    df = _two_arm_frame()
    res = lift(df)
    row = res.row("all", "revenue")
    # CUPED by hand: theta from the within-arm pooled covariance, y - theta (x - mean x)
    g = df.groupby("arm")
    sxy = sum(
        ((x.pre_revenue - x.pre_revenue.mean()) * (x.revenue - x.revenue.mean())).sum()
        for _, x in g
    )
    sxx = sum(((x.pre_revenue - x.pre_revenue.mean()) ** 2).sum() for _, x in g)
    theta = sxy / sxx
    adj = df.revenue - theta * (df.pre_revenue - df.pre_revenue.mean())
    t, c = adj[df.arm == "treatment"], adj[df.arm == "control"]
    ref = stats.ttest_ind(t, c, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert row["abs_lift"] == pytest.approx(t.mean() - c.mean(), rel=1e-9)
    assert (row["abs_low"], row["abs_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
    plain = lift(df, pre=None).row("all", "revenue")
    se_ratio2 = ((row["abs_high"] - row["abs_low"]) / (plain["abs_high"] - plain["abs_low"])) ** 2
    assert row["variance_reduction"] == pytest.approx(1 - se_ratio2, abs=2e-3)
    assert row["variance_reduction"] > 0.5
    assert "CUPED" in res.summary_lines()[0] and "%" in res.summary_lines()[0]


def test_conversion_row_uses_newcombe_and_the_pooled_z_test() -> None:
    df = _two_arm_frame()
    row = lift(df).row("all", "conversion")
    t = df.loc[df.arm == "treatment", "converted"]
    c = df.loc[df.arm == "control", "converted"]
    lo, hi = newcombe_interval(
        np.array([t.sum()]), np.array([len(t)]), np.array([c.sum()]), np.array([len(c)])
    )
    assert (row["abs_low"], row["abs_high"]) == pytest.approx((lo[0], hi[0]))
    pooled = (t.sum() + c.sum()) / len(df)
    z = (t.mean() - c.mean()) / np.sqrt(pooled * (1 - pooled) * (1 / len(t) + 1 / len(c)))
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert row["rel_lift"] == pytest.approx(t.mean() / c.mean() - 1)


def test_holm_and_benjamini_hochberg() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    assert adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_pvalues(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_pvalues(p, "none") == pytest.approx(p)
    # NaN (a segment with too few users) is outside the family; rows are separate families
    two = np.array([[0.01, np.nan, 0.04], [0.5, 0.01, 0.02]])
    out = adjust_pvalues(two, "holm")
    assert out[0] == pytest.approx([0.02, np.nan, 0.04], nan_ok=True)
    assert out[1] == pytest.approx([0.5, 0.03, 0.04])
    with pytest.raises(ConfigError, match=r"correction='bonferonni'.*holm, bh, none"):
        adjust_pvalues(p, "bonferonni")


def test_segments_table_with_correction_and_too_few_users() -> None:
    df = _two_arm_frame(segments=3)
    small = pd.DataFrame(
        {
            "segment": [9] * 40,
            "arm": ["treatment"] * 35 + ["control"] * 5,
            "converted": [True, False] * 20,
            "revenue": np.linspace(0, 10, 40),
            "pre_revenue": np.linspace(0, 5, 40),
        }
    )
    res = lift(pd.concat([df, small], ignore_index=True))
    t = res.table
    assert list(t["segment"].unique()) == [0, 1, 2, 9, "all"]
    assert set(t["metric"]) == {"conversion", "revenue"}
    tiny = t[t.segment == 9]
    assert tiny["abs_lift"].isna().all() and tiny["p_adjusted"].isna().all()
    assert (tiny["status"] == "too few users").all()
    assert tiny["note"].str.contains("5 users in control; at least 30 per arm").all()
    ok = t[(t.segment != 9) & (t.segment != "all")]
    assert (ok["status"] == "ok").all()
    for metric in ("conversion", "revenue"):
        rows = ok[ok.metric == metric]
        expected = adjust_pvalues(rows["p_value"].to_numpy(), "holm")
        assert rows["p_adjusted"].to_numpy() == pytest.approx(expected)
    overall = t[t.segment == "all"]
    assert overall["p_adjusted"].isna().all()  # the overall row is not part of the family
    assert res.correction == "holm" and res.alpha == 0.05
    assert res.to_dict()["rows"][0]["segment"] == 0


def test_bad_input_is_named() -> None:
    df = _two_arm_frame()
    with pytest.raises(SchemaError, match=r"'revenue'.*available"):
        lift(df.drop(columns="revenue"))
    with pytest.raises(DataError, match=r"arm holds 'ctrl'.*'treatment' and 'control'"):
        lift(df.assign(arm=df.arm.replace("control", "ctrl")))
    bad = df.copy()
    bad.loc[[3, 7], "revenue"] = np.nan
    with pytest.raises(DataError, match=r"revenue: 2 missing or infinite value"):
        lift(bad)
    with pytest.raises(DataError, match="converted"):
        lift(df.assign(converted=2))
    with pytest.raises(DataError, match="no control"):
        lift(df.assign(arm="treatment"))
    with pytest.raises(ConfigError, match="alpha"):
        lift(df, alpha=1.5)


# --- simulation with known truth ------------------------------------------------------------------
SIZES = np.array([8000, 6000, 4000, 2000])
BASE_RATE = np.array([0.05, 0.08, 0.10, 0.03])
PLANTED = 2  # the one segment with an effect
RATE_LIFT, REV_LIFT = 0.05, 8.0
RHO = np.sqrt(0.5)  # pre/post correlation of revenue, by construction below


def _simulate(n_campaigns: int, seed: int, holdout: float = 0.2):
    """n_campaigns independent campaigns as one long set of arrays (vectorised)."""
    rng = np.random.default_rng(seed)
    per = int(SIZES.sum())
    seg = np.repeat(np.arange(4), SIZES)
    segment = np.tile(seg, n_campaigns)
    campaign = np.repeat(np.arange(n_campaigns), per)
    # exact holdout within each campaign and segment: a random permutation per block
    keys = rng.random(per * n_campaigns) + 2.0 * (campaign * 4 + segment)
    order = np.argsort(keys, kind="stable")
    block_start = np.repeat(np.concatenate([[0], np.cumsum(SIZES)[:-1]]), SIZES)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    rank = rank - (campaign * per + np.tile(block_start, n_campaigns))
    n_control = np.floor(holdout * SIZES + 0.5).astype(int)
    treated = rank >= n_control[segment]
    effect = (segment == PLANTED) & treated
    converted = rng.random(len(segment)) < BASE_RATE[segment] + RATE_LIFT * effect
    pre = rng.gamma(2.0, 50.0, len(segment))  # var 5000
    noise = rng.normal(0.0, np.sqrt(1800.0), len(segment))  # 0.6² var(pre) = 1800 -> rho² = ½
    revenue = 20.0 + 0.6 * pre + noise + REV_LIFT * effect
    strata = campaign * 4 + segment
    return strata, treated, converted, revenue, pre


def _simulated_results(n_campaigns: int, seed: int):
    strata, treated, converted, revenue, pre = _simulate(n_campaigns, seed)
    s = arm_stats(strata, treated, converted, revenue, pre, n_strata=4 * n_campaigns)
    res = compare_arms(s)
    return {k: v.reshape(n_campaigns, 4) for k, v in res.items()}


def _covers(r, metric: str, kind: str, truth: np.ndarray) -> np.ndarray:
    return (r[f"{metric}_{kind}_low"] <= truth) & (truth <= r[f"{metric}_{kind}_high"])


def test_simulated_campaigns_intervals_cover_the_truth() -> None:
    """100 campaigns: the reported intervals cover the planted lift in >= 93 of them.

    Each count is binomial: with a true coverage of 95 % it falls below 93 in about 12 % of
    seeds, so the seed is fixed (the first one tried) and the calibration over 200 campaigns
    below is the sharper check.
    """
    r = _simulated_results(100, seed=0)
    planted = {
        ("conversion", "abs"): RATE_LIFT,
        ("conversion", "rel"): RATE_LIFT / BASE_RATE[PLANTED],
        ("revenue", "abs"): REV_LIFT,
        ("revenue", "rel"): REV_LIFT / 80.0,  # E[revenue] in control = 20 + 0.6 x 100
    }
    null = np.arange(4) != PLANTED
    for (metric, kind), truth in planted.items():
        covered = _covers(r, metric, kind, truth)
        assert covered[:, PLANTED].sum() >= 93, (metric, kind, covered[:, PLANTED].sum())
        # zero-effect segments: the interval covers 0 (300 intervals)
        assert _covers(r, metric, kind, 0.0)[:, null].mean() >= 0.93, (metric, kind)


def test_simulated_campaigns_zero_effect_segments_rarely_significant() -> None:
    r = _simulated_results(100, seed=7)
    for metric in ("conversion", "revenue"):
        adjusted = adjust_pvalues(r[f"{metric}_p"], "holm")
        null = np.arange(4) != PLANTED
        false_pos = adjusted[:, null] < 0.05
        assert false_pos.mean() <= 0.05, (metric, false_pos.sum())
        assert false_pos.any(axis=1).sum() <= 8  # family-wise, 5 % expected at most
        # and the planted effect is found (these sizes give it high power)
        assert (adjusted[:, PLANTED] < 0.05).mean() >= 0.8


def test_cuped_narrows_the_interval_as_the_correlation_predicts() -> None:
    r = _simulated_results(100, seed=11)
    width = r["revenue_abs_high"] - r["revenue_abs_low"]
    plain = r["revenue_plain_high"] - r["revenue_plain_low"]
    ratio = (width / plain).mean(axis=0)
    predicted = np.sqrt(1 - RHO**2)
    assert np.abs(ratio / predicted - 1).max() <= 0.10, (ratio, predicted)
    # and what it reports as achieved agrees with what the widths show
    assert r["revenue_variance_reduction"].mean(axis=0) == pytest.approx(1 - ratio**2, abs=0.02)
    assert r["revenue_rho"].mean(axis=0) == pytest.approx(RHO, abs=0.02)


def test_many_simulated_campaigns_coverage_is_close_to_95_percent() -> None:
    # 200 campaigns x 4 segments: 800 intervals per kind, standard error of coverage ~0.8 %
    r = _simulated_results(200, seed=99)
    seg = np.arange(4)
    truths = {
        ("conversion", "abs"): np.where(seg == PLANTED, RATE_LIFT, 0.0),
        ("conversion", "rel"): np.where(seg == PLANTED, RATE_LIFT / BASE_RATE, 0.0),
        ("revenue", "abs"): np.where(seg == PLANTED, REV_LIFT, 0.0),
        ("revenue", "rel"): np.where(seg == PLANTED, REV_LIFT / 80.0, 0.0),
        ("revenue", "plain"): np.where(seg == PLANTED, REV_LIFT, 0.0),
    }
    for (metric, kind), truth in truths.items():
        coverage = _covers(r, metric, kind, truth).mean()
        assert 0.93 <= coverage <= 0.97, (metric, kind, coverage)


def test_frame_api_agrees_with_the_array_api() -> None:
    strata, treated, converted, revenue, pre = _simulate(1, seed=5)
    df = pd.DataFrame(
        {
            "segment": strata,
            "arm": np.where(treated, "treatment", "control"),
            "converted": converted,
            "revenue": revenue,
            "pre_revenue": pre,
        }
    )
    table = lift(df).table.set_index(["segment", "metric"])
    r = compare_arms(arm_stats(strata, treated, converted, revenue, pre, n_strata=4))
    for s in range(4):
        assert table.loc[(s, "revenue"), "abs_low"] == pytest.approx(r["revenue_abs_low"][s])
        assert table.loc[(s, "conversion"), "rel_high"] == pytest.approx(
            r["conversion_rel_high"][s]
        )


def test_chunked_statistics_equal_one_pass() -> None:
    strata, treated, converted, revenue, pre = _simulate(3, seed=1)
    a = arm_stats(strata, treated, converted, revenue, pre, n_strata=12)
    b = arm_stats(strata, treated, converted, revenue, pre, n_strata=12, chunk=997)
    for name in ("n", "conversions", "mean_y", "m2_y", "mean_x", "m2_x", "cxy"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-9), name


def test_relative_revenue_interval_agrees_with_the_difference() -> None:
    """Fieller's interval excludes 0 exactly when the Welch interval of the difference does.

    On Online Retail's heavy-tailed revenue (one wholesaler in a control group) a
    delta-method interval excluded 0 in an A/A test where the difference did not.
    """
    rng = np.random.default_rng(4)
    n_strata = 400
    per = 300
    strata = np.repeat(np.arange(n_strata), per)
    treated = rng.random(len(strata)) < 0.8
    revenue = rng.lognormal(3.0, 1.6, len(strata))  # heavy tail, zero true effect
    revenue[rng.random(len(strata)) < 0.002] *= 40  # and the odd wholesaler
    r = compare_arms(arm_stats(strata, treated, revenue > 50, revenue, n_strata=n_strata))
    abs_excludes = (r["revenue_abs_low"] > 0) | (r["revenue_abs_high"] < 0)
    rel_excludes = (r["revenue_rel_low"] > 0) | (r["revenue_rel_high"] < 0)
    assert (abs_excludes == rel_excludes).all()
    bounded = np.isfinite(r["revenue_rel_low"])
    assert bounded.mean() > 0.9  # unbounded only when the control mean is unclear
    assert (r["revenue_rel_low"][bounded] <= r["revenue_rel"][bounded]).all()
    assert (r["revenue_rel"][bounded] <= r["revenue_rel_high"][bounded]).all()


@pytest.mark.parametrize(
    "labels",
    [
        np.array([-100, 100, 5], dtype=np.int8),  # a range wider than int8 itself
        np.array([70_000, 3, 12], dtype=np.int64),  # too wide for a lookup table
        np.array(["north", "east", "south"], dtype=object),
    ],
)
def test_segment_labels_of_any_kind(labels) -> None:
    df = _two_arm_frame(segments=3)
    df["segment"] = labels[df["segment"].to_numpy()]
    table = lift(df).table
    assert list(table["segment"].unique()) == [*sorted(labels.tolist()), "all"]
    by_hand = df.groupby("segment")["revenue"].mean()
    rev = table[table.metric == "revenue"].set_index("segment")
    for label in labels:
        n = rev.loc[label, "n_treatment"] + rev.loc[label, "n_control"]
        assert n == (df["segment"] == label).sum()
    assert len(by_hand) == 3


def test_pooled_strata_equal_one_pass_over_everyone() -> None:
    strata, treated, converted, revenue, pre = _simulate(2, seed=3)
    pooled = pool_strata(arm_stats(strata, treated, converted, revenue, pre, n_strata=8))
    once = arm_stats(np.zeros(len(strata), dtype=int), treated, converted, revenue, pre)
    for name in ("n", "conversions", "mean_y", "m2_y", "mean_x", "m2_x", "cxy"):
        assert getattr(pooled, name) == pytest.approx(getattr(once, name), rel=1e-9), name
