"""``userseg recommend``: items per segment (or per user), and items bought together."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from userseg.cli import render
from userseg.cli.options import DEFAULT_DB, Db, Json, RunArg, RunOpt, open_db, pick_run
from userseg.errors import ConfigError


def recommend(
    run: RunArg = None,
    run_option: RunOpt = None,
    segment: Annotated[
        int | None, typer.Option("--segment", help="Segment id: its recommended items.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="User id: their segment's items they have not bought yet."),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Items to list.")] = 10,
    rank: Annotated[
        str,
        typer.Option(
            "--rank",
            help="support: what the segment buys most; lift: what sets it apart from all users.",
        ),
    ] = "support",
    min_support: Annotated[
        float,
        typer.Option("--min-support", help="Least share of the segment's buyers buying an item."),
    ] = 0.01,
    min_users: Annotated[
        int, typer.Option("--min-users", help="Least buyers of an item in the segment.")
    ] = 5,
    rules: Annotated[
        bool,
        typer.Option(
            "--rules/--no-rules",
            help="Also list items bought together in the segment's baskets (association rules).",
        ),
    ] = True,
    db: Db = DEFAULT_DB,
    as_json: Json = False,
) -> None:
    """Recommended items of a segment (over-represented, bought together) or of a user."""
    with render.errors(as_json):
        if (segment is None) == (user is None):
            raise ConfigError("give one of --segment S or --user ID.")
        if top < 1:
            raise ConfigError(f"--top {top} should be >= 1.")
        from userseg.recommend import Recommender

        with open_db(db) as db_:
            rec = Recommender.from_run(
                db_,
                pick_run(run, run_option),
                min_support=min_support,
                min_users=min_users,
                rank=rank,
            )
        if user is not None:
            out = rec.for_user(user, top)
            segment = out["segment"]
        else:
            out = {
                "run_id": rec.run_id,
                "segment": segment,
                "name": rec.names.get(int(segment), ""),
                "items": rec.for_segment(segment, top).to_dict("records"),
            }
        out["rules"] = rec.rules(int(segment)).to_dict("records") if rules else None
        if as_json:
            render.print_json(out)
            return
        _print(out, user)


def _print(out: dict[str, Any], user: str | None) -> None:
    c = render.console
    who = f"user {user} (segment {out['segment']}, " if user else f"segment {out['segment']} ("
    title = f"Run {out['run_id']}, {who}{out['name']}): recommended items"
    cols = ["#", "item", "buyers", "share of segment", "share of all", "lift"]
    rows = [
        [
            r["rank"],
            r["item"],
            f"{r['users']:,}",
            f"{r['support']:.1%}",
            f"{r['overall_support']:.1%}",
            f"{r['lift']:.2f}×",
        ]
        for r in out["items"]
    ]
    if rows:
        c.print(render.table(title, cols, rows, right=set(cols) - {"item"}))
    else:
        c.print(f"{title}: none above the minimum support.")
    if out.get("rules"):
        cols = ["if bought", "then also", "baskets", "support", "confidence", "lift"]
        rows = [
            [
                r["antecedent"],
                r["consequent"],
                f"{r['baskets']:,}",
                f"{r['support']:.1%}",
                f"{r['confidence']:.0%}",
                f"{r['lift']:.1f}×",
            ]
            for r in out["rules"]
        ]
        c.print(render.table("Bought together in this segment", cols, rows, right=set(cols[2:])))
    elif out.get("rules") is not None:
        c.print("Bought together: no rule above the minimum support and confidence.")


def register(app: typer.Typer) -> None:
    """Add ``recommend`` to the ``userseg`` app."""
    app.command()(recommend)
