"""Generated requests against the service: no input, however wrong, gets a 5xx.

Three generators: Schemathesis over the committed OpenAPI schema (valid and
deliberately invalid requests for every operation), then Hypothesis-built
``/v1/assign`` records with the model's real feature names and values of
every JSON type, and Segment-spec events with odd ids, amounts and dates.
Every response must be below 500, and every error must have the one shape.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is needed")
pytest.importorskip("schemathesis", reason="schemathesis (a dev extra) is needed")

import schemathesis
from schemathesis import GenerationMode

from userseg import demo
from userseg.config import Source
from userseg.jobs import pipeline
from userseg.segment.params import FitConfig
from userseg.serve import create_app
from userseg.serve.auth import create_key

FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def lean_fit(**kwargs: Any) -> FitConfig:
    """A FitConfig without the diagnostics these tests do not need (where they exist)."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(FitConfig)}
    extra = {"stability_runs": 0, "structure": False, "rules": False}
    return FitConfig(**kwargs, **{k: v for k, v in extra.items() if k in known})


@pytest.fixture(scope="module")
def served(tmp_path_factory, demo_files) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "shop.duckdb"
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
        _, secret = create_key(db, "fuzz")
    finally:
        db.close()
    copy = folder / "served.duckdb"  # the fuzzers write events: keep the original clean
    shutil.copy(path, copy)
    app = create_app(copy, rate_limit=None, auth_failure_limit=None)
    yield {"app": app, "auth": {"Authorization": f"Bearer {secret}"}}
    app.state.service.close()


def check(response: Any, what: str) -> None:
    status = response.status_code
    assert status < 500, f"{what} → {status}: {response.text[:500]}"
    if status >= 400:
        body = json.loads(response.text)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}


def test_schemathesis_finds_no_server_error(served) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", served["app"])
    strategy = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)
    )
    seen: Counter[str] = Counter()

    @settings(FUZZ, max_examples=600)
    @given(case=strategy, keyed=st.integers(0, 9))
    def run(case: Any, keyed: int) -> None:
        # One in ten without a key: 401, not 5xx. (call() adds to the dict: give it a copy.)
        headers = dict(served["auth"]) if keyed else {}
        response = case.call(headers=headers)
        seen[f"{case.method} {case.path}"] += 1
        check(response, f"{case.method} {case.formatted_path} {case.body!r:.300}")

    run()
    assert sum(seen.values()) >= 500, seen  # generated requests, none of them a 5xx
    # every operation was exercised (9, 4 of /v1/audiences, 1 of recommendations,
    # DELETE /v1/users/{id})
    assert len(seen) == 15, seen


def _post(app: Any, url: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://fuzz"
        ) as client:
            return await client.post(
                url, content=body, headers=headers | {"content-type": "application/json"}
            )

    return asyncio.run(go())


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.text(max_size=12),
    st.sampled_from(["north", "female", "email", "(other)", "(missing)", ""]),
)
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=2),
    st.dictionaries(st.text(max_size=3), _SCALARS, max_size=2),
)


def test_assign_with_real_feature_names_never_fails(served) -> None:
    fast = served["app"].state.service.fast
    names = fast.features
    ok: Counter[str] = Counter()

    # Mostly plausible values (so that many requests are valid), sometimes anything at all.
    plausible = {
        "numeric": st.one_of(st.floats(-1e6, 1e6), st.integers(-(10**6), 10**6), st.none()),
        "categorical": st.one_of(
            st.text(max_size=8), st.none(), st.sampled_from(["north", "female", "email", "(other)"])
        ),
    }
    clean = st.fixed_dictionaries({n: plausible[fast.kinds[n]] for n in names})
    junky = st.fixed_dictionaries({n: st.one_of(plausible[fast.kinds[n]], _VALUES) for n in names})
    record = st.one_of(clean, clean, junky)
    drop = st.lists(st.sampled_from(names), max_size=2).map(set)
    users_st = st.lists(
        st.tuples(record, st.one_of(st.just(set()), st.just(set()), drop)).map(
            lambda rd: {k: v for k, v in rd[0].items() if k not in rd[1]}
        ),
        min_size=1,
        max_size=4,
    )

    @settings(FUZZ, max_examples=200)
    @given(users=users_st, single=st.booleans())
    def run(users: list[dict[str, Any]], single: bool) -> None:
        body = (
            {"features": users[0]}
            if single
            else {"users": [{"user_id": str(i), "features": u} for i, u in enumerate(users)]}
        )
        # Python's json writes NaN/Infinity tokens; the service must cope with those too.
        response = _post(served["app"], "/v1/assign", json.dumps(body), served["auth"])
        check(response, f"assign {body!r:.300}")
        valid = all(
            set(names) <= set(u)
            and all(
                (u[n] is None or (type(u[n]) in (int, float) and abs(u[n]) < 1e300))
                if fast.kinds[n] == "numeric"
                else (u[n] is None or isinstance(u[n], str | int | float | bool))
                for n in names
            )
            for u in (users[:1] if single else users)
        )
        ok["sent"] += 1
        if valid:
            assert response.status_code == 200, response.text
            ok["valid"] += 1

    run()
    assert ok["sent"] >= 150 and ok["valid"] >= 10, ok


def test_events_never_fail(served) -> None:
    event = st.fixed_dictionaries(
        {"userId": st.one_of(st.sampled_from(["u1", "u2", "fuzz-1"]), st.text(max_size=8))},
        optional={
            "type": st.sampled_from(["track", "page"]),
            "event": st.one_of(
                st.sampled_from(
                    ["Order Completed", "Product Viewed", "Order Refunded", "Product Added"]
                ),
                st.text(max_size=10),
            ),
            "messageId": st.text(max_size=6),
            "timestamp": st.one_of(
                st.datetimes().map(lambda d: d.isoformat()),
                st.sampled_from(
                    [
                        "0001-01-01T00:00:00",
                        "9999-12-31T23:59:59Z",
                        "2024-02-30",
                        "2024-06-30T10:00:00+14:00",
                        "",
                    ]
                ),
                st.text(max_size=10),
            ),
            "properties": st.dictionaries(
                st.sampled_from(
                    [
                        "revenue",
                        "price",
                        "quantity",
                        "category",
                        "rating",
                        "order_id",
                        "session_id",
                        "total",
                    ]
                ),
                _VALUES,
                max_size=4,
            ),
        },
    )

    sent: Counter[int] = Counter()

    @settings(FUZZ, max_examples=120)
    @given(events=st.lists(event, min_size=1, max_size=3))
    def run(events: list[dict[str, Any]]) -> None:
        response = _post(served["app"], "/v1/events", json.dumps({"batch": events}), served["auth"])
        check(response, f"events {events!r:.400}")
        sent[response.status_code] += 1

    run()
    assert sum(sent.values()) >= 100 and sent[200] >= 10, sent
