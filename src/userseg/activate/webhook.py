"""Deliver an audience to a webhook: signed JSON batches, retried, resumable, exactly once.

Each batch is one POST of a JSON body::

    {"export_id": "…", "batch": 3, "n_batches": 11, "idempotency_key": "…",
     "members": [{"user_id": "u1", "segment": 2, …}, …]}

with the headers

* ``X-Userseg-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes
  under the destination's secret (:func:`verify_signature` checks it in
  constant time);
* ``Idempotency-Key``: derived from the export id and the batch number only
  (:func:`idempotency_key`), so a batch sent again after a failure carries the
  same key and a receiver that remembers keys applies it once.

A connection error, a timeout, HTTP 408, 425, 429 or any 5xx is retried with
exponential backoff and jitter: before attempt k+1 the sender waits a time
drawn uniformly in [d/2, d], d = min(backoff_max, backoff_base·2^(k−1)), or the
``Retry-After`` the receiver asked for, if longer (capped the same way). Other
answers (a 4xx, a redirect: redirects are not followed, so a POST cannot turn
into a GET) fail at once. ``sleep`` and the random source are injectable.

After each acknowledged batch the progress is saved in a
:class:`DeliveryState`; when the retry budget is spent the progress is saved as
failed and :class:`~userseg.errors.ExportError` says which batch failed and
how to resume: call :func:`deliver` again with the same export id and
members, and it starts at the first unacknowledged batch. A batch the receiver
got but could not acknowledge (it died before answering) is sent again with
its key; receivers must dedupe on the key. Exactly-once is therefore
"at least once from the sender, deduplicated by the receiver".

The HTTP client is the standard library's ``urllib``: one POST with a timeout
is all a webhook needs, and the core then carries no HTTP dependency (httpx is
only a development extra). ``transport=`` takes any callable with the same
contract.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import hashlib
import hmac
import http.client
import ipaddress
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from userseg._version import __version__
from userseg.activate.exports import (
    DEFAULT_MIN_SIZE,
    ExportResult,
    atomic_path,
    check_audience_size,
)
from userseg.errors import ConfigError, ExportError

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "DeliveryProgress",
    "DeliveryState",
    "JsonFileDeliveryState",
    "MemoryDeliveryState",
    "WebhookDestination",
    "deliver",
    "idempotency_key",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Userseg-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRY_STATUSES = frozenset({408, 425, 429})
MIN_SECRET_BYTES = 16

Transport = Callable[[str, bytes, Mapping[str, str], float], tuple[int, Mapping[str, str]]]


def _key_bytes(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def sign(body: bytes, secret: str | bytes) -> str:
    """The ``X-Userseg-Signature`` value of ``body``: ``sha256=`` and the HMAC hex digest."""
    return "sha256=" + hmac.new(_key_bytes(secret), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str | bytes) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (constant time)."""
    return bool(header) and hmac.compare_digest(sign(body, secret), str(header))


def idempotency_key(export_id: str, batch: int) -> str:
    """The key of batch ``batch`` (1-based) of an export: the same on every retry and resume."""
    digest = hashlib.sha256(f"userseg-webhook\x00{export_id}\x00{batch}".encode()).hexdigest()
    return digest[:32]


# -- the destination ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookDestination:
    """Where and how to POST an audience.

    Parameters
    ----------
    url : str
        ``https://…`` (plain ``http`` only to a loopback address, for tests and
        local relays: members are identifiers of people).
    secret : str or bytes
        The HMAC key shared with the receiver, at least 16 bytes; never shown.
    batch_size : int
        Members per POST.
    timeout : float
        Seconds to wait for one answer.
    max_attempts : int
        Attempts per batch before the export fails (the retry budget).
    backoff_base, backoff_max : float
        Seconds: the first wait and the longest.
    min_size : int
        The destination's minimum audience size.
    headers : mapping
        Extra headers (e.g. ``Authorization``).
    """

    url: str
    secret: str | bytes = field(repr=False)
    batch_size: int = 1000
    timeout: float = 10.0
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    min_size: int = DEFAULT_MIN_SIZE
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad setting."""
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"webhook url={self.url!r} should be an https://host/path URL.")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ConfigError(
                f"webhook url {self.url} is not https: the members would travel in clear. "
                "Use https (plain http is accepted to a loopback address only)."
            )
        if len(_key_bytes(self.secret)) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"the webhook secret should have at least {MIN_SECRET_BYTES} bytes "
                "(a random string shared with the receiver)."
            )
        for name, value, low in (
            ("batch_size", self.batch_size, 1),
            ("max_attempts", self.max_attempts, 1),
        ):
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"{name}={value!r} should be a whole number >= {low}.")
        for name, value in (
            ("timeout", self.timeout),
            ("backoff_base", self.backoff_base),
            ("backoff_max", self.backoff_max),
        ):
            if not value > 0:
                raise ConfigError(f"{name}={value!r} should be a positive number of seconds.")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- delivery state ----------------------------------------------------------------------------
@dataclass
class DeliveryProgress:
    """How far an export got: the acknowledged batches (1-based) and why it stopped."""

    export_id: str
    url: str
    n_batches: int
    batch_size: int
    fingerprint: str
    delivered: list[int] = field(default_factory=list)
    status: str = "pending"  # pending | failed | done
    attempts: int = 0
    last_error: str | None = None
    updated_at: str | None = None

    @property
    def next_batch(self) -> int | None:
        """The first batch not acknowledged (``None`` when all are)."""
        done = set(self.delivered)
        return next((b for b in range(1, self.n_batches + 1) if b not in done), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeliveryProgress:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


class DeliveryState(Protocol):
    """Where delivery progress is kept; the store will implement it on its database."""

    def load(self, export_id: str) -> DeliveryProgress | None:
        """The saved progress of ``export_id``, or ``None``."""

    def save(self, progress: DeliveryProgress) -> None:
        """Save ``progress`` durably (replacing that export's previous one)."""


class MemoryDeliveryState:
    """Progress kept in this process (tests, one-shot scripts)."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    def load(self, export_id: str) -> DeliveryProgress | None:
        d = self._data.get(export_id)
        return None if d is None else DeliveryProgress.from_dict(d)

    def save(self, progress: DeliveryProgress) -> None:
        self._data[progress.export_id] = progress.to_dict()


class JsonFileDeliveryState:
    """Progress of every export in one JSON file, replaced atomically on each save.

    One writer at a time: two processes delivering through the same file could
    lose each other's updates (the store's implementation uses the database).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": 1, "exports": {}}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or not isinstance(doc.get("exports"), dict):
                raise ValueError("no 'exports' object")
        except (OSError, ValueError) as exc:
            raise ExportError(f"cannot read the delivery state {self.path}: {exc}.") from None
        return doc

    def load(self, export_id: str) -> DeliveryProgress | None:
        d = self._read()["exports"].get(export_id)
        return None if d is None else DeliveryProgress.from_dict(d)

    def save(self, progress: DeliveryProgress) -> None:
        doc = self._read()
        doc["exports"][progress.export_id] = progress.to_dict()
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")


# -- transport ---------------------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib would turn a redirected POST into a GET without its body


_OPENER = urllib.request.build_opener(_NoRedirect)


def urllib_transport(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, Mapping[str, str]]:
    """POST ``body``; return the status and headers (connection failures raise ``OSError``)."""
    req = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            resp.read()
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(OSError):
            exc.read()
        return exc.code, dict(exc.headers or {})


# -- delivery ----------------------------------------------------------------------------------
def _records(members: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(members, pd.DataFrame):
        # pandas writes NumPy scalars, NaN (as null) and timestamps (ISO) as JSON can hold them
        return json.loads(members.to_json(orient="records", date_format="iso", force_ascii=False))
    try:
        return json.loads(json.dumps(list(members), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the members cannot be sent as JSON: {exc}.") from None


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    return None


@dataclass
class _Attempts:
    total: int = 0
    waited: float = 0.0


def _send_batch(
    dest: WebhookDestination,
    body: bytes,
    key: str,
    transport: Transport,
    sleep: Callable[[float], None],
    rng: random.Random,
    tally: _Attempts,
) -> tuple[bool, str, int]:
    """POST one batch until acknowledged or the budget is spent: (ok, reason, attempts)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"userseg/{__version__}",
        **dict(dest.headers),
        SIGNATURE_HEADER: sign(body, dest.secret),
        IDEMPOTENCY_HEADER: key,
    }
    reason = ""
    for attempt in range(1, dest.max_attempts + 1):
        tally.total += 1
        wait_at_least = None
        try:
            status, answer = transport(dest.url, body, headers, dest.timeout)
        except (OSError, http.client.HTTPException) as exc:
            reason = f"connection error ({type(exc).__name__}: {exc})"
        else:
            if 200 <= status < 300:
                return True, "", attempt
            reason = f"answered HTTP {status}"
            if status not in RETRY_STATUSES and status < 500:
                return False, f"{reason} (a client error or redirect, not retried)", attempt
            wait_at_least = _retry_after(answer)
        if attempt < dest.max_attempts:
            d = min(dest.backoff_max, dest.backoff_base * 2 ** (attempt - 1))
            wait = rng.uniform(d / 2, d)
            if wait_at_least is not None:
                wait = min(dest.backoff_max, max(wait, wait_at_least))
            tally.waited += wait
            sleep(wait)
    return False, reason, dest.max_attempts


def deliver(
    members: pd.DataFrame | Sequence[Mapping[str, Any]],
    destination: WebhookDestination,
    export_id: str,
    state: DeliveryState,
    *,
    override_min_size: bool = False,
    transport: Transport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> ExportResult:
    """POST ``members`` to ``destination`` in signed batches, resuming from ``state``.

    Parameters
    ----------
    members : DataFrame or sequence of dicts
        One record per user, in a deterministic order (batches are cut in it).
    destination : WebhookDestination
    export_id : str
        Names the export: the idempotency keys derive from it, and ``state``
        keeps its progress under it. Deliver again with the same id to resume.
    state : DeliveryState
        :class:`MemoryDeliveryState`, :class:`JsonFileDeliveryState`, or the store's.
    override_min_size : bool
        Deliver an audience under the destination's minimum (recorded).
    transport, sleep, rng, now
        Injectable HTTP call, wait, random source (jitter) and clock.

    Returns
    -------
    ExportResult
        ``extra`` holds ``batches``, ``attempts`` (this call), ``sent_this_call``
        and ``resumed_from`` (the first batch this call sent, or ``None``).

    Raises
    ------
    PrivacyError
        Fewer members than the destination's minimum, without override; nothing sent.
    ExportError
        The retry budget was spent on a batch or it was refused (the state says
        where to resume), or the export id's saved progress is for other
        members or another URL.
    ConfigError
        A bad destination setting or export id.
    """
    started = now()
    destination.validate()
    if not isinstance(export_id, str) or not export_id.strip():
        raise ConfigError(f"export_id={export_id!r} should be a non-empty text.")
    records = _records(members)
    check = check_audience_size(
        len(records),
        destination="webhook",
        min_size=destination.min_size,
        override=override_min_size,
    )
    size = destination.batch_size
    batches = [records[i : i + size] for i in range(0, len(records), size)]
    fingerprint = hashlib.sha256(_dumps({"batch_size": size, "members": records})).hexdigest()
    progress = _progress(state, export_id, destination, len(batches), size, fingerprint)
    transport = transport or urllib_transport
    rng = rng or random.Random()
    tally = _Attempts()
    sent, first = 0, None
    for number in range(1, len(batches) + 1):
        if number in progress.delivered:
            continue
        first = first or number
        key = idempotency_key(export_id, number)
        body = _dumps(
            {
                "export_id": export_id,
                "batch": number,
                "n_batches": len(batches),
                "idempotency_key": key,
                "members": batches[number - 1],
            }
        )
        ok, reason, attempts = _send_batch(destination, body, key, transport, sleep, rng, tally)
        progress.attempts += attempts
        progress.updated_at = now().isoformat()
        if not ok:
            progress.status, progress.last_error = "failed", reason
            state.save(progress)
            raise _failure(destination, export_id, progress, number, reason, attempts, tally)
        progress.delivered.append(number)
        sent += 1
        state.save(progress)
    progress.status, progress.last_error = "done", None
    progress.updated_at = now().isoformat()
    state.save(progress)
    return ExportResult(
        export_id=export_id,
        destination="webhook",
        target=destination.url,
        n_members=len(records),
        n_written=len(records),
        n_skipped=0,
        min_size=check.min_size,
        size_override=check.overridden,
        started_at=started,
        finished_at=now(),
        columns=sorted({k for r in records for k in r}),
        extra={
            "batches": len(batches),
            "attempts": tally.total,
            "sent_this_call": sent,
            "resumed_from": first if first and first > 1 else None,
        },
    )


def _progress(
    state: DeliveryState,
    export_id: str,
    dest: WebhookDestination,
    n_batches: int,
    size: int,
    fingerprint: str,
) -> DeliveryProgress:
    saved = state.load(export_id)
    if saved is None:
        return DeliveryProgress(export_id, dest.url, n_batches, size, fingerprint)
    if saved.url != dest.url:
        raise ExportError(
            f"export {export_id} was sent to {saved.url}; resuming it to {dest.url} would split "
            "it between two receivers. Resume to the same URL, or start a new export id."
        )
    if saved.fingerprint != fingerprint or saved.batch_size != size:
        raise ExportError(
            f"the members differ from those export {export_id} started with (or the batch size "
            "does): a resume sends the rest of the same audience version. Start a new export id "
            "for new members."
        )
    return saved


def _failure(
    dest: WebhookDestination,
    export_id: str,
    progress: DeliveryProgress,
    number: int,
    reason: str,
    attempts: int,
    tally: _Attempts,
) -> ExportError:
    n = progress.n_batches
    done = len(progress.delivered)
    plural = "attempt" if attempts == 1 else "attempts"
    return ExportError(
        f"webhook {dest.url} failed on batch {number} of {n}: {reason} after {attempts} "
        f"{plural} (waited {tally.waited:.1f} s in all); {done} of {n} batches delivered. "
        f"To resume, deliver export {export_id} again with the same members: it sends "
        f"batches {number}-{n} (the receiver dedupes on the {IDEMPOTENCY_HEADER} header).",
        details={
            "export_id": export_id,
            "url": dest.url,
            "next_batch": number,
            "delivered": list(progress.delivered),
            "n_batches": n,
            "status": progress.status,
        },
    )
