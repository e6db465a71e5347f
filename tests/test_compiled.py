"""The compiled preparation: one arithmetic for data frames (Preparer.transform) and JSON records
(the service), bit for bit what the per-feature steps define."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from userseg.features import compiled as compiled_module
from userseg.features.compiled import MISSING, OTHER, CompiledPreparer
from userseg.features.prepare import Preparer


def _frame(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Every kind of step: log1p, signed log1p, clipping, indicators, a constant, a repeat,
    a near-constant feature, rare, unseen and missing categories, a boolean."""
    rng = np.random.default_rng(seed)
    visits = rng.poisson(5, n).astype(float)
    age = rng.normal(40, 9, n)
    age[rng.random(n) < 0.2] = np.nan
    almost = np.full(n, 5.0)
    almost[rng.random(n) < 0.1] = np.nan
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    region = region.astype(object)
    region[rng.random(n) < 0.004] = "atlantis"  # rare: "(other)"
    gender = rng.choice(["f", "m"], n).astype(object)
    gender[rng.random(n) < 0.15] = None  # frequent: a "(missing)" level
    return pd.DataFrame(
        {
            "spend": rng.gamma(2, 100, n),
            "balance": rng.standard_t(2, n) * 100,
            "visits": visits,
            "visits_twice": visits * 2 + rng.normal(0, 0.01, n),
            "age": age,
            "constant": np.full(n, 7.0),
            "almost": almost,
            "region": region,
            "gender": gender,
            "member": rng.random(n) < 0.3,
        }
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[Preparer, pd.DataFrame]:
    df = _frame()
    prep = Preparer(
        {"clip_quantiles": [0.01, 0.99], "max_correlation": 0.95}, categorical=["member"]
    ).fit(df)
    kinds = {s["log"] for s in prep.steps_ if s["kind"] == "numeric"}
    assert {"log1p", "signed_log1p", "none"} <= kinds  # what this file tests
    assert any("indicator" in s for s in prep.steps_)
    return prep, df


def _reference_transform(steps: list[dict[str, Any]], df: pd.DataFrame) -> np.ndarray:
    """The per-feature definition of the steps, column by column (the preparer before it was
    compiled): the oracle the compiled arithmetic must equal bit for bit."""
    blocks = []
    for step in steps:
        if not step["out"]:
            continue
        series = df[step["name"]]
        if step["kind"] == "numeric":
            v = pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
            miss = np.isnan(v)
            if step["name"] in step["out"]:
                t = np.where(miss, step["fill"], v)
                if step["log"] == "log1p":
                    t = np.log1p(np.maximum(t, 0.0))
                elif step["log"] == "signed_log1p":
                    t = np.sign(t) * np.log1p(np.abs(t))
                lo, hi = step["clip"]
                if lo is not None:
                    t = np.clip(t, lo, hi)
                blocks.append((t - step["center"]) / step["scale"] * step["weight"])
            if step.get("indicator"):
                ind = step["indicator"]
                blocks.append((miss.astype(np.float64) - ind["p"]) * ind["scale"])
        else:
            levels = step["levels"]
            values = series.astype(object).where(series.notna(), MISSING).astype(str)
            if OTHER in levels:
                values = values.where(values.isin(levels), OTHER)
            onehot = values.to_numpy()[:, None] == np.asarray(levels, dtype=object)[None, :]
            p = np.asarray(step["p"])
            blocks.append((onehot.astype(np.float64) - p) * step["scale"] * step["weight"])
    return np.column_stack(blocks)


def _probe(df: pd.DataFrame) -> pd.DataFrame:
    """New users: training rows, then missing values, unseen levels and extremes."""
    out = df.sample(300, random_state=1).reset_index(drop=True)
    out.loc[1::5, ["spend", "age", "almost"]] = np.nan
    out.loc[2::5, "region"] = "mars"
    out.loc[2::5, "gender"] = None
    out.loc[3::5, ["spend", "balance", "visits"]] = [1e12, -1e12, 1e6]
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON would bring them: Python numbers, text, booleans and None (full precision)."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def test_transform_equals_the_per_feature_definition_bit_for_bit(fitted) -> None:
    prep, df = fitted
    for frame in (df, _probe(df)):
        expected = _reference_transform(prep.steps_, frame)
        np.testing.assert_array_equal(prep.transform(frame), expected)


def test_records_and_frames_prepare_to_the_same_bits(fitted) -> None:
    prep, df = fitted
    frame = _probe(df)
    records = _records(frame)
    Z = prep.compile().transform_records(records)
    np.testing.assert_array_equal(Z, prep.transform(frame))
    for i in (0, 1, 2, 3):  # one record at a time, too
        np.testing.assert_array_equal(
            prep.compile().transform_records([records[i]], where=None), Z[i : i + 1]
        )


def test_both_ways_in_run_the_one_arithmetic(fitted, monkeypatch) -> None:
    prep, df = fitted
    calls: list[int] = []
    original = CompiledPreparer.transform_arrays

    def spy(self: CompiledPreparer, V: np.ndarray, codes: np.ndarray) -> np.ndarray:
        calls.append(len(V))
        return original(self, V, codes)

    monkeypatch.setattr(CompiledPreparer, "transform_arrays", spy)
    prep.transform(df.head(5))
    prep.compile().transform_records(_records(df.head(3)))
    assert calls == [5, 3]


def test_rows_are_prepared_in_chunks_with_the_same_result(fitted, monkeypatch) -> None:
    prep, df = fitted
    whole = prep.transform(df)
    monkeypatch.setattr(compiled_module, "_CHUNK", 7)  # many chunks, a short last one
    np.testing.assert_array_equal(prep.transform(df), whole)


def test_zscores_are_the_unweighted_standardised_values(fitted) -> None:
    prep, df = fitted
    z = prep.numeric_zscores(df)
    for step in prep.steps_:
        if step["kind"] != "numeric" or step["scale"] == 0:
            assert step["name"] not in z.columns
            continue
        one = dict(step, weight=1.0, out=[step["name"]])
        one.pop("indicator", None)
        np.testing.assert_array_equal(
            z[step["name"]].to_numpy(), _reference_transform([one], df)[:, 0]
        )


def test_records_are_checked_as_json(fitted) -> None:
    from userseg.errors import DataError

    prep, df = fitted
    good = _records(df.head(2))
    with pytest.raises(DataError, match=r"users\[1\]\.features\.spend.*numeric") as info:
        prep.compile().transform_records([good[0], good[1] | {"spend": "12"}])
    assert info.value.details == {"feature": "spend", "index": 1}
    with pytest.raises(DataError, match=r"missing feature\(s\) \['age'\]; run 9 expects"):
        prep.compile().transform_records(
            [{k: v for k, v in good[0].items() if k != "age"}], model="run 9"
        )
