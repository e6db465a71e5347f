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


def test_absolute_facts_only_when_most_of_the_segment_holds_them() -> None:
    # A trial named customers of 482 days' tenure "New one-time buyers", most of whom had
    # bought more than once: "new" and "one-time" were read off averages.
    rng = np.random.default_rng(0)
    seg = np.repeat([0, 1], [600, 900])

    def named(tenure: tuple, frequency: np.ndarray) -> tuple[list, list]:
        raw = pd.DataFrame(
            {
                "tenure_days": np.where(
                    seg == 0, rng.uniform(*tenure, len(seg)), rng.uniform(500, 545, len(seg))
                ),
                "frequency": np.where(seg == 0, frequency, rng.poisson(4, len(seg)) + 2),
            }
        ).astype(float)
        z = (raw - raw.mean()) / raw.std(ddof=0)
        units = {"tenure_days": "days", "frequency": "count"}
        profiles = profile_segments(raw, seg, z, units=units)
        return profiles, name_segments(profiles)

    some_once = rng.choice([0, 1, 2, 3], len(seg), p=[0.35, 0.3, 0.2, 0.15])
    profiles, names = named((450, 515), some_once)
    assert profiles[0].means["frequency"] < 1.6 and profiles[0].facts["frequency==1"] < 0.5
    assert profiles[0].facts["tenure_days<=90"] == 0.0
    assert names[0] == "Newer occasional buyers", names
    mostly_once = rng.choice([1, 2], len(seg), p=[0.8, 0.2])
    profiles, names = named((0, 80), mostly_once)
    assert profiles[0].facts["tenure_days<=90"] == 1.0 and profiles[0].facts["frequency==1"] > 0.5
    assert names[0] == "New one-time buyers", names


def test_names_and_texts_use_the_feature_words() -> None:
    raw = pd.DataFrame(
        {
            "mntwines": [10.0, 12.0, 900.0, 1000.0],
            "mntmeatproducts": [5.0, 8.0, 5.0, 8.0],
            "numwebpurchases": [1.0, 2.0, 9.0, 10.0],
            "year_birth": [1950.0, 1955.0, 1990.0, 1995.0],
        }
    )
    z = (raw - raw.mean()) / raw.std(ddof=0)
    words = {
        "mntwines": "wines spend",
        "mntmeatproducts": "meat products spend",
        "numwebpurchases": "web purchases",
        "year_birth": "birth year",
    }
    profiles = profile_segments(
        raw, np.array([0, 0, 1, 1]), z, units={"year_birth": "year"}, feature_labels=words
    )
    texts = [d.text for p in profiles for d in p.distinctions]
    assert any(t.startswith("wines spend") for t in texts)
    assert any("birth year" in t and "(1992 vs 1972)" in t for t in texts), texts
    names = name_segments(profiles, feature_labels=words)
    assert names[1] == "Younger wine lovers", names
    assert not any("mnt" in n or "num" in n for n in names)
