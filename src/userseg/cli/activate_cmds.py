"""Commands that act on segments: ``audience``, ``export`` and ``campaign`` (issue 11).

A thin shell over :mod:`userseg.jobs.activation`: each command parses its flags,
calls one function there, and prints a table (or ``--json``). Bad input is
exit 2 with nothing stored.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from userseg.cli import render
from userseg.cli.options import DEFAULT_DB, Db, Json, open_db, pairs

audience_app = typer.Typer(
    name="audience",
    help="Audiences: segments of a run and/or a filter on features, stored as versions.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
campaign_app = typer.Typer(
    name="campaign",
    help="Campaigns with a control group: create, plan, measure the lift, end.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

Name = Annotated[str, typer.Argument(help="The audience's name.")]
CampaignName = Annotated[str, typer.Argument(help="The campaign's name (salts its holdout).")]
Version = Annotated[
    int | None, typer.Option("--version", help="Audience version (default: the latest).")
]


def _warn(caught: list[warnings.WarningMessage], as_json: bool) -> list[str]:
    msgs = [str(w.message) for w in caught]
    if not as_json:
        for m in msgs:
            render.console.print(f"warning: {m}")
    return msgs


def _members_line(v: Any) -> str:
    return f"version {v.version}: {v.n_members:,} users on run {v.run_id}"


# -- audience ----------------------------------------------------------------------------------
@audience_app.command("create")
def audience_create(
    name: Name,
    db: Db = DEFAULT_DB,
    run: Annotated[
        str,
        typer.Option(
            "--run",
            help="Run id, or 'latest' (the default): after a refit with --previous, the "
            "audience follows the stable segment ids on the newest run.",
        ),
    ] = "latest",
    segments: Annotated[
        str | None, typer.Option("--segments", help="Segment ids, e.g. 1,4 (default: all).")
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            help="A filter on the run's features, e.g. \"recency_days < 30 and monetary >= "
            '500" (parsed and checked, never pasted into SQL; see docs/activation.md).',
        ),
    ] = None,
    description: Annotated[str | None, typer.Option("--description", help="A note.")] = None,
    as_json: Json = False,
) -> None:
    """Define an audience and store its first version with its members."""
    from userseg.jobs import activation

    with render.errors(as_json):
        segs = activation.parse_segments(segments)
        with open_db(db) as db_, render.step(f"materialising audience {name}", not as_json):
            aud, v = activation.create_audience(
                db_, name, run=run, segments=segs, where=where, description=description
            )
        if as_json:
            render.print_json({"audience": aud.to_dict(), "version": v.to_dict()})
            return
        render.console.print(f"Audience {aud.name}: {_members_line(v)}")


@audience_app.command("refresh")
def audience_refresh(name: Name, db: Db = DEFAULT_DB, as_json: Json = False) -> None:
    """Materialise an audience again (on the latest run, if it follows 'latest'): a new version."""
    from userseg.jobs import activation

    with render.errors(as_json):
        with open_db(db) as db_, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            v = activation.refresh_audience(db_, name)
        notes = _warn(caught, as_json)
        if as_json:
            render.print_json({"version": v.to_dict(), "warnings": notes})
            return
        render.console.print(f"Audience {name}: {_members_line(v)}")


@audience_app.command("list")
def audience_list(db: Db = DEFAULT_DB, as_json: Json = False) -> None:
    """Every audience with its definition and latest version."""
    from userseg.store import activation as st

    with render.errors(as_json):
        with open_db(db) as db_:
            items = st.list_audiences(db_)
        if as_json:
            render.print_json({"audiences": [a.to_dict() for a in items]})
            return
        rows = [
            [
                a.name,
                a.run_spec,
                ",".join(map(str, a.segments)) if a.segments is not None else "all",
                a.where or "",
                a.latest_version,
                f"{a.n_members:,}" if a.n_members is not None else "",
            ]
            for a in items
        ]
        render.console.print(
            render.table(
                "Audiences",
                ["name", "run", "segments", "where", "version", "users"],
                rows,
                right={"version", "users"},
            )
        )


@audience_app.command("show")
def audience_show(
    name: Name,
    db: Db = DEFAULT_DB,
    version: Version = None,
    as_json: Json = False,
) -> None:
    """An audience's definition, versions, members per segment and exports."""
    from userseg.store import activation as st

    with render.errors(as_json):
        with open_db(db) as db_:
            aud = st.get_audience(db_, name)
            v = st.get_audience_version(db_, aud, version)
            versions = st.list_versions(db_, aud)
            members = st.load_members(db_, aud.audience_id, v.version)
            exports = st.list_exports(db_, aud.audience_id)
        per = members.groupby("segment").size()
        if as_json:
            render.print_json(
                {
                    "audience": aud.to_dict(),
                    "version": v.to_dict(),
                    "versions": [x.to_dict() for x in versions],
                    "segments": {str(k): int(n) for k, n in per.items()},
                    "exports": [_export_row(e) for e in exports],
                }
            )
            return
        render.console.print(
            f"Audience {aud.name} (run {aud.run_spec}"
            + (f", segments {','.join(map(str, aud.segments))}" if aud.segments else "")
            + (f", where {aud.where}" if aud.where else "")
            + f"); {_members_line(v)}"
        )
        render.console.print(
            render.table(
                "Versions",
                ["version", "created", "run", "users"],
                [
                    [x.version, f"{x.created_at:%Y-%m-%d %H:%M}", x.run_id, f"{x.n_members:,}"]
                    for x in versions
                ],
                right={"version", "run", "users"},
            )
        )
        render.console.print(
            render.table(
                f"Members of version {v.version} per segment",
                ["segment", "users"],
                [[k, f"{n:,}"] for k, n in per.items()],
                right={"segment", "users"},
            )
        )
        if exports:
            render.console.print(
                render.table(
                    "Exports",
                    ["export", "when", "version", "to", "status", "rows", "min", "override"],
                    [
                        [
                            e["export_id"],
                            f"{e['created_at']:%Y-%m-%d %H:%M}",
                            e["version"],
                            f"{e['destination']}:{e['target']}",
                            e["status"],
                            e["n_written"],
                            e["min_size"],
                            "yes" if e["size_override"] else "",
                        ]
                        for e in exports
                    ],
                )
            )


def _export_row(e: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in e.items() if k != "result"} | {"result": e["result"]}


@audience_app.command("diff")
def audience_diff(
    name: Name,
    db: Db = DEFAULT_DB,
    old: Annotated[
        int | None, typer.Option("--from", help="Older version (default: new − 1).")
    ] = None,
    new: Annotated[
        int | None, typer.Option("--to", help="Newer version (default: latest).")
    ] = None,
    show: Annotated[int, typer.Option("--show", help="Users listed per group.")] = 10,
    as_json: Json = False,
) -> None:
    """Who joined and who left an audience since its previous version (and who moved segment)."""
    from userseg.jobs import activation

    with render.errors(as_json):
        with open_db(db) as db_:
            d = activation.diff_audience(db_, name, old, new)
        if as_json:
            render.print_json(
                d
                | {k: d[k].to_dict("records") for k in ("joined", "left", "moved")}
                | {f"n_{k}": len(d[k]) for k in ("joined", "left", "moved")}
            )
            return
        render.console.print(
            f"Audience {name}: version {d['old']['version']} ({d['old']['n_members']:,} users, "
            f"run {d['old']['run_id']}) → version {d['new']['version']} "
            f"({d['new']['n_members']:,} users, run {d['new']['run_id']}): "
            f"{len(d['joined']):,} joined, {len(d['left']):,} left, "
            f"{len(d['moved']):,} moved segment."
        )
        for key in ("joined", "left", "moved"):
            frame: pd.DataFrame = d[key]
            if len(frame):
                render.console.print(
                    render.table(
                        f"{key} (first {min(show, len(frame))} of {len(frame):,})",
                        list(frame.columns),
                        frame.head(show).values.tolist(),
                    )
                )


# -- export ------------------------------------------------------------------------------------
def export(
    audience: Annotated[str, typer.Argument(help="The audience to export.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="members.csv or members.parquet (user_id, segment); google:FILE.csv or "
            "meta:FILE.csv (customer-match files, normalised and SHA-256 hashed, from the user "
            "table's contact columns); webhook:https://URL (signed JSON batches).",
        ),
    ],
    db: Db = DEFAULT_DB,
    version: Version = None,
    min_size: Annotated[
        int,
        typer.Option("--min-size", help="Smallest audience this destination accepts."),
    ] = 100,
    allow_small: Annotated[
        bool,
        typer.Option(
            "--allow-small", help="Export an audience under --min-size anyway (recorded)."
        ),
    ] = False,
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            help="Environment variable holding the webhook's HMAC secret (never the secret "
            "itself on the command line).",
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option("--resume", help="Export id of a failed webhook export to resume."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Webhook: users per POST.")
    ] = 1000,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", help="Webhook: attempts per batch before failing.")
    ] = 6,
    contact: Annotated[
        list[str] | None,
        typer.Option(
            "--contact",
            help="Customer match: KIND=COLUMN of the user table (kinds: email, phone, "
            "first_name, last_name, country, zip; default: the columns of those names). "
            "Repeatable.",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="Customer match: ISO country of national phone numbers."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Export an audience version to a file, an ad platform's customer-match file, or a webhook."""
    from userseg.jobs import activation

    with render.errors(as_json):
        secret = activation.secret_from_env(secret_env)
        contacts = {k: str(v) for k, v in pairs(contact, "--contact").items()} or None
        with open_db(db) as db_, render.step(f"exporting {audience}", not as_json):
            out = activation.export_audience(
                db_,
                audience,
                to,
                version=version,
                min_size=min_size,
                allow_small=allow_small,
                secret=secret,
                resume=resume,
                batch_size=batch_size,
                max_attempts=max_attempts,
                contacts=contacts,
                default_region=region,
            )
        if as_json:
            render.print_json(out)
            return
        extra = " (under the minimum: --allow-small, recorded)" if out["size_override"] else ""
        skipped = f", {out['n_skipped']:,} without a usable identifier" if out["n_skipped"] else ""
        render.console.print(
            f"Exported {out['n_written']:,} of {out['n_members']:,} users of {audience} version "
            f"{out['version']} to {out['destination']}:{out['target']}{skipped}{extra}; "
            f"export {out['export_id']}."
        )


# -- campaign ----------------------------------------------------------------------------------
@campaign_app.command("create")
def campaign_create(
    name: CampaignName,
    audience: Annotated[str, typer.Option("--audience", help="The audience to run it on.")],
    db: Db = DEFAULT_DB,
    holdout: Annotated[
        str, typer.Option("--holdout", help="Control share of each segment, e.g. 10%.")
    ] = "10%",
    version: Version = None,
    start: Annotated[
        str | None,
        typer.Option("--start", help="When it starts (ISO date/time, UTC; default: now)."),
    ] = None,
    allow_overlap: Annotated[
        bool,
        typer.Option(
            "--allow-overlap",
            help="Allow users already in another running campaign (independent holdouts; "
            "recorded and shown with the lift).",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Create a campaign: a deterministic holdout stratified by segment, stored per user."""
    from userseg.jobs import activation

    with render.errors(as_json):
        with open_db(db) as db_:
            c, summary = activation.create_campaign(
                db_,
                name,
                audience,
                holdout,
                version=version,
                start=start,
                allow_overlap=allow_overlap,
            )
        if as_json:
            render.print_json({"campaign": c.to_dict(), "arms": summary.to_dict("records")})
            return
        render.console.print(
            f"Campaign {c.name} on {c.audience} version {c.version}: {c.holdout:.1%} held out, "
            f"starts {c.start_at:%Y-%m-%d %H:%M} UTC."
        )
        if c.overlap.get("campaigns"):
            render.console.print(
                "warning: users shared with running campaign(s) "
                + ", ".join(f"{k} ({n:,})" for k, n in c.overlap["campaigns"].items())
            )
        render.console.print(_summary_table(summary))


def _summary_table(summary: pd.DataFrame) -> Any:
    return render.table(
        "Arms per segment",
        ["segment", "users", "treatment", "control", "control share", "note"],
        [
            [
                r.segment,
                f"{r.n:,}",
                f"{r.n_treatment:,}",
                f"{r.n_control:,}",
                f"{r.control_share:.1%}",
                r.note or "",
            ]
            for r in summary.itertuples()
        ],
        right={"segment", "users", "treatment", "control", "control share"},
    )


@campaign_app.command("plan")
def campaign_plan(
    audience: Annotated[str, typer.Option("--audience", help="The audience to plan for.")],
    db: Db = DEFAULT_DB,
    holdout: Annotated[str, typer.Option("--holdout", help="Planned control share.")] = "10%",
    effect: Annotated[
        float | None,
        typer.Option("--effect", help="Conversion effect to plan for, absolute (0.01 = 1 point)."),
    ] = None,
    relative_effect: Annotated[
        float | None,
        typer.Option("--relative-effect", help="...or relative to the baseline (0.1 = +10%)."),
    ] = None,
    days: Annotated[
        int, typer.Option("--days", help="Outcome window; the baseline is read over as many days.")
    ] = 30,
    start: Annotated[
        str | None,
        typer.Option(
            "--start", help="Planned start (default: now); the baseline window ends there."
        ),
    ] = None,
    baseline_rate: Annotated[
        float | None,
        typer.Option("--baseline-rate", help="Baseline conversion rate (default: from events)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Before launch: the minimum detectable effect per segment (80% power, α = 0.05)."""
    from userseg.jobs import activation

    with render.errors(as_json):
        with open_db(db) as db_:
            table, info = activation.plan_campaign(
                db_,
                audience,
                holdout,
                days=days,
                start=start,
                effect=effect,
                relative_effect=relative_effect,
                baseline_rate=baseline_rate,
            )
        if as_json:
            render.print_json(info | {"segments": table.to_dict("records")})
            return
        for w in info.get("warnings", []):
            render.console.print(f"warning: {w}")
        cols = ["segment", "n", "n_treatment", "n_control", "baseline_rate", "mde_abs", "mde_rel"]
        cols += [c for c in ("revenue_mde", "holdout_needed") if c in table.columns]
        rows = [[_cell(table[c].iloc[i], c) for c in cols] for i in range(len(table))]
        render.console.print(
            render.table(
                f"MDE per segment at 80% power, α = 0.05, holdout {info['holdout']:.1%}",
                [_HEADERS.get(c, c) for c in cols],
                rows,
                right={_HEADERS.get(c, c) for c in cols},
            )
        )
        if "note" in table.columns:
            for seg, note in zip(table["segment"], table["note"], strict=True):
                if note:
                    render.console.print(f"segment {seg}: {note}")


_HEADERS = {
    "n": "users",
    "n_treatment": "treatment",
    "n_control": "control",
    "baseline_rate": "baseline",
    "mde_abs": "MDE",
    "mde_rel": "MDE rel.",
    "revenue_mde": "revenue MDE",
    "holdout_needed": "holdout needed",
}


def _cell(v: Any, col: str) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    if col in ("n", "n_treatment", "n_control", "segment"):
        return f"{int(v):,}"
    if col in ("baseline_rate", "mde_abs", "mde_rel", "holdout_needed"):
        return f"{float(v):.2%}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def campaign_measure(
    name: CampaignName,
    db: Db = DEFAULT_DB,
    days: Annotated[
        int, typer.Option("--days", help="Outcome window after the start (event log).")
    ] = 30,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            help="CSV of user_id, converted, revenue (and pre_revenue for CUPED) instead of "
            "the event log.",
        ),
    ] = None,
    unknown_users: Annotated[
        str,
        typer.Option(
            "--unknown-users",
            help="Outcome rows for users not in the campaign: 'error' (default) or 'report' "
            "(counted and left out).",
        ),
    ] = "error",
    correction: Annotated[
        str, typer.Option("--correction", help="holm (default), bh or none.")
    ] = "holm",
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Write the lift picture (PNG) here.")
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="The chart's metric: conversion or revenue.")
    ] = "conversion",
    as_json: Json = False,
) -> None:
    """Lift of a campaign per segment and overall: intervals, CUPED, corrected p-values; stored."""
    from userseg.errors import ConfigError
    from userseg.jobs import activation

    with render.errors(as_json):
        if unknown_users not in ("error", "report"):
            raise ConfigError(f"--unknown-users {unknown_users!r} should be 'error' or 'report'.")
        if metric not in ("conversion", "revenue"):
            raise ConfigError(f"--metric {metric!r} should be 'conversion' or 'revenue'.")
        with open_db(db) as db_, render.step(f"measuring {name}", not as_json):
            m = activation.measure_campaign(
                db_,
                name,
                days=days,
                outcomes=outcomes,
                unknown=unknown_users,
                correction=correction,
            )
        png = activation.write_lift_chart(m.result, chart, metric) if chart else None
        if as_json:
            render.print_json(m.to_dict() | {"chart": str(png) if png else None})
            return
        c = m.campaign
        o = m.outcomes
        window = " to ".join(w[:10] for w in o.get("window", [])) or o["source"]
        render.console.print(
            f"Campaign {c.name} on {c.audience} v{c.version}, {c.holdout:.1%} held out; "
            f"outcomes from {o['source']} ({window})."
        )
        render.console.print(_lift_table(m.result.table))
        for line in m.result.summary_lines():
            render.console.print(line)
        for w in m.warnings:
            render.console.print(f"warning: {w}")
        if png:
            render.console.print(f"Chart: {png}")


# ``userseg lift CAMPAIGN`` is the issue's (and the docs') name; ``campaign measure`` stays
# for the scripts that use it. One function behind both, so they cannot drift apart.
campaign_app.command(
    "measure", help="The same as `userseg lift CAMPAIGN` (kept for existing scripts)."
)(campaign_measure)


def _num(v: Any, fmt: str) -> str:
    return "–" if v is None or pd.isna(v) else format(v, fmt)


def _lift_table(t: pd.DataFrame) -> Any:
    rows = []
    for r in t.itertuples():
        rate = r.metric == "conversion"
        f = ".2%" if rate else ",.2f"
        rows.append(
            [
                r.segment,
                r.metric,
                f"{int(r.n_treatment):,}/{int(r.n_control):,}",
                _num(r.treatment, f),
                _num(r.control, f),
                _num(r.abs_lift, "+.2%" if rate else "+,.2f")
                + (
                    f" [{_num(r.abs_low, f)}, {_num(r.abs_high, f)}]"
                    if pd.notna(r.abs_lift)
                    else ""
                ),
                _num(r.rel_lift, "+.1%")
                + (
                    f" [{_num(r.rel_low, '+.1%')}, {_num(r.rel_high, '+.1%')}]"
                    if pd.notna(r.rel_lift)
                    else ""
                ),
                _num(r.p_adjusted, ".3g"),
                "yes" if r.significant else "",
                r.note or "",
            ]
        )
    return render.table(
        "Lift per segment (treatment − control, 95% intervals)",
        [
            "segment",
            "metric",
            "users t/c",
            "treatment",
            "control",
            "lift",
            "relative",
            "p (adj.)",
            "sig.",
            "note",
        ],
        rows,
        right={"users t/c", "treatment", "control", "p (adj.)"},
    )


@campaign_app.command("list")
def campaign_list(db: Db = DEFAULT_DB, as_json: Json = False) -> None:
    """Every campaign, newest first."""
    from userseg.store import activation as st

    with render.errors(as_json):
        with open_db(db) as db_:
            items = st.list_campaigns(db_)
        if as_json:
            render.print_json({"campaigns": [c.to_dict() for c in items]})
            return
        render.console.print(
            render.table(
                "Campaigns",
                ["name", "audience", "version", "holdout", "start", "status"],
                [
                    [
                        c.name,
                        c.audience,
                        c.version,
                        f"{c.holdout:.1%}",
                        f"{c.start_at:%Y-%m-%d %H:%M}",
                        c.status,
                    ]
                    for c in items
                ],
            )
        )


@campaign_app.command("end")
def campaign_end(name: CampaignName, db: Db = DEFAULT_DB, as_json: Json = False) -> None:
    """Mark a campaign ended: its users may join another campaign."""
    from userseg.store import activation as st

    with render.errors(as_json):
        with open_db(db) as db_:
            c = st.end_campaign(db_, name)
        if as_json:
            render.print_json({"campaign": c.to_dict()})
            return
        render.console.print(f"Campaign {c.name} ended.")


def register(app: typer.Typer) -> None:
    """Add ``audience``, ``export``, ``campaign`` and ``lift`` to the ``userseg`` app."""
    app.add_typer(audience_app, name="audience")
    app.command()(export)
    app.add_typer(campaign_app, name="campaign")
    app.command("lift")(campaign_measure)
