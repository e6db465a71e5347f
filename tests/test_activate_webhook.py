"""Webhook delivery: signed batches, idempotency keys, retries with backoff, resumable."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from userseg.activate.webhook import (
    DeliveryProgress,
    JsonFileDeliveryState,
    MemoryDeliveryState,
    WebhookDestination,
    deliver,
    idempotency_key,
    sign,
    verify_signature,
)
from userseg.errors import ConfigError, ExportError, PrivacyError

SECRET = "webhook-secret-0123456789"
RECEIVER = Path(__file__).with_name("webhook_receiver.py")


def _members(n: int = 1050) -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": [f"u{i}" for i in range(n)], "segment": [i % 4 for i in range(n)]}
    )


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


# --- a receiver process that we kill mid-export -------------------------------------------------
def _start_receiver(log: Path, port: int = 0, die_on: int | None = None):
    args = [sys.executable, str(RECEIVER), str(log), SECRET, str(port)]
    if die_on is not None:
        args += ["--die-on-batch", str(die_on)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, port


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_receiver_killed_mid_export_then_resume_delivers_every_batch_once(tmp_path: Path) -> None:
    log = tmp_path / "received.jsonl"
    state = JsonFileDeliveryState(tmp_path / "deliveries.json")
    members = _members(1050)  # 11 batches of 100
    proc, port = _start_receiver(log, die_on=4)
    dest = WebhookDestination(
        f"http://127.0.0.1:{port}/hook", SECRET, batch_size=100, max_attempts=3, timeout=5
    )
    sleep = FakeSleep()
    try:
        with pytest.raises(ExportError) as exc:
            deliver(members, dest, "exp-42", state, sleep=sleep)
        assert proc.wait(timeout=10) == -9  # the receiver was killed (SIGKILL) at batch 4
    finally:
        proc.kill()
    msg = str(exc.value)
    assert "batch 4 of 11" in msg and "3 of 11 batches delivered" in msg
    assert "exp-42" in msg and "resume" in msg
    # the state, read back from its file by a new reader, says where to resume
    progress = JsonFileDeliveryState(tmp_path / "deliveries.json").load("exp-42")
    assert progress.status == "failed" and progress.delivered == [1, 2, 3]
    assert progress.next_batch == 4 and "connection" in progress.last_error
    assert len(sleep.calls) == 2  # three attempts, two waits

    # the receiver comes back on the same port; the export resumes from its state
    proc, _ = _start_receiver(log, port=port)
    try:
        res = deliver(
            members,
            dest,
            "exp-42",
            JsonFileDeliveryState(tmp_path / "deliveries.json"),
            sleep=FakeSleep(),
        )
    finally:
        proc.kill()
        proc.wait(timeout=10)
    records = _log(log)
    accepted = [r for r in records if not r["duplicate"]]
    duplicates = [r for r in records if r["duplicate"]]
    # every batch delivered exactly once (batch 4 reached the receiver before it died, and
    # again on resume with the same key: the receiver counted it once), none lost
    assert sorted(r["batch"] for r in accepted) == list(range(1, 12))
    assert len({r["key"] for r in accepted}) == 11
    assert [r["batch"] for r in duplicates] == [4]
    delivered_ids = [u for r in accepted for u in r["user_ids"]]
    assert sorted(delivered_ids) == sorted(members["user_id"]) and len(set(delivered_ids)) == 1050
    assert {r["key"] for r in accepted} == {idempotency_key("exp-42", b) for b in range(1, 12)}
    assert res.n_written == 1050 and res.extra["resumed_from"] == 4
    assert res.extra["batches"] == 11 and res.extra["sent_this_call"] == 8
    assert state.load("exp-42").status == "done"

    # a rerun of a finished export sends nothing
    n_before = len(_log(log))
    again = deliver(members, dest, "exp-42", JsonFileDeliveryState(tmp_path / "deliveries.json"))
    assert len(_log(log)) == n_before and again.extra["sent_this_call"] == 0


# --- an in-process server for status-code behaviour -------------------------------------------
class _Script:
    """Answers POSTs with the next status of a script (the last one repeats)."""

    def __init__(self, statuses: list[int], headers: dict[str, str] | None = None) -> None:
        self.statuses = statuses
        self.headers = headers or {}
        self.requests: list[tuple[dict[str, str], bytes]] = []


@pytest.fixture
def scripted() -> Iterator:
    servers = []

    def start(script: _Script) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                script.requests.append((dict(self.headers), body))
                i = min(len(script.requests), len(script.statuses)) - 1
                self.send_response(script.statuses[i])
                for k, v in script.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/hook"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_a_webhook_answering_500_forever_fails_clearly_after_the_retry_budget(scripted) -> None:
    script = _Script([500])
    url = scripted(script)
    state = MemoryDeliveryState()
    sleep = FakeSleep()
    dest = WebhookDestination(
        url, SECRET, batch_size=500, max_attempts=5, backoff_base=1.0, backoff_max=6.0
    )
    with pytest.raises(ExportError) as exc:
        deliver(_members(1050), dest, "exp-500", state, sleep=sleep)
    msg = str(exc.value)
    assert "answered HTTP 500" in msg and "batch 1 of 3" in msg and "after 5 attempts" in msg
    assert "0 of 3 batches delivered" in msg and "resume" in msg and "exp-500" in msg
    assert exc.value.details["next_batch"] == 1
    assert len(script.requests) == 5
    # exponential backoff with jitter: each wait in [d/2, d], d = 1, 2, 4, then capped at 6
    for wait, d in zip(sleep.calls, [1.0, 2.0, 4.0, 6.0], strict=True):
        assert d / 2 <= wait <= d
    p = state.load("exp-500")
    assert p.status == "failed" and p.delivered == [] and p.next_batch == 1
    assert p.attempts == 5 and "HTTP 500" in p.last_error
    # every attempt carried the same idempotency key and a valid signature
    keys = {h["Idempotency-Key"] for h, _ in script.requests}
    assert keys == {idempotency_key("exp-500", 1)}
    for headers, body in script.requests:
        assert verify_signature(body, headers["X-Userseg-Signature"], SECRET)
        assert headers["Content-Type"] == "application/json"


def test_a_client_error_is_not_retried(scripted) -> None:
    script = _Script([400])
    url = scripted(script)
    with pytest.raises(ExportError, match=r"answered HTTP 400 .*not retried"):
        deliver(
            _members(200),
            WebhookDestination(url, SECRET),
            "exp-400",
            MemoryDeliveryState(),
            sleep=FakeSleep(),
        )
    assert len(script.requests) == 1


def test_retry_after_is_honoured(scripted) -> None:
    script = _Script([429, 200], headers={"Retry-After": "3"})
    url = scripted(script)
    sleep = FakeSleep()
    res = deliver(
        _members(150),
        WebhookDestination(url, SECRET, batch_size=1000, backoff_base=0.1),
        "exp-429",
        MemoryDeliveryState(),
        sleep=sleep,
    )
    assert sleep.calls == [3.0] and res.extra["attempts"] == 2


def test_the_body_is_signed_and_carries_the_batch(scripted) -> None:
    script = _Script([200])
    url = scripted(script)
    deliver(
        _members(250),
        WebhookDestination(url, SECRET, batch_size=100),
        "exp-b",
        MemoryDeliveryState(),
        sleep=FakeSleep(),
    )
    bodies = [json.loads(b) for _, b in script.requests]
    assert [b["batch"] for b in bodies] == [1, 2, 3]
    assert [len(b["members"]) for b in bodies] == [100, 100, 50]
    assert bodies[0]["export_id"] == "exp-b" and bodies[0]["n_batches"] == 3
    assert bodies[2]["members"][-1] == {"user_id": "u249", "segment": 1}
    headers, body = script.requests[0]
    assert headers["X-Userseg-Signature"] == sign(body, SECRET)
    assert not verify_signature(body + b" ", headers["X-Userseg-Signature"], SECRET)
    assert not verify_signature(body, headers["X-Userseg-Signature"], "another-secret-0123")


def test_idempotency_keys_are_deterministic_and_distinct() -> None:
    assert idempotency_key("e", 1) == idempotency_key("e", 1)
    assert len({idempotency_key("e", b) for b in range(1, 100)}) == 99
    assert idempotency_key("e", 1) != idempotency_key("f", 1)


def test_resuming_with_other_members_or_url_is_refused(scripted) -> None:
    url = scripted(_Script([500]))
    state = MemoryDeliveryState()
    dest = WebhookDestination(url, SECRET, max_attempts=1)
    with pytest.raises(ExportError):
        deliver(_members(300), dest, "exp-x", state, sleep=FakeSleep())
    with pytest.raises(ExportError, match="members differ from those export exp-x started with"):
        deliver(_members(301), dest, "exp-x", state, sleep=FakeSleep())
    other = WebhookDestination(url.replace("/hook", "/other"), SECRET, max_attempts=1)
    with pytest.raises(ExportError, match=r"was sent to .*/hook"):
        deliver(_members(300), other, "exp-x", state, sleep=FakeSleep())


def test_minimum_size_per_destination_and_override_recorded(scripted) -> None:
    script = _Script([200])
    url = scripted(script)
    with pytest.raises(PrivacyError, match="under the minimum of 100 for webhook"):
        deliver(_members(50), WebhookDestination(url, SECRET), "e1", MemoryDeliveryState())
    assert script.requests == []  # refused before anything was sent
    res = deliver(
        _members(50),
        WebhookDestination(url, SECRET),
        "e2",
        MemoryDeliveryState(),
        override_min_size=True,
    )
    assert res.size_override and res.min_size == 100
    res = deliver(
        _members(50), WebhookDestination(url, SECRET, min_size=20), "e3", MemoryDeliveryState()
    )
    assert not res.size_override and res.min_size == 20


def test_destination_validation() -> None:
    with pytest.raises(ConfigError, match="https"):
        WebhookDestination("http://example.com/hook", SECRET).validate()
    WebhookDestination("http://127.0.0.1:9/hook", SECRET).validate()  # loopback may be http
    WebhookDestination("https://example.com/hook", SECRET).validate()
    with pytest.raises(ConfigError, match="secret"):
        WebhookDestination("https://example.com/hook", "short").validate()
    with pytest.raises(ConfigError, match="url"):
        WebhookDestination("ftp://example.com", SECRET).validate()
    for bad in ({"batch_size": 0}, {"max_attempts": 0}, {"timeout": 0}):
        with pytest.raises(ConfigError):
            WebhookDestination("https://example.com/hook", SECRET, **bad).validate()
    assert SECRET not in repr(WebhookDestination("https://example.com/hook", SECRET))


def test_json_state_round_trip(tmp_path: Path) -> None:
    state = JsonFileDeliveryState(tmp_path / "s.json")
    p = DeliveryProgress("e", "https://x/h", 3, 10, "f" * 64, delivered=[1], status="failed")
    state.save(p)
    state.save(DeliveryProgress("other", "https://x/h", 1, 10, "0" * 64))
    back = JsonFileDeliveryState(tmp_path / "s.json").load("e")
    assert back == p and back.next_batch == 2
    assert JsonFileDeliveryState(tmp_path / "s.json").load("missing") is None
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ExportError, match=r"bad\.json"):
        JsonFileDeliveryState(tmp_path / "bad.json").load("e")
