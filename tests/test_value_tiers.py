"""Value tiers: high value, potential high value, at risk, low value — stated, adjustable rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from userseg.errors import ConfigError, SchemaError
from userseg.value import TIERS, value_tiers


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "spend_total": [1000.0, 900.0, 10.0, 5.0, 150.0],
            "p_alive": [0.9, 0.2, 0.95, 0.9, 0.5],
            "value": [500.0, 50.0, 800.0, 5.0, 99.0],
        },
        index=pd.Index(["A", "B", "C", "D", "E"], name="user_id"),
    )


def test_each_rule_with_absolute_thresholds() -> None:
    t = value_tiers(_frame(), past_value_min=100, predicted_value_min=100, p_alive_threshold=0.5)
    assert t.labels.to_dict() == {
        "A": "high value",  # spent much, still alive
        "B": "at risk",  # spent much, P(alive) below 0.5
        "C": "potential high value",  # little so far, much expected
        "D": "low value",
        "E": "high value",  # P(alive) exactly at the threshold is not at risk
    }
    assert list(t.labels.cat.categories) == list(TIERS)
    assert t.thresholds == {
        "past_value_min": 100.0,
        "predicted_value_min": 100.0,
        "p_alive_threshold": 0.5,
        "high_quantile": None,
    }
    s = t.summary()
    assert list(s.index) == list(TIERS)
    assert s.loc["high value", "users"] == 2 and s["share"].sum() == pytest.approx(1.0)
    assert s.loc["at risk", "churn_risk"] == pytest.approx(0.8)
    assert s.loc["low value", "value_total"] == 5.0


def test_default_thresholds_are_the_top_fifth() -> None:
    rng = np.random.default_rng(0)
    f = pd.DataFrame(
        {
            "spend_total": rng.gamma(2, 50, 1000),
            "p_alive": rng.uniform(0, 1, 1000),
            "value": rng.gamma(2, 40, 1000),
        }
    )
    t = value_tiers(f)
    assert t.thresholds["high_quantile"] == 0.8
    assert t.thresholds["past_value_min"] == pytest.approx(np.quantile(f["spend_total"], 0.8))
    assert t.thresholds["predicted_value_min"] == pytest.approx(np.quantile(f["value"], 0.8))
    past_high = f["spend_total"] >= t.thresholds["past_value_min"]
    assert ((t.labels == "at risk") | (t.labels == "high value")).sum() == past_high.sum()
    # a stricter quantile gives fewer high-value users, and the caller's frame is untouched
    before = f.copy()
    stricter = value_tiers(f, high_quantile=0.95)
    assert (stricter.labels == "high value").sum() < (t.labels == "high value").sum()
    pd.testing.assert_frame_equal(f, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"high_quantile": 1.0}, "high_quantile=1.0 should be in"),
        ({"high_quantile": 0}, "high_quantile=0 should be in"),
        ({"p_alive_threshold": 1.5}, "p_alive_threshold=1.5 should be in"),
        ({"past_value_min": float("nan")}, "past_value_min"),
    ],
)
def test_bad_thresholds(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        value_tiers(_frame(), **kwargs)


def test_missing_columns() -> None:
    with pytest.raises(SchemaError, match="p_alive"):
        value_tiers(_frame().drop(columns="p_alive"))
