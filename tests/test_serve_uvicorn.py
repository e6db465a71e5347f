"""Once through a real uvicorn on a loopback port: ``userseg serve`` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from userseg import demo
from userseg.config import Source
from userseg.features.build import load_features
from userseg.jobs import pipeline
from userseg.segment.params import FitConfig
from userseg.serve.auth import create_key, list_keys
from userseg.store import get_feature_set, get_run, open_database

pytest.importorskip("uvicorn", reason="uvicorn (the serve extra) is needed")

# `userseg serve` as the lead's CLI registers it: serve_cmds.register on a Typer app.
HARNESS = """
import sys, typer
from userseg.cli.serve_cmds import register
app = typer.Typer(add_completion=False)
@app.callback()
def main() -> None: ...
register(app)
app(sys.argv[1:])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lean_fit(**kwargs: Any) -> FitConfig:
    """A FitConfig without the diagnostics these tests do not need (where they exist)."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(FitConfig)}
    extra = {"stability_runs": 0, "structure": False, "rules": False}
    return FitConfig(**kwargs, **{k: v for k, v in extra.items() if k in known})


@pytest.fixture(scope="module")
def shop(tmp_path_factory, demo_files) -> dict:
    path = tmp_path_factory.mktemp("uvicorn") / "shop.duckdb"
    db = pipeline.open_db(path)
    try:
        pipeline.ingest(
            db, Source(path=str(demo_files["events"])), kind="events", mapping=demo.EVENT_MAPPING
        )
        pipeline.ingest(
            db, Source(path=str(demo_files["users"])), kind="users", mapping=demo.USER_MAPPING
        )
        pipeline.features(db)
        run_id, seg = pipeline.fit(db, lean_fit(k=4))
        key_id, secret = create_key(db, "uvicorn-test")
        first = load_features(db, get_feature_set(db, get_run(db, run_id).feature_set_id)).head(1)
        record = json.loads(first.to_json(orient="records"))[0]
        expected = int(seg.predict(first)[0])
    finally:
        db.close()
    return {
        "path": path,
        "run_id": run_id,
        "key_id": key_id,
        "secret": secret,
        "record": record,
        "expected": expected,
    }


def test_serve_on_loopback(shop) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HARNESS,
            "serve",
            "--db",
            str(shop["path"]),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.poll() is not None else ""
                    pytest.fail(f"the server did not start (exit {proc.poll()}): {out}")
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["run_id"] == shop["run_id"]
        key = {"Authorization": f"Bearer {shop['secret']}"}
        with httpx.Client(base_url=base, timeout=10, headers=key) as client:
            one = client.post("/v1/assign", json={"user_id": "x", "features": shop["record"]})
            assert one.status_code == 200, one.text
            assert one.json()["segment"] == shop["expected"]
            assert one.json()["run_id"] == shop["run_id"]
            batch = client.post("/v1/assign", json={"users": [{"features": shop["record"]}] * 50})
            assert [u["segment"] for u in batch.json()["users"]] == [shop["expected"]] * 50
            bad = client.post(
                "/v1/assign", content=b"{", headers={"content-type": "application/json"}
            )
            assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
            text = client.post("/v1/assign", content=b"{", headers={"content-type": "text/plain"})
            assert text.status_code == 415  # not JSON: the content type is named
            assert text.json()["error"]["code"] == "unsupported_media_type"
            big = client.post("/v1/assign", content=b" " * 1_000_001)
            assert big.status_code == 413
        nokey = httpx.post(f"{base}/v1/assign", json={"features": {}}, timeout=10)
        assert nokey.status_code == 401 and nokey.headers["www-authenticate"] == "Bearer"
        # While it serves, it holds the database: other writers get a clear refusal.
        with pytest.raises(Exception, match="in use by another process"):
            open_database(shop["path"])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server is a failure
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stdout.read()
    db = open_database(shop["path"])  # released, intact, and the key's last use recorded
    try:
        (k,) = [k for k in list_keys(db) if k["key_id"] == shop["key_id"]]
        assert k["last_used_at"] is not None
    finally:
        db.close()
