"""The demo data, and the whole pipeline on it: the personas must come back."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pytest
from sklearn.metrics import adjusted_rand_score

from userseg import demo
from userseg.config import Source
from userseg.errors import ConfigError
from userseg.jobs import pipeline
from userseg.store import get_run, load_assignments, load_profiles


def test_generation_is_seeded_and_realistic() -> None:
    users, events, truth = demo.generate(2000, seed=3)
    users2, events2, _ = demo.generate(2000, seed=3)
    assert events.equals(events2) and users.equals(users2)
    ev = events.to_pandas()
    assert 40_000 < len(ev) < 120_000  # about 30 events a user
    assert set(ev.event_type) == {"view", "add_to_cart", "purchase", "refund", "rating"}
    shares = truth.to_pandas().persona.value_counts(normalize=True)
    assert set(shares.index) == {p.name for p in demo.PERSONAS}
    amounts = pd.to_numeric(ev.amount[ev.event_type == "purchase"], errors="coerce").dropna()
    assert amounts.max() > 20 * amounts.median()  # long-tailed spend
    # the mess of a real export
    assert (ev.user_id == "").sum() >= 1 and (ev.amount == "abc").sum() >= 1
    assert ev.duplicated(subset=["event_id"]).sum() >= 1
    assert ev.timestamp.str.startswith("2099").sum() >= 1
    u = users.to_pandas()
    assert (u.age == "").mean() > 0.02 and u.user_id.duplicated().sum() >= 1
    assert "persona" not in u.columns  # the truth never leaks into the features


def test_too_few_users() -> None:
    with pytest.raises(ConfigError, match="n_users=3"):
        demo.generate(3)


@pytest.mark.slow
def test_whole_pipeline_recovers_the_personas(demo_files, tmp_path) -> None:
    db = pipeline.open_db(tmp_path / "demo.duckdb")
    ev = pipeline.ingest(
        db, Source(path=str(demo_files["events"])), kind="events", mapping=demo.EVENT_MAPPING
    )
    pipeline.ingest(
        db, Source(path=str(demo_files["users"])), kind="users", mapping=demo.USER_MAPPING
    )
    fs = pipeline.features(db)
    run_id, seg = pipeline.fit(db)
    html, png = pipeline.report(db, run_id, tmp_path / "report.html")

    truth = pd.read_csv(demo_files["personas"]).set_index("user_id").persona
    assign = load_assignments(db, run_id).set_index("user_id")
    ari = adjusted_rand_score(truth.loc[assign.index], assign.segment)
    assert ari >= 0.8, f"ARI {ari:.3f}: {seg.k_choice_['reason']}"
    assert 5 <= seg.n_segments_ <= 7
    # tables filled
    assert ev.rows_loaded > 100_000 and fs.n_users == 3000
    assert len(assign) == 3000
    run = get_run(db, run_id)
    assert run.metrics["silhouette"] > 0.15 and run.data_fingerprint == fs.fingerprint
    assert {"prepare", "cluster", "evaluate", "store"} <= set(run.timings)
    profiles = load_profiles(db, run_id)
    assert sum(p.size for p in profiles) == 3000
    names = [p.name for p in profiles]
    assert len(set(names)) == len(names)
    for expected in ("serial returners", "one-time buyers", "New"):
        assert any(expected in n for n in names), names
    # report written, self-contained
    text = html.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', text)
    for name in names:
        assert name in text
    db.close()


def test_written_files_parse(tmp_path) -> None:
    paths = demo.write_demo(tmp_path, 300, seed=1)
    ev = pacsv.read_csv(paths["events"]).to_pandas()
    assert list(ev.columns) == [
        "event_id",
        "user_id",
        "timestamp",
        "event_type",
        "amount",
        "category",
        "session_id",
        "order_id",
        "rating",
    ]
    assert np.isin(pd.read_csv(paths["personas"]).persona, [p.name for p in demo.PERSONAS]).all()
