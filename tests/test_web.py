"""The web app in-process (Starlette's test client): sign-in, sessions, CSRF, scopes, escaping,
every page, every action and its audit row. The browser tests are in test_web_browser.py."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is needed")

from starlette.testclient import TestClient
from web_shop import INJECTIONS, build_shop, csrf_of

from userseg._version import __version__
from userseg.errors import ConfigError
from userseg.serve import create_app
from userseg.serve.app import openapi_json
from userseg.serve.auth import create_key, revoke_key
from userseg.store import (
    key_access,
    key_scopes,
    list_actions,
    load_profiles,
    open_database,
    set_key_scope,
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory, demo_files) -> dict[str, Any]:
    return build_shop(tmp_path_factory.mktemp("web") / "shop.duckdb", demo_files)


@pytest.fixture
def app(shop, tmp_path):
    """The service over a private copy of the shop (the tests write to it)."""
    copy = tmp_path / "shop.duckdb"
    shutil.copy(shop["path"], copy)
    application = create_app(copy)
    yield application
    application.state.service.close()


def client(app, base_url: str = "http://testserver") -> TestClient:
    return TestClient(app, base_url=base_url, follow_redirects=False)


def signed_in(app, secret: str, base_url: str = "http://testserver") -> TestClient:
    c = client(app, base_url)
    form = c.get("/web/signin")
    assert form.status_code == 200
    r = c.post("/web/signin", data={"csrf": csrf_of(form.text), "key": secret})
    assert r.status_code == 303, r.text
    return c


def rename(c: TestClient, run: int, segment: int, name: str, **extra: Any):
    page = c.get(f"/web/runs/{run}/segments/{segment}")
    data = {"csrf": csrf_of(page.text), "name": name} | extra
    return c.post(f"/web/runs/{run}/segments/{segment}/rename", data=data)


def audit(app) -> list[dict[str, Any]]:
    svc = app.state.service
    return svc.with_db(lambda: list_actions(svc.db))


# -- sign-in and sessions ---------------------------------------------------------------------


def test_pages_need_a_session(app):
    r = client(app).get("/web/runs/1")
    assert r.status_code == 303
    assert r.headers["location"] == "/web/signin?next=/web/runs/1"
    assert client(app).get("/").headers["location"] == "/web/runs"


def test_sign_in_exchanges_the_key_for_a_strict_http_only_cookie(app, shop):
    c = client(app)
    form = c.get("/web/signin")
    r = c.post("/web/signin", data={"csrf": csrf_of(form.text), "key": shop["keys"]["read"]})
    assert r.status_code == 303 and r.headers["location"] == "/web/runs"
    cookie = r.headers["set-cookie"]
    assert "userseg_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    assert shop["keys"]["read"] not in cookie  # the key itself never goes to the browser
    assert c.get("/web/runs").status_code == 200


def test_the_cookie_is_secure_under_tls(app, shop):
    c = client(app, "https://testserver")
    form = c.get("/web/signin")
    assert "Secure" in form.headers["set-cookie"]
    r = c.post("/web/signin", data={"csrf": csrf_of(form.text), "key": shop["keys"]["read"]})
    assert r.status_code == 303
    assert "Secure" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]


def test_a_wrong_key_is_refused_and_a_form_without_its_token_too(app, shop):
    c = client(app)
    form = c.get("/web/signin")
    bad = c.post(
        "/web/signin", data={"csrf": csrf_of(form.text), "key": "usk_0123456789ab_" + "x" * 43}
    )
    assert bad.status_code == 401
    assert "not valid" in bad.text and "userseg_session" not in bad.headers.get("set-cookie", "")
    no_token = client(app).post("/web/signin", data={"key": shop["keys"]["admin"]})
    assert no_token.status_code == 403
    assert "userseg_session" not in no_token.headers.get("set-cookie", "")


def test_sign_in_redirects_only_inside_the_app(app, shop):
    for target, expected in [
        ("/web/drift", "/web/drift"),
        ("https://evil.example/x", "/web/runs"),
        ("//evil.example/web/x", "/web/runs"),
        ("/elsewhere", "/web/runs"),
    ]:
        c = client(app)
        form = c.get("/web/signin", params={"next": target})
        r = c.post(
            "/web/signin",
            data={"csrf": csrf_of(form.text), "key": shop["keys"]["read"], "next": target},
        )
        assert r.headers["location"] == expected, target


def test_sign_out_ends_the_session(app, shop):
    c = signed_in(app, shop["keys"]["read"])
    page = c.get("/web/runs")
    r = c.post("/web/signout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert c.get("/web/runs").status_code == 303  # back to sign-in


def test_a_revoked_key_ends_its_sessions_at_once(app, shop):
    reader = signed_in(app, shop["keys"]["read"])
    admin = signed_in(app, shop["keys"]["admin"])
    keys = admin.get("/web/keys")
    read_id = shop["keys"]["read"].split("_")[1]
    r = admin.post(f"/web/keys/{read_id}/revoke", data={"csrf": csrf_of(keys.text)})
    assert r.status_code == 303
    assert reader.get("/web/runs").status_code == 303
    assert audit(app)[0]["action"] == "key.revoke"


# -- CSRF, scopes -----------------------------------------------------------------------------


def test_every_form_needs_the_session_token(app, shop):
    c = signed_in(app, shop["keys"]["write"])
    runs = shop["runs"]
    for data in ({"name": "x"}, {"name": "x", "csrf": "forged"}):
        r = c.post(f"/web/runs/{runs[0]}/segments/0/rename", data=data)
        assert r.status_code == 403
    page = c.get(f"/web/runs/{runs[0]}/segments/0")
    other_site = c.post(
        f"/web/runs/{runs[0]}/segments/0/rename",
        data={"csrf": csrf_of(page.text), "name": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    names = [p.name for p in _profiles(app, runs[0])]
    assert "x" not in names
    assert all(a["outcome"] == "refused" for a in audit(app)[:3])


def test_every_form_on_every_page_carries_a_csrf_token(app, shop):
    c = signed_in(app, shop["keys"]["admin"])
    a, b = shop["runs"]
    for url in [*_pages(shop), "/web/keys", f"/web/compare?a={b}&b={a}"]:
        text = c.get(url).text
        for form in text.split("<form")[1:]:
            head = form.split(">", 1)[0]
            if 'method="post"' in head:
                assert 'name="csrf"' in form.split("</form>")[0], (url, head)


def test_a_read_only_key_sees_no_actions_and_cannot_rename(app, shop):
    c = signed_in(app, shop["keys"]["read"])
    run = shop["runs"][0]
    page = c.get(f"/web/runs/{run}/segments/1")
    assert "/rename" not in page.text and "Start a refresh" not in c.get("/web/refresh").text
    assert "API keys" not in page.text
    before = _profiles(app, run)[1].name
    # even with a valid session token (the sign-out form's), the POST is refused
    r = c.post(
        f"/web/runs/{run}/segments/1/rename", data={"csrf": csrf_of(page.text), "name": "mine"}
    )
    assert r.status_code == 403 and "read" in r.text
    assert _profiles(app, run)[1].name == before
    row = audit(app)[0]
    assert (row["action"], row["outcome"], row["key_name"]) == ("rename", "refused", "read-person")
    assert c.get("/web/keys").status_code == 403
    assert signed_in(app, shop["keys"]["write"]).get("/web/keys").status_code == 403


# -- pages ------------------------------------------------------------------------------------


def _pages(shop) -> list[str]:
    a, b = shop["runs"]
    return [
        "/web/runs",
        f"/web/runs/{b}",
        f"/web/runs/{b}/segments/0",
        f"/web/compare?a={a}&b={b}",
        "/web/drift",
        "/web/refresh",
    ]


def _profiles(app, run: int):
    svc = app.state.service
    return svc.with_db(lambda: load_profiles(svc.db, run))


def test_every_page_renders_with_the_security_headers(app, shop):
    c = signed_in(app, shop["keys"]["admin"])
    for url in [*_pages(shop), "/web/keys"]:
        r = c.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["cache-control"] == "no-store"
        assert "<script>" not in r.text  # no inline script: the policy forbids it


def test_the_run_page_shows_what_the_report_shows(app, shop):
    c = signed_in(app, shop["keys"]["read"])
    b = shop["runs"][1]
    text = c.get(f"/web/runs/{b}").text
    for part in ("Segments", "Heatmap", "User map", "Verdicts", "Users per segment"):
        assert part in text, part
    profiles = _profiles(app, b)
    for p in profiles:
        assert str(escape(p.name)) in text
    # every chart has a table alternative: a data-chart figure is followed by a table
    assert text.count("data-chart=") <= text.count("<table")


def test_the_segment_page_shows_pseudonyms_never_user_ids(app, shop):
    c = signed_in(app, shop["keys"]["read"])
    b = shop["runs"][1]
    text = c.get(f"/web/runs/{b}/segments/0").text
    svc = app.state.service
    ids = svc.with_db(
        lambda: [u for (u,) in svc.db.rows("SELECT user_id FROM userseg_assignments LIMIT 3000")]
    )
    members = text.split('class="members"')[1].split("</ul>")[0]
    assert members.count("<li>") == 20
    assert not any(f"<code>{u}</code>" in members for u in ids)
    assert ("Precision" in text and "SELECT" not in text) or "Rules" in text


def test_an_unknown_page_or_run_is_an_html_404(app, shop):
    c = signed_in(app, shop["keys"]["read"])
    for url in ("/web/nothing-here", "/web/runs/999", "/web/runs/1/segments/99"):
        r = c.get(url)
        assert r.status_code == 404, url
        assert r.headers["content-type"].startswith("text/html")
    assert c.get("/web/compare?a=x&b=1").status_code == 422


def test_the_web_app_is_not_in_the_openapi_schema():
    assert '"/web' not in openapi_json()


# -- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", INJECTIONS)
def test_injected_segment_names_render_as_text(app, shop, name):
    c = signed_in(app, shop["keys"]["write"])
    a, b = shop["runs"]
    r = rename(c, b, 0, name)
    assert r.status_code == 303
    assert _profiles(app, b)[0].name == name  # stored as typed
    for url in (
        f"/web/runs/{b}",
        f"/web/runs/{b}/segments/0",
        "/web/drift",
        f"/web/compare?a={a}&b={b}",
        "/web/keys",
    ):
        text = signed_in(app, shop["keys"]["admin"]).get(url).text
        assert name not in text, url
        if "compare" not in url and "keys" not in url:  # these show names kept from before
            assert str(escape(name)) in text, url  # Jinja's escaping: " is &#34;
    assert "<img src=x" not in text and "<script>alert" not in text


# -- actions ----------------------------------------------------------------------------------


def test_rename_is_the_cli_rename_and_is_audited(app, shop):
    c = signed_in(app, shop["keys"]["write"])
    b = shop["runs"][1]
    r = rename(c, b, 2, "  Weekend big spenders ")
    assert r.status_code == 303
    assert r.headers["location"] == f"/web/runs/{b}/segments/2?done=renamed"
    p = _profiles(app, b)[2]
    assert (p.name, p.name_source) == ("Weekend big spenders", "user")
    assert "The segment was renamed." in c.get(r.headers["location"]).text
    row = audit(app)[0]
    assert row["action"] == "rename" and row["outcome"] == "ok"
    assert row["target"] == f"run {b} segment 2" and row["detail"]["name"] == "Weekend big spenders"
    assert row["key_name"] == "write-person"


def test_a_bad_name_is_a_400_page_and_changes_nothing(app, shop):
    c = signed_in(app, shop["keys"]["write"])
    b = shop["runs"][1]
    before = _profiles(app, b)[0].name
    r = rename(c, b, 0, "   ")
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("text/html")
    assert _profiles(app, b)[0].name == before
    assert audit(app)[0]["outcome"] == "failed"


def test_compare_reads_the_stored_matching_or_computes_it_once(app, shop):
    a, b = shop["runs"]
    c = signed_in(app, shop["keys"]["write"])
    stored = c.get(f"/web/compare?a={a}&b={b}")
    assert "Kept, appeared, gone" in stored.text and "Migration matrix" in stored.text
    reverse = c.get(f"/web/compare?a={b}&b={a}")
    assert "No stored comparison" in reverse.text
    r = c.post("/web/compare", data={"csrf": csrf_of(reverse.text), "a": b, "b": a})
    assert r.status_code == 303
    assert "Kept, appeared, gone" in c.get(r.headers["location"]).text
    assert audit(app)[0]["action"] == "compare"


def test_refresh_runs_the_cli_job_in_the_background_and_audits_start_and_end(app, shop):
    c = signed_in(app, shop["keys"]["write"])
    page = c.get("/web/refresh")
    # "never": features, drift check and rescoring, without the minute a full refit takes here
    r = c.post("/web/refresh", data={"csrf": csrf_of(page.text), "refit": "never"})
    assert r.status_code == 303
    state = app.state.web
    deadline = time.monotonic() + 300
    while state.job.state == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert state.job.state == "done", state.job.error
    assert state.job.summary["action"] == "rescore" and state.job.summary["rescored"] == 3000
    assert "Rescored 3,000 users" in c.get("/web/refresh").text
    outcomes = [(a["action"], a["outcome"]) for a in audit(app)[:2]]
    assert outcomes == [("refresh", "done"), ("refresh", "started")]
    runs = c.get("/web/runs").text  # the drift check it made shows on the runs page
    assert "refit advised" in runs or "no drift that matters" in runs
    assert "not checked" in runs  # run 1 was never checked


def test_admin_creates_a_key_shown_once(app, shop):
    c = signed_in(app, shop["keys"]["admin"])
    page = c.get("/web/keys")
    r = c.post("/web/keys", data={"csrf": csrf_of(page.text), "name": "crm", "scope": "read"})
    assert r.status_code == 200 and "shown only this once" in r.text
    secret = r.text.split('class="secret">')[1].split("<")[0]
    assert signed_in(app, secret).get("/web/runs").status_code == 200
    assert "usk_" not in c.get("/web/keys").text
    bad = c.post("/web/keys", data={"csrf": csrf_of(page.text), "name": "x", "scope": "root"})
    assert bad.status_code == 422 and "scope must be one of" in bad.text


# -- without keys, and the scopes in the store ------------------------------------------------


def test_without_keys_everyone_may_look_and_nobody_may_act(shop, tmp_path):
    copy = tmp_path / "open.duckdb"
    shutil.copy(shop["path"], copy)
    application = create_app(copy, keys_required=False)
    try:
        c = client(application)
        b = shop["runs"][1]
        page = c.get(f"/web/runs/{b}/segments/0")
        assert page.status_code == 200 and "/rename" not in page.text
        r = c.post(f"/web/runs/{b}/segments/0/rename", data={"name": "x", "csrf": "x"})
        assert r.status_code == 403
    finally:
        application.state.service.close()


def test_keys_have_a_scope_and_keys_from_before_scopes_are_admins(tmp_path: Path):
    from userseg.io.database import Database
    from userseg.store.migrations import MIGRATIONS

    path = tmp_path / "k.duckdb"
    old = Database(path)  # a database of schema version 2, with a key made then
    for _version, _description, statements in MIGRATIONS[:2]:
        for sql in statements:
            old.execute(sql)
    old.execute(
        "CREATE TABLE userseg_schema (version INTEGER PRIMARY KEY, description VARCHAR, "
        "applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    old.execute("INSERT INTO userseg_schema (version, description) VALUES (1, ''), (2, '')")
    old.execute(
        "INSERT INTO userseg_api_keys (key_id, name, key_hash, created_at) "
        "VALUES ('0123456789ab', 'old', 'x', current_timestamp)"
    )
    old.close()
    db = open_database(path)
    try:
        reader, _ = create_key(db, "reader")
        set_key_scope(db, reader, "read")
        create_key(db, "default")
        assert sorted(key_scopes(db).values()) == ["admin", "admin", "read"]
        assert key_access(db, "0123456789ab") == ("old", "admin")
        assert key_access(db, reader) == ("reader", "read")
        with pytest.raises(ConfigError, match="scope must be one of read, write, admin"):
            set_key_scope(db, reader, "root")
        revoke_key(db, reader)
        assert key_access(db, reader) is None
    finally:
        db.close()


# -- audiences: create from segments, export (issue 15) -----------------------------------------


def _audience_form(c: TestClient, run: int) -> str:
    page = c.get(f"/web/runs/{run}")
    assert page.status_code == 200
    return page.text


def _members_of(app, run: int, segments: list[int]) -> set[str]:
    from userseg.store import load_assignments

    svc = app.state.service
    a = svc.with_db(lambda: load_assignments(svc.db, run))
    return set(a.loc[a["segment"].isin(segments), "user_id"].astype(str))


def _exports(app) -> list[dict[str, Any]]:
    from userseg.store.activation import list_exports

    svc = app.state.service
    return svc.with_db(lambda: list_exports(svc.db))


def test_an_audience_is_created_from_selected_segments_and_exported(app, shop):
    """From the run page: tick segments, name it, create (audited); the audience page shows
    its size per segment; export downloads the member file, recorded and audited."""
    from userseg.store.activation import get_audience, load_members

    c = signed_in(app, shop["keys"]["write"])
    b = shop["runs"][1]
    text = _audience_form(c, b)
    assert f'action="/web/runs/{b}/audiences"' in text and 'name="segment_0"' in text
    r = c.post(
        f"/web/runs/{b}/audiences",
        data={"csrf": csrf_of(text), "name": "web vip", "segment_0": "on", "segment_2": "on"},
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/web/audiences/")
    svc = app.state.service
    aud = svc.with_db(lambda: get_audience(svc.db, "web vip"))
    members = svc.with_db(lambda: load_members(svc.db, aud.audience_id, 1))
    assert set(members["user_id"]) == _members_of(app, b, [0, 2])
    assert (aud.run_spec, aud.segments) == (str(b), [0, 2])
    # the sizes per segment are stored with the version (pages never count 10M members);
    # a version stored without them (before) is counted
    from userseg.store.activation import member_counts

    counts = members["segment"].value_counts().sort_index().to_dict()
    from userseg.store.activation import get_audience_version

    stored = svc.with_db(lambda: get_audience_version(svc.db, aud, 1)).definition["sizes"]
    assert stored == {str(k): n for k, n in counts.items()}
    assert svc.with_db(lambda: member_counts(svc.db, aud.audience_id, 1)) == counts
    svc.with_db(
        lambda: svc.db.execute(
            "UPDATE userseg_audience_versions SET definition = json_object('run', '2') "
            "WHERE audience_id = ?",
            [aud.audience_id],
        )
    )
    assert svc.with_db(lambda: member_counts(svc.db, aud.audience_id, 1)) == counts
    page = c.get(r.headers["location"])
    assert page.status_code == 200 and "The audience was created." in page.text
    assert f"<p>userseg {__version__}</p>" in page.text  # the footer's version, not the audience's
    assert "web vip" in page.text and f"{len(members):,}" in page.text
    assert 'name="format"' in page.text and "minimum" in page.text
    assert c.get("/web/audiences").status_code == 200 and "web vip" in c.get("/web/audiences").text

    got = c.post(
        f"{r.headers['location'].split('?')[0]}/export",
        data={"csrf": csrf_of(page.text), "format": "csv"},
    )
    assert got.status_code == 200, got.text[:500]
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"] == 'attachment; filename="web-vip-v1.csv"'
    lines = got.text.strip().splitlines()
    assert lines[0] == "user_id,segment" and len(lines) == len(members) + 1
    assert {line.split(",")[0] for line in lines[1:]} == set(members["user_id"])
    (exp,) = _exports(app)
    assert (exp["destination"], exp["status"], exp["n_written"]) == ("csv", "done", len(members))
    assert exp["target"] == "download:web-vip-v1.csv"
    parquet = c.post(
        f"{r.headers['location'].split('?')[0]}/export",
        data={"csrf": csrf_of(page.text), "format": "parquet"},
    )
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    acts = [(a["action"], a["outcome"], a["key_name"]) for a in audit(app)[:3]]
    assert acts == [
        ("audience.export", "ok", "write-person"),
        ("audience.export", "ok", "write-person"),
        ("audience.create", "ok", "write-person"),
    ]
    assert c.get(r.headers["location"]).text.count("download:web-vip-v1") == 2  # exports listed
    # bad input: no segment ticked, a taken name, a bad filter, an unknown format
    for data, words in (
        ({"name": "x"}, "tick at least one segment"),
        ({"name": "web vip", "segment_1": "on"}, "exists already"),
        ({"name": "y", "segment_1": "on", "where": "recncy_days < 3"}, "did you mean"),
    ):
        bad = c.post(f"/web/runs/{b}/audiences", data={"csrf": csrf_of(text)} | data)
        assert bad.status_code == 422 and words in bad.text, (data, bad.text[:300])
    bad = c.post(
        f"{r.headers['location'].split('?')[0]}/export",
        data={"csrf": csrf_of(page.text), "format": "xlsx"},
    )
    assert bad.status_code == 422 and "format" in bad.text
    assert len(_exports(app)) == 2


def test_the_minimum_audience_size_applies_to_web_exports(app, shop):
    """Under 100 users the export is refused (403 page, nothing recorded, audited); only an
    admin may send it anyway, and the override is recorded."""
    from userseg.jobs import activation
    from userseg.store.activation import get_audience

    svc = app.state.service
    b = shop["runs"][1]
    from userseg.features.build import load_features
    from userseg.store import get_feature_set, get_run

    def features(d: Any) -> Any:
        return load_features(d, get_feature_set(d, get_run(d, b).feature_set_id))

    frame = svc.with_db(lambda: features(svc.db)).select_dtypes("number")
    column = frame.nunique().idxmax()  # the most distinct values: a cut without big ties
    cut = float(frame[column].sort_values().iloc[49])  # about 50 users
    svc.with_db(
        lambda: activation.create_audience(svc.db, "few", run=b, where=f"{column} <= {cut!r}")
    )
    aud = svc.with_db(lambda: get_audience(svc.db, "few"))
    assert 0 < aud.n_members < 100
    url = f"/web/audiences/{aud.audience_id}"
    writer = signed_in(app, shop["keys"]["write"])
    page = writer.get(url)
    assert 'name="allow_small"' not in page.text  # only an admin may override
    r = writer.post(f"{url}/export", data={"csrf": csrf_of(page.text), "format": "csv"})
    assert r.status_code == 403 and "minimum" in r.text
    forced = writer.post(
        f"{url}/export", data={"csrf": csrf_of(page.text), "format": "csv", "allow_small": "on"}
    )
    assert forced.status_code == 403 and "admin" in forced.text
    assert _exports(app) == []
    assert [(a["action"], a["outcome"]) for a in audit(app)[:2]] == [
        ("audience.export", "refused"),
        ("audience.export", "refused"),
    ]
    admin = signed_in(app, shop["keys"]["admin"])
    page = admin.get(url)
    assert 'name="allow_small"' in page.text
    ok = admin.post(
        f"{url}/export", data={"csrf": csrf_of(page.text), "format": "csv", "allow_small": "on"}
    )
    assert ok.status_code == 200 and len(ok.text.strip().splitlines()) == aud.n_members + 1
    (exp,) = _exports(app)
    assert exp["size_override"] is True
    assert audit(app)[0]["detail"]["allow_small"] is True


def test_a_read_only_key_sees_no_audience_actions_and_cannot_post_them(app, shop):
    from userseg.jobs import activation

    svc = app.state.service
    b = shop["runs"][1]
    aud, _ = svc.with_db(lambda: activation.create_audience(svc.db, "all", run=b))
    c = signed_in(app, shop["keys"]["read"])
    run_page = c.get(f"/web/runs/{b}").text
    assert f'action="/web/runs/{b}/audiences"' not in run_page
    assert 'name="segment_0"' not in run_page
    page = c.get(f"/web/audiences/{aud.audience_id}")
    assert page.status_code == 200 and "/export" not in page.text
    token = csrf_of(page.text)  # the sign-out form's: a valid session token
    r1 = c.post(f"/web/runs/{b}/audiences", data={"csrf": token, "name": "z", "segment_0": "on"})
    r2 = c.post(f"/web/audiences/{aud.audience_id}/export", data={"csrf": token, "format": "csv"})
    assert r1.status_code == r2.status_code == 403
    assert [(a["action"], a["outcome"]) for a in audit(app)[:2]] == [
        ("audience.export", "refused"),
        ("audience.create", "refused"),
    ]
    assert _exports(app) == []
    writer = signed_in(app, shop["keys"]["write"])
    for data in ({"format": "csv"}, {"format": "csv", "csrf": "forged"}):  # CSRF
        r = writer.post(f"/web/audiences/{aud.audience_id}/export", data=data)
        assert r.status_code == 403
    assert c.get("/web/audiences/999").status_code == 404
    admin = signed_in(app, shop["keys"]["admin"])
    for url in ("/web/audiences", f"/web/audiences/{aud.audience_id}", f"/web/runs/{b}"):
        text = admin.get(url).text
        for form in text.split("<form")[1:]:
            if 'method="post"' in form.split(">", 1)[0]:
                assert 'name="csrf"' in form.split("</form>")[0], url


@pytest.mark.parametrize("name", INJECTIONS[:1])
def test_the_segment_page_shows_campaign_results_where_they_exist(app, shop, tmp_path, name):
    """A measured campaign on an audience of this run: the segment page shows its lift for
    this segment (conversion and revenue, interval, adjusted p); other segments of
    the campaign show theirs; a segment in no campaign shows none. Names are text."""
    import numpy as np
    import pandas as pd

    from userseg.jobs import activation
    from userseg.store.activation import load_arms

    svc = app.state.service
    b = shop["runs"][1]
    c = signed_in(app, shop["keys"]["read"])
    assert "Campaign results" not in c.get(f"/web/runs/{b}/segments/0").text
    svc.with_db(lambda: activation.create_audience(svc.db, "two", run=b, segments=[0, 1]))
    camp, _ = svc.with_db(lambda: activation.create_campaign(svc.db, name, "two", "20%"))
    arms = svc.with_db(lambda: load_arms(svc.db, camp.campaign_id))
    rng = np.random.default_rng(3)
    conv = rng.random(len(arms)) < np.where(arms["arm"] == "treatment", 0.3, 0.1)
    path = tmp_path / "o.csv"
    pd.DataFrame(
        {"user_id": arms["user_id"], "converted": conv.astype(int), "revenue": conv * 20.0}
    ).to_csv(path, index=False)
    m = svc.with_db(lambda: activation.measure_campaign(svc.db, name, outcomes=path))
    rows = {(str(r["segment"]), r["metric"]): r for r in m.result.to_dict()["rows"]}
    text = c.get(f"/web/runs/{b}/segments/0").text
    assert "Campaign results" in text and str(escape(name)) in text and name not in text
    conv0 = rows[("0", "conversion")]
    assert f"{conv0['treatment']:.1%}" in text and f"{conv0['control']:.1%}" in text
    assert f"{conv0['abs_lift']:+.1%}" in text
    assert "Campaign results" in c.get(f"/web/runs/{b}/segments/1").text
    other = c.get(f"/web/runs/{b}/segments/3").text
    assert "Campaign results" not in other
