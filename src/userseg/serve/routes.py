"""The endpoints of the REST service (mounted by :func:`userseg.serve.app.create_app`).

``POST /v1/assign``, ``GET /v1/model`` and ``GET /health`` are ``async`` and
use only the in-memory model; the endpoints that read or write the database
are plain functions run in the thread pool, each holding the database lock
for the duration of its query.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from userseg._version import __version__
from userseg.errors import NotFoundError
from userseg.explain.small_groups import hide_small_groups
from userseg.json_safe import jsonable
from userseg.serve.auth import key_id_of
from userseg.serve.schemas import (
    MAX_ASSIGN_BATCH,
    AssignBatchResponse,
    AssignResponse,
    ErrorResponse,
    EventBatch,
    EventsRequest,
    EventsResponse,
    HealthResponse,
    ModelResponse,
    RunsResponse,
    SegmentEvent,
    SegmentProfileResponse,
    SegmentsResponse,
    UserResponse,
    parse_assign,
)
from userseg.serve.service import ApiError, Service, json_response
from userseg.store import get_run, list_runs, load_profiles

__all__ = ["AUTH_ERRORS", "Caller", "error_doc", "router", "service_of"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `userseg keys create`: `Authorization: Bearer usk_…`.",
)


def error_doc(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry: the one error shape, with what the status means."""
    return {"model": ErrorResponse, "description": description}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_doc("Missing, unknown or revoked API key."),
    413: error_doc("Request body over the size limit."),
    415: error_doc("A body sent as something other than JSON (`Content-Type: application/json`)."),
    422: error_doc("Malformed request: the body or a parameter fails validation."),
    429: error_doc("Over the rate limit; `Retry-After` says when to come back."),
    500: error_doc("A bug in userseg (never caused by bad input)."),
}


def service_of(request: Request) -> Service:
    """The running service (the app's state) that a request's handler works with."""
    return request.app.state.service


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's API key id (or ``client:<address>`` without keys); applies the rate limit."""
    svc = service_of(request)
    if svc.keyring is None:
        caller = f"client:{_client(request)}"
    else:
        if credentials is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing API key: send the header `Authorization: Bearer <key>` "
                "(create one with `userseg keys create NAME`).",
                headers={"WWW-Authenticate": "Bearer"},
            )
        secret = credentials.credentials
        key_id = svc.keyring.check_cached(secret)
        if key_id is False:  # a known key id, a secret not seen before: one scrypt, off the loop
            _check_failures(svc, request, secret, take=False)
            key_id = await anyio.to_thread.run_sync(svc.keyring.verify, secret)
        if key_id is None:
            _check_failures(svc, request, secret, take=True)
            raise ApiError(
                401,
                "unauthorized",
                "invalid or revoked API key.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        caller = str(key_id)
    if svc.limiter is not None:
        wait = svc.limiter.take(caller)
        if wait > 0:
            _too_many(wait, svc.limiter.limit.per_second, "requests")
    return caller


def _credentials(request: Request) -> HTTPAuthorizationCredentials | None:
    """What ``HTTPBearer(auto_error=False)`` would give: the Bearer token, else None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)


def _check_failures(svc: Service, request: Request, secret: str, *, take: bool) -> None:
    """Limit failed key checks per client address *and* key id.

    Guessing the secret of one key is slowed down; a client sending bad keys does
    not lock out good keys from the same address (behind a proxy, every client
    shares one). Unknown key ids cost no scrypt, so their buckets protect nothing
    expensive and are shared.
    """
    if svc.auth_failures is None:
        return
    client = f"{_client(request)}|{key_id_of(secret) or '-'}"
    wait = svc.auth_failures.take(client) if take else svc.auth_failures.blocked(client)
    if wait > 0:
        _too_many(wait, svc.auth_failures.limit.per_second, "failed key checks")


def _too_many(wait: float, rate: float, what: str) -> None:
    retry = max(1, math.ceil(wait))
    raise ApiError(
        429,
        "rate_limited",
        f"too many {what}: the limit is {rate:g} per second; retry in {retry} s.",
        details={"retry_after": retry, "per_second": rate},
        headers={"Retry-After": str(retry)},
    )


Caller = Annotated[str, Depends(authenticate)]
router = APIRouter()


# -- the in-memory endpoints -----------------------------------------------------------------
@router.head("/health", include_in_schema=False)  # load balancers often check with HEAD
@router.get(
    "/health",
    response_model=HealthResponse,
    tags=["service"],
    responses={500: error_doc("A bug in userseg.")},
)
async def health(request: Request) -> Response:
    """Liveness and the model version being served (no key needed, no database touched)."""
    svc = service_of(request)
    return json_response(
        {
            "status": "ok",
            "run_id": svc.run_id,
            "algorithm": svc.fast.algorithm,
            "n_segments": int(svc.scorer.model.n_segments_),
            "version": __version__,
        }
    )


@router.post(
    "/v1/assign",
    responses=AUTH_ERRORS,
    response_model=AssignResponse | AssignBatchResponse,
    tags=["assign"],
    openapi_extra={
        "security": [{"ApiKey": []}],
        "requestBody": {
            "required": True,
            "description": f'One user, or `{{"users": [...]}}` with up to {MAX_ASSIGN_BATCH} '
            "users.",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/AssignRequest"},
                    "examples": {
                        "single": {
                            "value": {
                                "user_id": "u1",
                                "features": {"recency_days": 3.5, "region": "north"},
                            }
                        },
                        "batch": {
                            "value": {
                                "users": [{"user_id": "u1", "features": {"recency_days": 3.5}}]
                            }
                        },
                    },
                }
            },
        },
    },
)
async def assign(request: Request) -> Response:
    """Segment, name and distance of one user or a batch, from raw feature values.

    The model is in memory: no database access. Every feature of the model is
    required (`GET /v1/model` lists them); a missing one or text in a numeric
    one is a 422 naming it. Density models answer segment -1 ("noise") for a
    user near no core point.
    """
    # The hot path: authentication called directly rather than through FastAPI's dependency
    # injection (a third of the framework's cost per request); same checks, same errors.
    await authenticate(request, _credentials(request))
    # The body is parsed by pydantic-core and checked in parse_assign, not by FastAPI
    # (stdlib json, then model validation): about a third of the time on a 1,000-user batch.
    body = await request.body()
    try:
        batch, users = parse_assign(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [e | {"loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    svc = service_of(request)
    ids, names, dists = svc.fast.assign(
        [features for _, features in users], where="users" if batch else None
    )
    if batch:
        return json_response(
            {
                "run_id": svc.run_id,
                "users": [
                    {"user_id": u, "segment": s, "name": n, "distance": d}
                    for (u, _), s, n, d in zip(users, ids, names, dists, strict=True)
                ],
            }
        )
    return json_response(
        {
            "run_id": svc.run_id,
            "user_id": users[0][0],
            "segment": ids[0],
            "name": names[0],
            "distance": dists[0],
        }
    )


@router.get("/v1/model", responses=AUTH_ERRORS, response_model=ModelResponse, tags=["assign"])
async def model(request: Request, caller: Caller) -> Response:
    """The features `POST /v1/assign` needs (name, kind, known levels) and the batch limit."""
    svc = service_of(request)
    return json_response(
        {
            "run_id": svc.run_id,
            "algorithm": svc.fast.algorithm,
            "n_segments": int(svc.scorer.model.n_segments_),
            "max_batch": MAX_ASSIGN_BATCH,
            "features": svc.fast.describe(),
        }
    )


# -- the database endpoints ------------------------------------------------------------------
@router.post("/v1/events", responses=AUTH_ERRORS, response_model=EventsResponse, tags=["events"])
def events(
    request: Request,
    caller: Caller,
    payload: Annotated[
        EventsRequest,
        Body(
            description=(
                'One Segment-spec event, a list of them, or `{"batch": [...]}` (at most 1000).'
            )
        ),
    ],
) -> Response:
    """Record Segment-spec events and return each touched user's (possibly new) segment.

    Events are appended idempotently (by `messageId`), the touched users'
    features recomputed as in training, and their segments stored, with a
    history row when one changes.
    """
    raw = _messages(payload)
    svc = service_of(request)
    result = svc.with_db(lambda: svc.scorer.record(raw))
    return json_response(jsonable(result))


@router.post(
    "/v1/assign/events",
    responses=AUTH_ERRORS,
    response_model=AssignBatchResponse,
    tags=["assign"],
)
def assign_events(
    request: Request,
    caller: Caller,
    payload: Annotated[
        EventsRequest,
        Body(
            description=(
                "A user's recent Segment-spec events (one, a list, or "
                '`{"batch": [...]}`, at most 1000): scored, never stored.'
            )
        ),
    ],
) -> Response:
    """Segment of each user from recent events alone, without storing them.

    For a visitor whose session is in hand but not in the event table: the
    events become features exactly as in training (recency measured at the
    latest of them; attributes from the user table when the user is known),
    and the model assigns a segment. Nothing is written: use `POST /v1/events`
    to record events.
    """
    raw = _messages(payload)
    svc = service_of(request)
    result = svc.with_db(lambda: svc.scorer.score_events(raw))
    return json_response(jsonable(result))


def _messages(payload: Any) -> list[dict[str, Any]]:
    """The Segment-spec messages of an events body (one, a list, or a batch), as dicts."""
    if isinstance(payload, EventBatch):
        messages = payload.batch
    elif isinstance(payload, SegmentEvent):
        messages = [payload]
    else:
        messages = payload
    return [m.model_dump(exclude_none=True) for m in messages]


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    """A profile (small groups already masked) as the segment list shows it."""
    keys = ("segment", "name", "name_source", "size", "share", "top_features", "suppressed")
    return {k: d[k] for k in keys}


@router.get(
    "/v1/segments", responses=AUTH_ERRORS, response_model=SegmentsResponse, tags=["segments"]
)
def segments(
    request: Request,
    caller: Caller,
    run_id: Annotated[
        int | None,
        Query(
            ge=1, le=2**31 - 1, description=("Another run's segments (default: the served run).")
        ),
    ] = None,
) -> Response:
    """The segments of the served run: id, name, size, share and what sets each apart."""
    svc = service_of(request)

    def read() -> dict[str, Any]:
        rid = svc.run_id if run_id is None else get_run(svc.db, run_id).run_id
        shown = hide_small_groups(load_profiles(svc.db, rid), svc.min_group)
        return {
            "run_id": rid,
            "segments": [_summary(d) for d in shown.profiles],
            "small_groups": shown.to_dict(),
        }

    return json_response(jsonable(svc.with_db(read)))


@router.get(
    "/v1/segments/{segment_id}",
    response_model=SegmentProfileResponse,
    tags=["segments"],
    responses=AUTH_ERRORS | {404: error_doc("No such segment (or run).")},
)
def segment(
    request: Request,
    caller: Caller,
    segment_id: Annotated[int, Path(ge=-(2**31), le=2**31 - 1)],
    run_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """A segment's full profile: means, z-scores, category shares, every distinction."""
    svc = service_of(request)

    def read() -> dict[str, Any]:
        rid = svc.run_id if run_id is None else get_run(svc.db, run_id).run_id
        profiles = load_profiles(svc.db, rid)
        shown = hide_small_groups(profiles, svc.min_group)
        for d in shown.profiles:
            if d["segment"] == segment_id:
                return _summary(d) | {
                    "run_id": rid,
                    "means": d["means"],
                    "zscores": d["zscores"],
                    "population": d["population"],
                    "categories": d["categories"],
                    "distinctions": d["distinctions"],
                    "small_groups": shown.to_dict(),
                }
        raise NotFoundError(
            f"run {rid} has no segment {segment_id}; segments: {[p.segment for p in profiles]}.",
            details={"run_id": rid, "segment": segment_id},
        )

    return json_response(jsonable(svc.with_db(read)))


@router.get("/v1/runs", responses=AUTH_ERRORS, response_model=RunsResponse, tags=["segments"])
def runs(request: Request, caller: Caller) -> Response:
    """Every stored run (model version), newest first, and which one is served."""
    svc = service_of(request)
    keep = (
        "run_id",
        "created_at",
        "algorithm",
        "n_segments",
        "n_users",
        "feature_set_id",
        "data_fingerprint",
        "library_version",
        "metrics",
        "notes",
    )
    items = svc.with_db(lambda: list_runs(svc.db))
    return json_response(
        jsonable(
            {
                "served_run_id": svc.run_id,
                "runs": [
                    {k: getattr(r, k) for k in keep} | {"served": r.run_id == svc.run_id}
                    for r in items
                ],
            }
        )
    )


@router.get(
    "/v1/users/{user_id:path}",
    response_model=UserResponse,
    tags=["events"],
    responses=AUTH_ERRORS | {404: error_doc("The user has no segment.")},
)
def user(
    request: Request,
    caller: Caller,
    user_id: Annotated[str, Path(min_length=1, max_length=256)],
) -> Response:
    """A user's current segment (live, else the served run's) and the history of changes."""
    svc = service_of(request)
    return json_response(jsonable(svc.with_db(lambda: svc.scorer.user(user_id))))
