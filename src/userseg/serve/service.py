"""What the service's parts share: the running service, its refusals and its JSON responses.

The application factory (:mod:`userseg.serve.app`) builds a :class:`Service`
and mounts the routers (:mod:`userseg.serve.routes`, :mod:`userseg.serve.audiences`);
they all import this module, and it imports none of them, so the service has
no import cycle.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import pydantic_core
from fastapi.responses import Response

from userseg.errors import UsersegError
from userseg.io.database import Database
from userseg.jobs.live import LiveScorer
from userseg.json_safe import jsonable
from userseg.serve.auth import Keyring
from userseg.serve.fastpath import FastScorer
from userseg.serve.limits import RateLimiter

__all__ = ["ApiError", "Service", "error_response", "json_response"]

T = TypeVar("T")
_FLUSH_EVERY_S = 60.0


class ApiError(UsersegError):
    """An HTTP-level refusal (401, 429…) in the one error shape, with optional headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.http_status = status
        self.code = code
        self.headers = headers or {}


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A compact JSON response (pydantic-core's encoder; NaN and infinity become null)."""
    body = pydantic_core.to_json(payload, inf_nan_mode="null", fallback=jsonable)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The one error shape, ``{"error": {"code", "message", "details"}}``, with its status."""
    return json_response(
        {"error": {"code": code, "message": message, "details": jsonable(details or {})}},
        status,
        headers,
    )


@dataclass
class Service:
    """What the endpoints share: the model, the database and its lock, the limits."""

    db: Database
    scorer: LiveScorer
    fast: FastScorer
    keyring: Keyring | None
    limiter: RateLimiter | None
    auth_failures: RateLimiter | None
    lock: threading.Lock
    owns_db: bool
    max_body_bytes: int
    min_group: int = 10  # segments and cells of fewer users are not described
    _flushed_at: float = field(default_factory=time.monotonic)
    _closed: bool = False

    @property
    def run_id(self) -> int:
        return self.scorer.run_id

    def with_db(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` holding the database lock (DuckDB: one connection, one user at a time)."""
        with self.lock:
            out = fn()
        if self.keyring is not None and time.monotonic() - self._flushed_at > _FLUSH_EVERY_S:
            self._flushed_at = time.monotonic()
            self.keyring.flush_last_used()
        return out

    def flush(self) -> None:
        """Write what is kept in memory (when each key was last used); safe to call again."""
        if self.keyring is not None and not self._closed:
            with contextlib.suppress(UsersegError, duckdb.Error):
                self.keyring.flush_last_used()

    def close(self) -> None:
        """Flush, and close the database connection if the service opened it (idempotent)."""
        self.flush()
        if self.owns_db and not self._closed:
            self.db.close()
        self._closed = True
