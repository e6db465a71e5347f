"""Scoring a user table whose dates are not ISO: the format of the import, or an error.

A trial imported a 2,240-customer marketing table with ``Dt_Customer`` as dd-mm-yyyy and
``--date-format '%d-%m-%Y'``; ``assign`` then read every date whose day is at most 12
month-first (40 of the first 100 customers got a wrong date, 22 of 2,240 moved segment).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from userseg.cli import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _marketing(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """A table shaped like the marketing case: id, birth year, income, signup date, spend."""
    rng = np.random.default_rng(seed)
    loyal = rng.random(n) < 0.4
    signup = pd.Timestamp("2012-07-30") + pd.to_timedelta(
        np.where(loyal, rng.integers(0, 200, n), rng.integers(400, 700, n)), unit="D"
    )
    return pd.DataFrame(
        {
            "ID": np.arange(1000, 1000 + n),
            "Year_Birth": rng.integers(1945, 2000, n),
            "Income": np.round(rng.normal(52_000, 15_000, n), 0),
            "Dt_Customer": signup,
            "MntWines": np.where(loyal, rng.gamma(3, 200, n), rng.gamma(2, 40, n)).round(0),
            "NumWebPurchases": np.where(loyal, rng.poisson(7, n), rng.poisson(3, n)),
        }
    )


@pytest.fixture(scope="module")
def day_first(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    """The table written day-first, imported with its format, featured and fitted (run 1)."""
    folder = tmp_path_factory.mktemp("dates")
    users = _marketing()
    path = folder / "marketing.csv"
    users.assign(Dt_Customer=users.Dt_Customer.dt.strftime("%d-%m-%Y")).to_csv(path, index=False)
    db = folder / "m.duckdb"
    res = run("ingest", path, "--kind", "users", "--date-format", "%d-%m-%Y", "--db", db)
    assert res.exit_code == 0, res.output
    assert run("features", "--db", db, "--as-of", "2014-07-01").exit_code == 0
    res = run("fit", "--db", db, "--k", "3", "--stability-runs", "0")
    assert res.exit_code == 0, res.output
    return db, path, users


def _stored(db: Path) -> pd.DataFrame:
    from userseg.jobs.pipeline import open_db

    con = open_db(db)
    try:
        return con.execute(
            "SELECT user_id, segment, distance FROM userseg_assignments WHERE run_id = 1"
        ).df()
    finally:
        con.close()


def test_assign_reads_dates_in_the_format_the_import_used(day_first, tmp_path) -> None:
    db, path, users = day_first
    res = run("assign", path, "--db", db, "--json")
    assert res.exit_code == 0, res.output
    scored = pd.DataFrame(json.loads(res.stdout)["assignments"]).set_index("user_id")
    stored = _stored(db).set_index("user_id").loc[scored.index]
    # The same users, the same dates: the same segment and the same distance for everyone
    # (a date read month-first moves the user, and moves its distance first).
    assert (scored.segment == stored.segment).all()
    np.testing.assert_allclose(scored.distance, stored.distance, rtol=1e-6, atol=1e-9)

    # drift --input reads the same file the same way: today's users are the training users.
    res = run("drift", "--db", db, "--input", path, "--json")
    assert res.exit_code == 0, res.output
    psi = {f["feature"]: f["psi"] for f in json.loads(res.stdout)["features"]}
    assert psi["dt_customer_days"] == pytest.approx(0.0, abs=1e-9)

    # --date-format overrides the stored format: a month-first export of the same users.
    month_first = tmp_path / "month_first.csv"
    users.assign(Dt_Customer=users.Dt_Customer.dt.strftime("%m/%d/%Y")).to_csv(
        month_first, index=False
    )
    res = run("assign", month_first, "--db", db, "--date-format", "%m/%d/%Y", "--json")
    assert res.exit_code == 0, res.output
    again = pd.DataFrame(json.loads(res.stdout)["assignments"]).set_index("user_id")
    np.testing.assert_allclose(again.distance, scored.distance, rtol=1e-6, atol=1e-9)
    # ISO text has one reading: a re-export in ISO scores alike with no flag.
    iso = tmp_path / "iso.csv"
    users.to_csv(iso, index=False)  # Timestamps written as 2013-04-03
    res = run("assign", iso, "--db", db, "--json")
    assert res.exit_code == 0, res.output
    got = pd.DataFrame(json.loads(res.stdout)["assignments"]).set_index("user_id")
    np.testing.assert_allclose(got.distance, scored.distance, rtol=1e-6, atol=1e-9)
    # Without it the stored day-first format does not fit those dates: an error naming them.
    res = run("assign", month_first, "--db", db)
    assert res.exit_code == 2, res.output
    assert "dt_customer" in res.stderr and "%d-%m-%Y" in res.stderr
    assert "--date-format" in res.stderr


def test_ambiguous_dates_without_a_known_format_are_an_error(tmp_path) -> None:
    # Imported as ISO text (no format to remember); the file to score holds 03-04-2013,
    # which reads as 3 April or 4 March: a guess would misplace users, so it is refused.
    users = _marketing(300, seed=5)
    iso = tmp_path / "iso.csv"
    users.assign(Dt_Customer=users.Dt_Customer.dt.strftime("%Y-%m-%d")).to_csv(iso, index=False)
    db = tmp_path / "iso.duckdb"
    assert run("ingest", iso, "--kind", "users", "--db", db).exit_code == 0
    assert run("features", "--db", db, "--as-of", "2014-07-01").exit_code == 0
    assert run("fit", "--db", db, "--k", "2", "--stability-runs", "0").exit_code == 0
    early = users[users.Dt_Customer.dt.day <= 12]
    ambiguous = tmp_path / "ambiguous.csv"
    early.assign(Dt_Customer=early.Dt_Customer.dt.strftime("%d-%m-%Y")).to_csv(
        ambiguous, index=False
    )
    res = run("assign", ambiguous, "--db", db)
    assert res.exit_code == 2, res.output
    example = early.Dt_Customer.dt.strftime("%d-%m-%Y").iloc[0]
    assert "dt_customer" in res.stderr and example in res.stderr
    assert "--date-format" in res.stderr
    res = run("drift", "--db", db, "--input", ambiguous)
    assert res.exit_code == 2 and "--date-format" in res.stderr
    # With the format named, the same file scores as the ISO one does.
    res = run("assign", ambiguous, "--db", db, "--date-format", "%d-%m-%Y", "--json")
    assert res.exit_code == 0, res.output
    got = pd.DataFrame(json.loads(res.stdout)["assignments"]).set_index("user_id")
    res = run("assign", iso, "--db", db, "--json")
    want = pd.DataFrame(json.loads(res.stdout)["assignments"]).set_index("user_id")
    np.testing.assert_allclose(got.distance, want.loc[got.index].distance, rtol=1e-6)
    # A column that settles the order itself (a day past 12 somewhere) is read that way.
    settled = tmp_path / "settled.csv"
    users.assign(Dt_Customer=users.Dt_Customer.dt.strftime("%d-%m-%Y")).to_csv(settled, index=False)
    res = run("assign", settled, "--db", db, "--json")
    assert res.exit_code == 0, res.output
    got = pd.DataFrame(json.loads(res.stdout)["assignments"]).set_index("user_id")
    np.testing.assert_allclose(got.distance, want.loc[got.index].distance, rtol=1e-6)
