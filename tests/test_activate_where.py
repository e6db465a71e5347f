"""Audience filters: parsed safely, validated against known columns, same rows in SQL and pandas."""

from __future__ import annotations

import doctest

import duckdb
import numpy as np
import pandas as pd
import pytest

from userseg.activate import where as where_module
from userseg.activate.where import columns_of, parse_where
from userseg.errors import ConfigError, SchemaError

KINDS = {
    "recency_days": "numeric",
    "monetary": "numeric",
    "frequency": "numeric",
    "country": "categorical",
    "is_member": "boolean",
}


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    recency = rng.integers(0, 120, n).astype(float)
    recency[rng.random(n) < 0.1] = np.nan  # NULL features must behave as in SQL
    country = rng.choice(["FR", "DE", "GB", "O'Hara"], n).astype(object)
    country[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "recency_days": recency,
            "monetary": rng.gamma(2.0, 300.0, n),
            "frequency": rng.integers(0, 20, n),
            "country": country,
            "is_member": rng.random(n) < 0.3,
        }
    )


FILTERS = [
    "recency_days < 30",
    "recency_days < 30 and (monetary >= 500 or country = 'FR')",
    "not recency_days < 30",
    "not (recency_days < 30 or country = 'DE')",
    "country in ('FR', 'DE')",
    "country not in ('FR', 'DE')",
    "country != 'GB'",
    "country = 'O''Hara'",
    "recency_days between 10 and 40",
    "recency_days not between 10 and 40",
    "recency_days is null or country is null",
    "recency_days is not null and frequency >= 3",
    "30 > recency_days",
    "monetary > 1e3 or frequency = -1",
    "is_member = true and monetary <= 250.5",
    "recency_days < 30 AND country IN ('FR') OR frequency > 15",
]


@pytest.mark.parametrize("text", FILTERS)
def test_sql_and_frame_select_the_same_rows(text: str) -> None:
    df = _frame()
    f = parse_where(text, KINDS)
    sql, params = f.to_sql()
    con = duckdb.connect()
    con.register("users", df.assign(row=np.arange(len(df))))
    picked = {r[0] for r in con.execute(f"SELECT row FROM users WHERE {sql}", params).fetchall()}
    mask = f.evaluate(df)
    assert set(np.flatnonzero(mask)) == picked
    # the canonical text parses back to the same tree
    assert parse_where(str(f), KINDS).root == f.root


def test_values_are_bound_never_pasted() -> None:
    f = parse_where("country = 'x''); DROP TABLE users; --'", KINDS)
    sql, params = f.to_sql()
    assert sql == '("country" = ?)'
    assert params == ["x'); DROP TABLE users; --"]
    assert f.columns == ("country",)


def test_precedence_and_binds_tighter_than_or() -> None:
    f = parse_where("frequency > 1 or frequency < 0 and monetary > 5", KINDS)
    assert f.root.op == "or" and f.root.items[1].op == "and"


def test_unknown_column_names_it_and_lists_the_known() -> None:
    with pytest.raises(SchemaError) as exc:
        parse_where("recncy_days < 30", KINDS)
    msg = str(exc.value)
    assert "'recncy_days'" in msg and "did you mean 'recency_days'" in msg
    assert "known columns: country, frequency, is_member, monetary, recency_days" in msg
    assert exc.value.details["known"] == sorted(KINDS)


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("country like 'F%'", "like"),
        ("recency_days ~ 3", "~"),
        ("recency_days < 30; DROP TABLE users", ";"),
        ("recency_days + 1 > 3", "+"),
        ("recency_days === 3", "==="),
        ("recency_days < 30 || frequency > 2", "||"),
    ],
)
def test_unsupported_operator_is_named(text: str, op: str) -> None:
    with pytest.raises(ConfigError, match=rf"unsupported operator '{__import__('re').escape(op)}'"):
        parse_where(text, KINDS)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("recency_days <", "expected a value"),
        ("recency_days < 30 and", "expected a column name at the end"),
        ("(recency_days < 30", "expected '\\)'"),
        ("recency_days < monetary", "not a column"),
        ("recency_days = null", "is null"),
        ("country = 'FR", "unterminated quote"),
        ("monetary >= 'lots'", "column 'monetary' is numeric"),
        ("country = 3", "column 'country' is categorical"),
        ("is_member > true", "boolean"),
        ("recency_days < 30 recency_days", "unsupported operator 'recency_days'"),
        ("(" * 100 + "frequency > 1" + ")" * 100, "deeper than 64"),
        ("frequency > 1 " + "and frequency > 1 " * 2000, "characters; at most"),
    ],
)
def test_malformed_filters_say_what_and_where(text: str, match: str) -> None:
    with pytest.raises((ConfigError, SchemaError), match=match):
        parse_where(text, KINDS)


def test_names_without_kinds_and_quoted_names() -> None:
    df = pd.DataFrame({"days since": [1, 50, None], "and": [1, 2, 3]})
    f = parse_where('"days since" < 30 or "and" = 3', df.columns)
    assert list(f.evaluate(df)) == [True, False, True]
    assert str(f) == '"days since" < 30 or "and" = 3'


def test_evaluate_refuses_a_frame_without_the_column() -> None:
    f = parse_where("recency_days < 30", KINDS)
    with pytest.raises(SchemaError, match="absent from the data; available columns: monetary"):
        f.evaluate(pd.DataFrame({"monetary": [1.0]}))


def test_untyped_column_compared_with_the_wrong_kind_is_a_clear_error() -> None:
    f = parse_where("monetary > 'x'", ["monetary"])
    with pytest.raises(ConfigError, match="column 'monetary' cannot be compared"):
        f.evaluate(pd.DataFrame({"monetary": [1.0, 2.0]}))


def test_columns_of_reads_kinds_from_dtypes() -> None:
    assert columns_of(_frame()) == KINDS


def test_where_doctest() -> None:
    assert doctest.testmod(where_module).failed == 0
