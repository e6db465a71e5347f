"""Sign-in sessions and CSRF tokens of the web app.

An API key is typed once on the sign-in page and exchanged for a session:
a random 256-bit token in a cookie (``HttpOnly`` so scripts cannot read it,
``SameSite=Strict`` so no other site's page can send it, ``Secure`` when the
app is served over TLS). The key itself is never stored in the browser.
Sessions live in the server's memory (a restart signs everyone out) and hold
only the key id: each request looks the key up again, so a revoked key's
sessions end at once and a changed scope applies at once.

Every form carries a CSRF token: the session's own random token once signed
in, and before that (the sign-in form) an HMAC of a short-lived pre-session
cookie. POSTs whose token does not match, or whose ``Origin`` is another
site's, are refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "PRE_COOKIE", "Session", "Sessions", "same_origin"]

COOKIE = "userseg_session"
PRE_COOKIE = "userseg_signin"
#: A session ends after this long without a request, and after MAX_AGE_S in any case.
IDLE_S = 2 * 3600
MAX_AGE_S = 12 * 3600
_MAX_SESSIONS = 10_000


@dataclass
class Session:
    """One signed-in browser: the key it signed in with and its CSRF token."""

    key_id: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """The server's sessions, by a digest of their cookie (the cookie itself is not kept)."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._by_digest: dict[bytes, Session] = {}
        self._lock = threading.Lock()

    def _digest(self, token: str) -> bytes:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).digest()

    def create(self, key_id: str) -> tuple[str, Session]:
        """A new session for ``key_id``; returns the cookie value and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(key_id)
        with self._lock:
            self._expire()
            self._by_digest[self._digest(token)] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        """The live session of a cookie value, or None (unknown, idle too long, too old)."""
        if not token:
            return None
        now = time.monotonic()
        with self._lock:
            s = self._by_digest.get(self._digest(token))
            if s is None:
                return None
            if now - s.seen > IDLE_S or now - s.created > MAX_AGE_S:
                del self._by_digest[self._digest(token)]
                return None
            s.seen = now
            return s

    def drop(self, token: str | None) -> None:
        """End a session (sign-out, or its key was revoked)."""
        if token:
            with self._lock:
                self._by_digest.pop(self._digest(token), None)

    def _expire(self) -> None:
        now = time.monotonic()
        dead = [
            d
            for d, s in self._by_digest.items()
            if now - s.seen > IDLE_S or now - s.created > MAX_AGE_S
        ]
        for d in dead:
            del self._by_digest[d]
        while len(self._by_digest) >= _MAX_SESSIONS:  # bounded, oldest first
            del self._by_digest[next(iter(self._by_digest))]

    # -- the sign-in form's token, before there is a session --------------------------------

    def signin_token(self, pre: str) -> str:
        """The CSRF token of the sign-in form for the pre-session cookie ``pre``."""
        return hmac.new(self._secret, b"signin:" + pre.encode(), hashlib.sha256).hexdigest()

    def check_signin_token(self, pre: str | None, token: str | None) -> bool:
        return bool(pre and token) and hmac.compare_digest(
            self.signin_token(pre),
            token,  # type: ignore[arg-type]
        )


def check_csrf(session: Session, token: str | None) -> bool:
    """Whether a form's token is the session's (compared in constant time)."""
    return bool(token) and hmac.compare_digest(session.csrf, token)  # type: ignore[arg-type]


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site's page."""
    origin = request.headers.get("origin")
    if origin is None:  # same-origin GETs, and clients that are not browsers
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """A cookie no script can read, no other site can send, and only TLS carries under TLS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
