"""Commands around a fitted segmentation: ``compare``, ``drift``, ``refresh``, ``stream``,
``rules`` and ``select``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from userseg.cli import render
from userseg.cli.options import (
    DEFAULT_DB,
    DateFormat,
    Db,
    Json,
    RunArg,
    RunOpt,
    config_help,
    pick_run,
    with_flags,
)
from userseg.cli.options import open_db as _open
from userseg.config import Source
from userseg.jobs.pipeline_config import load_pipeline
from userseg.segment.params import FitConfig, file_words, speaking


def compare(
    run_a: Annotated[int, typer.Argument(help="The earlier run.")],
    run_b: Annotated[int, typer.Argument(help="The later run.")],
    db: Db = DEFAULT_DB,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also draw the migration matrix as a PNG heatmap here."),
    ] = None,
    as_json: Json = False,
) -> None:
    """How two runs' segments match (kept, appeared, gone) and how users moved between them."""
    from userseg.explain.charts import migration_png
    from userseg.jobs.compare import compare_runs

    with render.errors(as_json):
        with _open(db) as db_:
            m = compare_runs(db_, run_a, run_b).to_dict()
        if out is not None:
            mig = m["migration"]
            cols = [c for c in mig["columns"]]
            png = migration_png(mig["rows"], cols, mig["counts"])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(png)
            m["picture"] = str(out)
        if as_json:
            render.print_json(m)
            return
        render.print_matching(m)
        if out is not None:
            render.console.print(f"Picture: {out}")


def drift(
    run: Annotated[int | None, typer.Option("--run", help="Run id (default: the latest).")] = None,
    input_path: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Users to check (one row "
            "per user, feature columns); default: "
            "the current feature table.",
        ),
    ] = None,
    date_format: DateFormat = None,
    db: Db = DEFAULT_DB,
    as_json: Json = False,
) -> None:
    """Compare today's users with the users a model was fitted on; say when to refit."""
    from userseg.jobs.drift_check import drift as drift_check

    with render.errors(as_json):
        with _open(db) as db_:
            current = None
            if input_path is not None:
                from userseg.jobs.pipeline import read_scoring_input

                _, _, current = read_scoring_input(
                    db_, run, Source(path=input_path), date_format=date_format
                )
            report = drift_check(db_, run, current)
        if as_json:
            render.print_json(report.to_dict())
            return
        render.console.print(
            render.table(
                f"Feature drift vs run {report.run_id} ({report.n_users:,} users now)",
                ["feature", "PSI", "shift"],
                [[f["feature"], f"{f['psi']:.3f}", f["level"]] for f in report.features[:15]],
                right={"PSI"},
            )
        )
        render.console.print(
            render.table(
                "Segment shares",
                ["segment", "name", "then", "now", "change"],
                [
                    [
                        s["segment"],
                        s["name"],
                        f"{s['share_then']:.1%}",
                        f"{s['share_now']:.1%}",
                        f"{s['change']:+.1%}",
                    ]
                    for s in report.segments
                ],
                right={"then", "now", "change"},
            )
        )
        render.console.print(f"far from every segment: {report.far_share:.1%} (1% expected)")
        render.stale_warning(report.features_stale)
        verdict = (
            "refit advised: " + "; ".join(report.reasons)
            if report.refit_advised
            else "no refit needed" + (f" ({'; '.join(report.reasons)})" if report.reasons else "")
        )
        render.console.print(verdict)


def refresh(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help=config_help("data sections name the new data (events appended, users replaced)"),
        ),
    ] = None,
    db: Db = DEFAULT_DB,
    refit: Annotated[
        str, typer.Option("--refit", help="auto (when drift advises), always or never.")
    ] = "auto",
    as_json: Json = False,
) -> None:
    """The scheduled job: new data → features → drift → refit keeping ids (or rescore)."""
    from userseg.jobs.refresh import refresh as refresh_job

    # a parameter is named as the file names it (fit.k), whichever step refuses it
    with render.errors(as_json), speaking(file_words()):
        cfg = load_pipeline(config) if config is not None else None
        if cfg is not None:
            cfg = with_flags(ctx, cfg, {"database": ("db", str(db))}, str(config))
        db_path = Path(cfg.database) if cfg is not None else db
        with (
            _open(db_path, create=config is not None) as db_,
            render.step("refreshing", not as_json),
        ):
            summary = refresh_job(db_, cfg, refit=refit, fit_config=cfg.fit if cfg else FitConfig())
        if as_json:
            render.print_json(summary)
            return
        d = summary.get("drift")
        if d is not None:
            render.console.print(
                "drift: "
                + (
                    "refit advised: " + "; ".join(d["reasons"])
                    if d["refit_advised"]
                    else "none that matters"
                )
            )
        if summary["action"] == "refit":
            render.console.print(
                f"refitted: run {summary['run_id']} "
                f"({summary['n_segments']} segments, ids kept where the "
                "segments are the same groups)"
            )
        else:
            render.console.print(
                f"rescored {summary['rescored']:,} users with run {summary['run_id']}"
            )


def stream(
    source: Annotated[
        str, typer.Argument(help="JSON-lines file being appended to, or - for standard input.")
    ],
    db: Db = DEFAULT_DB,
    run: Annotated[int | None, typer.Option("--run", help="Run id (default: the latest).")] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow/--no-follow",
            help="Keep reading as the file grows (stop with Ctrl-C); standard input is read "
            "to its end.",
        ),
    ] = True,
    batch: Annotated[int, typer.Option("--batch", help="Events per transaction (>= 1).")] = 500,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="Stop after this long.")
    ] = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Let the centres follow the stream (mini-batch updates with forgetting).",
        ),
    ] = False,
    decay: Annotated[
        float,
        typer.Option(
            "--decay",
            help="Forgetting of the online update, in (0, 1]: the share of the way each "
            "batch pulls a centre toward its new members.",
        ),
    ] = 0.05,
    as_json: Json = False,
) -> None:
    """Keep segments fresh from a stream of Segment-spec events, exactly once across restarts."""
    from userseg.jobs.stream import stream as run_stream

    with render.errors(as_json):
        with _open(db) as db_:
            stats = run_stream(
                db_,
                source,
                run_id=run,
                follow=follow,
                batch=batch,
                max_seconds=max_seconds,
                online=online,
                decay=decay,
                on_batch=_progress_line if as_json else None,
            )
        if as_json:
            render.print_json(stats.to_dict())
            return
        render.console.print(
            f"{stats.events:,} events read ({stats.accepted:,} new, {stats.duplicates:,} "
            f"already seen, {stats.rejected:,} rejected); {stats.changed:,} users changed "
            "segment" + (f"; {stats.texts:,} texts stored" if stats.texts else "")
        )
        for err in stats.errors[:5]:
            render.console.print(f"rejected: {err}")
        if stats.centre_shift:
            render.console.print(
                "online update moved the centres by: "
                + ", ".join(f"{k}: {v:.3f}" for k, v in stats.centre_shift.items())
            )


def _progress_line(stats: Any) -> None:
    """With --json: one JSON line of running totals on stderr after each committed batch."""
    import json
    import sys

    sys.stderr.write(json.dumps({"progress": stats.to_dict()}) + "\n")
    sys.stderr.flush()


def rules(
    run: RunArg = None,
    run_option: RunOpt = None,
    db: Db = DEFAULT_DB,
    sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Print one SQL query per segment, to run on the feature table in your warehouse.",
        ),
    ] = False,
    table: Annotated[str, typer.Option("--table", help="Table name used in the SQL.")] = "features",
    as_json: Json = False,
) -> None:
    """Readable rules that recognise each segment, with precision and recall (and as SQL)."""
    from userseg.store import get_run, load_profiles

    with render.errors(as_json):
        with _open(db) as db_:
            r = get_run(db_, pick_run(run, run_option))
            profiles = load_profiles(db_, r.run_id)
        if not profiles or profiles[0].rule is None:
            from userseg.errors import NotFoundError

            raise NotFoundError(f"run {r.run_id} has no rules (fitted with rules turned off).")
        quoted = '"' + table.replace('"', '""') + '"'
        items = [
            {
                "segment": p.segment,
                "name": p.name,
                **p.rule,
                "sql": f"SELECT user_id FROM {quoted} WHERE {p.rule['where']}",
            }
            for p in profiles
        ]
        stale = r.config.get("features_stale")
        if as_json:
            render.print_json(items)
        elif sql:
            if stale:
                typer.echo(
                    f"-- warning: run {r.run_id} was fitted on old features: "
                    + " ".join(stale["message"].split())
                )
            for it in items:
                typer.echo(
                    # one line whatever the name holds (names from older versions
                    # were not checked): a line break would end the SQL comment
                    f"-- segment {it['segment']}: {' '.join(str(it['name']).split())} "
                    f"(precision {it['precision']:.2f}, recall {it['recall']:.2f})"
                )
                typer.echo(it["sql"] + ";\n")
        else:
            render.console.print(
                render.table(
                    f"Rules of run {r.run_id}",
                    ["#", "segment", "rule", "precision", "recall"],
                    [
                        [
                            it["segment"],
                            it["name"],
                            it["text"],
                            f"{it['precision']:.2f}",
                            f"{it['recall']:.2f}",
                        ]
                        for it in items
                    ],
                    right={"precision", "recall"},
                )
            )
            render.stale_warning(stale, f"run {r.run_id} was fitted on old features: ")


def select(
    db: Db = DEFAULT_DB,
    target: Annotated[
        str | None,
        typer.Option("--target", help="A known outcome column for supervised selection."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Rank the features of the current feature table (supervised when a target is named)."""
    from userseg.features.build import load_features
    from userseg.features.select import select_features
    from userseg.store import feature_freshness, latest_feature_set

    with render.errors(as_json):
        with _open(db) as db_:
            fs = latest_feature_set(db_)
            stale = feature_freshness(db_, fs).to_dict()
            df = load_features(db_, fs)
        if target is not None:  # names are lower-cased at import: Response is response
            from userseg.features.labels import match_column

            target = match_column(target, list(df.columns), "target", "feature")
        y = df.pop(target) if target is not None else None
        result = select_features(df, y).to_dict() | {"features_stale": stale}
        if as_json:
            render.print_json(result)
            return
        render.stale_warning(stale)
        key = "combined" if result["tables"].get("combined") else "unsupervised"
        rows = result["tables"].get(key) or []
        if rows:
            cols = list(rows[0])
            render.console.print(
                render.table(
                    f"Features ranked ({key})", cols, [[_fmt(r[c]) for c in cols] for r in rows]
                )
            )
        render.console.print("kept: " + ", ".join(result["kept"]))
        for f, why in result["dropped"].items():
            render.console.print(f"dropped {f}: {why}")


def _fmt(v: Any) -> str:
    """A table cell: yes/no for flags, 3 significant digits, "–" for a missing value."""
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:
            return "–"
        return "0" if v == 0 else f"{v:.3g}"
    return str(v)


def register(app: typer.Typer) -> None:
    """Add these commands to the ``userseg`` app."""
    app.command()(compare)
    app.command()(drift)
    app.command()(refresh)
    app.command()(stream)
    app.command()(rules)
    app.command()(select)
