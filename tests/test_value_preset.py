"""`userseg fit --preset value`: the value tiers as a stored run (issue 12 item 2).

The demo shop with a planted group of lapsing big buyers is imported, its features built,
and the preset fitted through the command line; the run is then used like any other
(report, segments, assign, the service, audiences)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from userseg import demo
from userseg.cli.app import app as cli
from userseg.config import Source
from userseg.jobs import pipeline
from userseg.store import (
    get_feature_set,
    get_run,
    latest_feature_set,
    load_assignments,
    load_profiles,
    open_database,
)
from userseg.value import TIERS, customer_value, value_tiers

#: Planted beside the shop's personas (as in test_value_segments): big repeat buyers who
#: stopped 4-7 months before the end.
LAPSING = dataclasses.replace(
    demo.PERSONAS[0],
    name="lapsing_buyers",
    share=0.10,
    active_from=(300, 365),
    active_until=(120, 200),
)


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("value_preset")
    _, events, truth = demo.generate(6000, seed=0, messy=False, personas=(*demo.PERSONAS, LAPSING))
    pacsv.write_csv(events, tmp / "events.csv")
    path = tmp / "shop.duckdb"
    with pipeline.open_db(path) as db:
        pipeline.ingest(
            db, Source(path=str(tmp / "events.csv")), kind="events", mapping=demo.EVENT_MAPPING
        )
        pipeline.features(db)
    out = _invoke("fit", "--preset", "value", "--db", path)
    assert out.exit_code == 0, out.output
    run_id = int(out.output.rsplit("run id:", 1)[1].split()[0])
    persona = truth.to_pandas().set_index("user_id")["persona"]
    return {"path": path, "tmp": tmp, "run": run_id, "output": out.output, "persona": persona}


def _tiers(path: Path, run_id: int) -> pd.Series:
    with open_database(path, read_only=True) as db:
        a = load_assignments(db, run_id)
        names = {p.segment: p.name for p in load_profiles(db, run_id)}
    return pd.Series(a["segment"].map(names).to_numpy(), index=a["user_id"].astype(str))


def test_preset_value_stores_the_tiers_as_a_run(shop) -> None:
    tiers = _tiers(shop["path"], shop["run"])
    with open_database(shop["path"], read_only=True) as db:
        run = get_run(db, shop["run"])
        fs = get_feature_set(db, run.feature_set_id)
        expected = value_tiers(customer_value(db, as_of=fs.as_of).frame)
        profiles = load_profiles(db, shop["run"])
    assert run.algorithm == "value_tiers" and run.config["preset"] == "value"
    assert {p.name for p in profiles} == set(TIERS)  # named segments, every tier found here
    # the same tiers as the value library's at the feature set's as-of date, user by user
    exp = expected.labels.astype(str)
    exp.index = exp.index.astype(str)
    pd.testing.assert_series_equal(tiers.sort_index(), exp.sort_index(), check_names=False)
    # the thresholds are stated: in the run and in the command's output
    t = run.config["value_tiers"]
    assert t["past_value_min"] == pytest.approx(expected.thresholds["past_value_min"])
    assert t["p_alive_threshold"] == 0.5 and t["high_quantile"] == 0.8
    assert f"{t['past_value_min']:,.2f}" in shop["output"] and "P(alive) < 0.5" in shop["output"]
    # churn risk per segment, highest in "at risk"
    risk = {p.name: p.value["churn_risk"] for p in profiles}
    assert max(risk, key=risk.get) == "at risk" and "churn risk" in shop["output"]


def test_preset_value_finds_the_planted_high_spenders_and_lapsing_buyers(shop) -> None:
    tiers = _tiers(shop["path"], shop["run"])
    persona = shop["persona"].reindex(tiers.index)
    high = (persona[tiers == "high value"] == "loyal_high_spenders").mean()
    risk = (persona[tiers == "at risk"] == "lapsing_buyers").mean()
    print(
        f"value tiers on the demo shop (6,000 users + lapsing buyers): precision high value "
        f"{high:.3f} ({(tiers == 'high value').sum()} users), at risk {risk:.3f} "
        f"({(tiers == 'at risk').sum()} users)"
    )
    assert high >= 0.8 and risk >= 0.8


def test_a_value_tier_run_is_used_like_any_other(shop, tmp_path) -> None:
    path, run_id = shop["path"], shop["run"]
    # assign replays the tiers exactly from `userseg value --out`'s columns
    values = tmp_path / "values.csv"
    with open_database(path, read_only=True) as db:
        fs = get_feature_set(db, get_run(db, run_id).feature_set_id)
    out = _invoke("value", "--db", path, "--as-of", fs.as_of.isoformat(), "--out", values)
    assert out.exit_code == 0, out.output
    out = _invoke("assign", values, "--db", path, "--run", run_id, "--json")
    assert out.exit_code == 0, out.output
    got = pd.DataFrame(json.loads(out.output)["assignments"]).set_index("user_id")["name"]
    tiers = _tiers(path, run_id)
    assert (got.reindex(tiers.index) == tiers).all()
    assert (pd.read_csv(values).set_index("user_id")["tier"].reindex(tiers.index) == tiers).all()
    # the report and the segments table show the tiers and their churn risk
    out = _invoke("report", run_id, "--db", path, "--out", tmp_path / "r.html")
    assert out.exit_code == 0, out.output
    html = (tmp_path / "r.html").read_text()
    assert "at risk" in html and "churn risk" in html and "value tiers by rule" in html
    out = _invoke("segments", run_id, "--db", path)
    assert out.exit_code == 0 and "potential high value" in out.output and "churn" in out.output
    # an audience of the at-risk tier holds exactly its customers
    with open_database(path, read_only=True) as db:
        at_risk = next(p for p in load_profiles(db, run_id) if p.name == "at risk")
    out = _invoke(
        "audience", "create", "rescue", "--db", path, "--run", run_id,
        "--segments", at_risk.segment, "--json",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["version"]["n_members"] == at_risk.size


def test_the_service_scores_with_the_tier_rules(shop) -> None:
    pytest.importorskip("fastapi", reason="the serve extra (fastapi) is needed")
    from userseg.serve import create_app

    app = create_app(shop["path"], run_id=shop["run"], keys_required=False)
    rich = {"spend_net": 1e6, "value": 1e6, "p_alive": 0.99}
    lapsed = {"spend_net": 1e6, "value": 10.0, "p_alive": 0.01}
    newcomer = {"spend_net": 0.0, "value": 1e6, "p_alive": 1.0}

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = {"users": [{"features": f} for f in (rich, lapsed, newcomer)]}
            return await client.post("/v1/assign", json=body)

    try:
        r = asyncio.run(go())
    finally:
        app.state.service.close()
    assert r.status_code == 200, r.text
    names = [u["name"] for u in r.json()["users"]]
    assert names == ["high value", "at risk", "potential high value"]


def test_thresholds_are_adjustable(shop) -> None:
    path = shop["path"]
    out = _invoke("fit", "--preset", "value", "--db", path, "--p-alive-threshold", "0.9", "--json")
    assert out.exit_code == 0, out.output
    loose = json.loads(out.output)
    sizes = {s["name"]: s["size"] for s in loose["segments"]}
    default = _tiers(path, shop["run"]).value_counts()
    assert sizes["at risk"] > default["at risk"]
    assert loose["config"]["value_tiers"]["p_alive_threshold"] == 0.9
    args = ["--past-value-min", "500", "--predicted-value-min", "250", "--json"]
    out = _invoke("fit", "--preset", "value", "--db", path, *args)
    assert out.exit_code == 0, out.output
    t = json.loads(out.output)["config"]["value_tiers"]
    assert (t["past_value_min"], t["predicted_value_min"], t["high_quantile"]) == (500, 250, None)
    tiers = _tiers(path, json.loads(out.output)["run_id"])
    with open_database(path, read_only=True) as db:
        frame = customer_value(db, as_of=latest_feature_set(db).as_of).frame
    high = frame.index[(frame["spend_net"] >= 500) & (frame["p_alive"] >= 0.5)].astype(str)
    assert set(tiers[tiers == "high value"].index) == set(high)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--preset", "rfm"], "--preset 'rfm' is not one of value"),
        (["--preset", "value", "--high-quantile", "1.5"], "high_quantile=1.5 should be in (0, 1)"),
        (["--preset", "value", "--high-quantile", "0"], "high_quantile=0.0 should be in (0, 1)"),
        (["--preset", "value", "--p-alive-threshold", "-0.1"], "p_alive_threshold=-0.1"),
        (["--preset", "value", "--p-alive-threshold", "nan"], "p_alive_threshold=nan"),
        (["--preset", "value", "--past-value-min", "inf"], "past_value_min=inf"),
        (["--preset", "value", "--k", "4"], "--k do not apply"),
        (["--preset", "value", "--algorithm", "gmm"], "--algorithm do not apply"),
        (["--p-alive-threshold", "0.3"], "add --preset value"),
    ],
)
def test_bad_preset_input_exits_2_and_stores_nothing(shop, args, words) -> None:
    with open_database(shop["path"], read_only=True) as db:
        before = db.scalar("SELECT count(*) FROM userseg_runs")
    out = _invoke("fit", "--db", shop["path"], *args)
    assert out.exit_code == 2, out.output
    assert words in " ".join(out.output.split()), out.output
    with open_database(shop["path"], read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM userseg_runs") == before


def test_preset_value_without_purchases_exits_2(tmp_path) -> None:
    rows = [(f"u{i}", f"2024-01-{1 + i % 28:02d} 10:00:00", "view") for i in range(60)]
    csv = tmp_path / "views.csv"
    pd.DataFrame(rows, columns=["user", "ts", "kind"]).to_csv(csv, index=False)
    db = tmp_path / "views.duckdb"
    out = _invoke("ingest", csv, "--db", db, "--user-id", "user", "--time", "ts", "--event", "kind")
    assert out.exit_code == 0, out.output
    assert _invoke("features", "--db", db).exit_code == 0
    out = _invoke("fit", "--preset", "value", "--db", db)
    assert out.exit_code == 2, out.output
    assert "purchase" in out.output
    with open_database(db, read_only=True) as d:
        assert d.scalar("SELECT count(*) FROM userseg_runs") == 0


def test_value_tiers_family_refuses_other_columns() -> None:
    from userseg import Segmenter
    from userseg.errors import ConfigError

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 2)), columns=["a", "b"])
    with pytest.raises(ConfigError, match="value_tiers reads 3 columns"):
        Segmenter(algorithm="value_tiers").fit(X)
