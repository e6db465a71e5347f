"""Preparation: imputation, logs, clipping, scaling, categorical weighting, pruning, persistence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from userseg.config import PrepareConfig
from userseg.errors import DataError, NotFittedError
from userseg.features.prepare import Preparer


def _frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spend = rng.lognormal(3, 1.5, n)
    spend[rng.choice(n, 50, replace=False)] = np.nan
    return pd.DataFrame(
        {
            "spend": spend,
            "visits": rng.normal(10, 2, n),
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def test_defaults_impute_log_scale_and_weight() -> None:
    df = _frame()
    before = df.copy()
    prep = Preparer().fit(df)
    Z = prep.transform(df)
    names = list(prep.get_feature_names_out())
    assert names == [
        "spend",
        "spend_missing",
        "visits",
        "region=east",
        "region=north",
        "region=south",
        "region=west",
    ]
    pd.testing.assert_frame_equal(df, before)  # the caller's data is never changed
    step = prep.steps_[0]
    assert step["log"] == "log1p" and step["fill"] == pytest.approx(np.nanmedian(df.spend))
    assert any("spend: heavy right tail" in n for n in prep.notes_)
    # standardised numeric columns
    assert Z[:, 2].mean() == pytest.approx(0, abs=1e-9) and Z[:, 2].std() == pytest.approx(1)
    # the missing indicator carries indicator_weight (0.5) of a feature's variance
    assert Z[:, 1].var() == pytest.approx(0.5)
    # the whole one-hot block of region carries categorical_weight (0.5) of one feature
    assert Z[:, 3:].var(axis=0).sum() == pytest.approx(0.5)
    assert not np.isnan(Z).any()


def test_categorical_weight_is_configurable_and_stated() -> None:
    df = _frame()
    Z = Preparer({"categorical_weight": 2.0}).fit_transform(df)
    assert Z[:, 3:].var(axis=0).sum() == pytest.approx(2.0)


def test_clipping_bounds_extremes() -> None:
    df = pd.DataFrame({"x": np.r_[np.arange(999.0), 1e9]})
    prep = Preparer({"log": "none", "scale": "none"}).fit(df)
    assert prep.transform(df)[:, 0].max() == pytest.approx(np.quantile(df.x, 0.995))


def test_robust_scaling_falls_back_when_iqr_is_zero() -> None:
    df = pd.DataFrame({"x": np.r_[np.zeros(900), np.arange(1, 101.0)]})
    Z = Preparer({"scale": "robust", "log": "none", "clip_quantiles": None}).fit_transform(df)
    assert np.isfinite(Z).all() and Z.std() > 0


def test_constant_features_are_left_out_and_all_constant_is_an_error() -> None:
    df = pd.DataFrame({"x": np.arange(10.0), "c": 1.0, "g": ["a"] * 10})
    prep = Preparer().fit(df)
    assert list(prep.get_feature_names_out()) == ["x"]
    assert any("c: constant" in n for n in prep.notes_)
    with pytest.raises(DataError, match="every feature is constant"):
        Preparer().fit(pd.DataFrame({"c": [1.0] * 5, "g": ["a"] * 5}))


def test_correlated_features_are_pruned_keeping_the_first() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    df = pd.DataFrame(
        {"orders": x, "sessions": x * 2 + rng.normal(0, 0.01, 500), "other": rng.normal(size=500)}
    )
    prep = Preparer({"log": "none"}).fit(df)
    assert list(prep.get_feature_names_out()) == ["orders", "other"]
    assert any("sessions: left out of the distance, it repeats orders" in n for n in prep.notes_)
    kept = Preparer({"log": "none", "max_correlation": None}).fit(df)
    assert len(kept.get_feature_names_out()) == 3
    # pruned features are still profiled
    assert "sessions" in prep.numeric_zscores(df).columns


def test_round_trip_through_json_gives_identical_output() -> None:
    df = _frame()
    prep = Preparer().fit(df)
    state = json.loads(json.dumps(prep.to_dict()))
    again = Preparer.from_dict(state)
    np.testing.assert_array_equal(prep.transform(df), again.transform(df))


def test_new_data_unseen_levels_and_missing() -> None:
    prep = Preparer().fit(_frame())
    new = pd.DataFrame({"spend": [np.nan, 10.0], "visits": [10.0, 12.0], "region": ["mars", None]})
    Z = prep.transform(new)
    assert Z.shape == (2, 7) and np.isfinite(Z).all()


def test_bad_input_to_transform() -> None:
    prep = Preparer().fit(_frame())
    with pytest.raises(DataError, match=r"missing feature column\(s\) \['visits'\]"):
        prep.transform(pd.DataFrame({"spend": [1.0], "region": ["north"]}))
    with pytest.raises(
        DataError, match="column 'spend' should be numeric; found text such as 'lots'"
    ):
        prep.transform(pd.DataFrame({"spend": ["lots"], "visits": [1.0], "region": ["north"]}))
    with pytest.raises(DataError, match="column 'visits' has 1 infinite values"):
        prep.transform(pd.DataFrame({"spend": [1.0], "visits": [np.inf], "region": ["north"]}))
    with pytest.raises(
        DataError, match=r"column 'spend' has 1 value beyond ±1e\+15 \(such as 1e\+308\)"
    ):
        prep.transform(pd.DataFrame({"spend": [1e308], "visits": [1.0], "region": ["north"]}))


def test_huge_values_are_refused_at_fit_with_a_clear_error() -> None:
    # 1e308 is finite but overflows the float32 steps after preparation (the rules' trees):
    # it used to surface as an internal error from scikit-learn in the middle of a fit.
    from userseg import Segmenter

    df = _frame()
    df.loc[df.index[3], "visits"] = 1e308
    with pytest.raises(DataError, match="column 'visits' has 1 value beyond"):
        Preparer().fit(df)
    with pytest.raises(DataError, match="column 'visits' has 1 value beyond"):
        Segmenter(n_segments=2, stability_runs=0, random_state=0).fit(df)


def test_not_fitted_and_bad_state() -> None:
    with pytest.raises(NotFittedError):
        Preparer().transform(_frame())
    with pytest.raises(DataError, match="not a userseg preparer"):
        Preparer.from_dict({"kind": "other"})


def test_high_cardinality_categoricals_are_left_out() -> None:
    df = pd.DataFrame({"x": np.arange(100.0), "email": [f"u{i}@x" for i in range(100)]})
    prep = Preparer(PrepareConfig(max_cardinality=50)).fit(df)
    assert list(prep.get_feature_names_out()) == ["x"]
    assert any("identifier-like" in n for n in prep.notes_)


def test_arrays_are_accepted() -> None:
    X = np.random.default_rng(0).normal(size=(50, 3))
    prep = Preparer().fit(X)
    assert list(prep.get_feature_names_out()) == ["x0", "x1", "x2"]
    with pytest.raises(DataError, match="2-dimensional"):
        Preparer().fit(np.arange(5.0))


def test_integer_column_names_are_features_too() -> None:
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 2)))
    prep = Preparer().fit(df)
    assert list(prep.get_feature_names_out()) == ["0", "1"]
    assert prep.transform(df).shape == (50, 2)
    assert list(df.columns) == [0, 1]  # the caller's frame is untouched


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (
            pd.DataFrame([[1.0, 2.0, 3.0]] * 4, columns=["a", "a", "b"]),
            r"\['a'\] appear more than once",
        ),
        (pd.DataFrame({"a": [1 + 1j, 2 + 0j, 3 + 2j, 4j], "b": [1.0, 2, 3, 4]}), "complex numbers"),
    ],
)
def test_frames_no_feature_can_be_made_of_are_refused(frame, words) -> None:
    # found by a trial: they surfaced as pandas' "Grouper for 'a' not 1-dimensional" and
    # "No matching signature found"
    from userseg import Segmenter

    with pytest.raises(DataError, match=words):
        Preparer().fit(frame)
    with pytest.raises(DataError, match=words):
        Segmenter(n_segments=2, stability_runs=0).fit(frame)


def test_a_numeric_column_with_stray_text_is_refused_not_dropped() -> None:
    # One "forty" among 400 browsing times made the column text, then a category per value,
    # then "identifier-like, left out": the feature vanished with a note (found by a trial).
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"browsing_time": rng.uniform(1, 100, 400).round(1).astype(object)})
    df["visits"] = rng.poisson(3, 400).astype(float)
    df.loc[5, "browsing_time"] = "forty"
    with pytest.raises(
        DataError, match=r"'browsing_time' holds numbers except for 1 value.*'forty'"
    ):
        Preparer().fit(df)
    # a code declared categorical is the user's call
    prep = Preparer(categorical=["browsing_time"]).fit(df)
    assert "browsing_time" not in [s["name"] for s in prep.steps_ if s["kind"] == "numeric"]
    # and a real text column is not affected
    df["region"] = rng.choice(["north", "south", "5"], 400)
    Preparer().fit(df.drop(columns=["browsing_time"]))
