"""Feature names in words, calendar years, outcome-like names, and finding a named column."""

from __future__ import annotations

import numpy as np
import pytest

from userseg.errors import SchemaError
from userseg.features.labels import feature_label, is_year, match_column, outcome_like


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("MntMeatProducts", "meat products spend"),
        ("MntGoldProds", "gold products spend"),
        ("NumWebPurchases", "web purchases"),
        ("NumDealsPurchases", "deals purchases"),
        ("NumWebVisitsMonth", "web visits per month"),
        ("Year_Birth", "birth year"),
        ("AcceptedCmp3", "accepted campaign 3"),
        ("Dt_Customer", "customer date"),
        ("Z_CostContact", "z cost contact"),
        ("recency_days", "recency days"),
        ("Income", "income"),
        ("BALANCE", "balance"),
    ],
)
def test_feature_label(name, words) -> None:
    assert feature_label(name) == words


def test_is_year() -> None:
    assert is_year("Year_Birth", [1957, 1970, 1996])
    assert is_year("birth_year", [1893] + [1960] * 40)  # a typo among years is still a year
    assert not is_year("Year_Birth", [1957.5, 1970])  # not whole numbers
    assert not is_year("income", [1957, 1970])  # not named like a year
    assert not is_year("years_active", [2000, 2001])
    assert not is_year("year", np.array([1, 2, 3]))


def test_outcome_like() -> None:
    names = ["Response", "AcceptedCmp1", "acceptedcmp5", "churned", "is_fraud", "Converted"]
    assert outcome_like(names) == names
    ok = ["MntWines", "responses_seen", "conversion_rate", "x", "y", "Recency", "default"]
    assert outcome_like(ok) == []


def test_match_column() -> None:
    cols = ["response", "accepted_cmp1", "income"]
    assert match_column("Response", cols) == "response"
    assert match_column("AcceptedCmp1", cols) == "accepted_cmp1"
    assert match_column("income", cols) == "income"
    with pytest.raises(SchemaError, match=r"'Respnse' is not a column; did you mean 'response'"):
        match_column("Respnse", cols)
    with pytest.raises(SchemaError, match="matches several columns"):
        match_column("A", ["a", "A_"])
