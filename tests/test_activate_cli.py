"""Audiences, exports and campaigns through the command line (issue 11 wiring).

Each command runs through Typer's runner on a copy of a small fitted demo
database; bad input is exit 2 with nothing stored or written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from userseg import demo
from userseg.activate import columns_of, parse_where, verify_signature
from userseg.cli import app
from userseg.config import Source
from userseg.features.build import load_features
from userseg.jobs import pipeline
from userseg.segment.params import FitConfig
from userseg.store import activation as st
from userseg.store import get_feature_set, get_run, load_assignments, open_database

runner = CliRunner()
SECRET = "s3cret-shared-with-the-receiver-0123"


def run(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def js(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def lean_fit(**kwargs: Any) -> FitConfig:
    return FitConfig(stability_runs=0, structure=False, rules=False, **kwargs)


@pytest.fixture(scope="module")
def shop(tmp_path_factory, demo_files) -> Path:
    """The small demo shop fitted once (run 1, k=4), with contact columns in its user table."""
    path = tmp_path_factory.mktemp("activate") / "shop.duckdb"
    db = pipeline.open_db(path)
    try:
        pipeline.ingest(
            db, Source(path=str(demo_files["events"])), kind="events", mapping=demo.EVENT_MAPPING
        )
        pipeline.ingest(
            db, Source(path=str(demo_files["users"])), kind="users", mapping=demo.USER_MAPPING
        )
        pipeline.features(db)
        pipeline.fit(db, lean_fit(k=4))
        # contact details for the customer-match exports (the demo has none)
        db.execute("ALTER TABLE users ADD COLUMN email VARCHAR")
        db.execute("ALTER TABLE users ADD COLUMN phone VARCHAR")
        db.execute(
            "UPDATE users SET email = '  ' || upper(CAST(user_id AS VARCHAR)) || '@Example.com ',"
            " phone = '+1 650 555 ' || lpad(CAST(hash(user_id) % 10000 AS VARCHAR), 4, '0')"
        )
    finally:
        db.close()
    return path


@pytest.fixture
def db(shop, tmp_path) -> Path:
    copy = tmp_path / "shop.duckdb"
    shutil.copy(shop, copy)
    return copy


def stored(path: Path, fn: Any) -> Any:
    database = open_database(path)
    try:
        return fn(database)
    finally:
        database.close()


def table_counts(path: Path) -> dict[str, int]:
    tables = [
        "userseg_audiences",
        "userseg_audience_versions",
        "userseg_audience_members",
        "userseg_exports",
        "userseg_campaigns",
        "userseg_campaign_arms",
        "userseg_campaign_measurements",
    ]
    return stored(path, lambda d: {t: int(d.scalar(f"SELECT count(*) FROM {t}")) for t in tables})


def big_segments(path: Path, n: int = 2) -> list[int]:
    a = stored(path, lambda d: load_assignments(d, get_run(d).run_id))
    return sorted(a["segment"].value_counts().index[:n].tolist())


# -- audiences ---------------------------------------------------------------------------------
def test_audience_by_segments_and_filter_holds_exactly_the_selected_users(db) -> None:
    segs = big_segments(db)
    out = js(
        run(
            "audience",
            "create",
            "vip",
            "--db",
            db,
            "--segments",
            ",".join(map(str, segs)),
            "--where",
            "recency_days < 60 and monetary >= 50",
            "--json",
        )
    )
    assert out["version"]["version"] == 1 and out["audience"]["run_spec"] == "latest"

    def truth(d):
        run_ = get_run(d)
        a = load_assignments(d, run_.run_id)
        feats = load_features(d, get_feature_set(d, run_.feature_set_id))
        f = parse_where("recency_days < 60 and monetary >= 50", columns_of(feats))
        chosen = set(feats.index[f.evaluate(feats)].astype(str))
        return set(a[a["segment"].isin(segs) & a["user_id"].isin(chosen)]["user_id"])

    expected = stored(db, truth)
    members = stored(db, lambda d: st.load_members(d, st.get_audience(d, "vip").audience_id, 1))
    assert set(members["user_id"]) == expected and len(members) == len(expected) > 50
    assert out["version"]["n_members"] == len(expected)

    shown = js(run("audience", "show", "vip", "--db", db, "--json"))
    assert sum(shown["segments"].values()) == len(expected)
    assert set(map(int, shown["segments"])) <= set(segs)
    listed = js(run("audience", "list", "--db", db, "--json"))["audiences"]
    assert [a["name"] for a in listed] == ["vip"]
    assert listed[0]["where"] == "recency_days < 60 and monetary >= 50"
    table = run("audience", "list", "--db", db)
    assert table.exit_code == 0 and "vip" in table.stdout


def test_an_audience_follows_stable_segment_ids_after_a_refit_and_diff_says_who_moved(db) -> None:
    seg = big_segments(db, 1)[0]
    js(run("audience", "create", "core", "--db", db, "--segments", seg, "--json"))
    database = pipeline.open_db(db)
    try:  # a refit with another k, its segments matched to run 1 (stable ids)
        run2, _ = pipeline.fit(database, lean_fit(k=5, random_state=3), previous_run="latest")
    finally:
        database.close()
    refreshed = js(run("audience", "refresh", "core", "--db", db, "--json"))
    assert refreshed["version"]["version"] == 2 and refreshed["version"]["run_id"] == run2

    def users(d, run_id):
        a = load_assignments(d, run_id)
        return set(a[a["segment"] == seg]["user_id"])

    old, new = stored(db, lambda d: users(d, 1)), stored(db, lambda d: users(d, run2))
    members = stored(db, lambda d: st.load_members(d, st.get_audience(d, "core").audience_id, 2))
    assert set(members["user_id"]) == new  # the same stable id, on the new run
    diff = js(run("audience", "diff", "core", "--db", db, "--json"))
    assert {r["user_id"] for r in diff["joined"]} == new - old
    assert {r["user_id"] for r in diff["left"]} == old - new
    assert diff["n_joined"] + len(old) - diff["n_left"] == len(new)
    text = run("audience", "diff", "core", "--db", db)
    assert text.exit_code == 0 and "joined" in text.stdout and "left" in text.stdout


def test_audience_bad_input_is_exit_2_and_stores_nothing(db) -> None:
    before = table_counts(db)
    cases = [
        (["--where", "recncy_days < 30"], "did you mean 'recency_days'"),
        (["--where", "recency_days < 30; DROP TABLE users"], "unsupported"),
        (["--segments", "1,x"], "not a segment id"),
        (["--segments", "99"], "has no segment 99"),
        (["--run", "7"], "run 7 not found"),
        (["--where", "recency_days < -1"], "selects no users"),
    ]
    for flags, words in cases:
        res = run("audience", "create", "a", "--db", db, *flags)
        assert res.exit_code == 2, (flags, res.output)
        assert words in res.output, (flags, res.output)
    assert table_counts(db) == before
    js(run("audience", "create", "a", "--db", db, "--json"))
    again = run("audience", "create", "a", "--db", db)
    assert again.exit_code == 2 and "exists already" in again.output
    for cmd in (
        ["audience", "show", "nope"],
        ["audience", "refresh", "nope"],
        ["export", "nope", "--to", db.parent / "x.csv"],
        ["campaign", "create", "c", "--audience", "nope"],
    ):
        res = run(*cmd, "--db", db)
        assert res.exit_code == 2 and "audience 'nope' not found" in res.output, res.output
    one = run("audience", "diff", "a", "--db", db)
    assert one.exit_code == 2 and "one version only" in one.output
    assert not (db.parent / "x.csv").exists()


# -- exports -----------------------------------------------------------------------------------
def test_member_files_are_written_and_every_export_is_recorded(db, tmp_path) -> None:
    js(run("audience", "create", "all", "--db", db, "--json"))
    members = stored(db, lambda d: st.load_members(d, 1, 1))
    csv_out = js(run("export", "all", "--to", tmp_path / "m.csv", "--db", db, "--json"))
    got = pd.read_csv(tmp_path / "m.csv", dtype={"user_id": str})
    assert got.to_dict("list") == members.astype({"segment": "int64"}).to_dict("list")
    assert csv_out["n_written"] == len(members) and csv_out["version"] == 1
    pq = js(run("export", "all", "--to", tmp_path / "m.parquet", "--db", db, "--json"))
    assert len(pd.read_parquet(tmp_path / "m.parquet")) == len(members)

    small = run("export", "all", "--to", tmp_path / "s.csv", "--min-size", 10**6, "--db", db)
    assert small.exit_code == 2 and "under the minimum of 1000000" in small.output
    assert not (tmp_path / "s.csv").exists()
    over = js(
        run(
            "export",
            "all",
            "--to",
            tmp_path / "s.csv",
            "--min-size",
            10**6,
            "--allow-small",
            "--db",
            db,
            "--json",
        )
    )
    assert over["size_override"] is True and (tmp_path / "s.csv").exists()

    shown = js(run("audience", "show", "all", "--db", db, "--json"))
    records = {e["export_id"]: e for e in shown["exports"]}
    assert set(records) == {csv_out["export_id"], pq["export_id"], over["export_id"]}
    rec = records[over["export_id"]]
    assert (rec["destination"], rec["version"], rec["n_written"], rec["min_size"]) == (
        "csv",
        1,
        len(members),
        10**6,
    )
    assert rec["size_override"] is True and records[csv_out["export_id"]]["size_override"] is False
    assert rec["target"] == str(tmp_path / "s.csv") and rec["status"] == "done"


def test_customer_match_files_are_normalised_and_hashed(db, tmp_path) -> None:
    js(run("audience", "create", "all", "--db", db, "--json"))
    meta = js(run("export", "all", "--to", f"meta:{tmp_path / 'meta.csv'}", "--db", db, "--json"))
    google = js(run("export", "all", "--to", f"google:{tmp_path / 'g.csv'}", "--db", db, "--json"))
    members = stored(db, lambda d: st.load_members(d, 1, 1))
    assert meta["n_written"] == google["n_written"] == len(members)
    m = pd.read_csv(tmp_path / "meta.csv", dtype=str)
    assert list(m.columns) == ["email", "phone"]
    want = sorted(
        hashlib.sha256(f"{u.upper()}@Example.com".strip().lower().encode()).hexdigest()
        for u in members["user_id"]
    )
    assert sorted(m["email"]) == want  # trimmed, lower-cased, SHA-256
    text = (tmp_path / "meta.csv").read_text() + (tmp_path / "g.csv").read_text()
    assert "@" not in text and "example" not in text.lower()  # never a raw e-mail
    assert list(pd.read_csv(tmp_path / "g.csv", dtype=str).columns) == ["Email", "Phone"]
    bad = run(
        "export", "all", "--to", f"meta:{tmp_path / 'x.csv'}", "--contact", "email=mail", "--db", db
    )
    assert bad.exit_code == 2 and "lacks the contact column(s) 'mail'" in bad.output


def test_an_unwritable_export_path_is_exit_2_with_nothing_written_or_recorded(db, tmp_path) -> None:
    js(run("audience", "create", "all", "--db", db, "--json"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    before = table_counts(db)
    for target in (
        tmp_path / "missing" / "m.csv",
        blocker / "m.csv",
        tmp_path,
        f"meta:{tmp_path / 'nope' / 'm.csv'}",
    ):
        res = run("export", "all", "--to", target, "--db", db)
        assert res.exit_code == 2, (target, res.output)
        assert "cannot write" in res.output or "expected members.csv" in res.output
    assert table_counts(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "shop.duckdb"] + (
        ["shop.duckdb.wal"] if (tmp_path / "shop.duckdb.wal").exists() else []
    )


class Receiver:
    """A webhook receiver on loopback: checks signatures, dedupes on the idempotency key."""

    def __init__(self) -> None:
        self.fail_from: int | None = None
        self.accepted: dict[str, dict[str, Any]] = {}
        self.posts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts += 1
                ok = verify_signature(body, self.headers.get("X-Userseg-Signature"), SECRET)
                payload = json.loads(body)
                if not ok:
                    code = 401
                elif outer.fail_from is not None and payload["batch"] >= outer.fail_from:
                    code = 500
                else:
                    outer.accepted.setdefault(self.headers["Idempotency-Key"], payload)
                    code = 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_webhook_that_answers_500_fails_clearly_and_the_export_resumes_exactly_once(
    db, monkeypatch
) -> None:
    js(run("audience", "create", "all", "--db", db, "--json"))
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    rx = Receiver()
    try:
        flags = ["--secret-env", "HOOK_SECRET", "--batch-size", 500, "--max-attempts", 2]
        no_secret = run("export", "all", "--to", f"webhook:{rx.url}", "--db", db)
        assert no_secret.exit_code == 2 and "--secret-env" in no_secret.output
        unset = run(
            "export", "all", "--to", f"webhook:{rx.url}", "--secret-env", "NOPE_X", "--db", db
        )
        assert unset.exit_code == 2 and "NOPE_X is not set" in unset.output
        assert rx.posts == 0

        rx.fail_from = 3  # batches 1 and 2 arrive, then 500 forever
        res = run("export", "all", "--to", f"webhook:{rx.url}", *flags, "--db", db, "--json")
        assert res.exit_code == 2
        err = json.loads(res.stdout)["error"]
        assert err["code"] == "export_error" and "failed on batch 3 of 6" in err["message"]
        assert "HTTP 500" in err["message"] and "--resume" in err["message"]
        assert SECRET not in res.output
        export_id = err["details"]["resume"]
        rec = stored(db, lambda d: st.get_export(d, export_id))
        assert rec["status"] == "failed" and rec["version"] == 1
        assert len(rx.accepted) == 2

        rx.fail_from = None
        done = js(
            run(
                "export",
                "all",
                "--to",
                f"webhook:{rx.url}",
                *flags,
                "--resume",
                export_id,
                "--db",
                db,
                "--json",
            )
        )
        assert done["extra"]["resumed_from"] == 3 and done["extra"]["sent_this_call"] == 4
        members = stored(db, lambda d: st.load_members(d, 1, 1))
        delivered = [m["user_id"] for p in rx.accepted.values() for m in p["members"]]
        assert sorted(delivered) == sorted(members["user_id"])  # everyone, nobody twice
        assert sorted(p["batch"] for p in rx.accepted.values()) == [1, 2, 3, 4, 5, 6]
        assert stored(db, lambda d: st.get_export(d, export_id))["status"] == "done"
    finally:
        rx.close()


# -- campaigns ---------------------------------------------------------------------------------
def outcomes_file(path: Path, arms: pd.DataFrame, *, extra_users: int = 0) -> Path:
    """Outcomes with a planted lift: treatment converts at 30 %, control at 10 %."""
    rng = np.random.default_rng(5)
    p = np.where(arms["arm"] == "treatment", 0.3, 0.1)
    conv = rng.random(len(arms)) < p
    frame = pd.DataFrame(
        {
            "user_id": arms["user_id"],
            "converted": np.where(conv, "yes", "no"),
            "revenue": np.round(conv * rng.gamma(2.0, 20.0, len(arms)), 2),
        }
    )
    if extra_users:
        extra = pd.DataFrame(
            {
                "user_id": [f"stranger{i}" for i in range(extra_users)],
                "converted": "yes",
                "revenue": 5.0,
            }
        )
        frame = pd.concat([frame, extra], ignore_index=True)
    frame.to_csv(path, index=False)
    return path


def test_a_campaign_is_created_planned_and_measured(db, tmp_path) -> None:
    js(run("audience", "create", "all", "--db", db, "--json"))
    plan = js(
        run(
            "campaign",
            "plan",
            "--audience",
            "all",
            "--holdout",
            "20%",
            "--start",
            "2026-06-01",
            "--relative-effect",
            0.2,
            "--db",
            db,
            "--json",
        )
    )
    assert {"mde_abs", "holdout_needed", "baseline_rate"} <= set(plan["segments"][0])
    assert plan["baseline"] == "events" and len(plan["segments"]) == 4
    created = js(
        run(
            "campaign",
            "create",
            "spring",
            "--audience",
            "all",
            "--holdout",
            "20%",
            "--start",
            "2026-06-01",
            "--db",
            db,
            "--json",
        )
    )
    assert created["campaign"]["holdout"] == pytest.approx(0.2)
    arms = stored(db, lambda d: st.load_arms(d, 1))
    for _, g in arms.groupby("segment"):  # stratified: each segment within one user
        assert abs((g["arm"] == "control").sum() - 0.2 * len(g)) <= 1
    again = run("campaign", "create", "spring", "--audience", "all", "--db", db, "--allow-overlap")
    assert again.exit_code == 2 and "exists already" in again.output
    assert stored(db, lambda d: st.load_arms(d, 1)).equals(arms)  # arms never change

    path = outcomes_file(tmp_path / "out.csv", arms)
    res = js(
        run(
            "campaign",
            "measure",
            "spring",
            "--outcomes",
            path,
            "--chart",
            tmp_path / "lift.png",
            "--db",
            db,
            "--json",
        )
    )
    rows = {(r["segment"], r["metric"]): r for r in res["lift"]["rows"]}
    overall = rows[("all", "conversion")]
    assert overall["abs_low"] < 0.2 < overall["abs_high"] and overall["significant"]
    assert res["lift"]["correction"] == "holm"
    assert (tmp_path / "lift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = run("campaign", "measure", "spring", "--outcomes", path, "--db", db)
    assert text.exit_code == 0 and "Lift per segment" in text.stdout
    assert "Holm" in text.stdout

    # from the event log: the month after the start
    ev = js(run("campaign", "measure", "spring", "--days", 30, "--db", db, "--json"))
    assert ev["outcomes"]["source"] == "events"
    assert ev["outcomes"]["window"][0].startswith("2026-06-01")
    n = sum(
        r["n_treatment"] + r["n_control"]
        for r in ev["lift"]["rows"]
        if r["segment"] != "all" and r["metric"] == "conversion"
    )
    assert n == len(arms)

    report = run("report", "--db", db, "--out", tmp_path / "r.html")
    assert report.exit_code == 0, report.output
    html = (tmp_path / "r.html").read_text()
    assert "<h2>Campaigns</h2>" in html and "spring" in html and 'alt="lift per segment"' in html
    listed = js(run("campaign", "list", "--db", db, "--json"))["campaigns"]
    assert [c["name"] for c in listed] == ["spring"] and listed[0]["status"] == "running"


@pytest.mark.parametrize("holdout", ["0%", "100%", "0", "1", "-5%", "lots"])
def test_a_holdout_of_0_or_100_percent_is_exit_2_and_stores_nothing(db, holdout) -> None:
    js(run("audience", "create", "all", "--db", db, "--json"))
    before = table_counts(db)
    res = run("campaign", "create", "c", "--audience", "all", "--holdout", holdout, "--db", db)
    assert res.exit_code == 2 and "holdout" in res.output, res.output
    assert table_counts(db) == before


def test_outcomes_for_unknown_users_are_exit_2_unless_reported(db, tmp_path) -> None:
    js(run("audience", "create", "all", "--db", db, "--json"))
    js(run("campaign", "create", "c", "--audience", "all", "--db", db, "--json"))
    arms = stored(db, lambda d: st.load_arms(d, 1))
    path = outcomes_file(tmp_path / "o.csv", arms, extra_users=3)
    before = table_counts(db)
    res = run("campaign", "measure", "c", "--outcomes", path, "--db", db)
    assert res.exit_code == 2 and "stranger0" in res.output, res.output
    assert table_counts(db) == before  # no measurement stored
    for bad, words in (
        (tmp_path / "absent.csv", "not found"),
        (tmp_path / "empty.csv", "is empty"),
    ):
        if bad.name == "empty.csv":
            bad.write_text("")
        res = run("campaign", "measure", "c", "--outcomes", bad, "--db", db)
        assert res.exit_code == 2 and words in res.output, res.output
    ok = js(
        run(
            "campaign",
            "measure",
            "c",
            "--outcomes",
            path,
            "--unknown-users",
            "report",
            "--db",
            db,
            "--json",
        )
    )
    assert ok["outcomes"]["n_unknown"] == 3
    assert table_counts(db)["userseg_campaign_measurements"] == 1


def test_a_user_in_two_running_campaigns_is_refused_unless_allowed_and_recorded(db) -> None:
    """What happens: refused (exit 2, nothing stored) while the other campaign runs; with
    --allow-overlap both run with independent holdouts and the overlap is recorded and
    shown with the lift; once the first campaign ends, no flag is needed."""
    segs = big_segments(db)
    js(run("audience", "create", "a", "--segments", segs[0], "--db", db, "--json"))
    js(run("audience", "create", "b", "--segments", ",".join(map(str, segs)), "--db", db, "--json"))
    js(run("campaign", "create", "first", "--audience", "a", "--db", db, "--json"))
    before = table_counts(db)
    res = run("campaign", "create", "second", "--audience", "b", "--db", db, "--json")
    assert res.exit_code == 2
    err = json.loads(res.stdout)["error"]
    n_a = stored(db, lambda d: st.get_audience(d, "a").n_members)
    assert err["details"]["overlap"] == {"first": n_a}
    assert "already in running campaign(s): first" in err["message"]
    assert table_counts(db) == before

    both = js(
        run(
            "campaign",
            "create",
            "second",
            "--audience",
            "b",
            "--allow-overlap",
            "--db",
            db,
            "--json",
        )
    )
    assert both["campaign"]["overlap"]["campaigns"] == {"first": n_a}
    arms1 = stored(db, lambda d: st.load_arms(d, 1)).set_index("user_id")["arm"]
    arms2 = stored(db, lambda d: st.load_arms(d, 2)).set_index("user_id")["arm"]
    shared = arms1.index
    # independent holdouts: a user held out by one campaign may be treated by the other
    cross = pd.crosstab(arms1, arms2.loc[shared])
    assert cross.loc["control", "treatment"] > 0 and cross.loc["treatment", "control"] > 0

    js(run("campaign", "end", "first", "--db", db, "--json"))
    third = js(
        run(
            "campaign",
            "create",
            "third",
            "--audience",
            "a",
            "--db",
            db,
            "--allow-overlap",
            "--json",
        )
    )
    assert third["campaign"]["overlap"]["campaigns"] == {"second": n_a}
    js(run("campaign", "end", "second", "--db", db, "--json"))
    js(run("campaign", "end", "third", "--db", db, "--json"))
    fourth = js(run("campaign", "create", "fourth", "--audience", "a", "--db", db, "--json"))
    assert fourth["campaign"]["overlap"]["campaigns"] == {}


# -- lift, and campaigns fed back into segmentation ------------------------------------------
def _spring(db: Path, start: str = "2026-06-01") -> pd.DataFrame:
    js(run("audience", "create", "all", "--db", db, "--json"))
    js(
        run(
            "campaign",
            "create",
            "spring",
            "--audience",
            "all",
            "--holdout",
            "20%",
            "--start",
            start,
            "--db",
            db,
            "--json",
        )
    )
    return stored(db, lambda d: st.load_arms(d, 1))


def test_lift_is_the_campaign_measure_command_under_the_issues_name(db, tmp_path) -> None:
    """`userseg lift CAMPAIGN` is the same code as `campaign measure`: same options, same
    numbers, the same table, summary and picture; bad input is exit 2 likewise."""
    from userseg.cli import activate_cmds

    arms = _spring(db)
    path = outcomes_file(tmp_path / "out.csv", arms)
    lift_cmd = next(c for c in app.registered_commands if c.name == "lift")
    assert lift_cmd.callback is activate_cmds.campaign_measure  # an alias, not a copy
    by_lift = js(run("lift", "spring", "--outcomes", path, "--db", db, "--json"))
    by_measure = js(run("campaign", "measure", "spring", "--outcomes", path, "--db", db, "--json"))
    assert by_lift["lift"] == by_measure["lift"]
    text = run("lift", "spring", "--outcomes", path, "--chart", tmp_path / "l.png", "--db", db)
    assert text.exit_code == 0, text.output
    assert "Lift per segment" in text.stdout and "Holm" in text.stdout
    assert (tmp_path / "l.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    helps = [run(*cmd, "--help").stdout for cmd in (["lift"], ["campaign", "measure"])]
    for flag in ("--days", "--outcomes", "--unknown-users", "--correction", "--chart", "--json"):
        assert all(flag in h for h in helps), flag
    before = table_counts(db)
    for args, words in (
        (["nope"], "campaign 'nope' not found"),
        (["spring", "--metric", "clicks"], "--metric"),
    ):
        res = run("lift", *args, "--db", db)
        assert res.exit_code == 2 and words in res.output, res.output
    assert table_counts(db) == before


def test_fit_target_can_be_a_campaigns_response_from_the_event_log(db, tmp_path) -> None:
    """`fit --target campaign:NAME`: the treated users' conversion in the campaign's window
    (from the event log) is the target; the run shows its rate per segment with lift and
    a 95 % interval, recorded and in the report; an unknown campaign is exit 2."""
    from userseg.activate import outcomes_from_events

    arms = _spring(db, "2026-05-01")
    res = js(run("fit", "--k", 3, "--target", "campaign:spring", "--db", db, "--json"))
    out = res["outcome"]
    assert out["target"] == "campaign:spring" and out["kind"] == "rate"
    treated = arms.loc[arms["arm"] == "treatment", "user_id"]
    truth = stored(db, lambda d: outcomes_from_events(d, treated, "2026-05-01", days=30).frame)
    assert out["overall"]["n"] == len(treated)
    assert out["overall"]["value"] == pytest.approx(truth["converted"].mean())
    per = [p["outcome"] for p in res["segments"]]
    assert sum(s["n"] for s in per) == len(treated)
    for s in per:
        assert s["low"] <= s["value"] <= s["high"] and s["lift"] is not None
    run_id = res["run_id"]
    cfg = stored(db, lambda d: get_run(d, run_id).config)
    assert cfg["fit"]["target"] == "campaign:spring"
    text = run("fit", "--k", 3, "--target", "campaign:spring", "--db", db)
    assert text.exit_code == 0 and "campaign:spring" in text.stdout, text.output
    rep = run("report", "--db", db, "--out", tmp_path / "r.html")
    assert rep.exit_code == 0, rep.output
    assert "campaign:spring" in (tmp_path / "r.html").read_text()

    n_runs = stored(db, lambda d: int(d.scalar("SELECT count(*) FROM userseg_runs")))
    for target, words in (
        ("campaign:nope", "campaign 'nope' not found"),
        ("campaign:", "campaign name"),
    ):
        bad = run("fit", "--k", 3, "--target", target, "--db", db)
        assert bad.exit_code == 2 and words in bad.output, (target, bad.output)
    assert stored(db, lambda d: int(d.scalar("SELECT count(*) FROM userseg_runs"))) == n_runs


def test_the_report_names_each_segment_in_its_campaign_results(db, tmp_path) -> None:
    """The report's Campaigns section gives each segment's lift under its id and name, as
    the report's segment table names them (and escapes them)."""
    from html import escape

    from userseg.store import load_profiles

    arms = _spring(db)
    path = outcomes_file(tmp_path / "o.csv", arms)
    js(run("lift", "spring", "--outcomes", path, "--db", db, "--json"))
    js(run("rename", 1, 1, "<b>Bold & loyal</b>", "--db", db, "--json"))
    res = run("report", "--db", db, "--out", tmp_path / "r.html")
    assert res.exit_code == 0, res.output
    html = (tmp_path / "r.html").read_text()
    section = html.split("<h2>Campaigns</h2>")[1]
    profiles = stored(db, lambda d: load_profiles(d, get_run(d).run_id))
    for p in profiles:
        assert f"<td>{p.segment} · {escape(p.name)}</td>" in section, p.name
    assert "<b>Bold" not in section
