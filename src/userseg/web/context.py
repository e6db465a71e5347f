"""What every page and action shares: who is signed in, the service, and HTML errors."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from userseg.errors import UsersegError
from userseg.store.access import SCOPES, key_access
from userseg.web.render import HEADERS, page
from userseg.web.session import COOKIE, Session, Sessions, check_csrf, same_origin

__all__ = ["Refused", "Viewer", "WebState", "db", "guarded", "viewer", "web_state"]

T = TypeVar("T")
PREFIX = "/web"


@dataclass
class Job:
    """A refresh started from the web app (one at a time)."""

    started_by: str
    state: str = "running"  # running | done | failed
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass
class WebState:
    """The web app's memory: sessions, the pseudonym key, the running refresh."""

    sessions: Sessions = field(default_factory=Sessions)
    pseudonym_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    job: Job | None = None
    job_lock: threading.Lock = field(default_factory=threading.Lock)

    def pseudonym(self, user_id: str) -> str:
        """A user's pseudonym on these pages: keyed, so it cannot be reversed or looked up."""
        return hmac.new(self.pseudonym_key, user_id.encode(), hashlib.sha256).hexdigest()[:16]


@dataclass
class Viewer:
    """The person on the page: their key, its scope, and their session's CSRF token."""

    key_id: str | None
    name: str
    scope: str
    session: Session | None

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""

    def can(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


class Refused(Exception):
    """Stop and answer with an HTML page (or a redirect)."""

    def __init__(self, status: int, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.location = status, message, location


def web_state(request: Request) -> WebState:
    return request.app.state.web


def service(request: Request) -> Any:
    svc = request.app.state.service
    if svc is None:
        raise Refused(503, "the service has no database.")
    return svc


async def db(request: Request, fn: Callable[[Any], T]) -> T:
    """Run ``fn(database)`` in the thread pool, holding the service's database lock."""
    svc = service(request)
    return await run_in_threadpool(svc.with_db, lambda: fn(svc.db))


async def viewer(
    request: Request,
    *,
    need: str = "read",
    form: dict[str, Any] | None = None,
    check_form: bool = True,
) -> Viewer:
    """The signed-in person (or a redirect to sign in); checks scope, and CSRF on a POST.

    The key is looked up on every request, so a revoked key's sessions end at once and a
    changed scope applies at once.
    """
    svc = service(request)
    if svc.keyring is None:  # served with --no-auth: anyone may look, nobody may act
        v = Viewer(None, "anonymous (no keys: look only)", "read", None)
    else:
        token = request.cookies.get(COOKIE)
        session = web_state(request).sessions.get(token)
        found = await db(request, lambda d: key_access(d, session.key_id)) if session else None
        if session is None or found is None:
            web_state(request).sessions.drop(token)
            if request.method != "GET":
                raise Refused(401, "your session has ended: sign in again.")
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
            raise Refused(303, "sign in", location=f"{PREFIX}/signin?next={target}")
        v = Viewer(session.key_id, found[0], found[1], session)
    if request.method == "POST" and check_form:
        if not same_origin(request):
            raise Refused(403, "this form was sent from another site's page: refused.")
        if v.session is None or not check_csrf(v.session, (form or {}).get("csrf")):
            raise Refused(403, "the form's security token is missing or stale: reload the page.")
    if not v.can(need):
        raise Refused(403, f"your key ({v.scope}) may not do this: it needs the {need} scope.")
    return v


def guarded(fn: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Answer a :class:`Refused` or a userseg error with an HTML page, never JSON."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return await fn(*args, **kwargs)
        except Refused as exc:
            if exc.location is not None:
                return RedirectResponse(exc.location, status_code=exc.status, headers=HEADERS)
            return error_page(exc.status, exc.message)
        except UsersegError as exc:
            return error_page(exc.http_status, exc.message)

    return wrapper


def error_page(status: int, message: str) -> Response:
    titles = {400: "Bad request", 401: "Signed out", 403: "Not allowed", 404: "Not found"}
    return page(
        "error.html",
        status,
        title=titles.get(status, "Something went wrong"),
        message=message,
        viewer=None,
    )
