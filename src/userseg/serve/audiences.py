"""``/v1/audiences``: list, read, create audiences and page through their members.

The same API keys and rate limits as every ``/v1`` endpoint (the
:func:`~userseg.serve.routes.authenticate` dependency). The handlers call
:mod:`userseg.jobs.activation` and :mod:`userseg.store.activation` under the
service's database lock; no SQL here. Bad input is a 4xx in the one error
shape: 404 for an unknown audience or version, 422 for a bad definition or
filter or an audience that selects nobody.

Reading needs any valid key; creating needs a key whose scope
(:mod:`userseg.store.access`) is ``write`` or ``admin``: a ``read`` key gets
403, as it sees no action in the web app.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from userseg.json_safe import jsonable
from userseg.serve.routes import AUTH_ERRORS, Caller, error_doc, service_of
from userseg.serve.service import ApiError, json_response

__all__ = ["router"]

router = APIRouter(tags=["audiences"])


def _may_write(request: Request, caller: Caller) -> str:
    """The caller, when its key may act on audiences (scope ``write`` or ``admin``); else 403.

    Without keys (``--no-keys``, loopback only) there are no scopes. The scope
    is read at each request, so a key's change of scope counts at once.
    """
    from userseg.store.access import key_access

    svc = service_of(request)
    if svc.keyring is None:
        return caller
    access = svc.with_db(lambda: key_access(svc.db, caller))
    scope = access[1] if access else "none"
    if scope not in ("write", "admin"):
        raise ApiError(
            403,
            "forbidden",
            f"this key's scope is {scope!r}: creating an audience needs the 'write' "
            "(or 'admin') scope (`userseg keys create NAME --scope write`).",
            details={"scope": scope, "needed": "write"},
        )
    return caller


Writer = Annotated[str, Depends(_may_write)]
_FORBIDDEN = {403: error_doc("The API key's scope is `read`: it may not create.")}

MAX_PAGE = 10_000
_NAME = Path(min_length=1, max_length=100, description="The audience's name.")


class AudienceCreate(BaseModel):
    """An audience definition: segments of a run and/or a filter on its features."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    run: str = Field(
        default="latest",
        max_length=20,
        description="A run id, or `latest` (follows stable segment ids across refits).",
    )
    segments: list[int] | None = Field(
        default=None, max_length=1000, description="Segment ids (default: every segment)."
    )
    where: str | None = Field(
        default=None,
        max_length=10_000,
        description='A filter on features, e.g. `recency_days < 30` (see docs/activation.md).',
    )
    description: str | None = Field(default=None, max_length=1000)


class AudienceInfo(BaseModel):
    audience_id: int
    name: str
    created_at: str
    run_spec: str
    segments: list[int] | None
    where: str | None
    description: str | None
    latest_version: int
    n_members: int | None


class AudienceVersionInfo(BaseModel):
    audience_id: int
    version: int
    created_at: str
    run_id: int
    feature_set_id: int | None
    n_members: int
    definition: dict[str, Any]


class AudiencesResponse(BaseModel):
    audiences: list[AudienceInfo]


class AudienceResponse(BaseModel):
    audience: AudienceInfo
    version: AudienceVersionInfo
    versions: list[AudienceVersionInfo] = []
    segments: dict[str, int] = Field(default_factory=dict, description="Members per segment.")


class Member(BaseModel):
    user_id: str
    segment: int


class MembersResponse(BaseModel):
    audience: str
    version: int
    total: int
    offset: int
    limit: int
    members: list[Member]
    next_offset: int | None = Field(description="The offset of the next page; null at the end.")


@router.get("/v1/audiences", responses=AUTH_ERRORS, response_model=AudiencesResponse)
def list_audiences(request: Request, caller: Caller) -> Response:
    """Every audience with its definition and latest version."""
    from userseg.store import activation as st

    svc = service_of(request)
    items = svc.with_db(lambda: st.list_audiences(svc.db))
    return json_response(jsonable({"audiences": [a.to_dict() for a in items]}))


@router.post(
    "/v1/audiences",
    status_code=201,
    response_model=AudienceResponse,
    responses=AUTH_ERRORS | _FORBIDDEN | {404: error_doc("No such run or segment.")},
)
def create_audience(
    request: Request, caller: Writer, body: Annotated[AudienceCreate, Body()]
) -> Response:
    """Define an audience and store its first version (409-free: an existing name is 422).

    Needs a key of scope ``write`` or ``admin`` (403 for a ``read`` key).
    """
    from userseg.jobs import activation

    svc = service_of(request)

    def write() -> dict[str, Any]:
        aud, v = activation.create_audience(
            svc.db,
            body.name,
            run=body.run,
            segments=sorted(set(body.segments)) if body.segments is not None else None,
            where=body.where,
            description=body.description,
        )
        return _detail(svc, aud, v)

    return json_response(jsonable(svc.with_db(write)), status=201)


def _detail(svc: Any, aud: Any, v: Any) -> dict[str, Any]:
    from userseg.store import activation as st

    members = st.load_members(svc.db, aud.audience_id, v.version)
    per = members.groupby("segment").size()
    return {
        "audience": aud.to_dict(),
        "version": v.to_dict(),
        "versions": [x.to_dict() for x in st.list_versions(svc.db, aud)],
        "segments": {str(k): int(n) for k, n in per.items()},
    }


@router.get(
    "/v1/audiences/{name}",
    response_model=AudienceResponse,
    responses=AUTH_ERRORS | {404: error_doc("No such audience or version.")},
)
def get_audience(
    request: Request,
    caller: Caller,
    name: Annotated[str, _NAME],
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """An audience: definition, a version (the latest by default), its versions, sizes."""
    from userseg.store import activation as st

    svc = service_of(request)

    def read() -> dict[str, Any]:
        aud = st.get_audience(svc.db, name)
        return _detail(svc, aud, st.get_audience_version(svc.db, aud, version))

    return json_response(jsonable(svc.with_db(read)))


@router.get(
    "/v1/audiences/{name}/members",
    response_model=MembersResponse,
    responses=AUTH_ERRORS | {404: error_doc("No such audience or version.")},
)
def members(
    request: Request,
    caller: Caller,
    name: Annotated[str, _NAME],
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
) -> Response:
    """A page of an audience version's members (``user_id, segment``), by user id."""
    from userseg.store import activation as st

    svc = service_of(request)

    def read() -> dict[str, Any]:
        aud = st.get_audience(svc.db, name)
        v = st.get_audience_version(svc.db, aud, version)
        page = st.load_members(svc.db, aud.audience_id, v.version, offset=offset, limit=limit)
        end = offset + len(page)
        return {
            "audience": aud.name,
            "version": v.version,
            "total": v.n_members,
            "offset": offset,
            "limit": limit,
            "members": page.to_dict("records"),
            "next_offset": end if end < v.n_members else None,
        }

    return json_response(jsonable(svc.with_db(read)))
