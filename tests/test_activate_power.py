"""Campaign planning: minimum detectable effects and the holdout a given effect needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from userseg.activate.power import holdout_for_effect, mde, plan
from userseg.errors import ConfigError, SchemaError

Z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)  # 2.8016


def test_mde_of_revenue_is_the_textbook_formula() -> None:
    got = mde(np.array([1000, 4000]), np.array([1000, 4000]), sd=10.0)
    assert got == pytest.approx(Z * 10 * np.sqrt([2 / 1000, 2 / 4000]))
    # CUPED's expected variance reduction shrinks it by sqrt(1 - r)
    cuped = mde(np.array([1000, 4000]), np.array([1000, 4000]), sd=10.0, variance_reduction=0.5)
    assert cuped == pytest.approx(got * np.sqrt(0.5))


def test_mde_of_a_rate_solves_fleiss_formula() -> None:
    # Fleiss' sample size for 10 % vs 15 %, 80 % power, alpha 0.05, no continuity
    # correction: n = (z_a sqrt(2 pbar qbar) + z_b sqrt(p1 q1 + p2 q2))^2 / delta^2 = 685.6
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    n = (za * np.sqrt(2 * 0.125 * 0.875) + zb * np.sqrt(0.1 * 0.9 + 0.15 * 0.85)) ** 2 / 0.05**2
    assert n == pytest.approx(685.6, abs=0.1)
    assert mde(686, 686, baseline_rate=0.1) < 0.05 < mde(685, 685, baseline_rate=0.1)


def test_a_campaign_at_the_mde_is_detected_80_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    nt, nc, p = 4000, 1000, 0.08
    effect = float(mde(nt, nc, baseline_rate=p))
    xt = rng.binomial(nt, p + effect, 20_000)
    xc = rng.binomial(nc, p, 20_000)
    pooled = (xt + xc) / (nt + nc)
    z = (xt / nt - xc / nc) / np.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
    assert (np.abs(z) > stats.norm.ppf(0.975)).mean() == pytest.approx(0.8, abs=0.02)


def test_holdout_for_an_effect_inverts_the_mde() -> None:
    n = np.array([40_000, 10_000])
    share = holdout_for_effect(n, 0.02, baseline_rate=0.1)
    assert (share > 0).all() and (share <= 0.5).all()
    again = mde(n * (1 - share), n * share, baseline_rate=0.1)
    assert again == pytest.approx([0.02, 0.02])
    assert share[0] < share[1]  # a larger segment needs a smaller share
    # a segment too small for the effect even at 50/50: NaN
    assert np.isnan(holdout_for_effect(500, 0.01, baseline_rate=0.1))


def test_plan_per_segment() -> None:
    segments = pd.DataFrame(
        {
            "segment": [0, 1, 2],
            "n": [40_000, 8_000, 300],
            "baseline_rate": [0.05, 0.12, 0.2],
            "revenue_sd": [30.0, 55.0, 80.0],
        }
    )
    out = plan(segments, 0.1, relative_effect=0.2)
    assert list(out["segment"]) == [0, 1, 2]
    assert list(out["n_control"]) == [4000, 800, 30]
    row = out.iloc[0]
    assert row["mde_abs"] == pytest.approx(float(mde(36_000, 4_000, baseline_rate=0.05)))
    assert row["mde_rel"] == pytest.approx(row["mde_abs"] / 0.05)
    assert row["revenue_mde"] == pytest.approx(float(mde(36_000, 4_000, sd=30.0)))
    assert row["effect_abs"] == pytest.approx(0.01)
    assert row["holdout_needed"] == pytest.approx(
        float(holdout_for_effect(40_000, 0.01, baseline_rate=0.05))
    )
    assert "cannot detect" in out.iloc[2]["note"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"baseline_rate": 1.2}, "baseline_rate"),
        ({"baseline_rate": 0.1, "alpha": 0}, "alpha"),
        ({"baseline_rate": 0.1, "power": 1.0}, "power"),
        ({}, "baseline_rate or sd"),
        ({"sd": -1.0}, "sd"),
        ({"baseline_rate": 0.1, "variance_reduction": 1.0}, "variance_reduction"),
    ],
)
def test_bad_parameters_are_named(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        mde(100, 100, **kwargs)


def test_plan_bad_input() -> None:
    seg = pd.DataFrame({"segment": [0], "n": [100], "baseline_rate": [0.1]})
    for bad in (0, 1.0):
        with pytest.raises(ConfigError, match="strictly between 0 % and 100 %"):
            plan(seg, bad)
    with pytest.raises(SchemaError, match="'baseline_rate'"):
        plan(seg.drop(columns="baseline_rate"), 0.1)
    with pytest.raises(ConfigError, match="either effect or relative_effect"):
        plan(seg, 0.1, effect=0.01, relative_effect=0.1)
    with pytest.raises(ConfigError, match="n"):
        mde(0, 10, baseline_rate=0.1)
