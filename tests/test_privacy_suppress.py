"""Small-cell suppression on profile tables, cross-tabs and lists of dicts."""

from __future__ import annotations

import doctest

import pandas as pd
import pytest

from userseg.errors import ConfigError, SchemaError
from userseg.privacy import suppress as suppress_module
from userseg.privacy.suppress import suppress_counts, suppress_small


def test_profile_rows_of_small_segments_are_hidden_except_their_id() -> None:
    profiles = pd.DataFrame(
        {"segment": [0, 1, 2, 3], "size": [500, 9, 10, 0], "spend": [12.0, 999.0, 40.0, 0.0]}
    )
    out = suppress_small(profiles, count="size", keep=["segment"])
    assert out.n_suppressed == 2 and out.where == [1, 3] and out.k == 10
    assert out.data["segment"].tolist() == [0, 1, 2, 3]
    assert out.data.loc[1, "spend"] == "<10" and out.data.loc[1, "size"] == "<10"
    assert out.data.loc[2, "spend"] == 40.0  # exactly k users is shown
    assert profiles.loc[1, "spend"] == 999.0  # the input is not changed
    assert "2 value(s) describing fewer than 10 users" in out.note()
    custom = suppress_small(profiles, count="size", k=600, marker="hidden")
    assert custom.n_suppressed == 4 and set(custom.data["spend"]) == {"hidden"}


def test_counts_below_k_are_hidden_zeros_stay_unless_asked() -> None:
    crosstab = pd.DataFrame({"region": ["north", "south"], "seg_0": [250, 3], "seg_1": [0, 12]})
    out = suppress_counts(crosstab, k=10)
    assert out.n_suppressed == 1 and out.where == [(1, "seg_0")]
    assert out.data.loc[1, "seg_0"] == "<10" and out.data.loc[0, "seg_1"] == 0
    assert suppress_counts(crosstab, k=10, suppress_zero=True).n_suppressed == 2
    assert suppress_counts(crosstab, columns=["seg_1"]).n_suppressed == 0


def test_lists_of_dicts_work_the_same() -> None:
    rows = [{"segment": "a", "size": 4, "share": 0.01}, {"segment": "b", "size": 40, "share": 0.2}]
    out = suppress_small(rows, count="size", keep=["segment"])
    assert out.data == [
        {"segment": "a", "size": "<10", "share": "<10"},
        {"segment": "b", "size": 40, "share": 0.2},
    ]
    assert rows[0]["size"] == 4
    counts = suppress_counts([{"city": "Lyon", "n": 2, "flag": True}], k=5)
    assert counts.data == [{"city": "Lyon", "n": "<5", "flag": True}]
    assert doctest.testmod(suppress_module).failed == 0


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="k=1 should be an integer >= 2"):
        suppress_small([], k=1)
    with pytest.raises(SchemaError, match="'users' not found"):
        suppress_small(pd.DataFrame({"size": [1]}), count="users")
    with pytest.raises(SchemaError, match="'users' not found"):
        suppress_small([{"size": 1}], count="users")
    with pytest.raises(SchemaError, match="'zz'"):
        suppress_counts(pd.DataFrame({"a": [1]}), columns=["zz"])
    with pytest.raises(ConfigError, match="expected a DataFrame"):
        suppress_counts("text")


def test_the_privacy_package_surface_resolves_and_stays_light() -> None:
    import subprocess
    import sys

    import userseg.privacy as privacy

    for name in privacy.__all__:
        assert getattr(privacy, name).__doc__, name
    code = (
        "import sys, userseg.privacy, userseg.privacy.keys, userseg.privacy.detect; "
        "print(sorted(m for m in ('duckdb', 'numba', 'sklearn', 'opendp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
