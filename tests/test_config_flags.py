"""Flags beside a pipeline file: a flag given wins over the file, for every command.

A trial ran ``fit --config cfg.yaml --k 5 --algorithm gmm``: k-means with the file's
k = 3 ran, and exited 0.
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


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A pipeline file with its data and database beside it; the shell is elsewhere."""
    rng = np.random.default_rng(4)
    n = 450
    group = rng.integers(0, 3, n)
    pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "visits": np.array([2, 10, 30])[group] + rng.poisson(1, n),
            "spend": np.array([20.0, 150.0, 900.0])[group] * rng.lognormal(0, 0.1, n),
            "noise": rng.normal(0, 1, n),
        }
    ).to_csv(tmp_path / "users.csv", index=False)
    (tmp_path / "cfg.yaml").write_text(
        "database: cfg.duckdb\n"
        "users: {path: users.csv}\n"
        "prepare: {scale: robust}\n"
        "fit: {k: 3, algorithm: kmeans, k_max: 4, stability_runs: 0}\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("USERSEG_DB", raising=False)
    return tmp_path


def test_flags_given_beside_a_config_file_override_it(project) -> None:
    cfg, db = project / "cfg.yaml", project / "cfg.duckdb"
    # ingest: the file names the data and the database; --exclude (a flag) is laid over it.
    res = run("ingest", "--config", cfg, "--exclude", "noise", "--json")
    assert res.exit_code == 0, res.output
    assert "noise" not in json.loads(res.stdout)["columns"].values()
    assert db.exists() and not Path("userseg.duckdb").exists()
    assert run("features", "--db", db).exit_code == 0

    # fit: --k and --algorithm given win over the file's k: 3 and kmeans.
    res = run("fit", "--config", cfg, "--k", "5", "--algorithm", "gmm", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["algorithm"] == "gmm" and out["n_segments"] == 5
    fit_cfg, prep_cfg = out["config"]["fit"], out["config"]["prepare"]
    assert fit_cfg["k"] == 5 and fit_cfg["k_max"] == 4 and fit_cfg["stability_runs"] == 0
    assert prep_cfg["scale"] == "robust"  # the file's, where no flag was given

    # "Given" is not "differs from the default": --k-max 10 is the default value, and still
    # replaces the file's k_max: 4. --prepare overrides key by key.
    res = run(
        "fit", "--config", cfg, "--k-max", "10", "--k", "2", "--prepare", "log=none", "--json"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["config"]["fit"]["k_max"] == 10 and out["n_segments"] == 2
    assert out["config"]["prepare"]["log"] == "none"
    assert out["config"]["prepare"]["scale"] == "robust"

    # A flag that contradicts the file is refused with the file's value named.
    res = run("fit", "--config", cfg, "--k-min", "6")
    assert res.exit_code == 2 and "k_max=4 should be >= k_min=6" in res.stderr

    # refresh: an explicit --db wins over the file's database, even when it is the default
    # name (it used to be taken as "not given" because it equalled the default).
    res = run("refresh", "--config", cfg, "--db", "userseg.duckdb", "--json")
    assert res.exit_code == 0, res.output
    assert Path("userseg.duckdb").exists()


def test_the_rule_is_in_the_cli_reference() -> None:
    from conftest import cli_reference

    from userseg.cli.options import CONFIG_RULE

    assert CONFIG_RULE in cli_reference()
    for command in ("ingest", "fit", "refresh"):
        help_text = run(command, "--help").stdout
        assert "flag given" in " ".join(help_text.split()), command
