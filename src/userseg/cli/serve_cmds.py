"""``userseg serve`` (the REST service under uvicorn) and ``userseg keys`` (its API keys).

:func:`register` adds both to the ``userseg`` app. The service holds the
database's single writer lock while it runs (DuckDB), so keys are created and
revoked while it is stopped, and take effect when it starts again.
"""

from __future__ import annotations

import gc
import ipaddress
from pathlib import Path
from typing import Annotated, Any

import typer

from userseg.cli import render
from userseg.cli.options import DEFAULT_DB, Db, Json, MinGroup, check_db_exists
from userseg.errors import ConfigError, DependencyError

__all__ = ["keys_app", "register", "serve"]

keys_app = typer.Typer(
    name="keys",
    help="Create, list and revoke the API keys of the REST service (`userseg serve`).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _open(db: Path) -> Any:
    from userseg.store import open_database

    check_db_exists(db)
    return open_database(db)


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else ""


def serve(
    db: Db = DEFAULT_DB,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
    run: Annotated[
        int | None, typer.Option("--run", help="Run id (model version) to serve; default latest.")
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="Serve without API keys (loopback or a trusted network)."),
    ] = False,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Larger request bodies get 413.", min=1)
    ] = 1_000_000,
    rate_limit: Annotated[
        float,
        typer.Option("--rate-limit", help="Requests per second per API key (0: no limit).", min=0),
    ] = 1000.0,
    burst: Annotated[
        int, typer.Option("--burst", help="Requests one key may send at once.", min=1)
    ] = 2000,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (costs latency).")
    ] = False,
    min_group: MinGroup = 10,
) -> None:
    """Serve the REST API (assign, events, segments, runs) and the web app (/web) with uvicorn."""
    with render.errors(False):
        try:
            import uvicorn

            from userseg.serve import create_app
            from userseg.serve.limits import RateLimit
        except ImportError as exc:
            raise DependencyError(
                f"`userseg serve` needs the serve extra ({exc.name} is missing): "
                "pip install 'userseg[serve]' (in a source checkout: "
                ".venv/bin/pip install -e '.[serve]')."
            ) from None
        limit = RateLimit(per_second=rate_limit, burst=burst) if rate_limit > 0 else None
        check_db_exists(db)
        app = create_app(
            db,
            run_id=run,
            keys_required=not no_auth,
            max_body_bytes=max_body_bytes,
            rate_limit=limit,
            min_group=min_group,
        )
        service = app.state.service
        try:
            if no_auth and not _is_loopback(host):
                render.err_console.print(
                    f"warning: serving without API keys on {host}: anyone who can reach it "
                    "can read segments and write events."
                )
            if service.keyring is not None and not service.keyring.active_ids():
                render.err_console.print(
                    "warning: no active API key, every /v1 request will get 401: stop, run "
                    "`userseg keys create NAME`, and start again."
                )
            render.err_console.print(
                f"serving run {service.run_id} ({service.fast.algorithm}, "
                f"{service.scorer.model.n_segments_} segments) of {db} on http://{host}:{port}"
                f"  (web app: http://{host}:{port}/web, schema: http://{host}:{port}/openapi.json)"
            )
            # Everything loaded so far (the model, the libraries) lives as long as the process:
            # out of the garbage collector's sight, a full collection no longer walks it.
            gc.collect()
            gc.freeze()
            uvicorn.run(
                app,
                host=host,
                port=port,
                workers=1,
                access_log=access_log,
                log_level="info" if access_log else "warning",
            )
        finally:
            service.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who the key is for (e.g. crm, mobile-app).")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="What it may do in the web app: read (look), write (also rename, compare, "
            "refresh, audiences) or admin (also keys). The REST API does not read it.",
        ),
    ] = "admin",
    db: Db = DEFAULT_DB,
    as_json: Json = False,
) -> None:
    """Create an API key. Its secret is printed once and never stored: keep it now."""
    from userseg.serve.auth import create_key
    from userseg.store.access import SCOPES, set_key_scope

    with render.errors(as_json):
        if scope not in SCOPES:
            raise ConfigError(f"--scope must be one of {', '.join(SCOPES)}; got {scope!r}.")
        with _open(db) as db_:
            key_id, secret = create_key(db_, name)
            set_key_scope(db_, key_id, scope)
        if as_json:
            render.print_json({"key_id": key_id, "name": name.strip(), "secret": secret})
            return
        render.console.print(
            f"API key {key_id} ({name.strip()}, {scope}) created. Its secret, shown only this once:"
        )
        render.console.print(secret, soft_wrap=True)
        render.console.print("Send it as the header `Authorization: Bearer <secret>`.")


@keys_app.command("list")
def keys_list(db: Db = DEFAULT_DB, as_json: Json = False) -> None:
    """List the API keys (never their secrets): id, name, created, last used, status."""
    from userseg.serve.auth import list_keys
    from userseg.store.access import key_scopes

    with render.errors(as_json):
        with _open(db) as db_:
            scopes = key_scopes(db_)
            items = [k | {"scope": scopes.get(k["key_id"], "admin")} for k in list_keys(db_)]
        if as_json:
            render.print_json(items)
            return
        rows = [
            [
                k["key_id"],
                k["name"],
                k["scope"],
                _when(k["created_at"]),
                _when(k["last_used_at"]),
                "active" if k["active"] else f"revoked {_when(k['revoked_at'])}",
            ]
            for k in items
        ]
        render.console.print(
            render.table(None, ["key id", "name", "scope", "created", "last used", "status"], rows)
        )
        if not items:
            render.console.print("no API keys yet: run `userseg keys create NAME`.")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key id (`keys list`).")],
    db: Db = DEFAULT_DB,
    as_json: Json = False,
) -> None:
    """Revoke an API key for good (while `userseg serve` is stopped: one writer at a time)."""
    from userseg.serve.auth import revoke_key

    with render.errors(as_json):
        if not key_id.strip():
            raise ConfigError("KEY_ID cannot be empty; see `userseg keys list`.")
        with _open(db) as db_:
            row = revoke_key(db_, key_id.strip())
        if as_json:
            render.print_json(row)
        else:
            render.console.print(
                f"API key {row['key_id']} ({row['name']}) revoked at {_when(row['revoked_at'])}."
            )


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``keys`` group to the ``userseg`` app."""
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
