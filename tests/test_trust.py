"""Segments a business can trust: structure check, stability, rules, selection, map — end to end."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from userseg import Segmenter
from userseg.cli import app
from userseg.config import Source
from userseg.jobs import pipeline
from userseg.segment.params import FitConfig

runner = CliRunner()


def _uniform(n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.uniform(size=(n, 4)), columns=["a", "b", "c", "d"])


def _rule_data(n: int = 3000) -> pd.DataFrame:
    """VIPs are exactly the users with recency_days < 30 and monetary > 500."""
    rng = np.random.default_rng(1)
    vip = rng.uniform(size=n) < 0.3
    recency = np.where(vip, rng.uniform(1, 28, n), rng.uniform(35, 300, n))
    monetary = np.where(vip, rng.uniform(520, 3000, n), rng.uniform(5, 480, n))
    visits = np.where(vip, rng.poisson(20, n), rng.poisson(4, n)).astype(float)
    return pd.DataFrame({"recency_days": recency, "monetary": monetary, "visits": visits})


def test_uniform_data_is_called_structureless() -> None:
    seg = Segmenter(random_state=0).fit(_uniform())
    assert seg.has_structure is False
    assert seg.metrics_["structure"]["verdict"].startswith("no clear segments")
    assert seg.metrics_["stability"]["ari_mean"] < 0.9


def test_separated_groups_pass_and_are_stable_with_rules() -> None:
    df = _rule_data()
    seg = Segmenter(n_segments=2, random_state=0).fit(df)
    assert seg.has_structure is True
    assert seg.metrics_["stability"]["ari_mean"] > 0.95
    for p in seg.profiles_:
        assert p.stable and p.stability > 0.95
    vip = next(p for p in seg.profiles_ if p.means["monetary"] > 1000)
    assert vip.rule["precision"] >= 0.95 and vip.rule["recall"] >= 0.95
    con = duckdb.connect()
    con.register("features", df)
    chosen = con.execute(f"SELECT count(*) FROM features WHERE {vip.rule['where']}").fetchone()[0]
    assert chosen == int(((df.recency_days < 30) & (df.monetary > 500)).sum())
    assert set(seg.map_) >= {"x", "y", "index"} and len(seg.map_["x"]) == len(df)
    assert seg.selection_["kept"]  # the unsupervised ranking is there for the report


def test_target_selects_features_and_never_clusters_on_it() -> None:
    df = _rule_data()
    rng = np.random.default_rng(2)
    df["noise"] = rng.normal(size=len(df))
    df["responded"] = np.where((df.monetary > 500) & (rng.uniform(size=len(df)) < 0.9), "yes", "no")
    seg = Segmenter(n_segments=2, target="responded", random_state=0).fit(df)
    assert "responded" not in seg.feature_names_in_
    assert "monetary" in seg.selection_["kept"] and "noise" not in seg.selection_["kept"]
    assert "noise" not in seg.feature_names_in_
    with pytest.raises(Exception, match="target 'churn' is not a column"):
        Segmenter(target="churn").fit(df)


def test_report_and_cli_show_trust(tmp_path) -> None:
    path = tmp_path / "users.csv"
    _rule_data().rename_axis("user_id").reset_index().to_csv(path, index=False)
    db_path = tmp_path / "t.duckdb"
    assert (
        runner.invoke(app, ["ingest", str(path), "--kind", "users", "--db", str(db_path)]).exit_code
        == 0
    )
    assert runner.invoke(app, ["features", "--db", str(db_path)]).exit_code == 0
    res = runner.invoke(app, ["fit", "--db", str(db_path), "--k", "2"])
    assert res.exit_code == 0, res.output
    assert "clear segments" in res.stdout.lower() and "stable segments" in res.stdout.lower()
    res = runner.invoke(app, ["rules", "--db", str(db_path), "--sql"])
    assert res.exit_code == 0 and 'SELECT user_id FROM "features" WHERE' in res.stdout
    items = json.loads(runner.invoke(app, ["rules", "--db", str(db_path), "--json"]).stdout)
    assert max(i["precision"] for i in items) >= 0.95
    out = tmp_path / "r.html"
    assert runner.invoke(app, ["report", "--db", str(db_path), "--out", str(out)]).exit_code == 0
    html = out.read_text()
    for part in (
        "Is there any structure?",
        "Stability",
        "Rules",
        "Map of the users",
        "Feature selection",
        "Clear segments.",
    ):
        assert part in html, part
    res = runner.invoke(app, ["select", "--db", str(db_path), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["kept"]
    res = runner.invoke(app, ["select", "--db", str(db_path), "--target", "nope"])
    assert res.exit_code == 2 and "target 'nope' is not a feature" in res.stderr


def test_structureless_report_warns(tmp_path) -> None:
    path = tmp_path / "users.csv"
    _uniform().rename_axis("user_id").reset_index().to_csv(path, index=False)
    db = pipeline.open_db(tmp_path / "u.duckdb")
    pipeline.ingest(db, Source(path=str(path)), kind="users")
    pipeline.features(db)
    run_id, _ = pipeline.fit(db, FitConfig(k=3))
    html_path, _ = pipeline.report(db, run_id, tmp_path / "r.html")
    db.close()
    html = html_path.read_text()
    assert "No clear segments." in html and "treat them with care" in html


def test_same_data_same_numbers_names_and_rules() -> None:
    df = _rule_data()
    a = Segmenter(random_state=3).fit(df)
    b = Segmenter(random_state=3).fit(df.sample(frac=1.0, random_state=9).sort_index())
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.names_ == b.names_
    assert [p.rule["where"] for p in a.profiles_] == [p.rule["where"] for p in b.profiles_]
