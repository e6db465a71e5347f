"""``ingest --text``: texts stored beside events or users, turned into per-user text features."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from userseg.cli import app

pytest.importorskip("vaderSentiment")

runner = CliRunner()

HAPPY = [
    "Love these strings, they sound wonderful and bright",
    "Great guitar strings, excellent tone, very happy",
    "Wonderful pedal, amazing sound, highly recommend it",
    "Perfect cable, works great, love it",
]
UNHAPPY = [
    "Terrible strings, they broke after a day, awful",
    "The pedal died in a week, horrible noise, very disappointed",
    "Awful cable, crackles and hums, waste of money",
    "Bad tuner, broken on arrival, worst purchase, angry",
]


def run(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args])


def write_log(path, *, n_users: int = 40, extra: list[str] | None = None) -> None:
    """An event log with a review per event: users 0..n/2 happy, the rest unhappy.

    Everyone buys alike (same times, same amounts): only their words set them apart.
    """
    rng = np.random.default_rng(0)
    lines = ["user,time,amount,review"]
    for u in range(n_users):
        pool = HAPPY if u < n_users // 2 else UNHAPPY
        for e in range(5):
            text = pool[int(rng.integers(len(pool)))].replace(",", ";")
            lines.append(f"u{u},2024-03-{1 + e * 5:02d} 10:00,12.50,{text}")
    lines += extra or []
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


FLAGS = ["--user-id", "user", "--time", "time", "--amount", "amount", "--text", "review"]


def test_ingest_text_stores_texts_and_features_read_them(tmp_path) -> None:
    src, db = tmp_path / "log.csv", tmp_path / "u.duckdb"
    write_log(src)
    res = run("ingest", src, "--db", db, *FLAGS)
    assert res.exit_code == 0, res.output
    res = run("features", "--db", db, "--json")
    assert res.exit_code == 0, res.output
    names = [f["name"] for f in json.loads(res.stdout)["features"]]
    for col in ("text_count", "sentiment_mean", "negative_share", "sentiment_trend"):
        assert col in names
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), min(origin) FROM texts").fetchone() == (200, "events")
        rows = con.execute(
            "SELECT user_id, sentiment_mean, negative_share, text_count FROM features"
        ).fetchall()
    happy = [s for u, s, _, _ in rows if int(u[1:]) < 20]
    unhappy = [s for u, s, _, _ in rows if int(u[1:]) >= 20]
    assert max(unhappy) < 0 < min(happy)
    assert {c for *_, c in rows} == {5}


def test_ingest_text_column_that_does_not_exist_exits_2_and_writes_nothing(tmp_path) -> None:
    src, db = tmp_path / "log.csv", tmp_path / "u.duckdb"
    write_log(src)
    flags = [*FLAGS[:-1], "comment"]
    res = run("ingest", src, "--db", db, *flags)
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert "comment" in out and "review" in out  # the missing and the available columns
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "events" not in tables and "texts" not in tables


def test_ingest_text_with_no_usable_text_exits_2_and_writes_nothing(tmp_path) -> None:
    src, db = tmp_path / "log.csv", tmp_path / "u.duckdb"
    src.write_text("user,time,amount,review\n" + "".join(
        f"u{i},2024-03-01 10:00,5.00,{'  ' if i % 2 else ''}\n" for i in range(20)))
    res = run("ingest", src, "--db", db, *FLAGS)
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert "'review'" in out and "no usable text" in out and "20 empty" in out
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "events" not in tables and "texts" not in tables


def test_ingest_text_counts_empty_binary_and_huge_texts(tmp_path) -> None:
    src, db = tmp_path / "log.csv", tmp_path / "u.duckdb"
    huge = "great sound " * 90_000  # ~1 MB in one field
    extra = [
        "u1,2024-04-01 10:00,1.00,",
        "u2,2024-04-01 10:00,1.00,\x00\x01\x02\ufffd\ufffdPK\x03\x04",
        f"u3,2024-04-01 10:00,1.00,{huge}",
    ]
    write_log(src, extra=extra)
    res = run("ingest", src, "--db", db, *FLAGS, "--json")
    assert res.exit_code == 0, res.output
    issues = {i["kind"]: i for i in json.loads(res.stdout)["issues"]}
    assert issues["empty_text"]["count"] == 1 and issues["empty_text"]["column"] == "review"
    assert issues["binary_text"]["count"] == 1
    assert issues["long_text"]["count"] == 1
    with duckdb.connect(str(db), read_only=True) as con:
        n_events = con.execute("SELECT count(*) FROM events").fetchone()[0]
        n_texts, longest = con.execute("SELECT count(*), max(length(text)) FROM texts").fetchone()
    assert n_events == 203  # every event is kept: a bad text is not a bad event
    assert n_texts == 201 and longest == 20_000
    res = run("features", "--db", db, "--json")
    assert res.exit_code == 0, res.output


def test_ingest_text_of_a_user_table(tmp_path) -> None:
    src, db = tmp_path / "users.csv", tmp_path / "u.duckdb"
    rows = ["id,age,bio"] + [
        f"{i},{20 + i % 40},{(HAPPY if i % 2 else UNHAPPY)[i % 4].replace(',', ';')}"
        for i in range(60)
    ]
    src.write_text("\n".join(rows) + "\n")
    res = run("ingest", src, "--db", db, "--kind", "users", "--user-id", "id", "--text", "bio")
    assert res.exit_code == 0, res.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), min(origin) FROM texts").fetchone() == (60, "users")
        cols = [r[0] for r in con.execute("DESCRIBE users").fetchall()]
    assert "bio" not in cols  # the text is a source of features, not an attribute
    res = run("features", "--db", db, "--json")
    assert res.exit_code == 0, res.output
    names = [f["name"] for f in json.loads(res.stdout)["features"]]
    assert "sentiment_mean" in names and "age" in names
    assert "sentiment_trend" not in names  # undated texts have no trend


def test_stored_text_length_matches_the_text_library() -> None:
    from userseg.io.texts import MAX_TEXT_CHARS
    from userseg.text import DEFAULT_MAX_CHARS

    assert MAX_TEXT_CHARS == DEFAULT_MAX_CHARS


def test_fit_names_unhappy_segment_and_report_shows_its_words(tmp_path) -> None:
    src, db = tmp_path / "log.csv", tmp_path / "u.duckdb"
    write_log(src, n_users=60)
    assert run("ingest", src, "--db", db, *FLAGS).exit_code == 0
    assert run("features", "--db", db).exit_code == 0
    res = run("fit", "--db", db, "--k", 2, "--json")
    assert res.exit_code == 0, res.output
    with duckdb.connect(str(db), read_only=True) as con:
        seg_of = dict(con.execute(
            "SELECT user_id, segment FROM userseg_assignments").fetchall())
        names = dict(con.execute("SELECT segment, name FROM userseg_profiles").fetchall())
    unhappy = {seg_of[f"u{u}"] for u in range(30, 60)}
    happy = {seg_of[f"u{u}"] for u in range(30)}
    assert len(unhappy) == 1 and unhappy.isdisjoint(happy)
    assert names[unhappy.pop()].startswith("Unhappy")
    assert not any(names[s].startswith("Unhappy") for s in happy)
    out = tmp_path / "r.html"
    res = run("report", "--db", db, "--out", out)
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "What each segment writes" in html
    assert "terrible" in html.split("What each segment writes")[1]


def test_top_words_are_suppressed_for_small_segments(tmp_path) -> None:
    import pandas as pd

    from userseg.features.text import segment_top_words
    from userseg.io.database import Database

    src, db_path = tmp_path / "log.csv", tmp_path / "u.duckdb"
    write_log(src, n_users=40)
    assert run("ingest", src, "--db", db_path, *FLAGS).exit_code == 0
    seg = pd.DataFrame({"user_id": [f"u{u}" for u in range(40)],
                        "segment": [0] * 20 + [1] * 11 + [2] * 9})
    with Database(db_path) as db:
        words = segment_top_words(db, seg, min_users=10)
    assert words[2] is None  # 9 users: not shown
    assert words[1] and words[0] and set(words[0]).isdisjoint(words[1][:3])
    assert {"terrible", "awful", "broke", "pedal"} & set(words[1])


def test_features_no_text_leaves_text_features_out(tmp_path) -> None:
    src, db = tmp_path / "log.csv", tmp_path / "u.duckdb"
    write_log(src)
    assert run("ingest", src, "--db", db, *FLAGS).exit_code == 0
    res = run("features", "--db", db, "--no-text", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert not any(f["source"] == "texts" for f in out["features"]) and out["text"] is None
    res = run("features", "--db", db, "--json")
    out = json.loads(res.stdout)
    assert out["text"]["topic_names"] is not None and "topics" not in out["text"]  # no matrices


def test_texts_follow_their_import_when_appended_or_replaced(tmp_path) -> None:
    src, db = tmp_path / "log.csv", tmp_path / "u.duckdb"
    write_log(src)
    users = tmp_path / "users.csv"
    users.write_text("id,age,bio\n" + "".join(
        f"u{i},{30 + i},{HAPPY[i % 4].replace(',', ';')}\n" for i in range(40)))

    def count(origin: str) -> int:
        with duckdb.connect(str(db), read_only=True) as con:
            q = "SELECT count(*) FROM texts WHERE origin = ?"
            return con.execute(q, [origin]).fetchone()[0]

    assert run("ingest", src, "--db", db, *FLAGS).exit_code == 0
    assert run("ingest", users, "--db", db, "--kind", "users", "--user-id", "id",
               "--text", "bio").exit_code == 0
    assert (count("events"), count("users")) == (200, 40)
    # the same export appended again: its events and texts are stored already
    assert run("ingest", src, "--db", db, *FLAGS, "--mode", "append").exit_code == 0
    assert count("events") == 200
    # the user table replaced without its text column: its texts go, the events' stay
    assert run("ingest", users, "--db", db, "--kind", "users", "--user-id", "id",
               "--exclude", "bio").exit_code == 0
    assert (count("events"), count("users")) == (200, 0)
    # the event log replaced without --text: its texts go
    assert run("ingest", src, "--db", db, *FLAGS[:-2]).exit_code == 0
    assert count("events") == 0


def test_a_mixed_language_log_gets_language_shares(tmp_path) -> None:
    src, db = tmp_path / "log.csv", tmp_path / "u.duckdb"
    zh_good, zh_bad = "酒店服务很好，房间干净，非常满意", "房间很脏，服务太差，非常失望"
    extra = [f"z{u},2024-03-{1 + e * 5:02d} 10:00,12.50,{zh_good if u < 10 else zh_bad}"
             for u in range(20) for e in range(5)]
    write_log(src, extra=extra)
    assert run("ingest", src, "--db", db, *FLAGS).exit_code == 0
    res = run("features", "--db", db, "--json")
    assert res.exit_code == 0, res.output
    names = [f["name"] for f in json.loads(res.stdout)["features"]]
    assert {"lang_en", "lang_zh"} <= set(names)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = dict(con.execute("SELECT user_id, lang_zh FROM features").fetchall())
        sent = dict(con.execute("SELECT user_id, sentiment_mean FROM features").fetchall())
    assert rows["z3"] == 1.0 and rows["u3"] == 0.0
    assert sent["z3"] > 0 > sent["z15"]  # Chinese is scored on the same scale
