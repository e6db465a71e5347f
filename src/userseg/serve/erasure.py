"""``DELETE /v1/users/{id}``: the right to erasure through the service (admin keys only).

The same work as ``userseg forget`` (:func:`userseg.store.privacy.forget_users`):
the person's rows leave every table, a salted hash of their stored id joins the
suppression list, the erasure is audited by counts; then the database is
compacted in place (:func:`userseg.store.privacy.compact_open`) while the
service holds its lock, so no request sees the file half-copied. Ids that were
pseudonymised at import are found with the key of ``USERSEG_SECRET_KEY``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel

from userseg.json_safe import jsonable
from userseg.serve.routes import AUTH_ERRORS, Caller, error_doc, service_of
from userseg.serve.service import ApiError, json_response

__all__ = ["router"]

router = APIRouter(tags=["privacy"])


class ErasureResponse(BaseModel):
    asked: int
    found: int
    rows_deleted: dict[str, int]
    compacted: bool


def _require_admin(svc: Any, caller: str) -> tuple[str, str]:
    """(key id, key name) of an admin key; 403 for any other caller."""
    from userseg.store.access import key_access

    if svc.keyring is None:
        raise ApiError(
            403,
            "forbidden",
            "erasure needs an admin API key; this service runs without keys (--no-auth).",
        )
    access = key_access(svc.db, caller)
    if access is None or access[1] != "admin":
        raise ApiError(
            403,
            "forbidden",
            f"erasure needs an admin API key; this key's scope is "
            f"{access[1] if access else 'unknown'!r}.",
        )
    return caller, access[0]


@router.delete(
    "/v1/users/{user_id:path}",
    response_model=ErasureResponse,
    responses=AUTH_ERRORS | {403: error_doc("The API key is not an admin key.")},
)
def forget_user(
    request: Request,
    caller: Caller,
    user_id: Annotated[str, Path(min_length=1, max_length=256)],
) -> Response:
    """Erase one person: every row, for later imports too, and the freed bytes of the file."""
    from userseg.io.private import PrivacyOptions
    from userseg.store.privacy import compact_open, forget_users

    svc = service_of(request)

    def erase() -> dict[str, Any]:
        key_id, key_name = _require_admin(svc, caller)
        keys = PrivacyOptions.from_key_file().keys
        result = forget_users(svc.db, [user_id], keys=keys, key_id=key_id, key_name=key_name)
        compact_open(svc.db)
        result.compacted = True
        return result.to_dict()

    return json_response(jsonable(svc.with_db(erase)))
