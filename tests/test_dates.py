"""Date columns in the Python API: days before the latest training date, wherever rows are read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from userseg import Segmenter
from userseg.config import Source
from userseg.errors import DataError
from userseg.features.prepare import dates_to_days, find_date_columns
from userseg.monitor.drift import drift_report
from userseg.segment.rows import read_feature_rows
from userseg.serve.fastpath import FastScorer


@pytest.fixture(scope="module")
def users() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    n = 600
    groups = rng.integers(0, 2, n)
    age_days = np.where(groups == 0, rng.normal(30, 5, n), rng.normal(400, 30, n)).round()
    signup = pd.Timestamp("2024-06-30") - pd.to_timedelta(age_days, unit="D")
    df = pd.DataFrame({"visits": rng.normal(10, 1, n), "signup": signup.strftime("%Y-%m-%d")})
    return df, groups


@pytest.fixture(scope="module")
def model(users) -> Segmenter:
    return Segmenter(n_segments=2, stability_runs=0, random_state=0).fit(users[0])


def test_dates_are_named_and_profiled_as_days_ago(model) -> None:
    names = set(model.names_)
    assert names == {"Recent signup users", "Long-ago signup users"}, names
    by_name = {p.name: p.means["signup"] for p in model.profiles_}
    # days before the latest signup (not a date, not 2024-06-30): ~15 and ~385 days ago
    assert 0 < by_name["Recent signup users"] < 40
    assert 300 < by_name["Long-ago signup users"] < 450


def test_the_service_scorer_reads_iso_dates(model, users) -> None:
    df = users[0].head(40)
    fast = FastScorer(model)
    assert fast.kinds["signup"] == "date"
    labels, dist = fast.predict(df.to_dict(orient="records"))
    assert (labels == model.predict(df)).all()
    np.testing.assert_allclose(dist, model.predict_with_distance(df)[1], rtol=1e-9)
    # a zoned instant is read in UTC, as the training read zoned text
    zoned = fast.predict([{"visits": 10.0, "signup": "2024-06-01T02:00:00+02:00"}])
    plain = fast.predict([{"visits": 10.0, "signup": "2024-06-01T00:00:00"}])
    assert zoned[0][0] == plain[0][0] and zoned[1][0] == pytest.approx(plain[1][0])
    for bad in ("soon", 20240101):
        with pytest.raises(DataError, match="'signup' is a date; expected ISO text"):
            fast.predict([{"visits": 10.0, "signup": bad}])
    assert fast.predict([{"visits": 10.0, "signup": None}])[0][0] >= 0  # missing is allowed


def test_drift_on_the_training_users_is_quiet(model, users) -> None:
    report = drift_report(model, users[0])
    signup = next(f for f in report.features if f["feature"] == "signup")
    assert signup["psi"] < 0.01 and not report.refit_advised


def test_a_feature_file_with_dates_is_read_for_assign(model, users, tmp_path) -> None:
    path = tmp_path / "new.csv"
    users[0].head(30).rename_axis("user_id").reset_index().to_csv(path, index=False)
    ids, X = read_feature_rows(Source(path=str(path)), model)
    assert len(ids) == 30
    assert (model.predict(X) == model.labels_[:30]).all()


def test_numbers_where_dates_were_trained_are_refused(model, users) -> None:
    with pytest.raises(DataError, match=r"'signup' should hold dates .* found numbers"):
        model.predict(users[0].head(3).assign(signup=20240101))
    # an all-missing column is just missing
    assert len(model.predict(users[0].head(3).assign(signup=np.nan))) == 3


def test_zoned_text_and_datetimes_are_found_and_agree() -> None:
    text = pd.DataFrame({"t": ["2024-01-01T10:00:00Z", "2024-01-02T12:00:00+02:00", None]})
    refs = find_date_columns(text)
    assert refs == {"t": "2024-01-02T10:00:00"}
    zoned = pd.DataFrame({"t": pd.to_datetime(text.t, utc=True)})
    assert find_date_columns(zoned) == refs
    days = dates_to_days(text, refs).t
    assert days.iloc[0] == pytest.approx(1.0) and np.isnan(days.iloc[2])


def test_a_few_bad_values_are_missing_at_fit_with_a_note() -> None:
    rng = np.random.default_rng(0)
    dates = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, 200), "D"))
    col = dates.dt.strftime("%Y-%m-%d").where(np.arange(200) % 20 != 0, "unknown")  # 5 % bad
    seg = Segmenter(n_segments=2, stability_runs=0, random_state=0).fit(
        pd.DataFrame({"x": rng.normal(size=200), "signup": col})
    )
    assert "signup" in seg.date_references_
    assert any("10 values are not dates (such as 'unknown'): missing" in n for n in seg.notes_)
    text_only = pd.DataFrame({"x": rng.normal(size=200), "code": [f"A{i}" for i in range(200)]})
    assert find_date_columns(text_only) == {}


def test_one_date_to_days_for_training_scored_files_and_the_service() -> None:
    """io.dates.days_before is the one conversion; scalars and Series agree to the bit."""
    import datetime as dt

    import pandas as pd

    from userseg.features.compiled import _days_before
    from userseg.io.dates import days_before

    ref = dt.datetime(2024, 5, 2, 12)
    whens = [dt.datetime(2024, 5, 1), dt.datetime(2023, 1, 31, 7, 5, 3)]
    series = days_before(pd.Timestamp(ref), pd.Series(pd.to_datetime(whens)))
    scalars = [days_before(ref, w) for w in whens]
    assert series.tolist() == scalars and scalars[0] == 1.5
    service = [_days_before(w.isoformat(), ref, "body", "x_days", 0) for w in whens]
    assert service == scalars
