"""The feature SQL rendered for Spark (no Spark needed: sqlglot only), and engine flags."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from userseg.cli import app


def test_fit_engine_spark_needs_a_pipeline_file_and_a_known_engine() -> None:
    res = CliRunner().invoke(app, ["fit", "--engine", "spark"])
    assert res.exit_code == 2 and "--engine spark reads the events a pipeline file" in res.output
    res = CliRunner().invoke(app, ["fit", "--engine", "flink"])
    assert res.exit_code == 2 and "'embedded' or 'spark'" in res.output


def test_spark_settings_are_validated() -> None:
    from userseg.config import SparkConfig
    from userseg.errors import ConfigError

    with pytest.raises(ConfigError, match="partitions=0"):
        SparkConfig(partitions=0).validate()
    with pytest.raises(ConfigError, match="'numba' or 'mllib'"):
        SparkConfig(kmeans="faiss").validate()


def test_feature_sql_renders_in_spark_sql_with_the_same_meaning() -> None:
    pytest.importorskip("sqlglot", reason="rendering needs sqlglot: pip install -e '.[spark]'")
    from userseg.engine.dialect import to_spark
    from userseg.features.events import FeatureSpec, event_feature_sql

    # epoch keeps the fraction of a second; decimal literals divide as doubles
    assert to_spark("SELECT epoch(ts) FROM e") == (
        "SELECT UNIX_MICROS(CAST(ts AS TIMESTAMP_LTZ)) / CAST(1000000 AS DOUBLE) FROM e"
    )
    assert "CAST(2.5 AS DOUBLE)" in to_spark("SELECT (count(*) + 2.5) / 5 FROM e")
    assert "DECIMAL(38, 8)" in to_spark("SELECT CAST(x AS DECIMAL(38, 8)) FROM e")
    spec = FeatureSpec(
        kinds=["cart", "purchase", "view"],
        has_orders=True,
        has_sessions=False,
        has_rating=False,
        window_start="2024-01-01T00:00:00",
        rates={"view_to_cart": 0.1, "cart_to_purchase": 0.3, "view_to_purchase": 0.03},
        categories=[["toys", 0.3]],
        other_share=0.7,
    )
    sql, feats = event_feature_sql(spec, dt.date(2024, 6, 1))
    spark_sql = to_spark(sql)
    assert "EPOCH" not in spark_sql.upper().replace("UNIX_MICROS", "")
    assert "FILTER(WHERE event = 'purchase')" in spark_sql
    assert "NULLS LAST" in spark_sql  # DuckDB's default order of the session window, made explicit
    for f in feats:
        assert f"`{f.name}`" in spark_sql
