"""Texts arriving live (``POST /v1/events``, ``userseg stream``) update the user's text features."""

from __future__ import annotations

import asyncio
import json
import shutil

import duckdb
import httpx
import pytest
from typer.testing import CliRunner

from userseg.cli import app as cli
from userseg.errors import DataError
from userseg.io.database import Database
from userseg.io.segment_spec import parse_segment_events

pytest.importorskip("vaderSentiment")

from tests.test_text_ingest import FLAGS, UNHAPPY, write_log

runner = CliRunner()


def run(*args: object):
    return runner.invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Happy (u0..u29) and unhappy (u30..u59) reviewers, fitted into 2 segments."""
    tmp = tmp_path_factory.mktemp("live")
    src, db = tmp / "log.csv", tmp / "u.duckdb"
    write_log(src, n_users=60)
    assert run("ingest", src, "--db", db, *FLAGS).exit_code == 0
    assert run("features", "--db", db).exit_code == 0
    assert run("fit", "--db", db, "--k", 2).exit_code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        seg = dict(con.execute("SELECT user_id, segment FROM userseg_assignments").fetchall())
    return db, seg[f"u{0}"], seg[f"u{59}"]


@pytest.fixture
def copy(fitted, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copy(fitted[0], path)
    return path


def complaints(user: str, n: int = 12) -> list[dict]:
    return [
        {"type": "track", "userId": user, "event": "Product Reviewed", "messageId": f"{user}-c{i}",
         "timestamp": f"2024-04-{1 + i:02d}T10:00:00Z",
         "properties": {"text": UNHAPPY[i % len(UNHAPPY)]}}
        for i in range(n)
    ]


def test_live_texts_move_a_happy_user_to_the_unhappy_segment(fitted, copy) -> None:
    from userseg.features.build import compute_features
    from userseg.jobs.live import LiveScorer

    _, happy, unhappy = fitted
    with Database(copy) as db:
        scorer = LiveScorer(db)
        before = compute_features(db, scorer.features, ["u0"])["sentiment_mean"].iloc[0]
        out = scorer.record(complaints("u0"), now=None)
        assert out["texts"] == 12
        (user,) = out["users"]
        assert user["previous_segment"] == happy and user["segment"] == unhappy
        assert user["changed"] and user["name"].startswith("Unhappy")
        after = compute_features(db, scorer.features, ["u0"])["sentiment_mean"].iloc[0]
        assert before > 0 > after
        again = scorer.record(complaints("u0"))  # the same messages again: nothing new
        assert again["texts"] == 0 and again["accepted"] == 0
        from userseg.store.lineage import feature_freshness

        # the feature table now leaves these texts out: fit warns that it is stale
        changes = {c["table"]: c for c in feature_freshness(db, scorer.features).changes}
        assert changes["texts"]["rows_now"] - changes["texts"]["rows_then"] == 12


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (42, "must be text"),
        ({"a": 1}, "must be text"),
        ("x" * 1_000_000, "1,000,000 characters; at most 20,000"),
        ("ok\x00\x01\x02binary", "control or undecodable"),
    ],
)
def test_bad_live_text_is_refused_naming_the_field(text, words) -> None:
    msg = {"userId": "u1", "event": "Product Reviewed", "properties": {"text": text}}
    with pytest.raises(DataError) as err:
        parse_segment_events([{"userId": "u1", "event": "Viewed"}, msg])
    assert "events[1].properties.text" in err.value.message and words in err.value.message


def test_blank_live_text_is_no_text() -> None:
    (row,) = parse_segment_events({"userId": "u1", "event": "x", "properties": {"text": "  "}})
    assert row.text is None


def _post(app, url: str, body) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(url, json=body)

    return asyncio.run(go())


def test_service_events_accept_text_and_refuse_binary_with_422(fitted, copy) -> None:
    from userseg.serve import create_app

    app = create_app(copy, keys_required=False)
    try:
        res = _post(app, "/v1/events", complaints("u1", 3))
        assert res.status_code == 200, res.text
        assert res.json()["texts"] == 3
        bad = complaints("u1", 1)
        bad[0]["properties"]["text"] = "\x00\x00junk"
        res = _post(app, "/v1/events", bad)
        assert res.status_code == 422, res.text
        assert "properties.text" in res.json()["error"]["message"]
    finally:
        app.state.service.close()
    with duckdb.connect(str(copy), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM texts WHERE user_id = 'u1'").fetchone() == (8,)


def test_stream_stores_texts(fitted, copy, tmp_path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(m) for m in complaints("u2", 4)) + "\n")
    res = run("stream", source, "--db", copy, "--no-follow", "--json")
    assert res.exit_code == 0, res.output
    out = res.stdout.strip()
    stats = json.loads(out[out.rfind("\n{") + 1 :] if "\n{" in out else out)
    assert stats["texts"] == 4 and stats["accepted"] == 4


def test_text_features_recomputed_for_a_few_users_equal_the_build(fitted) -> None:
    import numpy as np

    from userseg.features.build import compute_features, load_features
    from userseg.store import get_feature_set, latest_feature_set

    with Database(fitted[0], read_only=True) as db:
        fs = get_feature_set(db, latest_feature_set(db).feature_set_id)
        built = load_features(db, fs)
        names = [f.name for f in fs.features if f.source == "texts"]
        assert {"sentiment_mean", "negative_share", "topic_0"} <= set(names)
        some = ["u3", "u31", "u58"]
        again = compute_features(db, fs, some)
    np.testing.assert_allclose(again.loc[some, names].to_numpy(float),
                               built.loc[some, names].to_numpy(float), rtol=1e-9, atol=1e-12)
