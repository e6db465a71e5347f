"""Rendering the web app's pages: the Jinja2 environment, its filters, and security headers.

Autoescaping is on for every template, so whatever a person typed (a segment
name like ``<script>…``) is written as text. Charts travel as JSON inside
``<script type="application/json">`` blocks (Jinja's ``tojson`` escapes ``<``,
``>`` and ``&``), never as inline code, so the Content-Security-Policy can
forbid inline scripts altogether.
"""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from userseg._version import __version__
from userseg.web.charts import heat_colour

__all__ = ["HEADERS", "page"]

#: Sent with every page: no inline script, nothing from elsewhere, no framing.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    v = float(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _pct(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{float(v):.{digits}%}"


def _spct(v: Any, digits: int = 1) -> str:
    """A signed percentage (a lift): ``+2.5%``."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{float(v):+.{digits}%}"


def _when(v: Any) -> str:
    return f"{v:%Y-%m-%d %H:%M}" if hasattr(v, "strftime") else ("–" if v is None else str(v))


_env = Environment(
    loader=PackageLoader("userseg.web", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(num=_num, pct=_pct, spct=_spct, when=_when, heat=heat_colour)
_env.globals.update(version=__version__)


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A rendered page with the security headers."""
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)
