"""``/v1/audiences`` through the ASGI app: keys, create, read, members paged, 4xx on bad input."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from userseg import demo
from userseg.config import Source
from userseg.jobs import pipeline
from userseg.segment.params import FitConfig
from userseg.serve import create_app
from userseg.serve.auth import create_key
from userseg.store import get_run, load_assignments, open_database

ERROR_KEYS = {"code", "message", "details"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory, demo_files) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("audiences-api") / "shop.duckdb"
    db = pipeline.open_db(path)
    try:
        pipeline.ingest(
            db, Source(path=str(demo_files["events"])), kind="events", mapping=demo.EVENT_MAPPING
        )
        pipeline.features(db)
        pipeline.fit(db, FitConfig(k=4, stability_runs=0, structure=False, rules=False))
        _, secret = create_key(db, "tests")
    finally:
        db.close()
    return {"path": path, "secret": secret}


@pytest.fixture
def app(shop, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copy(shop["path"], copy)
    application = create_app(copy, rate_limit=None)
    yield application
    application.state.service.close()


def call(app, method: str, url: str, key: str | None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, url, headers=headers, **kwargs)

    return asyncio.run(go())


def error_of(res: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_create_list_get_and_page_through_members(app, shop) -> None:
    key = shop["secret"]
    assert call(app, "GET", "/v1/audiences", key).json() == {"audiences": []}
    res = call(
        app,
        "POST",
        "/v1/audiences",
        key,
        json={"name": "vip", "segments": [0, 1], "where": "recency_days < 90"},
    )
    assert res.status_code == 201, res.text
    body = res.json()
    n = body["version"]["n_members"]
    assert body["audience"]["where"] == "recency_days < 90" and n == sum(body["segments"].values())
    listed = call(app, "GET", "/v1/audiences", key).json()["audiences"]
    assert [(a["name"], a["latest_version"], a["n_members"]) for a in listed] == [("vip", 1, n)]
    got = call(app, "GET", "/v1/audiences/vip", key).json()
    assert got["version"]["version"] == 1 and got["audience"]["segments"] == [0, 1]

    seen, offset, pages = [], 0, 0
    while offset is not None:
        page = call(app, "GET", f"/v1/audiences/vip/members?limit=100&offset={offset}", key)
        assert page.status_code == 200, page.text
        data = page.json()
        assert data["total"] == n and len(data["members"]) <= 100
        seen += data["members"]
        offset, pages = data["next_offset"], pages + 1
    assert pages == -(-n // 100)
    ids = [m["user_id"] for m in seen]
    assert ids == sorted(ids) and len(set(ids)) == n  # every member once, in order
    assert {m["segment"] for m in seen} <= {0, 1}

    svc = app.state.service
    assign = svc.with_db(lambda: load_assignments(svc.db, get_run(svc.db).run_id))
    assert set(ids) <= set(assign[assign["segment"].isin([0, 1])]["user_id"])


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/v1/audiences"),
        ("POST", "/v1/audiences"),
        ("GET", "/v1/audiences/vip"),
        ("GET", "/v1/audiences/vip/members"),
    ],
)
def test_audience_endpoints_need_a_key(app, method, url) -> None:
    kwargs = {"json": {"name": "x"}} if method == "POST" else {}
    error_of(call(app, method, url, None, **kwargs), 401, "unauthorized")
    error_of(call(app, method, url, "usk_0123456789ab_" + "x" * 43, **kwargs), 401)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "a", "where": "recncy_days < 3"}, 422, "did you mean 'recency_days'"),
        ({"name": "a", "where": "recency_days < 3; drop table x"}, 422, "unsupported"),
        ({"name": "a", "segments": [42]}, 404, "has no segment 42"),
        ({"name": "a", "run": "9"}, 404, "run 9 not found"),
        ({"name": "a", "run": "soon"}, 422, "run id or 'latest'"),
        ({"name": "a", "where": "recency_days < -5"}, 422, "selects no users"),
        ({"name": "a\x00b"}, 422, "printable"),
        ({"name": "a", "extra": 1}, 422, ""),
        ({"segments": [1]}, 422, ""),
    ],
)
def test_bad_audience_definitions_are_4xx_and_store_nothing(app, shop, body, status, words):
    err = error_of(call(app, "POST", "/v1/audiences", shop["secret"], json=body), status)
    assert words in err["message"]
    assert call(app, "GET", "/v1/audiences", shop["secret"]).json() == {"audiences": []}


def test_unknown_audience_or_version_is_404_and_a_taken_name_422(app, shop) -> None:
    key = shop["secret"]
    err = error_of(call(app, "GET", "/v1/audiences/nope", key), 404, "not_found")
    assert "audience 'nope' not found" in err["message"]
    error_of(call(app, "GET", "/v1/audiences/nope/members", key), 404)
    assert call(app, "POST", "/v1/audiences", key, json={"name": "all"}).status_code == 201
    error_of(call(app, "GET", "/v1/audiences/all?version=2", key), 404)
    error_of(call(app, "GET", "/v1/audiences/all/members?limit=0", key), 422)
    error_of(call(app, "GET", "/v1/audiences/all/members?offset=-1", key), 422)
    taken = error_of(call(app, "POST", "/v1/audiences", key, json={"name": "all"}), 422)
    assert "exists already" in taken["message"]


def test_created_through_the_api_is_what_the_cli_sees(app, shop, tmp_path: Path) -> None:
    key = shop["secret"]
    assert call(app, "POST", "/v1/audiences", key, json={"name": "all"}).status_code == 201
    svc = app.state.service
    path = svc.db.path
    app.state.service.close()
    from userseg.store import activation as st

    db = open_database(path)
    try:
        aud = st.get_audience(db, "all")
        assert aud.latest_version == 1 and aud.n_members == len(st.load_members(db, 1, 1))
    finally:
        db.close()


def test_a_read_only_key_reads_audiences_but_cannot_create_one(app, shop) -> None:
    """Key scopes (store/access.py) hold on /v1/audiences: a `read` key lists and reads but
    its POST is 403 in the one error shape, nothing stored; a `write` key creates."""
    from userseg.serve.auth import create_key as new_key
    from userseg.store.access import set_key_scope

    db = app.state.service.db
    keys = {}
    for scope in ("read", "write"):
        key_id, keys[scope] = new_key(db, f"{scope} key")
        set_key_scope(db, key_id, scope)
    app.state.service.keyring.reload()
    body = {"name": "vip", "segments": [1]}
    err = error_of(call(app, "POST", "/v1/audiences", keys["read"], json=body), 403, "forbidden")
    assert "read" in err["message"] and "write" in err["message"]
    assert call(app, "GET", "/v1/audiences", keys["read"]).json() == {"audiences": []}
    assert call(app, "GET", "/v1/audiences/vip", keys["read"]).status_code == 404
    made = call(app, "POST", "/v1/audiences", keys["write"], json=body)
    assert made.status_code == 201, made.text
    assert call(app, "GET", "/v1/audiences/vip", keys["read"]).status_code == 200
    # the key made before scopes existed is an admin key, as everywhere
    legacy = call(app, "POST", "/v1/audiences", shop["secret"], json={"name": "all"})
    assert legacy.status_code == 201
