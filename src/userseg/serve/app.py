"""The application factory of the REST service, and its one JSON error shape.

``create_app(db)`` loads one stored run (the model version) into memory,
opens a single connection to the userseg database and returns a FastAPI app
(see ``docs/api.md`` for the endpoints). What each request may touch:

* ``POST /v1/assign`` and ``GET /health``/``GET /v1/model`` use only the
  in-memory model (:class:`~userseg.serve.fastpath.FastScorer`), never the
  database, so they stay fast whatever else the service is doing;
* every other endpoint uses the one DuckDB connection (DuckDB has one writer
  per file), under one lock, from the thread pool.

Every error, whatever raised it (userseg, FastAPI's validation, Starlette's
routing, the limits, or a bug), leaves as ``{"error": {"code", "message",
"details"}}`` with its status code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from userseg._version import __version__
from userseg.errors import ConfigError, UsersegError
from userseg.explain.small_groups import check_min_group
from userseg.io.database import Database
from userseg.jobs.live import LiveScorer
from userseg.serve.auth import Keyring
from userseg.serve.fastpath import FastScorer
from userseg.serve.limits import BodyLimitMiddleware, RateLimit, RateLimiter
from userseg.serve.schemas import extra_schemas
from userseg.serve.service import Service
from userseg.serve.service import error_response as _error

__all__ = ["build_app", "create_app", "openapi_json"]

log = logging.getLogger("userseg.serve")

#: Failed key checks allowed per client address before 429 (each costs one scrypt).
AUTH_FAILURES = RateLimit(per_second=2.0, burst=30)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UsersegError)
    async def _userseg(request: Request, exc: UsersegError) -> Response:
        return _error(
            exc.http_status, exc.code, exc.message, exc.details, getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        kind = request.headers.get("content-type", "")
        if request.method in ("POST", "PUT", "PATCH") and kind and "json" not in kind.lower():
            # curl -d sends a form; FastAPI then reads the body as something else and
            # complains about its shape, which hides the real mistake
            return _error(
                415,
                "unsupported_media_type",
                "send the body as JSON with the header `Content-Type: application/json`; "
                f"got {kind!r}.",
                {"content_type": kind},
            )
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()[:20]
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"]) or "request"
        return _error(
            422,
            "validation_error",
            f"{where}: {first['msg']}"[:500],
            {"errors": errors, "count": len(exc.errors())},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # FastAPI could not parse the body (e.g. JSON nested too deep)
            return _error(
                422,
                "validation_error",
                f"body: the request body could not be read as JSON ({exc.detail}).",
                {"errors": [{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}]},
            )
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = {
            404: f"no endpoint at {request.url.path}; see /openapi.json.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }.get(exc.status_code, str(exc.detail))
        return _error(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            message,
            {},
            dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(
            500,
            "internal_error",
            f"internal error (a bug in userseg): {type(exc).__name__}; please report it.",
        )


def create_app(
    db: str | Path | Database,
    *,
    run_id: int | None = None,
    keys_required: bool = True,
    max_body_bytes: int = 1_000_000,
    rate_limit: RateLimit | None = RateLimit(),
    auth_failure_limit: RateLimit | None = AUTH_FAILURES,
    min_group: int = 10,
) -> FastAPI:
    """Build the REST service over a userseg database.

    Parameters
    ----------
    db : str, Path or Database
        The userseg database (a path is opened, and closed at shutdown; an
        open :class:`~userseg.io.database.Database` is used and left open).
    run_id : int, optional
        The model version to serve; the latest run by default.
    keys_required : bool
        Require ``Authorization: Bearer <key>`` on every ``/v1`` endpoint
        (keys from ``userseg keys create``). Without it, rate limits apply per
        client address.
    max_body_bytes : int
        Larger request bodies are refused with 413.
    rate_limit : RateLimit or None
        Token bucket per API key (429 with ``Retry-After`` beyond it); None: no limit.
    auth_failure_limit : RateLimit or None
        Token bucket of failed key checks per client address (429 beyond it).
    min_group : int, default 10
        Segments and category cells of fewer users are answered with a marker
        (``"<10"``), not described (:mod:`userseg.explain.small_groups`).

    Returns
    -------
    FastAPI
        ``app.state.service`` holds the :class:`Service` (model, database, keyring).

    Examples
    --------
    >>> app = create_app("shop.duckdb")                      # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, port=8000)          # doctest: +SKIP
    """
    from userseg.store import open_database

    if max_body_bytes < 1:
        raise ConfigError(f"max_body_bytes={max_body_bytes} should be >= 1.")
    check_min_group(min_group)
    owns_db = not isinstance(db, Database)
    database = open_database(db) if owns_db else db
    try:
        scorer = LiveScorer(database, run_id)
        lock = threading.Lock()
        service = Service(
            db=database,
            scorer=scorer,
            fast=FastScorer(scorer.model, scorer.run_id),
            keyring=Keyring(database, lock) if keys_required else None,
            limiter=RateLimiter(rate_limit) if rate_limit is not None else None,
            auth_failures=RateLimiter(auth_failure_limit) if auth_failure_limit else None,
            lock=lock,
            owns_db=owns_db,
            max_body_bytes=max_body_bytes,
            min_group=min_group,
        )
    except BaseException:
        if owns_db:
            database.close()
        raise

    return build_app(service)


def build_app(service: Service | None) -> FastAPI:
    """The FastAPI app around a :class:`Service` (None: only to produce the OpenAPI schema)."""
    from userseg.serve import audiences, erasure
    from userseg.serve.recommend import router as recommend_router
    from userseg.serve.routes import router
    from userseg.web import install as install_web

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Only flush: a lifespan may end while the app object lives on (test clients run one
        # per test), and the connection is closed by whoever built the app (the CLI does).
        if service is not None:
            service.flush()

    app = FastAPI(
        title="userseg",
        version=__version__,
        summary="Real-time user segments: assign users, record events, read segments and runs.",
        description=(
            "Every `/v1` endpoint needs `Authorization: Bearer <key>` (keys from "
            "`userseg keys create`). Every error has one shape: "
            '`{"error": {"code", "message", "details"}}`. Limits: request bodies over the '
            "configured size get 413; requests over a key's rate get 429 with `Retry-After`. "
            "See docs/api.md."
        ),
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN; userseg works offline. The
        # schema itself is served at /openapi.json and described in docs/api.md.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(extra_schemas())
            schema["components"]["schemas"] = dict(sorted(schema["components"]["schemas"].items()))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    _install_error_handlers(app)
    app.include_router(recommend_router)  # before routes: /v1/users/{id:path} would take it
    app.include_router(router)
    app.include_router(audiences.router)
    app.include_router(erasure.router)
    install_web(app)  # the web app: pages under /web (userseg.web)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=service.max_body_bytes if service else 1_000_000
    )
    return app


def openapi_json() -> str:
    """The OpenAPI document of the service, as committed in ``docs/openapi.json``."""
    return json.dumps(build_app(None).openapi(), indent=2, ensure_ascii=False) + "\n"
