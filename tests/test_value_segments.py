"""Value tiers on the demo shop, and churn risk and expected value per segment of any run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from userseg import demo
from userseg.config import Source
from userseg.jobs import pipeline
from userseg.value import customer_value, value_tiers
from userseg.value.segments import segment_value

#: Planted beside the shop's personas: big repeat buyers who stopped 4-7 months ago.
LAPSING = dataclasses.replace(
    demo.PERSONAS[0],
    name="lapsing_buyers",
    share=0.10,
    active_from=(300, 365),
    active_until=(120, 200),
)


def _purchases(events) -> pd.DataFrame:
    ev = events.to_pandas()
    ev = ev[ev["event_type"].isin(["purchase", "refund"])]
    return pd.DataFrame(
        {
            "user_id": ev["user_id"],
            "ts": pd.to_datetime(ev["timestamp"]),
            "event": ev["event_type"],
            "amount": ev["amount"].astype(float),
        }
    )


def test_value_tiers_on_the_demo_shop_find_planted_high_spenders_and_lapsing_buyers() -> None:
    _, events, truth = demo.generate(6000, seed=0, messy=False, personas=(*demo.PERSONAS, LAPSING))
    res = customer_value(_purchases(events))
    tiers = value_tiers(res.frame)  # default thresholds: the top fifth, P(alive) < 0.5
    persona = truth.to_pandas().set_index("user_id")["persona"].reindex(tiers.labels.index)
    high = persona[tiers.labels == "high value"]
    at_risk = persona[tiers.labels == "at risk"]
    # precision: who the tier holds is mostly the planted group (serial returners' gross
    # spend is high, so the tier reads spend net of refunds)
    assert (high == "loyal_high_spenders").mean() >= 0.8, high.value_counts()
    assert (at_risk == "lapsing_buyers").mean() >= 0.8, at_risk.value_counts()
    assert len(high) >= 300 and len(at_risk) >= 300


def test_segment_value_per_segment_and_notes() -> None:
    _, events, truth = demo.generate(2000, seed=1, messy=False)
    log = _purchases(events)
    t = truth.to_pandas()
    segments = (t["persona"] == "loyal_high_spenders").astype(int).to_numpy()
    figures, notes = segment_value(log, t["user_id"], segments)
    assert set(figures) == {0, 1}
    for f in figures.values():
        assert 0 <= f["churn_risk"] <= 1 and f["customers"] > 0 and f["value_mean"] > 0
    # the loyal high spenders are worth more and less likely to have left
    assert figures[1]["value_mean"] > 3 * figures[0]["value_mean"]
    assert figures[1]["churn_risk"] < figures[0]["churn_risk"]
    # no repeat buyer: no figures, a note saying why
    once = log.groupby("user_id").head(1)
    figures, notes = segment_value(once, once["user_id"], np.zeros(len(once), int))
    assert figures == {} and "no customer has a repeat purchase" in notes[0]


@pytest.fixture(scope="module")
def fitted(demo_files, tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("seg_value") / "shop.duckdb"
    with pipeline.open_db(path) as db:
        pipeline.ingest(
            db, Source(path=str(demo_files["events"])), kind="events", mapping=demo.EVENT_MAPPING
        )
        pipeline.features(db)
        run_id, _ = pipeline.fit(db)
    return path, run_id


def test_every_run_shows_churn_risk_and_value_per_segment(fitted, tmp_path) -> None:
    from userseg.store import load_profiles

    path, run_id = fitted
    with pipeline.open_db(path) as db:
        profiles = load_profiles(db, run_id)
        html, _ = pipeline.report(db, run_id, tmp_path / "r.html")
    for p in profiles:
        assert p.value is not None, p.name
        assert 0 <= p.value["churn_risk"] <= 1 and p.value["value_mean"] >= 0
        assert p.value["customers"] <= p.size
    text = html.read_text()
    assert "churn risk" in text and "expected value" in text


def test_segments_command_shows_churn_risk(fitted) -> None:
    from typer.testing import CliRunner

    from userseg.cli.app import app

    path, run_id = fitted
    out = CliRunner().invoke(app, ["segments", str(run_id), "--db", str(path)])
    assert out.exit_code == 0, out.output
    assert "churn" in out.output and "exp. value" in out.output
    out = CliRunner().invoke(app, ["segments", str(run_id), "--db", str(path), "--json"])
    assert all("churn_risk" in s["value"] for s in json.loads(out.output))


def test_a_run_without_an_event_log_says_value_was_not_computed(demo_files, tmp_path) -> None:
    with pipeline.open_db(tmp_path / "users.duckdb") as db:
        pipeline.ingest(
            db, Source(path=str(demo_files["users"])), kind="users", mapping=demo.USER_MAPPING
        )
        pipeline.features(db)
        _, seg = pipeline.fit(db)
    assert all(p.value is None for p in seg.profiles_)
    assert any("value per segment not computed" in n for n in seg.notes_)
