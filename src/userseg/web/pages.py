"""The web app's pages (GET): runs, a run, a segment, compare, drift, keys, refresh, sign-in.

Each page reads stored aggregates only (see :mod:`userseg.store.views`) under
the service's database lock, then renders a template outside it.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from userseg import store
from userseg.errors import DataError, NotFoundError
from userseg.jobs.activation import campaigns_of_segment
from userseg.serve.auth import list_keys
from userseg.store.access import SCOPES
from userseg.web import charts
from userseg.web.context import (
    PREFIX,
    Refused,
    db,
    guarded,
    viewer,
    web_state,
)
from userseg.web.render import page
from userseg.web.session import COOKIE, PRE_COOKIE, set_cookie

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

#: Messages a redirect after an action may ask a page to show (never text from the request).
MESSAGES = {
    "renamed": "The segment was renamed.",
    "audience": "The audience was created.",
    "compared": "The comparison was computed and kept.",
    "refresh": "A refresh started; this page shows how it went.",
    "revoked": "The key was revoked; its sessions have ended.",
    "signedout": "You are signed out.",
}


def flash_message(request: Request) -> str | None:
    return MESSAGES.get(request.query_params.get("done", ""))


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise DataError(f"{name}={raw!r} should be a run id (a whole number).") from None


def safe_next(target: str | None) -> str:
    """Only a path inside the web app (no other host, no scheme): no open redirect."""
    if not target:
        return f"{PREFIX}/runs"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{PREFIX}/") or "\\" in target:
        return f"{PREFIX}/runs"
    return target


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


# -- sign-in ----------------------------------------------------------------------------------


@router.get("/")
@router.get(PREFIX)
@router.get(f"{PREFIX}/")
async def home() -> Response:
    return RedirectResponse(f"{PREFIX}/runs", status_code=303)


@router.get(f"{PREFIX}/signin")
@guarded
async def signin_page(request: Request) -> Response:
    import secrets

    state = web_state(request)
    if request.app.state.service is not None and request.app.state.service.keyring is None:
        return RedirectResponse(f"{PREFIX}/runs", status_code=303)
    if state.sessions.get(request.cookies.get(COOKIE)):
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(32)
    response = page(
        "signin.html",
        title="Sign in",
        viewer=None,
        csrf=state.sessions.signin_token(pre),
        next=safe_next(request.query_params.get("next")),
        message=flash_message(request),
        error=None,
    )
    set_cookie(request, response, PRE_COOKIE, pre, 3600)
    return response


# -- runs -------------------------------------------------------------------------------------


@router.get(f"{PREFIX}/runs")
@guarded
async def runs_page(request: Request) -> Response:
    v = await viewer(request)
    rows = await db(request, store.runs_overview)
    for r in rows:
        m = r["metrics"]
        r["silhouette"] = _finite(m.get("silhouette"))
        r["structure"] = (m.get("structure") or {}).get("has_structure")
        stab = m.get("stability") or {}
        r["stability"] = _finite(stab.get("mean_jaccard", stab.get("mean")))
        r["stability_text"] = stab.get("summary", "")
    return page("runs.html", title="Runs", viewer=v, runs=rows, message=flash_message(request))


def _run_data(d: Any, run_id: int) -> dict[str, Any]:
    run = store.get_run(d, run_id)
    return {
        "run": run,
        "profiles": store.load_profiles(d, run.run_id),
        "map": store.run_map(d, run.run_id),
        "matching": store.get_matching(d, run.run_id),
    }


@router.get(PREFIX + "/runs/{run_id}")
@guarded
async def run_page(request: Request, run_id: int) -> Response:
    v = await viewer(request)
    data = await db(request, lambda d: _run_data(d, run_id))
    run, profiles = data["run"], data["profiles"]
    labels = [f"{p.segment} · {p.name}" for p in profiles]
    features = list(profiles[0].zscores) if profiles else []
    figures: dict[str, Any] = {
        "sizes": charts.bar(labels, [p.size for p in profiles], "Users per segment", "users")
    }
    table = (run.k_choice or {}).get("table") or []
    if len(table) >= 2:
        ks = [r["k"] for r in table]
        figures["kchoice"] = charts.lines(
            {
                "silhouette (higher is better)": (
                    ks,
                    [_finite(r.get("silhouette")) for r in table],
                ),
            },
            "Choice of k",
            "k",
            "silhouette",
        )
    map_rows = []
    m = data["map"]
    if m is not None and len(m["x"]):
        names = {p.segment: f"{p.segment} · {p.name}" for p in profiles}
        groups = [names.get(int(s), str(int(s))) for s in m["segment"]]
        figures["map"] = charts.scatter(m["x"], m["y"], groups, f"User map ({m['method']})")
        for p in profiles:
            sel = m["segment"] == p.segment
            if sel.any():
                map_rows.append(
                    {
                        "label": names[p.segment],
                        "n": int(sel.sum()),
                        "x": float(np.mean(m["x"][sel])),
                        "y": float(np.mean(m["y"][sel])),
                    }
                )
    metrics = run.metrics or {}
    return page(
        "run.html",
        title=f"Run {run.run_id}",
        viewer=v,
        run=run,
        profiles=profiles,
        features=features,
        figures=figures,
        k_table=table,
        chosen=(run.k_choice or {}).get("chosen"),
        map_rows=map_rows,
        map_info=m,
        structure=metrics.get("structure"),
        stability=metrics.get("stability"),
        silhouette=_finite(metrics.get("silhouette")),
        matching=data["matching"],
        message=flash_message(request),
    )


def _segment_data(d: Any, run_id: int, segment: int) -> dict[str, Any]:
    run = store.get_run(d, run_id)
    profiles = store.load_profiles(d, run.run_id)
    found = [p for p in profiles if p.segment == segment]
    if not found:
        have = [p.segment for p in profiles]
        raise NotFoundError(f"run {run_id} has no segment {segment}; its segments: {have}.")
    return {
        "run": run,
        "profile": found[0],
        "members": store.member_sample(d, run.run_id, segment, 20),
        "history": store.segment_shares(d, segment),
        "campaigns": campaigns_of_segment(d, run.run_id, segment),
    }


@router.get(PREFIX + "/runs/{run_id}/segments/{segment}")
@guarded
async def segment_page(request: Request, run_id: int, segment: int) -> Response:
    v = await viewer(request)
    data = await db(request, lambda d: _segment_data(d, run_id, segment))
    p = data["profile"]
    state = web_state(request)
    history = data["history"]
    figures = {}
    if len(history) >= 2:
        figures["share"] = charts.lines(
            {"share": ([f"run {h['run_id']}" for h in history], [h["share"] for h in history])},
            f"Share of users in segment {p.segment} over runs",
            "run",
            "share",
        )
    rows = [
        {
            "feature": f,
            "segment": p.means.get(f),
            "population": p.population.get(f),
            "z": p.zscores.get(f),
        }
        for f in p.zscores
    ]
    return page(
        "segment.html",
        title=f"Segment {p.segment} · {p.name}",
        viewer=v,
        run=data["run"],
        p=p,
        rows=rows,
        members=[state.pseudonym(u) for u in data["members"]],
        history=history,
        figures=figures,
        campaigns=data["campaigns"],
        message=flash_message(request),
    )


# -- compare ----------------------------------------------------------------------------------


@router.get(f"{PREFIX}/compare")
@guarded
async def compare_page(request: Request) -> Response:
    v = await viewer(request)
    a, b = _int(request, "a"), _int(request, "b")

    def read(d: Any) -> dict[str, Any]:
        runs = store.list_runs(d)
        out: dict[str, Any] = {"runs": runs, "matching": None}
        if a is not None and b is not None:
            store.get_run(d, a)
            store.get_run(d, b)
            out["matching"] = store.comparison(d, a, b)
        return out

    data = await db(request, read)
    runs = data["runs"]
    if (a is None or b is None) and len(runs) >= 2:
        a, b = runs[1].run_id, runs[0].run_id
        data["matching"] = await db(request, lambda d: store.comparison(d, a, b))
    m = data["matching"]
    figures = {}
    if m is not None:
        mig = m["migration"]
        figures["migration"] = charts.heatmap(
            mig["counts"], mig["columns"], mig["rows"], f"Users moving from run {a} to run {b}"
        )
    return page(
        "compare.html",
        title="Compare runs",
        viewer=v,
        runs=runs,
        a=a,
        b=b,
        matching=m,
        figures=figures,
        message=flash_message(request),
    )


# -- drift ------------------------------------------------------------------------------------


@router.get(f"{PREFIX}/drift")
@guarded
async def drift_page(request: Request) -> Response:
    v = await viewer(request)
    reports, shares = await db(
        request, lambda d: (store.drift_reports(d, 30), store.segment_shares(d))
    )
    runs = sorted({s["run_id"] for s in shares})
    by_segment: dict[int, dict[int, float]] = {}
    names: dict[int, str] = {}
    for s in shares:
        by_segment.setdefault(s["segment"], {})[s["run_id"]] = s["share"]
        names[s["segment"]] = s["name"]  # the latest name
    figures = {}
    if len(runs) >= 2:
        figures["shares"] = charts.lines(
            {
                f"{seg} · {names[seg]}": ([f"run {r}" for r in runs], [vals.get(r) for r in runs])
                for seg, vals in sorted(by_segment.items())
            },
            "Segment shares over runs",
            "run",
            "share",
        )
    return page(
        "drift.html",
        title="Drift over time",
        viewer=v,
        reports=reports,
        runs=runs,
        by_segment=sorted(by_segment.items()),
        names=names,
        figures=figures,
        message=flash_message(request),
    )


# -- keys, audit, refresh ---------------------------------------------------------------------


def keys_and_actions(d: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every key with its scope, and the latest actions."""
    scopes = store.key_scopes(d)
    keys = [k | {"scope": scopes.get(k["key_id"], "admin")} for k in list_keys(d)]
    return keys, store.list_actions(d, 100)


@router.get(f"{PREFIX}/keys")
@guarded
async def keys_page(request: Request) -> Response:
    v = await viewer(request, need="admin")
    keys, actions = await db(request, keys_and_actions)
    return page(
        "keys.html",
        title="API keys",
        viewer=v,
        keys=keys,
        actions=actions,
        scopes=SCOPES,
        created=None,
        message=flash_message(request),
    )


@router.get(f"{PREFIX}/refresh")
@guarded
async def refresh_page(request: Request) -> Response:
    v = await viewer(request)
    return page(
        "refresh.html",
        title="Refresh",
        viewer=v,
        job=web_state(request).job,
        message=flash_message(request),
    )


@router.get(PREFIX + "/{rest:path}")
@guarded
async def not_found(request: Request, rest: str) -> Response:
    await viewer(request)
    raise Refused(404, f"there is no page at {request.url.path}.")
