"""Request limits: a body-size cap (413) and a per-key token-bucket rate limit (429).

Both answer in the one JSON error shape. The body cap is plain ASGI
middleware, not Starlette's ``BaseHTTPMiddleware``: that one wraps every
request in extra tasks and costs a measurable share of a sub-millisecond
request. It refuses a declared ``Content-Length`` over the cap before reading
anything, and counts the bytes of a chunked body as they arrive.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from userseg.errors import ConfigError

__all__ = ["BodyLimitMiddleware", "RateLimit", "RateLimiter", "error_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> bytes:
    """The one error shape, as JSON bytes."""
    return json.dumps(
        {"error": {"code": code, "message": message, "details": details or {}}}
    ).encode()


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 and the one error shape.

    Parameters
    ----------
    app : ASGI app
    max_bytes : int
        The largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                break
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, declared)
            return
        # Buffer the body (it is small by now) so that an over-long chunked body is refused
        # before the application sees a byte of it, with a proper response.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, None)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the client to disconnect

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, declared: int | None) -> None:
        got = f"{declared:,} bytes" if declared is not None else "more"
        body = error_body(
            "payload_too_large",
            f"the request body is over the limit of {self.max_bytes:,} bytes (got {got}); "
            "send fewer users or events per request.",
            {"max_bytes": self.max_bytes, "content_length": declared},
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``per_second`` requests on average, bursts up to ``burst``.

    Parameters
    ----------
    per_second : float
        Sustained requests per second allowed to one key.
    burst : int
        Requests one key may send at once after being idle.
    """

    per_second: float = 1000.0
    burst: int = 2000

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)) or self.burst < 1:
            raise ConfigError(
                f"a rate limit needs per_second > 0 and burst >= 1; got "
                f"per_second={self.per_second}, burst={self.burst}."
            )


class RateLimiter:
    """One token bucket per key (an API key id, or a client address).

    ``take(key)`` returns 0.0 when the request may go ahead, else the seconds
    to wait before the next token (for ``Retry-After``). Idle buckets are
    forgotten, so a flood of distinct client addresses cannot grow memory.
    """

    MAX_BUCKETS = 10_000

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        rate, burst = self.limit.per_second, float(self.limit.burst)
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / rate
            if len(self._buckets) > self.MAX_BUCKETS:
                self._prune(now)
        return wait

    def blocked(self, key: str) -> float:
        """Seconds until ``key`` has a token again (0.0 if it has one); takes nothing."""
        rate, burst = self.limit.per_second, float(self.limit.burst)
        with self._lock:
            entry = self._buckets.get(key)
            if entry is None:
                return 0.0
            tokens = min(burst, entry[0] + (self.clock() - entry[1]) * rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate

    def _prune(self, now: float) -> None:
        rate, burst = self.limit.per_second, float(self.limit.burst)
        full = [k for k, (t, at) in self._buckets.items() if t + (now - at) * rate >= burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) > self.MAX_BUCKETS:  # still too many: drop the oldest half
            for k in sorted(self._buckets, key=lambda k: self._buckets[k][1])[
                : len(self._buckets) // 2
            ]:
                del self._buckets[k]
