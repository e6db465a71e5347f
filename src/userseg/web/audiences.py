"""The web app's audiences: create one from a run's segments, look at it, export it.

* ``POST /web/runs/{run}/audiences`` (scope ``write``): the ticked segments of
  that run (and an optional filter on features) become an audience, through
  :func:`userseg.jobs.activation.create_audience`, as ``userseg audience create
  --run N --segments …`` does.
* ``GET /web/audiences`` and ``/web/audiences/{id}``: every audience; one
  audience's definition, members per segment and recorded exports.
* ``POST /web/audiences/{id}/export`` (scope ``write``): the latest version as
  a member file (CSV, Parquet) or a Google / Meta customer-match file,
  **downloaded** by the browser. The server writes it in a temporary folder
  through :func:`userseg.jobs.activation.export_audience` (so the minimum size, the
  platforms' hashing and the export record are the command line's) and
  deletes it once sent: a web form never names a path on the server. Under the
  minimum size the export is refused; only an ``admin`` key may send it anyway,
  and that override is recorded with the export.

Every action is audited, refusals included.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from userseg.activate.exports import DEFAULT_MIN_SIZE
from userseg.errors import ConfigError, NotFoundError, PrivacyError, UsersegError
from userseg.store import load_profiles
from userseg.web.actions import audit_action, authorize_form, see_other
from userseg.web.context import PREFIX, Refused, db, guarded, viewer
from userseg.web.render import HEADERS, page

__all__ = ["FORMATS", "router"]

router = APIRouter(include_in_schema=False)

#: format → (label, file suffix, media type, destination prefix of ``export_audience``)
FORMATS = {
    "csv": ("Members (CSV: user_id, segment)", ".csv", "text/csv; charset=utf-8", ""),
    "parquet": ("Members (Parquet)", ".parquet", "application/vnd.apache.parquet", ""),
    "google": (
        "Google Customer Match (CSV, hashed)",
        "-google.csv",
        "text/csv; charset=utf-8",
        "google:",
    ),
    "meta": ("Meta custom audience (CSV, hashed)", "-meta.csv", "text/csv; charset=utf-8", "meta:"),
}


def _audience(d: Any, audience_id: int) -> Any:
    from userseg.store import activation as st

    found = [a for a in st.list_audiences(d) if a.audience_id == audience_id]
    if not found:
        raise NotFoundError(f"there is no audience {audience_id}.")
    return found[0]


def _file_name(name: str, version: int, suffix: str) -> str:
    """A download name from the audience's name: letters, digits, ``._-`` only."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "audience"
    return f"{slug[:60]}-v{version}{suffix}"


# -- pages ------------------------------------------------------------------------------------


@router.get(f"{PREFIX}/audiences")
@guarded
async def audiences_page(request: Request) -> Response:
    from userseg.store import activation as st
    from userseg.web.pages import flash_message

    v = await viewer(request)
    items = await db(request, st.list_audiences)
    return page(
        "audiences.html",
        title="Audiences",
        viewer=v,
        audiences=items,
        message=flash_message(request),
    )


@router.get(PREFIX + "/audiences/{audience_id}")
@guarded
async def audience_page(request: Request, audience_id: int) -> Response:
    from userseg.store import activation as st
    from userseg.web.pages import flash_message

    v = await viewer(request)

    def read(d: Any) -> dict[str, Any]:
        aud = _audience(d, audience_id)
        current = st.get_audience_version(d, aud, None)
        names = {p.segment: p.name for p in load_profiles(d, current.run_id)}
        counts = st.member_counts(d, aud.audience_id, current.version)
        return {
            "audience": aud,
            "current": current,  # not "version": the pages' global is userseg's version
            "counts": [(s, names.get(s, ""), n) for s, n in counts.items()],
            "exports": st.list_exports(d, aud.audience_id)[:50],
        }

    data = await db(request, read)
    return page(
        "audience.html",
        title=f"Audience {data['audience'].name}",
        viewer=v,
        formats=FORMATS,
        min_size=DEFAULT_MIN_SIZE,
        message=flash_message(request),
        **data,
    )


# -- actions ----------------------------------------------------------------------------------


@router.post(PREFIX + "/runs/{run_id}/audiences")
@guarded
async def create(request: Request, run_id: int) -> Response:
    from userseg.jobs import activation

    target = f"run {run_id}"
    v, form = await authorize_form(request, "write", "audience.create", target)
    name, where = form.get("name", ""), form.get("where", "").strip() or None
    segments = sorted(
        int(k.removeprefix("segment_"))
        for k, value in form.items()
        if k.startswith("segment_") and k.removeprefix("segment_").isdigit() and value
    )
    detail = {"name": name.strip(), "segments": segments, "where": where}
    try:
        if not segments:
            raise ConfigError("tick at least one segment to make an audience of.")
        aud, version = await db(
            request,
            lambda d: activation.create_audience(
                d, name, run=run_id, segments=segments, where=where
            ),
        )
    except UsersegError as exc:
        await audit_action(
            request, v, "audience.create", "failed", target, **detail, error=exc.message
        )
        raise
    await audit_action(
        request,
        v,
        "audience.create",
        "ok",
        f"audience {aud.name}",
        **detail,
        n_members=version.n_members,
    )
    return see_other(f"{PREFIX}/audiences/{aud.audience_id}?done=audience")


@router.post(PREFIX + "/audiences/{audience_id}/export")
@guarded
async def export(request: Request, audience_id: int) -> Response:
    from userseg.jobs import activation

    target = f"audience {audience_id}"
    v, form = await authorize_form(request, "write", "audience.export", target)
    fmt, allow_small = form.get("format", ""), form.get("allow_small") == "on"
    detail: dict[str, Any] = {"format": fmt, "allow_small": allow_small}
    if fmt not in FORMATS:
        await audit_action(request, v, "audience.export", "failed", target, **detail)
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}.")
    if allow_small and not v.can("admin"):
        message = (
            f"your key ({v.scope}) may not send an audience under the minimum size: only an "
            "admin key may override the minimum."
        )
        await audit_action(
            request, v, "audience.export", "refused", target, **detail, reason=message
        )
        raise Refused(403, message)
    _, suffix, media, prefix = FORMATS[fmt]
    aud = await db(request, lambda d: _audience(d, audience_id))
    file_name = _file_name(aud.name, aud.latest_version, suffix)
    target = f"audience {aud.name}"
    with tempfile.TemporaryDirectory(prefix="userseg-web-export-") as folder:
        path = Path(folder) / file_name
        try:
            out = await db(
                request,
                lambda d: activation.export_audience(
                    d,
                    aud.name,
                    f"{prefix}{path}",
                    allow_small=allow_small,
                    recorded_as=f"download:{file_name}",
                ),
            )
        except UsersegError as exc:  # under the minimum size is a refusal, the rest failures
            outcome = "refused" if isinstance(exc, PrivacyError) else "failed"
            detail["error"] = exc.message
            await audit_action(request, v, "audience.export", outcome, target, **detail)
            raise
        body = path.read_bytes()
    await audit_action(
        request,
        v,
        "audience.export",
        "ok",
        target,
        **detail,
        export_id=out["export_id"],
        version=out["version"],
        rows=out["n_written"],
    )
    headers = dict(HEADERS) | {"Content-Disposition": f'attachment; filename="{file_name}"'}
    return Response(body, media_type=media, headers=headers)
