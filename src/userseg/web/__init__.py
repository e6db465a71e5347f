"""The web app served by ``userseg serve``: browse runs and segments, compare, name, act.

Pages are rendered on the server with Jinja2 (autoescaped) from the stored
aggregates, and work without JavaScript: every action is a plain HTML form
(post, then redirect). A small script of our own (``static/web.js``) adds the
charts, drawn by the Plotly bundle that the ``plotly`` package already ships
(the static report uses the same one), from JSON embedded in the page; every
chart has a table with the same numbers beside it. No front-end build and no
CDN: nothing to install but the Python package, and it works offline.

Why not htmx or a single-page app: the pages are small and each action is one
form, so partial page updates would save little; the enhancement we need
(draw charts) is a few lines, and every third-party script is one more thing
to vendor, audit and keep under the Content-Security-Policy (``script-src
'self'``, no inline script).

:func:`install` adds the pages, the actions and the static files to the
service's FastAPI app (``serve/app.py`` calls it); none appear in the OpenAPI
schema. Sign-in, sessions and CSRF: :mod:`userseg.web.session`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.responses import Response

from userseg._version import __version__

__all__ = ["install"]

_TYPES = {".css": "text/css", ".js": "text/javascript"}


@cache
def _static(name: str) -> bytes | None:
    if name == "plotly.min.js":  # the bundle inside the plotly package: no copy in the repo
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return path.read_bytes() if path.exists() else None
    ref = resources.files("userseg.web") / "static" / name
    return ref.read_bytes() if ref.is_file() else None


def _static_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/web/static/{name}")
    async def static(name: str) -> Response:
        suffix = Path(name).suffix
        body = _static(name) if suffix in _TYPES and "/" not in name else None
        if body is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(
            body,
            media_type=_TYPES[suffix],
            headers={
                "Cache-Control": "public, max-age=86400",
                "ETag": f'"{__version__}-{len(body)}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router


def install(app: FastAPI) -> None:
    """Add the web app (pages, actions, static files) to the service's app."""
    from userseg.web.actions import router as actions
    from userseg.web.audiences import router as audiences
    from userseg.web.context import WebState
    from userseg.web.pages import router as pages

    app.state.web = WebState()
    app.include_router(_static_router())
    app.include_router(actions)
    app.include_router(audiences)
    app.include_router(pages)  # last: it ends with the catch-all "no such page"
