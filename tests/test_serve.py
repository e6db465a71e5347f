"""The REST service in-process (httpx over ASGI): every endpoint, every error code, the one error
shape, API keys, the limits, and the compiled fast path against the Segmenter it compiles."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is needed")

from userseg import Segmenter, demo
from userseg.config import Source
from userseg.errors import ConfigError, NotFoundError
from userseg.features.build import load_features
from userseg.jobs import pipeline
from userseg.segment.params import FitConfig
from userseg.serve import create_app
from userseg.serve.auth import Keyring, create_key, hash_secret, list_keys, revoke_key, verify
from userseg.serve.fastpath import FastScorer
from userseg.serve.limits import RateLimit, RateLimiter
from userseg.store import get_feature_set, get_run, open_database

REPO = Path(__file__).resolve().parents[1]
ERROR_KEYS = {"code", "message", "details"}


# -- fixtures --------------------------------------------------------------------------------
def lean_fit(**kwargs: Any) -> FitConfig:
    """A FitConfig without the diagnostics these tests do not need (where they exist)."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(FitConfig)}
    extra = {"stability_runs": 0, "structure": False, "rules": False}
    return FitConfig(**kwargs, **{k: v for k, v in extra.items() if k in known})


@pytest.fixture(scope="module")
def shop(tmp_path_factory, demo_files) -> dict[str, Any]:
    """The small demo shop with a k-means run (1) and a DBSCAN run (2), and one API key."""
    path = tmp_path_factory.mktemp("serve") / "shop.duckdb"
    db = pipeline.open_db(path)
    try:
        pipeline.ingest(
            db, Source(path=str(demo_files["events"])), kind="events", mapping=demo.EVENT_MAPPING
        )
        pipeline.ingest(
            db, Source(path=str(demo_files["users"])), kind="users", mapping=demo.USER_MAPPING
        )
        pipeline.features(db)
        kmeans_run, _ = pipeline.fit(db, lean_fit(k=5))
        dbscan_run, _ = pipeline.fit(db, lean_fit(algorithm="dbscan"))
        key_id, secret = create_key(db, "tests")
        fs = get_feature_set(db, get_run(db, kmeans_run).feature_set_id)
        features = load_features(db, fs)
    finally:
        db.close()
    return {
        "path": path,
        "kmeans": kmeans_run,
        "dbscan": dbscan_run,
        "key_id": key_id,
        "secret": secret,
        "features": features,
    }


@pytest.fixture(scope="module")
def app(shop):
    """The service over run 1, read-only use (tests that write take a private copy)."""
    application = create_app(shop["path"], run_id=shop["kmeans"])
    yield application
    application.state.service.close()


@pytest.fixture
def private(shop, tmp_path) -> Path:
    """A private copy of the shop database, for tests that write to it."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(shop["path"], copy)
    return copy


def call(
    app, method: str, url: str, *, key: str | None = None, raise_app: bool = True, **kwargs: Any
) -> httpx.Response:
    """One request through the ASGI transport (no network)."""
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app, raise_app_exceptions=raise_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, url, headers=headers, **kwargs)

    return asyncio.run(go())


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the one error shape, the status and the code; return the error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Feature rows as JSON-ready dicts (NaN → None, NumPy → Python)."""
    return json.loads(frame.to_json(orient="records"))


# -- the fast path equals the Segmenter --------------------------------------------------------
def _synthetic(n: int, seed: int) -> pd.DataFrame:
    """Three groups, with everything the preparer does: logs, clips, indicators, pruning,
    constant columns, rare and missing categories, a boolean attribute."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, n)
    visits = rng.poisson(2 + 10 * g).astype(float)
    age = rng.normal(30 + 10 * g, 5)
    age[rng.random(n) < 0.2] = np.nan
    almost = np.full(n, 5.0)
    almost[rng.random(n) < 0.1] = np.nan
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]).astype(
        object
    )
    region[rng.random(n) < 0.004] = "atlantis"  # rare: folded into "(other)"
    gender = rng.choice(["f", "m"], n).astype(object)
    gender[rng.random(n) < 0.15] = None  # frequent: a "(missing)" level of its own
    return pd.DataFrame(
        {
            "spend": np.where(g == 0, rng.gamma(2, 10, n), rng.gamma(2, 300, n)),  # log1p
            "balance": rng.standard_t(2, n) * 100 + 50 * g,  # heavy both ways: signed log1p
            "visits": visits,
            "visits_twice": visits * 2 + rng.normal(0, 0.01, n),  # correlated: pruned
            "age": age,  # missing: an indicator
            "constant": np.full(n, 7.0),  # constant: no column at all
            "almost": almost,  # constant where present: only its indicator
            "region": region,
            "gender": gender,
            "member": rng.random(n) < 0.3 + 0.2 * g,  # boolean: categorical "True"/"False"
        }
    )


def _probe_records(df: pd.DataFrame, n: int, seed: int) -> list[dict[str, Any]]:
    """Rows to score: training rows, then missing values, unseen levels, extremes, ints."""
    rng = np.random.default_rng(seed)
    rows = records_of(df.sample(n, random_state=seed))
    for i, r in enumerate(rows):
        kind = i % 6
        if kind == 1:
            r["age"], r["spend"], r["almost"] = None, None, None
        elif kind == 2:
            r["region"], r["gender"] = "mars", None  # unseen level; a missing one
        elif kind == 3:
            r["spend"], r["balance"], r["visits"] = 1e12, -1e12, 10**6  # clipped
        elif kind == 4:
            r["visits"], r["visits_twice"] = int(rng.integers(0, 30)), int(rng.integers(0, 60))
            r["member"] = bool(rng.random() < 0.5)
        elif kind == 5:
            r["region"], r["constant"] = "atlantis", 123.0  # "(other)"; a constant feature moves
    return rows


def _lean() -> dict[str, Any]:
    """Segmenter options that skip diagnostics this file does not test.

    An option the Segmenter no longer takes fails here (it used to be dropped
    silently, and the tests went on running the diagnostics they meant to skip).
    """
    import inspect

    known = inspect.signature(Segmenter).parameters
    wanted = {"stability_runs": 0, "check_structure": False, "rules": False}
    unknown = sorted(set(wanted) - set(known))
    assert not unknown, f"Segmenter no longer takes {unknown}: update _lean()"
    return wanted


ALGORITHMS = [
    ("kmeans", {}),
    ("gmm", {"covariance_type": "full"}),
    ("gmm", {"covariance_type": "diag"}),
    ("gmm", {"covariance_type": "spherical"}),
    ("gmm", {"covariance_type": "tied"}),
    ("dbscan", {}),
    ("hdbscan", {}),
    ("radii", {}),  # a core assigner with a radius per point, as HDBSCAN's
]


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return _synthetic(900, seed=1)


@pytest.mark.parametrize(
    ("algorithm", "params"),
    ALGORITHMS,
    ids=[f"{a}-{p.get('covariance_type', '')}" for a, p in ALGORITHMS],
)
def test_fast_path_equals_the_segmenter(synthetic, algorithm, params) -> None:
    from userseg.cluster.assigners import CoreAssigner

    kwargs: dict[str, Any] = {
        "algorithm": "dbscan" if algorithm == "radii" else algorithm,
        "algorithm_params": params or None,
        "categorical": ["member"],
        "random_state": 0,
        **_lean(),
    }
    if algorithm in ("kmeans", "gmm"):
        kwargs["n_segments"] = 3
    seg = Segmenter(**kwargs).fit(synthetic)  # an error here is a failure, never a skip
    if algorithm == "radii":
        a = seg.assigner_
        radii = np.random.default_rng(3).uniform(0.2, 1.5, len(a.points)) * a.radii
        seg.assigner_ = CoreAssigner(a.points, a.labels, radii)
    notes = " ".join(seg.preparer_.notes_)
    assert "visits_twice: left out" in notes and "constant: constant" in notes  # what we test
    # The service scores a stored model: compile the one that went through to_state.
    stored = Segmenter.from_state(*seg.to_state(), seg.profiles_)
    fast = FastScorer(stored, run_id=7)
    records = _probe_records(synthetic, 600, seed=2)
    expected_labels, expected_dist = seg.predict_with_distance(pd.DataFrame.from_records(records))

    labels, dist = fast.predict(records)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_allclose(dist, expected_dist, rtol=1e-9, atol=1e-12)
    # One user at a time (a one-row BLAS product may round differently: same segment still).
    for r, lab, d in zip(records[:120], expected_labels, expected_dist, strict=False):
        (one,), (one_d,) = fast.predict([r])
        assert one == lab
        assert one_d == pytest.approx(d, rel=1e-9, abs=1e-12)
    # Names follow the ids, noise included.
    ids, names, dists = fast.assign(records)
    assert ids == expected_labels.tolist()
    assert names == [seg.name_of(int(lab)) for lab in expected_labels]
    np.testing.assert_allclose(dists, expected_dist, rtol=1e-9, atol=1e-12)
    if algorithm in ("dbscan", "hdbscan"):
        assert (expected_labels == -1).any(), "the probe should reach noise"


def test_fast_path_validates_like_an_api(synthetic) -> None:
    from userseg.errors import DataError

    fast = FastScorer(Segmenter(n_segments=2, categorical=["member"], **_lean()).fit(synthetic))
    good = records_of(synthetic.head(2))
    assert fast.features == list(synthetic.columns)
    bad_cases = [
        ({"spend": "12abc"}, "spend", "numeric"),
        ({"spend": True}, "spend", "numeric"),
        ({"constant": "x"}, "constant", "numeric"),  # not in the distance, still checked
        ({"visits": 10**400}, "visits", "range"),
        ({"age": float("inf")}, "age", "finite"),
        ({"age": -1e308}, "age", r"within ±1e\+15"),  # refused by imports and events too
        ({"region": ["a"]}, "region", "categorical"),
        ({"spend": {"a": 1}}, "spend", "numeric"),
    ]
    for change, feature, word in bad_cases:
        rows = [good[0], good[1] | change]
        with pytest.raises(DataError, match=word) as info:
            fast.predict(rows)
        assert info.value.details == {"feature": feature, "index": 1}
        assert f"users[1].features.{feature}" in info.value.message
    missing = [good[0], {k: v for k, v in good[1].items() if k not in ("age", "region")}]
    with pytest.raises(DataError, match="missing feature") as info:
        fast.predict(missing)
    assert info.value.details["missing"] == ["age", "region"]
    assert info.value.details["expected"] == fast.features
    # Extra keys are ignored; NaN is missing; numbers in a categorical are read as text.
    labels, _ = fast.predict([good[0] | {"extra": "x", "age": float("nan"), "region": 3}])
    assert labels.shape == (1,)


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm", "dbscan"])
def test_the_service_runs_the_models_own_preparer_and_assigner(
    synthetic, algorithm, monkeypatch
) -> None:
    """No shadow copy: the library and the fast path call the same preparation and assigner
    code, and a Gaussian mixture's log-probability is scikit-learn's, for both."""
    from sklearn.mixture import GaussianMixture

    from userseg.cluster.assigners import Assigner
    from userseg.features.compiled import CompiledPreparer

    extra = {"n_segments": 3} if algorithm != "dbscan" else {}
    seg = Segmenter(algorithm=algorithm, random_state=0, **extra, **_lean()).fit(synthetic)
    fast = FastScorer(Segmenter.from_state(*seg.to_state(), seg.profiles_))
    calls: list[str] = []

    def spy(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    spy(CompiledPreparer, "transform_arrays")
    spy(type(seg.assigner_), "predict_unchecked")
    spy(GaussianMixture, "_estimate_weighted_log_prob")
    assert issubclass(type(seg.assigner_), Assigner)
    records = _probe_records(synthetic, 30, seed=4)
    expected = seg.predict_with_distance(pd.DataFrame.from_records(records))
    library = list(calls)
    calls.clear()
    got = fast.predict(records)
    assert calls == library
    gaussian = ["_estimate_weighted_log_prob"] if algorithm == "gmm" else []
    assert library == ["transform_arrays", "predict_unchecked", *gaussian]
    np.testing.assert_array_equal(got[0], expected[0])


def test_the_serving_path_keeps_no_shadow_copies() -> None:
    """The service composes the model; it holds no arithmetic of its own (issue 10, item 3),
    and the nearest centre is computed in one place."""
    src = REPO / "src" / "userseg"
    arithmetic = ("log1p", "np.clip", "einsum", "argmin", "argmax", "KDTree", "precision", "@ ")
    for path in sorted((src / "serve").glob("*.py")):
        text = path.read_text()
        found = [word for word in arithmetic if word in text]
        assert not found, f"{path.name} computes {found} itself"
    # argmin over distances: only the one nearest-centre function (kernels aside); the
    # others pick the best of a curve.
    allowed = {"cluster/nearest.py", "evaluate/choose.py", "features/_supervised.py"}
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if "argmin(" in path.read_text() and not path.name.endswith("_kernels.py"):
            assert rel in allowed, f"{rel} finds a nearest centre of its own"


# -- health, model, assign -----------------------------------------------------------------
def test_health_needs_no_key_and_names_the_model(app, shop) -> None:
    r = call(app, "GET", "/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["run_id"] == shop["kmeans"]
    assert body["algorithm"] == "kmeans" and body["n_segments"] == 5 and body["version"]


def test_model_lists_the_features_assign_needs(app, shop) -> None:
    body = call(app, "GET", "/v1/model", key=shop["secret"]).json()
    assert body["run_id"] == shop["kmeans"] and body["max_batch"] == 1000
    names = [f["name"] for f in body["features"]]
    assert names == app.state.service.fast.features
    kinds = {f["name"]: f["kind"] for f in body["features"]}
    assert kinds["recency_days"] == "numeric" and kinds["region"] == "categorical"
    assert "north" in next(f["levels"] for f in body["features"] if f["name"] == "region")


def test_assign_equals_the_stored_model(app, shop) -> None:
    model = app.state.service.scorer.model
    frame = shop["features"].sample(300, random_state=0)
    expected, dist = model.predict_with_distance(frame)
    records = records_of(frame)
    ids = [str(i) for i in frame.index]
    r = call(
        app,
        "POST",
        "/v1/assign",
        key=shop["secret"],
        json={"users": [{"user_id": u, "features": f} for u, f in zip(ids, records, strict=True)]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run_id"] == shop["kmeans"]
    assert [u["user_id"] for u in body["users"]] == ids
    assert [u["segment"] for u in body["users"]] == expected.tolist()
    assert [u["name"] for u in body["users"]] == [model.name_of(int(s)) for s in expected]
    np.testing.assert_allclose([u["distance"] for u in body["users"]], dist, rtol=1e-9)
    # One user, and the same user without an id.
    one = call(
        app,
        "POST",
        "/v1/assign",
        key=shop["secret"],
        json={"user_id": ids[0], "features": records[0]},
    ).json()
    assert one == {
        "run_id": shop["kmeans"],
        "user_id": ids[0],
        "segment": int(expected[0]),
        "name": model.name_of(int(expected[0])),
        "distance": pytest.approx(dist[0]),
    }
    anon = call(app, "POST", "/v1/assign", key=shop["secret"], json={"features": records[0]})
    assert anon.json()["user_id"] is None and anon.json()["segment"] == expected[0]


def test_a_single_user_may_mention_users(app, shop) -> None:
    """The form is chosen from the body's text: the word "users" in a value must not matter."""
    record = records_of(shop["features"].head(1))[0] | {"region": "users"}
    r = call(
        app, "POST", "/v1/assign", key=shop["secret"], json={"user_id": "users", "features": record}
    )
    assert r.status_code == 200 and r.json()["user_id"] == "users"
    err = error_of(
        call(
            app,
            "POST",
            "/v1/assign",
            key=shop["secret"],
            json={"features": {"users": 1}, "user": "x"},
        ),
        422,
        "validation_error",
    )
    assert err["message"] == "body.user: Extra inputs are not permitted"


_ID = st.one_of(
    st.none(), st.text(max_size=3), st.text(min_size=255, max_size=258), st.integers(), st.just("")
)
_FEATURES = st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
_USER = st.one_of(
    st.fixed_dictionaries({"features": _FEATURES}, optional={"user_id": _ID}),
    st.fixed_dictionaries(
        {"features": st.one_of(_FEATURES, st.lists(st.integers(), max_size=1), st.none())},
        optional={"user_id": _ID, "extra": st.integers()},
    ),
    st.dictionaries(st.sampled_from(["user_id", "extra"]), _ID, max_size=2),
)


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(
    body=st.one_of(
        _USER,
        st.fixed_dictionaries(
            {"users": st.lists(_USER, max_size=3)},
            optional={"features": st.just({}), "x": st.integers()},
        ),
        st.fixed_dictionaries({"users": st.one_of(st.none(), st.integers(), st.text())}),
        st.lists(st.integers(), max_size=2),
        # the batch limits, at and beyond both ends
        st.sampled_from([0, 1, 999, 1000, 1001]).map(lambda n: {"users": [{"features": {}}] * n}),
    )
)
def test_quick_body_check_accepts_only_what_the_models_accept(body) -> None:
    """parse_assign's plain checks must agree with the documented pydantic models: the same
    bodies accepted (with the same result), the same refused."""
    from pydantic import ValidationError

    from userseg.serve.schemas import ASSIGN_ADAPTER, AssignBatch, _accept

    raw = json.dumps(body).encode()
    quick = _accept(body)
    try:
        model = ASSIGN_ADAPTER.validate_json(raw)
    except ValidationError:
        assert quick is None, body
        return
    assert quick is not None, body  # a valid body never takes the slow way
    users = model.users if isinstance(model, AssignBatch) else [model]
    assert quick == (isinstance(model, AssignBatch), [(u.user_id, u.features) for u in users])


def test_assign_never_touches_the_database(app, shop, monkeypatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("POST /v1/assign used the database")

    db = app.state.service.db
    monkeypatch.setattr(db, "execute", refuse)
    monkeypatch.setattr(db, "rows", refuse)
    record = records_of(shop["features"].head(1))[0]
    r = call(app, "POST", "/v1/assign", key=shop["secret"], json={"features": record})
    assert r.status_code == 200, r.text


def test_density_model_answers_noise(shop) -> None:
    app = create_app(shop["path"], run_id=shop["dbscan"])
    try:
        model = app.state.service.scorer.model
        rng = np.random.default_rng(0)
        frame = shop["features"].sample(200, random_state=1).copy()
        # Shuffle each column independently: combinations no shopper has, many far from any core.
        for c in frame.columns:
            frame[c] = rng.permutation(frame[c].to_numpy())
        expected, _ = model.predict_with_distance(frame)
        assert (expected == -1).any() and (expected >= 0).any()
        r = call(
            app,
            "POST",
            "/v1/assign",
            key=shop["secret"],
            json={"users": [{"features": f} for f in records_of(frame)]},
        )
        body = r.json()
        assert body["run_id"] == shop["dbscan"]
        assert [u["segment"] for u in body["users"]] == expected.tolist()
        assert {u["name"] for u in body["users"] if u["segment"] == -1} == {"noise"}
    finally:
        app.state.service.close()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"features": {"recency_days": "soon"}}, "features.recency_days"),
        ({"features": {"recency_days": True}}, "features.recency_days"),
        ({"features": {"recency_days": 10**400}}, "features.recency_days"),
        ({"features": {"region": {"nested": 1}}}, "features.region"),
    ],
)
def test_assign_names_a_bad_value(app, shop, body, where) -> None:
    record = records_of(shop["features"].head(1))[0]
    r = call(
        app, "POST", "/v1/assign", key=shop["secret"], json={"features": record | body["features"]}
    )
    err = error_of(r, 422, "data_error")
    assert where in err["message"]
    assert err["details"]["feature"] == where.split(".")[-1]


def test_assign_infinity_and_missing_features(app, shop) -> None:
    record = records_of(shop["features"].head(1))[0]
    text = json.dumps({"features": record}).replace(
        f'"age": {json.dumps(record["age"])}', '"age": 1e999'
    )
    r = call(
        app,
        "POST",
        "/v1/assign",
        key=shop["secret"],
        content=text,
        headers={"content-type": "application/json"},
    )
    assert "features.age" in error_of(r, 422, "data_error")["message"]
    partial = {k: v for k, v in record.items() if k not in ("age", "recency_days")}
    r = call(
        app,
        "POST",
        "/v1/assign",
        key=shop["secret"],
        json={"users": [{"features": record}, {"features": partial}]},
    )
    err = error_of(r, 422, "data_error")
    assert "users[1]" in err["message"]
    assert sorted(err["details"]["missing"]) == ["age", "recency_days"]
    assert err["details"]["expected"] == app.state.service.fast.features


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b"[]",
        b'"text"',
        b'{"users": []}',
        b'{"users": {"a": 1}}',
        b'{"features": [1, 2]}',
        b'{"features": {}, "extra": 1}',
        b'{"users": [{"features": {}}], "features": {}}',
        json.dumps({"user_id": "x" * 300, "features": {}}).encode(),
        json.dumps({"user_id": 12, "features": {}}).encode(),
    ],
)
def test_malformed_assign_bodies_are_422(app, shop, content) -> None:
    r = call(
        app,
        "POST",
        "/v1/assign",
        key=shop["secret"],
        content=content,
        headers={"content-type": "application/json"},
    )
    err = error_of(r, 422, "validation_error")
    assert err["details"]["errors"] and err["message"].startswith("body")


def test_assign_batch_limit_is_1000(app, shop) -> None:
    record = records_of(shop["features"].head(1))[0]
    small = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in record.items()}
    ok = call(
        app, "POST", "/v1/assign", key=shop["secret"], json={"users": [{"features": small}] * 1000}
    )
    assert ok.status_code == 200 and len(ok.json()["users"]) == 1000
    err = error_of(
        call(
            app, "POST", "/v1/assign", key=shop["secret"], json={"users": [{"features": {}}] * 1001}
        ),
        422,
        "validation_error",
    )
    assert "1000" in err["message"]


# -- events and users --------------------------------------------------------------------
def test_events_update_a_user_and_are_idempotent(private, shop) -> None:
    app = create_app(private)
    key = shop["secret"]
    try:
        known = str(shop["features"].index[0])
        event = {
            "type": "track",
            "userId": known,
            "event": "Order Completed",
            "properties": {"revenue": 25.5, "category": "books"},
            "timestamp": "2024-06-30T10:00:00Z",
            "messageId": "m-1",
        }
        r = call(app, "POST", "/v1/events", key=key, json=event)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["accepted"] == 1 and body["duplicates"] == 0
        assert body["run_id"] == shop["dbscan"]  # the latest run by default
        (u,) = body["users"]
        assert u["user_id"] == known and u["previous_segment"] is not None
        assert u["changed"] == (u["segment"] != u["previous_segment"])
        again = call(app, "POST", "/v1/events", key=key, json=[event]).json()
        assert again["accepted"] == 0 and again["duplicates"] == 1
        batch = {
            "batch": [
                {
                    "type": "page",
                    "userId": "newcomer",
                    "messageId": "m-2",
                    "timestamp": "2024-06-30T10:00:00Z",
                },
                {
                    "userId": "newcomer",
                    "event": "Product Added",
                    "messageId": "m-3",
                    "properties": {"price": 10, "quantity": 2},
                    "timestamp": "2024-06-30T10:01:00Z",
                },
            ]
        }
        b = call(app, "POST", "/v1/events", key=key, json=batch).json()
        assert b["accepted"] == 2 and [x["user_id"] for x in b["users"]] == ["newcomer"]
        assert b["users"][0]["previous_segment"] is None and not b["users"][0]["changed"]
        user = call(app, "GET", "/v1/users/newcomer", key=key).json()
        assert user["user_id"] == "newcomer" and user["segment"] == b["users"][0]["segment"]
        assert user["history"] and user["history"][0]["reason"] == "events"
        stored = call(app, "GET", f"/v1/users/{shop['features'].index[1]}", key=key).json()
        assert stored["history"] == [] and stored["run_id"] == shop["dbscan"]
        error_of(call(app, "GET", "/v1/users/nobody-at-all", key=key), 404, "not_found")
        slash = {
            "userId": "shop/42",
            "event": "Product Viewed",
            "messageId": "m-9",
            "timestamp": "2024-06-30T10:00:00Z",
        }
        assert call(app, "POST", "/v1/events", key=key, json=slash).status_code == 200
        assert call(app, "GET", "/v1/users/shop%2F42", key=key).json()["user_id"] == "shop/42"
        assert call(app, "GET", "/v1/users/shop/42", key=key).json()["user_id"] == "shop/42"
    finally:
        app.state.service.close()


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        ({"event": "Order Completed"}, "data_error", "userId"),
        ({"userId": "u"}, "data_error", "event is required"),
        (
            {"userId": "u", "event": "x", "timestamp": "2999-01-01T00:00:00Z"},
            "data_error",
            "future",
        ),
        ({"userId": "u", "event": "x", "timestamp": "yesterday"}, "data_error", "ISO 8601"),
        (
            {"userId": "u", "event": "Order Completed", "properties": {"revenue": "lots"}},
            "data_error",
            "revenue",
        ),
        ({"userId": "u", "event": "x", "properties": {"quantity": [1]}}, "data_error", "quantity"),
        # values that a refit could not use: refused here, not found by the nightly job
        ({"userId": "u", "event": "x", "properties": {"rating": 1e308}}, "data_error", "rating"),
        (
            {"userId": "u", "event": "x", "timestamp": "0001-01-01T00:00:00Z"},
            "data_error",
            "before 1970",
        ),
        (
            {"userId": "u", "event": "x", "properties": {"category": {"a": 1}}},
            "data_error",
            "got dict",
        ),
        ({"userId": "u\u0000", "event": "x"}, "data_error", "NUL"),
        ({"type": "identify", "userId": "u"}, "validation_error", "type"),
        ({"userId": 5, "event": "x"}, "validation_error", "userId"),
        ({"userId": "u", "event": "x", "properties": [1]}, "validation_error", "properties"),
        ([], "validation_error", "body"),
        ({"batch": []}, "validation_error", "batch"),
        ({"batch": [{"userId": "u", "event": "x"}] * 1001}, "validation_error", "batch"),
        ("text", "validation_error", "body"),
    ],
)
def test_bad_events_are_422(app, shop, payload, code, words) -> None:
    r = call(app, "POST", "/v1/events", key=shop["secret"], json=payload)
    assert words in error_of(r, 422, code)["message"]


# -- segments and runs ------------------------------------------------------------------
def test_assign_from_recent_events_stores_nothing(private, shop) -> None:
    app = create_app(private, run_id=shop["kmeans"])
    key = shop["secret"]
    try:
        visitor = [
            {
                "type": "page",
                "userId": "visitor-1",
                "timestamp": "2026-06-30T10:00:00Z",
                "properties": {"category": "toys"},
            },
            {
                "type": "track",
                "userId": "visitor-1",
                "event": "Product Added",
                "timestamp": "2026-06-30T10:02:00Z",
                "properties": {"category": "toys"},
            },
        ]
        r = call(app, "POST", "/v1/assign/events", key=key, json={"batch": visitor})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["run_id"] == shop["kmeans"]
        (u,) = body["users"]
        assert u["user_id"] == "visitor-1" and u["segment"] >= 0 and u["name"]
        # the same answer as recording then reading would give, but nothing was written
        svc = app.state.service
        assert svc.db.scalar("SELECT count(*) FROM events WHERE user_id = 'visitor-1'") == 0
        error_of(
            call(app, "POST", "/v1/assign/events", key=key, json={"type": "track"}),
            422,
            "data_error",
        )
        error_of(call(app, "POST", "/v1/assign/events", json=visitor), 401, "unauthorized")
    finally:
        app.state.service.close()


def test_segments_and_profiles(app, shop) -> None:
    key = shop["secret"]
    body = call(app, "GET", "/v1/segments", key=key).json()
    assert body["run_id"] == shop["kmeans"]
    segs = body["segments"]
    assert [s["segment"] for s in segs] == list(range(5))
    assert abs(sum(s["share"] for s in segs) - 1) < 1e-9
    assert sum(s["size"] for s in segs) == len(shop["features"])
    assert all(len(s["top_features"]) <= 3 and s["name"] for s in segs)
    profile = call(app, "GET", "/v1/segments/2", key=key).json()
    assert profile["segment"] == 2 and profile["name"] == segs[2]["name"]
    assert set(profile["means"]) >= {"recency_days", "monetary"}
    assert profile["top_features"] == segs[2]["top_features"]
    other = call(app, "GET", f"/v1/segments?run_id={shop['dbscan']}", key=key).json()
    assert other["run_id"] == shop["dbscan"]
    err = error_of(call(app, "GET", "/v1/segments/42", key=key), 404, "not_found")
    assert "segment 42" in err["message"]
    error_of(call(app, "GET", "/v1/segments?run_id=999", key=key), 404, "not_found")
    error_of(call(app, "GET", "/v1/segments/two", key=key), 422, "validation_error")
    error_of(call(app, "GET", "/v1/segments?run_id=0", key=key), 422, "validation_error")


def test_runs_lists_every_version(app, shop) -> None:
    body = call(app, "GET", "/v1/runs", key=shop["secret"]).json()
    assert body["served_run_id"] == shop["kmeans"]
    assert [r["run_id"] for r in body["runs"]] == [shop["dbscan"], shop["kmeans"]]
    assert [r["served"] for r in body["runs"]] == [False, True]
    assert body["runs"][1]["algorithm"] == "kmeans" and body["runs"][1]["n_segments"] == 5


# -- keys ------------------------------------------------------------------------------
V1 = [
    ("GET", "/v1/model"),
    ("POST", "/v1/assign"),
    ("POST", "/v1/events"),
    ("POST", "/v1/assign/events"),
    ("GET", "/v1/segments"),
    ("GET", "/v1/segments/0"),
    ("GET", "/v1/runs"),
    ("GET", "/v1/users/u1"),
]


@pytest.mark.parametrize(("method", "url"), V1)
def test_every_v1_endpoint_needs_a_key(app, method, url) -> None:
    kwargs = {"json": {}} if method == "POST" else {}
    err = error_of(call(app, method, url, **kwargs), 401, "unauthorized")
    assert "Authorization: Bearer" in err["message"]
    wrong = call(app, method, url, key="usk_0123456789ab_" + "x" * 43, **kwargs)
    assert error_of(wrong, 401, "unauthorized")["message"] == "invalid or revoked API key."
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    basic = call(app, method, url, headers={"Authorization": "Basic dXNlcjpwYXNz"}, **kwargs)
    error_of(basic, 401, "unauthorized")


def test_keys_are_stored_hashed_and_revocable(private) -> None:
    db = open_database(private)
    try:
        key_id, secret = create_key(db, "  crm  ")
        assert secret.startswith(f"usk_{key_id}_") and len(secret) > 50
        (row,) = db.dicts("SELECT * FROM userseg_api_keys WHERE key_id = ?", [key_id])
        assert row["name"] == "crm" and secret not in row["key_hash"]
        assert row["key_hash"].startswith("scrypt$16384$8$1$")
        assert row["key_hash"] != hash_secret(secret)  # salted: a new hash every time
        assert verify(db, secret) == key_id
        assert verify(db, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
        assert verify(db, "not a key") is None
        listed = {k["key_id"]: k for k in list_keys(db)}
        assert listed[key_id]["active"] and "key_hash" not in listed[key_id]
        revoked = revoke_key(db, key_id)
        assert revoked["revoked_at"] is not None
        assert revoke_key(db, key_id)["revoked_at"] == revoked["revoked_at"]  # idempotent
        assert verify(db, secret) is None
        with pytest.raises(NotFoundError, match="no API key"):
            revoke_key(db, "000000000000")
        with pytest.raises(ConfigError):
            create_key(db, "   ")
    finally:
        db.close()


def test_a_revoked_key_is_refused_at_once(private) -> None:
    app = create_app(private)
    svc = app.state.service
    try:
        key_id, secret = svc.keyring.create("mobile")
        assert call(app, "GET", "/v1/model", key=secret).status_code == 200
        # Revoked through the module function on the service's own connection: the keyring
        # notices without reading the table on every request.
        revoke_key(svc.db, key_id)
        error_of(call(app, "GET", "/v1/model", key=secret), 401, "unauthorized")
        other_id, other = svc.keyring.create("web")
        assert call(app, "GET", "/v1/model", key=other).status_code == 200
        svc.keyring.revoke(other_id)
        error_of(call(app, "GET", "/v1/model", key=other), 401, "unauthorized")
    finally:
        svc.close()


def test_last_use_is_recorded(private, shop) -> None:
    app = create_app(private)
    assert call(app, "GET", "/v1/model", key=shop["secret"]).status_code == 200
    app.state.service.close()  # what the lifespan does at shutdown
    db = open_database(private)
    try:
        (k,) = [k for k in list_keys(db) if k["key_id"] == shop["key_id"]]
        assert k["last_used_at"] is not None
    finally:
        db.close()


def test_keyring_caches_a_verified_secret(private, shop, monkeypatch) -> None:
    db = open_database(private)
    try:
        ring = Keyring(db)
        assert ring.verify(shop["secret"]) == shop["key_id"]
        import userseg.serve.auth as auth

        monkeypatch.setattr(auth, "_matches", lambda *a: pytest.fail("scrypt ran again"))
        assert ring.verify(shop["secret"]) == shop["key_id"]
        assert ring.check_cached("usk_ffffffffffff_" + "y" * 43) is None  # unknown id: no scrypt
    finally:
        db.close()


def test_without_keys(shop) -> None:
    app = create_app(shop["path"], keys_required=False, run_id=shop["kmeans"])
    try:
        assert call(app, "GET", "/v1/runs").status_code == 200
    finally:
        app.state.service.close()


# -- limits ------------------------------------------------------------------------------
def test_body_over_the_limit_is_413(shop) -> None:
    app = create_app(shop["path"], run_id=shop["kmeans"], max_body_bytes=2_000)
    try:
        big = {"features": {"x": "y" * 3_000}}
        err = error_of(
            call(app, "POST", "/v1/assign", key=shop["secret"], json=big), 413, "payload_too_large"
        )
        assert err["details"]["max_bytes"] == 2_000

        # Without a Content-Length (chunked), counted as it arrives.
        async def chunked() -> Any:
            for chunk in (b'{"features": {"x": "', b"y" * 1500, b"y" * 1500, b'"}}'):
                yield chunk

        r = call(app, "POST", "/v1/events", key=shop["secret"], content=chunked())
        assert "content-length" not in r.request.headers
        error_of(r, 413, "payload_too_large")
        # Before the key is even looked at: no key, still 413.
        error_of(call(app, "POST", "/v1/assign", json=big), 413, "payload_too_large")
        small = call(app, "POST", "/v1/assign", key=shop["secret"], json={"features": {}})
        error_of(small, 422, "data_error")
    finally:
        app.state.service.close()


class _Clock:
    """A clock the test moves (RateLimiter(clock=...)): no race with the wall clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_is_429_with_retry_after(shop) -> None:
    limit = RateLimit(per_second=0.5, burst=3)
    app = create_app(shop["path"], run_id=shop["kmeans"], rate_limit=limit)
    clock = _Clock()
    app.state.service.limiter = RateLimiter(limit, clock=clock)
    try:
        statuses = [call(app, "GET", "/v1/model", key=shop["secret"]).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        r = call(app, "GET", "/v1/model", key=shop["secret"])
        err = error_of(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) == 2  # one token at 0.5 per second
        assert err["details"]["retry_after"] == int(r.headers["Retry-After"])
        assert call(app, "GET", "/health").status_code == 200  # health is never limited
        clock.now += 2.0  # a token later the key is served again
        assert call(app, "GET", "/v1/model", key=shop["secret"]).status_code == 200
        assert call(app, "GET", "/v1/model", key=shop["secret"]).status_code == 429
    finally:
        app.state.service.close()


def test_failed_key_checks_are_limited(shop) -> None:
    limit = RateLimit(per_second=0.1, burst=2)
    app = create_app(shop["path"], run_id=shop["kmeans"], auth_failure_limit=limit)
    app.state.service.auth_failures = RateLimiter(limit, clock=_Clock())
    try:
        bad = f"usk_{shop['key_id']}_" + "z" * 43  # a real key id: each try costs a scrypt
        codes = [call(app, "GET", "/v1/runs", key=bad).status_code for _ in range(4)]
        assert codes[:2] == [401, 401] and codes[-1] == 429
    finally:
        app.state.service.close()


def test_bad_keys_do_not_lock_out_other_keys_from_the_same_address(shop) -> None:
    # Behind a proxy every client shares one address: a client sending garbage keys used
    # to get a good key refused with 429 on its first use (found by a trial).
    app = create_app(
        shop["path"], run_id=shop["kmeans"], auth_failure_limit=RateLimit(per_second=0.1, burst=2)
    )
    try:
        codes = [
            call(app, "GET", "/v1/runs", key="usk_" + "0" * 12 + "_" + "z" * 43).status_code
            for _ in range(4)
        ]
        assert codes[-1] == 429
        assert call(app, "GET", "/v1/runs", key="not-a-key").status_code in (401, 429)
        assert call(app, "GET", "/v1/runs", key=shop["secret"]).status_code == 200
    finally:
        app.state.service.close()


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimit(per_second=2, burst=2), clock=lambda: now[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0  # buckets are per key
    now[0] += 0.5
    assert limiter.take("a") == 0
    with pytest.raises(ConfigError):
        RateLimit(per_second=0)


# -- routing errors, bugs, the schema ------------------------------------------------------
def test_head_health_form_bodies_and_unreadable_json(app, shop) -> None:
    # found by a trial: HEAD /health was 405 (load balancers use it); the documented curl
    # without a content type got a 422 about the body's shape; a body nested too deep to
    # parse got a 400 outside the documented errors
    assert call(app, "HEAD", "/health").status_code == 200
    r = call(
        app,
        "POST",
        "/v1/events",
        key=shop["secret"],
        content=b'{"userId": "u", "event": "x"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert "Content-Type: application/json" in error_of(r, 415, "unsupported_media_type")["message"]
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/v1/events", "/v1/assign"):
        r = call(
            app, "POST", path, key=shop["secret"], content=deep,
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_unknown_path_and_wrong_method(app, shop) -> None:
    error_of(call(app, "GET", "/v2/nothing"), 404, "not_found")
    r = call(app, "DELETE", "/v1/assign", key=shop["secret"])
    error_of(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"
    error_of(call(app, "GET", "/v1/assign", key=shop["secret"]), 405, "method_not_allowed")


def test_a_bug_is_500_in_the_same_shape(shop, monkeypatch) -> None:
    app = create_app(shop["path"], run_id=shop["kmeans"])
    try:

        def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(app.state.service.fast, "assign", broken)
        r = call(
            app, "POST", "/v1/assign", key=shop["secret"], json={"features": {}}, raise_app=False
        )
        err = error_of(r, 500, "internal_error")
        assert "RuntimeError" in err["message"] and "boom" not in err["message"]
    finally:
        app.state.service.close()


def test_concurrent_requests_share_one_connection(private, shop) -> None:
    app = create_app(private)
    key = {"Authorization": f"Bearer {shop['secret']}"}

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=key) as c:
            jobs = []
            for i in range(30):
                if i % 3 == 0:
                    jobs.append(
                        c.post(
                            "/v1/events",
                            json={
                                "userId": f"c{i}",
                                "event": "Product Viewed",
                                "messageId": f"c-{i}",
                                "timestamp": "2024-06-30T10:00:00Z",
                            },
                        )
                    )
                elif i % 3 == 1:
                    jobs.append(c.get("/v1/segments"))
                else:
                    jobs.append(c.get(f"/v1/users/c{i - 1}"))
            return [r.status_code for r in await asyncio.gather(*jobs)]

    try:
        codes = asyncio.run(go())
        assert set(codes) <= {200, 404} and codes.count(200) >= 20
    finally:
        app.state.service.close()


def test_openapi_is_served_and_committed(app) -> None:
    from userseg.serve.app import openapi_json

    served = call(app, "GET", "/openapi.json").json()
    committed = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert served == committed, "docs/openapi.json is stale: python -m userseg.serve > it"
    assert (REPO / "docs" / "openapi.json").read_text() == openapi_json()
    paths = set(served["paths"])
    assert paths == {
        "/health",
        "/v1/assign",
        "/v1/assign/events",
        "/v1/model",
        "/v1/events",
        "/v1/segments",
        "/v1/segments/{segment_id}",
        "/v1/runs",
        "/v1/users/{user_id}",
        "/v1/users/{user_id}/recommendations",
        "/v1/audiences",
        "/v1/audiences/{name}",
        "/v1/audiences/{name}/members",
    }
    assert served["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    for path, ops in served["paths"].items():
        for op in ops.values():
            if path.startswith("/v1"):
                assert {"401", "413", "422", "429"} <= set(op["responses"]), (path, op)
                assert op["responses"]["422"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorResponse"
                }
    batch = served["components"]["schemas"]["AssignBatch"]["properties"]["users"]
    assert batch["maxItems"] == 1000
