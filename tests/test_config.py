"""Configuration: typed dataclasses from dicts and pipeline files, with clear errors."""

from __future__ import annotations

import datetime as dt

import pytest

from userseg.config import (
    EventMapping,
    FeatureConfig,
    PrepareConfig,
    RowPolicy,
    from_dict,
)
from userseg.errors import ConfigError
from userseg.jobs.pipeline_config import load_pipeline
from userseg.segment.params import FitConfig


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'k_mx' in fit; did you mean 'k_max'\?"):
        from_dict(FitConfig, {"k_mx": 5}, "fit")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"k": "five"}, "fit.k must be an integer"),
        # the parameter named as the file's key (fit.k), with the value and what it should be
        ({"algorithm": "spectral"}, r"^fit.algorithm='spectral' is not one of \['kmeans'"),
        ({"k": 1}, "^fit.k=1 should be an integer >= 2"),
        ({"k_min": 5, "k_max": 3}, "^fit.k_max=3 should be >= k_min=5"),
    ],
)
def test_fit_config_validation(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(FitConfig, data, "fit")


def test_types_are_coerced_where_safe() -> None:
    cfg = from_dict(
        PrepareConfig, {"clip_quantiles": [0.01, 0.99], "categorical_weight": 1}, "prepare"
    )
    assert cfg.clip_quantiles == (0.01, 0.99)
    assert cfg.categorical_weight == 1.0
    fc = from_dict(FeatureConfig, {"as_of": "2024-03-01"}, "features")
    assert fc.as_of == dt.date(2024, 3, 1)
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        from_dict(FeatureConfig, {"as_of": "03/01/2024"}, "features")


def test_row_policy_per_column_and_validation() -> None:
    policy = from_dict(RowPolicy, {"on_bad_value": {"amount": "reject"}}, "policy")
    assert policy.for_column("amount") == "reject"
    assert policy.for_column("other") == "drop"
    with pytest.raises(ConfigError, match="on_bad_value"):
        from_dict(RowPolicy, {"on_bad_value": "ignore"}, "policy")
    with pytest.raises(ConfigError, match="max_bad_fraction"):
        from_dict(RowPolicy, {"max_bad_fraction": 2}, "policy")


def test_event_values_extend_the_lookup() -> None:
    m = EventMapping(event_values={"purchase": ["Bought"]})
    assert m.event_lookup()["bought"] == "purchase"
    assert m.event_lookup()["view"] == "view"
    with pytest.raises(ConfigError, match="unknown kind 'like'"):
        EventMapping(event_values={"like": ["x"]}).event_lookup()


def test_load_pipeline_yaml_resolves_paths_relative_to_the_file(tmp_path) -> None:
    (tmp_path / "conf").mkdir()
    f = tmp_path / "conf" / "p.yaml"
    f.write_text(
        "database: shop.duckdb\n"
        "events:\n  path: data/events.csv\n  columns: {user_id: cust, time: ts}\n"
        "  date_format: '%d/%m/%Y'\n  policy: {on_bad_value: reject}\n"
        "users:\n  path: users.csv\n  user_id: cust\n"
        "fit: {k_max: 6}\nreport: {out: out/r.html}\n"
    )
    cfg = load_pipeline(f)
    assert cfg.database == str(tmp_path / "conf" / "shop.duckdb")
    assert cfg.events.path == str(tmp_path / "conf" / "data" / "events.csv")
    assert cfg.event_columns.user_id == "cust" and cfg.event_columns.date_format == "%d/%m/%Y"
    assert cfg.event_policy.on_bad_value == "reject"
    assert cfg.user_columns.user_id == "cust"
    assert cfg.user_policy.on_bad_value == "impute"  # user tables impute by default
    assert cfg.fit.k_max == 6
    assert cfg.report.out == str(tmp_path / "conf" / "out" / "r.html")


def test_load_pipeline_toml(tmp_path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('[users]\npath = "u.csv"\n[fit]\nk = 3\n')
    cfg = load_pipeline(f)
    assert cfg.fit.k == 3 and cfg.events is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fit: [1, 2", "is not valid YAML"),
        ("- a\n- b\n", "must hold a mapping"),
        ("fit: {k: 3}\n", "names no data"),
        ("events: {path: e.csv, colums: {}}\n", "did you mean 'columns'"),
        # a key written twice: YAML keeps the last silently (found by a trial)
        ("events: {path: e.csv}\nfit: {k_min: 2, k_min: 3}\n", "key 'k_min' is written twice"),
        ("events: {path: e.csv}\nfit: {k: 2}\nfit: {k: 3}\n", r"key 'fit' is written twice"),
    ],
)
def test_load_pipeline_errors(tmp_path, text: str, message: str) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_pipeline(f)


def test_load_pipeline_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline(tmp_path / "nope.yaml")
