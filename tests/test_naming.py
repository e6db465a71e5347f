"""Profiles and generated names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from userseg.explain.naming import name_segments
from userseg.explain.profiles import Distinction, SegmentProfile, profile_segments


def _p(seg, dists, means=None):
    ds = [Distinction(f, z, "higher" if z > 0 else "lower", v, pv) for f, z, v, pv in dists]
    population = {f: pv for f, _, _, pv in dists}
    return SegmentProfile(seg, 10, 0.1, means or {}, {}, {}, ds, population=population)


@pytest.mark.parametrize(
    ("dists", "means", "name"),
    [
        ([("recency_days", -1.2, 3, 40), ("monetary", 1.5, 900, 200)], {}, "Recent high spenders"),
        (
            [("recency_days", 1.6, 200, 40), ("frequency", -0.3, 1.1, 3.1)],
            {"frequency": 1.1},
            "Lapsed one-time buyers",
        ),
        (
            [("view_to_purchase", -1.4, 0.01, 0.1), ("frequency", -1.3, 0.1, 3)],
            {"frequency": 0.1, "view_to_purchase": 0.01},
            "Window shoppers",
        ),
        ([("tenure_days", -1.9, 20, 200), ("recency_days", -1.0, 2, 60)], {}, "New users"),
        (
            [("return_rate", 2.5, 0.4, 0.1), ("avg_rating", -1.7, 2.4, 3.7)],
            {},
            "Unhappy serial returners",
        ),
        ([("share_toys", 1.2, 0.5, 0.1)], {}, "Toys lovers"),
        # the most distinctive category names them, not the first in the alphabet, and a
        # category they buy less of is no name (a trial: "Low share other jumbo bag lovers")
        (
            [("share_jumbo_bag", 0.6, 0.02, 0.01), ("share_lunch_bag", 2.5, 0.04, 0.0)],
            {},
            "Lunch bag lovers",
        ),
        ([("share_other", -1.5, 0.1, 0.5), ("share_toys", 0.9, 0.5, 0.1)], {}, "Toys lovers"),
        (
            [("return_rate", 1.9, 0.6, 0.1), ("frequency", -1.2, 0.2, 3.0)],
            {"frequency": 0.2},
            "Serial returners",
        ),
        ([("income", 1.1, 9, 5)], {}, "High income users"),
        ([("income", 0.2, 5.1, 5)], {}, "Typical users"),
    ],
)
def test_names(dists, means, name) -> None:
    assert name_segments([_p(0, dists, means)]) == [name]


def test_names_are_unique() -> None:
    a = _p(0, [("monetary", 1.5, 900, 200), ("frequency", 1.0, 9, 3)])
    b = _p(1, [("monetary", 1.2, 700, 200), ("return_rate", 0.0, 0, 0)])
    c = _p(2, [("monetary", 1.1, 600, 200)])
    names = name_segments([a, b, c])
    assert len(set(names)) == 3
    assert names[0] == "High spenders, frequent buyers"
    assert names[1:] == ["High spenders (1)", "High spenders (2)"]


def test_profile_segments_numbers_and_categories() -> None:
    raw = pd.DataFrame({"spend": [1.0, 2.0, 100.0, 120.0], "region": ["n", "n", "s", "s"]})
    z = pd.DataFrame({"spend": [-1.0, -0.9, 0.9, 1.0]})
    prof = profile_segments(
        raw, np.array([0, 0, 1, 1]), z, units={"spend": "money"}, categorical=["region"]
    )
    assert [p.size for p in prof] == [2, 2] and prof[0].share == 0.5
    assert prof[1].means["spend"] == 110.0
    assert prof[1].zscores["spend"] == pytest.approx(0.95)
    assert prof[1].categories["region"] == {"s": 1.0}
    texts = [d.text for d in prof[1].distinctions]
    assert "spend 2.0× the average (110.00 vs 55.75)" in texts
    assert any(t.startswith("region = s: 100% vs 50%") for t in texts)


def test_noise_is_in_the_population_but_not_a_segment() -> None:
    raw = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    prof = profile_segments(raw, np.array([0, 0, -1]), pd.DataFrame({"x": [-1.0, 0.0, 1.0]}))
    assert len(prof) == 1 and prof[0].share == pytest.approx(2 / 3)


def test_small_values_keep_enough_digits_to_differ() -> None:
    # found by a trial: "higher than average (1% vs 1%)", "0.00× the average (0.0 vs 0.2)"
    from userseg.explain.profiles import _describe

    assert _describe("share_toys", "share", 0.014, 0.006, 1.0).endswith("(1.4% vs 0.6%)")
    text = _describe("frequency", "count", 0.013, 0.5, -1.0)
    assert text == "frequency 0.026× the average (0.013 vs 0.5)"
    assert _describe("share_toys", "share", 0.4, 0.1, 1.0).endswith("(40% vs 10%)")
    assert _describe("monetary", "money", 900.0, 200.0, 1.0) == (
        "monetary 4.5× the average (900.00 vs 200.00)"
    )
