"""``userseg forget`` (erasure of people) and ``userseg secret-key`` (the pseudonym key file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from userseg.cli import render
from userseg.cli.options import DEFAULT_DB, Db, Json, KeyFile, check_db_exists

__all__ = ["forget", "privacy_budget", "register", "secret_key"]


def forget(
    users: Annotated[
        list[str],
        typer.Argument(help="User ids as imported (e-mails…) or as stored (pseudonyms)."),
    ],
    db: Db = DEFAULT_DB,
    key_file: KeyFile = None,
    as_json: Json = False,
) -> None:
    """Erase people: delete them everywhere, keep them out of later imports, compact the file.

    Their rows leave events, users, features, assignments, live state, audiences and
    campaign arms, and their sealed contact hashes; a salted hash of each stored id
    joins the suppression list (a re-import leaves them out); the database is then
    copied into a fresh file, since DuckDB does not zero the blocks it frees. The
    erasure is recorded in the audit log, by counts, never by id. With ids that were
    pseudonymised at import, give the same key (--key-file or USERSEG_SECRET_KEY).
    """
    from userseg.io.private import PrivacyOptions
    from userseg.jobs.pipeline import open_db
    from userseg.store.privacy import compact_database, forget_users

    with render.errors(as_json):
        keys = PrivacyOptions.from_key_file(key_file).keys
        check_db_exists(db)
        with open_db(db) as db_:
            result = forget_users(db_, users, keys=keys)
        compact_database(db)
        result.compacted = True
        if as_json:
            render.print_json(result.to_dict())
            return
        rows = sum(result.rows.values())
        render.console.print(
            f"forgot {result.found} of {result.asked} user(s): {rows:,} rows deleted"
            + (
                " (" + ", ".join(f"{t} {n:,}" for t, n in sorted(result.rows.items())) + ")"
                if rows
                else ""
            )
            + f"; suppressed for later imports; {db} compacted"
        )
        if result.found < result.asked:
            render.console.print(
                "note: ids not found are suppressed all the same"
                + ("" if keys else "; ids pseudonymised at import need --key-file to be found")
            )


def secret_key(
    path: Annotated[Path, typer.Argument(help="Key file to create (mode 0600).")],
    add: Annotated[
        bool,
        typer.Option("--add", help="Append a new key to an existing file (key rotation)."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Create the secret key file for pseudonyms (never overwritten; only its id is printed)."""
    from userseg.privacy.keys import add_key_to_file, create_key_file

    with render.errors(as_json):
        ring = add_key_to_file(path) if add else create_key_file(path)
        if as_json:
            render.print_json({"path": str(path), "key_id": ring.key_id, "keys": len(ring)})
            return
        render.console.print(
            f"{path}: {len(ring)} key(s), id {ring.key_id} (mode 0600; keep it outside the "
            "database and back it up: without it, pseudonyms cannot be recomputed)"
        )


def privacy_budget(db: Db = DEFAULT_DB, as_json: Json = False) -> None:
    """The differential-privacy budget of each data set: total, spent and left (in epsilon).

    A data set gets its budget on its first `fit --dp-epsilon`; each DP fit spends its
    epsilon, and a fit that would spend more than is left is refused.
    """
    from userseg.jobs.pipeline import open_db
    from userseg.store.dp_budget import list_budgets

    with render.errors(as_json):
        check_db_exists(db)
        with open_db(db) as db_:
            budgets = [b.to_dict() for b in list_budgets(db_)]
        if as_json:
            render.print_json({"budgets": budgets})
            return
        if not budgets:
            print("no differentially private fit yet: no data set has spent any epsilon")
        for b in budgets:
            print(
                f"{b['dataset']}: spent {b['spent']:g} of {b['total']:g}, {b['remaining']:g} left"
            )


def register(app: typer.Typer) -> None:
    app.command()(forget)
    app.command("privacy-budget")(privacy_budget)
    app.command("secret-key")(secret_key)
