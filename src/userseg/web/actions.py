"""The web app's actions (POST): sign in and out, rename, compare, refresh, keys.

Each action checks the session, its scope and the form's CSRF token first
(:func:`~userseg.web.context.viewer`), calls the same library function the
CLI calls, appends a row to the audit log (done or refused alike), and
answers with a redirect to a page (post/redirect/get).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from userseg import store
from userseg.errors import ConfigError, DataError, UsersegError
from userseg.web.context import (
    PREFIX,
    Job,
    Refused,
    Viewer,
    db,
    guarded,
    service,
    viewer,
    web_state,
)
from userseg.web.render import HEADERS, page
from userseg.web.session import COOKIE, PRE_COOKIE, clear_cookie, same_origin, set_cookie

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


async def _form(request: Request) -> dict[str, str]:
    """The URL-encoded form (the last value of each field); the body limit applies."""
    kind = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" not in kind:
        raise Refused(415, f"send the form URL-encoded; got {kind or 'no content type'!r}.")
    try:
        fields = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise Refused(400, "the form is not UTF-8 text.") from None
    return {k: v[-1] for k, v in fields.items()}


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


async def audit_action(
    request: Request, v: Viewer | None, action: str, outcome: str, target: str, **detail: Any
) -> None:
    await db(
        request,
        lambda d: store.record_action(
            d,
            action=action,
            outcome=outcome,
            key_id=v.key_id if v else None,
            key_name=v.name if v else None,
            target=target,
            detail=detail,
        ),
    )


async def authorize_form(
    request: Request, need: str, action: str, target: str
) -> tuple[Viewer, dict]:
    """The form and the viewer allowed to act; a refusal is audited before it is answered."""
    form = await _form(request)
    try:
        return await viewer(request, need=need, form=form), form
    except Refused as exc:
        if exc.status in (401, 403):
            who = None
            # who tried, when the session is fine and only the scope or the token is not
            with contextlib.suppress(Refused):
                who = await viewer(request, check_form=False)
            await audit_action(request, who, action, "refused", target, reason=exc.message)
        raise


# -- sign-in and sign-out ---------------------------------------------------------------------


@router.post(f"{PREFIX}/signin")
@guarded
async def signin(request: Request) -> Response:
    from userseg.web.pages import safe_next

    svc = service(request)
    form = await _form(request)
    state = web_state(request)
    pre = request.cookies.get(PRE_COOKIE)
    if not same_origin(request) or not state.sessions.check_signin_token(pre, form.get("csrf")):
        raise Refused(403, "the sign-in form's security token is missing or stale: reload it.")
    if svc.keyring is None:
        return see_other(f"{PREFIX}/runs")
    from userseg.serve.auth import key_id_of

    secret = form.get("key", "").strip()
    # the REST service's limit on failed key checks, per address and key id (each costs a scrypt)
    client = f"{request.client.host if request.client else '-'}|{key_id_of(secret) or '-'}"
    if svc.auth_failures is not None and svc.auth_failures.blocked(client) > 0:
        raise Refused(429, "too many wrong keys from this address: wait a minute and try again.")
    key_id = await run_in_threadpool(svc.keyring.verify, secret)  # one scrypt: off the loop
    if key_id is None:
        if svc.auth_failures is not None:
            svc.auth_failures.take(client)
        response = page(
            "signin.html",
            401,
            title="Sign in",
            viewer=None,
            csrf=form.get("csrf", ""),
            next=safe_next(form.get("next")),
            message=None,
            error="That key is not valid (wrong, or revoked). Check it and try again.",
        )
        return response
    token, _ = state.sessions.create(key_id)
    name, scope = await db(request, lambda d: store.key_access(d, key_id)) or ("?", "read")
    await audit_action(request, Viewer(key_id, name, scope, None), "signin", "ok", f"key {key_id}")
    response = see_other(safe_next(form.get("next")))
    set_cookie(request, response, COOKIE, token, 12 * 3600)
    clear_cookie(request, response, PRE_COOKIE)
    return response


@router.post(f"{PREFIX}/signout")
@guarded
async def signout(request: Request) -> Response:
    await authorize_form(request, "read", "signout", "session")
    web_state(request).sessions.drop(request.cookies.get(COOKIE))
    response = see_other(f"{PREFIX}/signin?done=signedout")
    clear_cookie(request, response, COOKIE)
    return response


# -- rename -----------------------------------------------------------------------------------


@router.post(PREFIX + "/runs/{run_id}/segments/{segment}/rename")
@guarded
async def rename(request: Request, run_id: int, segment: int) -> Response:
    target = f"run {run_id} segment {segment}"
    v, form = await authorize_form(request, "write", "rename", target)
    name = form.get("name", "")
    try:
        await db(request, lambda d: store.rename_segment(d, run_id, segment, name))
    except UsersegError as exc:
        await audit_action(request, v, "rename", "failed", target, name=name, error=exc.message)
        raise
    await audit_action(request, v, "rename", "ok", target, name=name.strip())
    return see_other(f"{PREFIX}/runs/{run_id}/segments/{segment}?done=renamed")


# -- compare ----------------------------------------------------------------------------------


@router.post(f"{PREFIX}/compare")
@guarded
async def compare(request: Request) -> Response:
    from userseg.jobs.compare import compare_runs

    v, form = await authorize_form(request, "write", "compare", "runs")
    try:
        a, b = int(form.get("a", "")), int(form.get("b", ""))
    except ValueError:
        raise DataError("choose two runs to compare (a and b are run ids).") from None
    target = f"runs {a} and {b}"
    if a == b:
        raise DataError(f"run {a} compared with itself: choose two different runs.")

    def work(d: Any) -> None:
        # reads both runs' assignments once; the page reads the kept result ever after
        store.save_comparison(d, a, b, compare_runs(d, a, b).to_dict())

    await db(request, work)
    await audit_action(request, v, "compare", "ok", target)
    return see_other(f"{PREFIX}/compare?a={a}&b={b}&done=compared")


# -- refresh ----------------------------------------------------------------------------------


@router.post(f"{PREFIX}/refresh")
@guarded
async def refresh(request: Request) -> Response:
    from userseg.jobs.refresh import refresh as refresh_job

    v, form = await authorize_form(request, "write", "refresh", "database")
    refit = form.get("refit", "auto")
    if refit not in ("auto", "always", "never"):
        raise ConfigError(f"refit must be auto, always or never; got {refit!r}.")
    state, svc = web_state(request), service(request)
    with state.job_lock:
        if state.job is not None and state.job.state == "running":
            raise Refused(409, "a refresh is already running: wait for it to finish.")
        job = state.job = Job(started_by=v.name)
    await audit_action(request, v, "refresh", "started", "database", refit=refit)

    def run() -> None:
        try:
            job.summary = svc.with_db(lambda: refresh_job(svc.db, None, refit=refit))
            job.state = "done"
        except Exception as exc:  # the job's end is recorded whatever it was
            job.state, job.error = "failed", str(getattr(exc, "message", exc))
        svc.with_db(
            lambda: store.record_action(
                svc.db,
                action="refresh",
                outcome=job.state,
                key_id=v.key_id,
                key_name=v.name,
                target="database",
                detail={
                    "refit": refit,
                    "error": job.error,
                    "action": job.summary.get("action"),
                    "run_id": job.summary.get("run_id"),
                },
            )
        )

    threading.Thread(target=run, name="userseg-web-refresh", daemon=True).start()
    return see_other(f"{PREFIX}/refresh?done=refresh")


# -- keys -------------------------------------------------------------------------------------


@router.post(f"{PREFIX}/keys")
@guarded
async def create_key(request: Request) -> Response:
    from userseg.web.pages import keys_and_actions

    v, form = await authorize_form(request, "admin", "key.create", "keys")
    svc = service(request)
    name, scope = form.get("name", ""), form.get("scope", "read")
    if scope not in store.SCOPES:  # checked first: no key is made with a scope refused after
        raise ConfigError(f"scope must be one of {', '.join(store.SCOPES)}; got {scope!r}.")
    key_id, secret = await run_in_threadpool(svc.keyring.create, name)  # takes the lock itself
    await db(request, lambda d: store.set_key_scope(d, key_id, scope))
    await audit_action(
        request, v, "key.create", "ok", f"key {key_id}", name=name.strip(), scope=scope
    )
    keys, actions = await db(request, keys_and_actions)
    return page(
        "keys.html",
        title="API keys",
        viewer=v,
        keys=keys,
        actions=actions,
        scopes=store.SCOPES,
        created={"key_id": key_id, "secret": secret, "name": name.strip(), "scope": scope},
        message=None,
    )


@router.post(PREFIX + "/keys/{key_id}/revoke")
@guarded
async def revoke_key(request: Request, key_id: str) -> Response:
    v, _ = await authorize_form(request, "admin", "key.revoke", f"key {key_id}")
    svc = service(request)
    await run_in_threadpool(svc.keyring.revoke, key_id)
    await audit_action(request, v, "key.revoke", "ok", f"key {key_id}")
    return see_other(f"{PREFIX}/keys?done=revoked")
