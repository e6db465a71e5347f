"""Small groups (issue 13 item 4): nothing describing fewer than k users is shown.

Profiles in the API, ``userseg segments`` and the HTML report: a segment below
``min_group`` users keeps its id, its size and share become the marker ``"<k"`` and
nothing describes it; a category cell below k users in a larger segment is masked;
every answer says so.
"""

from __future__ import annotations

import json
import shutil

from test_privacy_forget import _call, _no_env_key, world  # noqa: F401 - fixtures
from typer.testing import CliRunner

from userseg.cli import app
from userseg.explain.profiles import SegmentProfile
from userseg.explain.small_groups import hide_small_groups
from userseg.jobs import pipeline
from userseg.store import get_run, load_profiles, open_database

runner = CliRunner()


def _profile(segment: int, size: int, categories=None) -> SegmentProfile:
    return SegmentProfile(
        segment=segment,
        size=size,
        share=size / 1000,
        means={"spend": 10.0 * size},
        zscores={"spend": 0.5},
        categories=categories or {},
        name=f"big spenders {segment}",
    )


def test_small_segments_and_cells_are_masked_and_said() -> None:
    profiles = [
        _profile(0, 990, {"plan": {"gold": 0.995, "basic": 0.005}}),
        _profile(1, 4),
        _profile(2, 6),
    ]
    shown = hide_small_groups(profiles, 10)
    big, small, _small2 = shown.profiles
    assert small["size"] == "<10" and small["share"] == "<10" and small["suppressed"] is True
    assert small["means"] == {} and small["zscores"] == {} and small["distinctions"] == []
    assert small["name"] == "segment 1"  # a generated name describes its users
    assert big["size"] == 990 and big["categories"]["plan"] == {"gold": 0.995, "basic": "<10"}
    assert shown.segments == [1, 2] and shown.cells == 1
    assert "fewer than 10 users" in shown.note()
    assert profiles[1].size == 4 and profiles[0].categories["plan"]["basic"] == 0.005  # untouched
    assert hide_small_groups(profiles, 1).segments == []  # 1 hides nothing


def _copy(made, tmp_path):
    folder, _key, _keys = made
    path = tmp_path / "w.duckdb"
    shutil.copy(folder / "w.duckdb", path)
    db = open_database(path)
    try:
        profiles = load_profiles(db, get_run(db).run_id)
    finally:
        db.close()
    smallest = min(profiles, key=lambda p: p.size)
    k = smallest.size + 1
    hidden = sorted(p.segment for p in profiles if p.size < k)
    return path, k, hidden, profiles


def test_api_answers_hide_small_segments(world, tmp_path) -> None:  # noqa: F811
    from userseg.serve import create_app

    path, k, hidden, profiles = _copy(world, tmp_path)
    application = create_app(path, rate_limit=None, keys_required=False, min_group=k)
    try:
        res = _call(application, "GET", "/v1/segments", None)
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["small_groups"]["hidden_segments"] == hidden
        by_id = {s["segment"]: s for s in body["segments"]}
        for p in profiles:
            if p.segment in hidden:
                assert by_id[p.segment]["size"] == f"<{k}" and by_id[p.segment]["suppressed"]
            else:
                assert by_id[p.segment]["size"] == p.size
        one = _call(application, "GET", f"/v1/segments/{hidden[0]}", None).json()
        assert one["means"] == {} and one["distinctions"] == [] and one["share"] == f"<{k}"
    finally:
        application.state.service.close()


def test_cli_segments_and_report_hide_small_segments(world, tmp_path) -> None:  # noqa: F811
    path, k, hidden, _profiles = _copy(world, tmp_path)
    res = runner.invoke(app, ["segments", "--db", str(path), "--min-group", str(k), "--json"])
    assert res.exit_code == 0, res.output
    rows = {d["segment"]: d for d in json.loads(res.output)}
    assert all(rows[s]["size"] == f"<{k}" and rows[s]["means"] == {} for s in hidden)
    res = runner.invoke(app, ["segments", "--db", str(path), "--min-group", str(k)])
    assert f"<{k}" in res.output and "not described" in res.output
    assert runner.invoke(app, ["segments", "--db", str(path), "--min-group", "0"]).exit_code == 2

    db = open_database(path)
    try:
        html, _png = pipeline.report(db, None, tmp_path / "r.html", min_group=k)
    finally:
        db.close()
    text = html.read_text()
    assert "not described" in text and f"fewer than {k} users" in text
