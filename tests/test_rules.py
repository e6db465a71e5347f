"""Segment rules: a known rule is found, reads well, and its SQL selects the same users."""

from __future__ import annotations

import doctest
import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from userseg.errors import ConfigError, DataError
from userseg.explain import rules as rules_module
from userseg.explain.rules import Condition, segment_rules


def _shop(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Users in 3 segments defined by known rules, with missing values and awkward names."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "recency_days": rng.integers(0, 365, n),
            "monetary": np.round(rng.lognormal(5.5, 1.0, n), 2),
            "frequency": rng.poisson(3, n),
            "region": rng.choice(["north", "south", "o'brien"], n),
            'odd "name"': rng.normal(size=n),
            "is_member": rng.uniform(size=n) < 0.3,
        }
    )
    df.loc[rng.choice(n, 150, replace=False), "region"] = None
    df.loc[rng.choice(n, 100, replace=False), "monetary"] = np.nan
    recent_big = (df["recency_days"] < 30) & (df["monetary"] > 500)
    northern_regulars = ~recent_big & (df["region"] == "north") & (df["frequency"] >= 4)
    labels = np.select([recent_big, northern_regulars], [1, 2], 0)
    return df, labels


@pytest.fixture(scope="module")
def shop() -> tuple[pd.DataFrame, np.ndarray]:
    return _shop()


@pytest.fixture(scope="module")
def ruleset(shop):
    df, labels = shop
    return segment_rules(df, labels, random_state=0)


def test_the_examples_run() -> None:
    assert doctest.testmod(rules_module).failed == 0


def test_a_known_rule_is_recovered(shop, ruleset) -> None:
    df, labels = shop
    seg = ruleset[1]
    assert seg.precision >= 0.95 and seg.recall >= 0.95
    assert seg.text == "recency_days < 30 AND monetary >= 500"
    assert seg.where == '"recency_days" < 30 AND "monetary" >= 500'
    north = ruleset[2]
    assert north.precision >= 0.95 and north.recall >= 0.95
    assert "region = 'north'" in north.text and "frequency >= 4" in north.text
    assert seg.size == int((labels == 1).sum()) and seg.n_selected == int(seg.matches(df).sum())


def test_sql_selects_the_same_users_as_python(shop, ruleset) -> None:
    df, _ = shop
    con = duckdb.connect()
    con.register("features", df.assign(user_id=np.arange(len(df))))
    for seg in ruleset:
        sql = seg.select_sql("features", "user_id")
        got = {row[0] for row in con.execute(sql).fetchall()}
        assert got == set(np.flatnonzero(seg.matches(df))), seg.where
    # and the same users as the rule that defined the segment
    defined = (df["recency_days"] < 30) & (df["monetary"] > 500)
    sql = ruleset[1].select_sql("features", "user_id")
    assert {row[0] for row in con.execute(sql).fetchall()} == set(np.flatnonzero(defined))


def test_quotes_missing_values_and_booleans_in_sql() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    df = pd.DataFrame(
        {
            'odd "name"': rng.normal(size=n),
            "region": rng.choice(["north", "o'brien"], n).astype(object),
            "is_member": rng.uniform(size=n) < 0.5,
            "score": rng.uniform(0, 10, n),
        }
    )
    df.loc[:299, "region"] = None
    df.loc[300:599, "score"] = np.nan
    labels = (
        (df["region"] == "o'brien")
        & df["is_member"]
        & ~(df["score"] < 5)  # missing scores count as "not low"
    ).to_numpy(dtype=int)
    result = segment_rules(df, labels)
    con = duckdb.connect()
    con.register("t", df.assign(uid=np.arange(n)))
    for seg in result:
        got = {r[0] for r in con.execute(seg.select_sql("t", "uid")).fetchall()}
        assert got == set(np.flatnonzero(seg.matches(df))), seg.where
    seg = result[1]
    assert seg.precision >= 0.95 and seg.recall >= 0.95
    assert '"is_member" = TRUE' in seg.where
    assert '("score" >= 5 OR "score" IS NULL)' in seg.where  # missing scores are kept
    assert "\"region\" = 'o''brien'" in seg.where and 'region = "o\'brien"' in seg.text


@pytest.mark.parametrize(
    "condition",
    [
        Condition("region", "in", ("north",)),
        Condition("region", "in", ("north", "o'brien")),
        Condition("region", "in", ("north", None)),
        Condition("region", "in", (None,)),
        Condition("region", "not in", ("north",)),
        Condition("region", "not in", ("north", None)),
        Condition("region", "not in", (None,)),
        Condition("spend", "<", 10.5),
        Condition("spend", ">=", 10.5, or_missing=True),
    ],
    ids=lambda c: c.text,
)
def test_each_condition_means_the_same_in_sql_and_python(condition) -> None:
    df = pd.DataFrame(
        {
            "region": ["north", "south", "o'brien", None, "north", None],
            "spend": [1.0, 20.0, np.nan, 10.5, 11.0, 3.0],
        }
    )
    con = duckdb.connect()
    con.register("t", df.assign(uid=np.arange(len(df))))
    got = {r[0] for r in con.execute(f"SELECT uid FROM t WHERE {condition.sql}").fetchall()}
    assert got == set(np.flatnonzero(condition.matches(df))), condition.sql


def test_bounds_on_one_feature_are_merged() -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"monetary": rng.uniform(0, 1000, 4000), "x": rng.normal(size=4000)})
    labels = ((df["monetary"] >= 100) & (df["monetary"] < 300)).to_numpy(dtype=int)
    seg = segment_rules(df, labels)[1]
    assert seg.text == "monetary >= 100 AND monetary < 300"
    assert seg.precision == 1.0 and seg.recall == 1.0
    merged = rules_module._merge(
        [
            Condition("a", "<", 10.0),
            Condition("a", ">=", 1.0),
            Condition("a", "<", 5.0),
            Condition("a", ">=", 2.0),
            Condition("r", "not in", ("x",)),
            Condition("r", "not in", ("y",)),
        ]
    )
    assert merged.text == "a >= 2 AND a < 5 AND r not in ('x', 'y')"
    only = rules_module._merge([Condition("r", "not in", ("x",)), Condition("r", "in", ("y",))])
    assert only.text == "r = 'y'"


def test_every_rule_has_one_condition_per_bound(ruleset) -> None:
    for seg in ruleset:
        for rule in seg.rules:
            keys = [(c.feature, c.op) for c in rule.conditions]
            assert len(keys) == len(set(keys)), rule.text
            assert 1 <= len(rule.conditions) <= 3


def test_json_and_determinism(shop, ruleset) -> None:
    df, labels = shop
    again = segment_rules(df, labels, random_state=0)
    assert again.to_dict() == ruleset.to_dict()
    back = json.loads(json.dumps(ruleset.to_dict(), allow_nan=False))
    assert [s["segment"] for s in back["segments"]] == [0, 1, 2]
    assert back["segments"][1]["where"] == ruleset[1].where
    assert back["params"]["max_depth"] == 3


def test_large_inputs_learn_from_a_sample_but_are_scored_on_all() -> None:
    df, labels = _shop(40_000, seed=3)
    result = segment_rules(df, labels, sample=5000, segments=[1])
    assert len(result) == 1
    seg = result[1]
    assert seg.size == int((labels == 1).sum())
    assert seg.precision >= 0.95 and seg.recall >= 0.95


def test_caller_data_is_not_modified(shop) -> None:
    df, labels = shop
    before = df.copy()
    segment_rules(df, labels, max_depth=2, segments=[2])
    pd.testing.assert_frame_equal(df, before)


def test_bad_input_is_named(shop) -> None:
    df, labels = shop
    with pytest.raises(DataError, match="labels must be 6000 integers"):
        segment_rules(df, labels[:10])
    with pytest.raises(ConfigError, match="max_depth"):
        segment_rules(df, labels, max_depth=0)
    with pytest.raises(ConfigError, match=r"segments \[7\] are not in the labels"):
        segment_rules(df, labels, segments=[7])
    with pytest.raises(ConfigError, match="categorical names unknown columns"):
        segment_rules(df, labels, categorical=["nope"])
    with pytest.raises(DataError, match="infinite"):
        segment_rules(df.assign(monetary=np.inf), labels)
    with pytest.raises(DataError, match="no usable feature"):
        segment_rules(pd.DataFrame({"c": np.ones(len(df))}), labels)
    with pytest.raises(DataError, match="DataFrame"):
        segment_rules(df.to_numpy(), labels)
