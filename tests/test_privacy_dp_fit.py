"""``userseg fit --dp-epsilon``: DP k-means stored as a run, charged to a persisted budget."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from userseg.cli import app

runner = CliRunner()
EVENT_FLAGS = [
    *("--user-id", "user_id", "--time", "timestamp", "--event", "event_type"),
    *("--amount", "amount", "--category", "category", "--session", "session_id"),
]


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def in_process(*args: object) -> subprocess.CompletedProcess:
    """The CLI in a process of its own (the budget must hold across processes)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "userseg", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def featured(tmp_path_factory, demo_files) -> Path:
    """The small demo imported and featured, no run yet."""
    db = tmp_path_factory.mktemp("dp") / "shop.duckdb"
    assert run("ingest", demo_files["events"], "--db", db, *EVENT_FLAGS).exit_code == 0
    assert run("features", "--db", db).exit_code == 0
    return db


@pytest.fixture
def fresh(featured, tmp_path) -> Path:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(featured, copy)
    return copy


def counts(db: Path) -> tuple[int, int, int]:
    """Runs, budget spends and audited DP refusals in ``db``."""
    from userseg.jobs.pipeline import open_db

    with open_db(db) as d:
        return (
            int(d.scalar("SELECT count(*) FROM userseg_runs")),
            int(d.scalar("SELECT count(*) FROM userseg_dp_spends")),
            int(
                d.scalar(
                    "SELECT count(*) FROM userseg_audit "
                    "WHERE action = 'dp.fit' AND outcome = 'refused'"
                )
            ),
        )


def test_budget_holds_across_processes_two_fits_then_a_refused_third(fresh) -> None:
    fit = ("fit", "--db", fresh, "--k", "4", "--dp-epsilon", "1", "--dp-budget", "2.5")
    first = in_process(*fit)
    assert first.returncode == 0, first.stderr
    assert "spent 1 of 2.5, 1.5 left" in first.stdout
    second = in_process(*fit)
    assert second.returncode == 0, second.stderr
    assert "spent 2 of 2.5, 0.5 left" in second.stdout
    assert counts(fresh) == (2, 2, 0)
    third = in_process(*fit)
    assert third.returncode == 2
    message = third.stdout + third.stderr
    assert "needs epsilon=1" in message and "0.5" in message and "nothing was" in message
    runs, spends, refused = counts(fresh)
    assert (runs, spends) == (2, 2) and refused == 1  # nothing stored; the refusal audited
    # a smaller epsilon still fits in what is left
    assert in_process(*fit[:-4], "--dp-epsilon", "0.5").returncode == 0
    assert counts(fresh)[:2] == (3, 3)


def test_dp_run_is_stored_with_its_bounds_and_usable_by_assign(fresh, tmp_path) -> None:
    from userseg.jobs.pipeline import open_db

    res = run("fit", "--db", fresh, "--k", "3", "--dp-epsilon", "1", "--dp-bounds=-3,3",
              "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["config"]["dp"]["epsilon"] == 1.0
    assert out["config"]["dp"]["bounds"] == [-3.0, 3.0]
    assert out["config"]["fit"]["algorithm"] == "dp_kmeans"
    assert out["privacy_budget"] == {
        "dataset": out["config"]["dp"]["dataset"], "total": 3.0, "spent": 1.0, "remaining": 2.0,
    }  # fmt: skip
    u = out["utility"]
    assert u["dp_inertia"] >= u["plain_inertia"] * 0.99 and u["utility_ratio"] > 0
    # the sizes are noisy counts: near the real ones, not equal to them by construction
    sizes = [s["size"] for s in out["segments"]]
    assert abs(sum(sizes) - out["n_users"]) < 200
    assert math.isclose(sum(s["share"] for s in out["segments"]), 1.0, rel_tol=1e-6)
    with open_db(fresh) as db:
        feats = db.execute("SELECT * FROM features ORDER BY user_id LIMIT 50").df()
        stored = (
            db.execute(
                "SELECT segment FROM userseg_assignments WHERE run_id = ? "
                "ORDER BY user_id LIMIT 50",
                [out["run_id"]],
            )
            .df()["segment"]
            .tolist()
        )
    src = tmp_path / "new.csv"
    feats.to_csv(src, index=False)
    got = run("assign", src, "--run", out["run_id"], "--db", fresh, "--json")
    assert got.exit_code == 0, got.output
    assert [a["segment"] for a in json.loads(got.stdout)["assignments"]] == stored


def test_fit_output_shows_the_utility_cost_and_the_budget(fresh) -> None:
    res = run("fit", "--db", fresh, "--k", "3", "--dp-epsilon", "0.5")
    assert res.exit_code == 0, res.output
    assert "utility cost: DP inertia" in res.stdout and "non-private k-means" in res.stdout
    assert "ratio" in res.stdout
    assert "spent 0.5 of 3, 2.5 left" in res.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--k", "3", "--dp-epsilon", "0"],
        ["--k", "3", "--dp-epsilon=-1"],
        ["--k", "3", "--dp-epsilon", "nan"],
        ["--k", "3", "--dp-epsilon", "inf"],
        ["--dp-epsilon", "1"],  # no --k
        ["--k", "3", "--dp-epsilon", "1", "--dp-bounds", "1"],
        ["--k", "3", "--dp-epsilon", "1", "--dp-bounds", "a,b"],
        ["--k", "3", "--dp-epsilon", "1", "--dp-bounds", "4,-4"],
        ["--k", "3", "--dp-epsilon", "1", "--dp-bounds", "nan,1"],
        ["--k", "3", "--dp-epsilon", "1", "--dp-budget", "0"],
        ["--k", "3", "--dp-epsilon", "1", "--dp-budget", "nan"],
        ["--k", "3", "--dp-epsilon", "1", "--k-max", "6"],
        ["--k", "3", "--dp-epsilon", "1", "--stability-runs", "3"],
        ["--k", "3", "--dp-budget", "2"],  # no --dp-epsilon
        ["--k", "3", "--dp-epsilon", "5"],  # more than the default budget of 3
    ],
)
def test_bad_dp_input_exits_2_and_stores_nothing(fresh, args) -> None:
    res = run("fit", "--db", fresh, *args)
    assert res.exit_code == 2, res.output
    assert counts(fresh)[:2] == (0, 0)


def test_plain_fit_refuses_the_private_family(fresh) -> None:
    res = run("fit", "--db", fresh, "--k", "3", "--algorithm", "dp_kmeans")
    assert res.exit_code == 2 and "--dp-epsilon" in res.output
    assert counts(fresh)[:2] == (0, 0)


def test_a_recorded_budget_cannot_be_changed(fresh) -> None:
    assert run("fit", "--db", fresh, "--k", "3", "--dp-epsilon", "1").exit_code == 0
    res = run("fit", "--db", fresh, "--k", "3", "--dp-epsilon", "1", "--dp-budget", "10")
    assert res.exit_code == 2 and "cannot change it" in res.output
    assert counts(fresh)[:2] == (1, 1)


def test_privacy_budget_command_lists_spent_and_left(fresh) -> None:
    empty = run("privacy-budget", "--db", fresh)
    assert empty.exit_code == 0 and "no differentially private fit yet" in empty.stdout
    assert run("fit", "--db", fresh, "--k", "3", "--dp-epsilon", "0.5").exit_code == 0
    res = run("privacy-budget", "--db", fresh, "--json")
    assert res.exit_code == 0, res.output
    (b,) = json.loads(res.stdout)["budgets"]
    assert (b["total"], b["spent"], b["remaining"]) == (3.0, 0.5, 2.5)
    assert run("privacy-budget", "--db", fresh.parent / "missing.duckdb").exit_code == 2
