"""``GET /v1/users/{id}/recommendations``: items for a user, from their segment's purchases.

The lists of the served run are learned once, on the first request (one
:class:`~userseg.recommend.Recommender`, kept for the service's life), under
the database lock; later requests only look them up. Included by
:func:`userseg.serve.app.build_app` before the other routes, so that
``/v1/users/{id:path}`` does not swallow ``…/recommendations``.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from userseg.json_safe import jsonable
from userseg.recommend import Recommender
from userseg.serve.routes import Caller
from userseg.serve.schemas import ErrorResponse
from userseg.serve.service import Service, json_response

__all__ = ["RecommendationsResponse", "router"]

router = APIRouter()
_build = threading.Lock()


class RecommendedItem(BaseModel):
    rank: int
    item: str
    users: int
    buyers: int
    support: float
    overall_support: float
    lift: float


class RecommendationsResponse(BaseModel):
    user_id: str
    run_id: int
    segment: int
    name: str
    exclude_bought: bool
    items: list[RecommendedItem]


def _recommender(request: Request, svc: Service) -> Recommender:
    """The served run's recommender, learned on first use (once, whatever the concurrency)."""
    rec = getattr(request.app.state, "recommender", None)
    if rec is None or rec.run_id != svc.run_id:
        with _build:
            rec = getattr(request.app.state, "recommender", None)
            if rec is None or rec.run_id != svc.run_id:
                rec = svc.with_db(lambda: Recommender.from_run(svc.db, svc.run_id))
                request.app.state.recommender = rec
    return rec


def _errors() -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorResponse, "description": what}
        for status, what in (
            (401, "Missing, unknown or revoked API key."),
            (413, "Request body over the size limit."),
            (404, "The user has no segment in the served run."),
            (422, "A bad parameter, or an event log without items (import it with --item)."),
            (429, "Over the rate limit; `Retry-After` says when to come back."),
            (500, "A bug in userseg (never caused by bad input)."),
        )
    }


@router.get(
    "/v1/users/{user_id:path}/recommendations",
    response_model=RecommendationsResponse,
    tags=["recommendations"],
    responses=_errors(),
)
def recommendations(
    request: Request,
    caller: Caller,
    user_id: Annotated[str, Path(min_length=1, max_length=256)],
    top: Annotated[int, Query(ge=1, le=100, description="Items to return.")] = 10,
    exclude_bought: Annotated[
        bool, Query(description="Leave out items the user bought already.")
    ] = True,
) -> Response:
    """Items the user's segment buys most, without those the user bought already."""
    svc: Service = request.app.state.service
    rec = _recommender(request, svc)
    return json_response(jsonable(rec.for_user(user_id, top, exclude_bought=exclude_bought)))
