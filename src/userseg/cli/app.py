"""The ``userseg`` command: a thin shell over :mod:`userseg.jobs.pipeline`.

Every command takes ``--db`` (or ``$USERSEG_DB``) and ``--json``; exit status
0 means success, 2 bad input or configuration, 1 a bug in userseg.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from userseg._version import __version__
from userseg.cli import (
    activate_cmds,
    data_cmds,
    model_cmds,
    ops_cmds,
    privacy_cmds,
    recommend_cmds,
    render,
    serve_cmds,
    value_cmds,
)
from userseg.cli.options import Json
from userseg.config import EventMapping, Source, UserMapping
from userseg.errors import ConfigError
from userseg.jobs.pipeline_config import load_pipeline

app = typer.Typer(
    name="userseg",
    help="User segmentation: from raw event logs and user tables to named, explained segments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"userseg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """User segmentation: from raw event logs and user tables to named, explained segments."""


# -- demo -------------------------------------------------------------------------------


def _check_scenario(scenario: str, text: bool) -> None:
    """Refuse an unknown scenario, or reviews for another scenario than the shop."""
    from userseg import scenarios as scenarios_mod

    if scenario != "shop" and scenario not in scenarios_mod.SCENARIOS:
        raise ConfigError(
            f"--scenario {scenario!r} is not one of shop, "
            f"{', '.join(sorted(scenarios_mod.SCENARIOS))}."
        )
    if text and scenario != "shop":
        raise ConfigError(
            f"--text writes reviews for the shop scenario only; not for {scenario!r}."
        )


def _write_demo_files(
    scenario: str, out: Path, users: int, seed: int, text: bool
) -> tuple[dict[str, Path], tuple[EventMapping, UserMapping]]:
    """The scenario's generated files and the mappings that import them."""
    from userseg import demo as demo_mod
    from userseg import scenarios as scenarios_mod

    if scenario != "shop":
        paths = scenarios_mod.write(scenario, out, users, seed=seed)
        return paths, (scenarios_mod.data.EVENT_MAPPING, scenarios_mod.data.USER_MAPPING)
    paths = demo_mod.write_demo(out, users, seed=seed, text=text)
    events = demo_mod.EVENT_MAPPING
    if text:
        events = dataclasses.replace(events, text="review")
    return paths, (events, demo_mod.USER_MAPPING)


@app.command()
def demo(
    users: Annotated[int, typer.Option("--users", help="Number of simulated users.")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the simulation.")] = 0,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the data, database and report.")
    ] = Path("userseg-demo"),
    run: Annotated[
        bool, typer.Option("--run/--no-run", help="Also run the whole pipeline on it.")
    ] = True,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="shop (e-commerce), bank (risk tiers), clinic (patient risk), social (interest "
            "groups) or travel (preference groups); each with its playbook of actions.",
        ),
    ] = "shop",
    text: Annotated[
        bool,
        typer.Option(
            "--text/--no-text",
            help="Add reviews whose topic and tone follow the personas (column review), "
            "imported as text features.",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Generate realistic demo data (and, by default, segment it end to end)."""
    from userseg import scenarios as scenarios_mod
    from userseg.jobs import pipeline

    with render.errors(as_json):
        _check_scenario(scenario, text)
        playbook = scenarios_mod.load_playbook(scenarios_mod.playbook_path(scenario))
        t0 = time.perf_counter()
        with render.step(f"generating {users:,} demo users", not as_json):
            paths, mappings = _write_demo_files(scenario, out, users, seed, text)
        summary: dict[str, Any] = {
            "files": {k: str(v) for k, v in paths.items()},
            "seconds": {"generate": time.perf_counter() - t0},
        }
        if not run:
            if as_json:
                render.print_json(summary)
            else:
                names = ", ".join(p.name for p in paths.values())
                render.console.print(f"demo data written to {out}/ ({names})")
            return
        db_path = out / "userseg.duckdb"
        for suffix in ("", ".wal"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        with pipeline.open_db(db_path) as db:
            with render.step("importing events.csv", not as_json):
                ev = pipeline.ingest(
                    db,
                    Source(path=str(paths["events"])),
                    kind="events",
                    mapping=mappings[0],
                )
            with render.step("importing users.csv", not as_json):
                us = pipeline.ingest(
                    db,
                    Source(path=str(paths["users"])),
                    kind="users",
                    mapping=mappings[1],
                )
            with render.step("building features", not as_json):
                fs = pipeline.features(db)
            with render.progress(not as_json) as bar:
                run_id, seg = pipeline.fit(db, progress=bar)
            with render.step("writing the report", not as_json):
                html, png = pipeline.report(db, run_id, out / "report.html")
        summary.update(
            database=str(db_path),
            run_id=run_id,
            report=str(html),
            heatmap=str(png),
            n_events=ev.rows_loaded,
            n_users=fs.n_users,
            segments=[p.to_dict() for p in seg.profiles_],
            k_choice=seg.k_choice_["reason"],
            scenario=scenario,
            playbook=list(scenarios_mod.match_playbook(playbook, seg.profiles_).values()),
        )
        summary["seconds"]["total"] = time.perf_counter() - t0
        if as_json:
            render.print_json(summary)
            return
        for rep, title in ((ev, "events.csv: data quality"), (us, "users.csv: data quality")):
            t = render.issues_table(rep, title)
            if t is not None:
                render.console.print(t)
        render.console.print(
            render.segments_table(
                seg.profiles_, f"Run {run_id}: {seg.n_segments_} segments of {fs.n_users:,} users"
            )
        )
        render.console.print(f"Why {seg.n_segments_}: {seg.k_choice_['reason']}")
        render.verdicts(seg.metrics_)
        plays = [
            [p["segment"], p["name"], p["play"], ", ".join(a["type"] for a in p["actions"])]
            for p in summary["playbook"]
        ]
        render.console.print(
            render.table(
                f"Playbook ({scenario}): suggested actions",
                ["#", "segment", "play", "actions"],
                plays,
                right={"#"},
            )
        )
        render.console.print(
            f"Report: {html}\nHeatmap: {png}\nDatabase: {db_path}  "
            f"({time.perf_counter() - t0:.1f} s)"
        )


data_cmds.register(app)
model_cmds.register(app)


# -- run (pipeline file) ------------------------------------------------------------------


@app.command("run")
def run_cmd(
    pipeline_file: Annotated[
        Path, typer.Argument(metavar="PIPELINE", help="YAML or TOML pipeline file.")
    ],
    as_json: Json = False,
) -> None:
    """Run ingest → features → fit → report from one pipeline file."""
    from userseg.explain.profiles import SegmentProfile
    from userseg.jobs import pipeline
    from userseg.segment.params import file_words, speaking

    # a parameter is named as the file names it (fit.k), whichever step refuses it
    with render.errors(as_json), speaking(file_words()):
        cfg = load_pipeline(pipeline_file)
        with render.progress(not as_json) as bar:
            if cfg.engine == "spark":
                from userseg.engine.spark import run_spark_pipeline

                summary = run_spark_pipeline(cfg, progress=bar)
            else:
                summary = pipeline.run_pipeline(cfg, progress=bar)
        if as_json:
            render.print_json(summary)
            return
        for rep in summary["ingests"]:
            t = render.issues_table(rep, f"{Path(rep['source']).name}: data quality")
            if t is not None:
                render.console.print(t)
        profiles = [SegmentProfile.from_dict(p) for p in summary["segments"]]
        run_ = summary["run"]
        render.console.print(
            render.segments_table(
                profiles,
                f"Run {run_['run_id']}: {run_['n_segments']} segments of {run_['n_users']:,} users",
            )
        )
        render.console.print(f"Why {run_['n_segments']}: {run_['k_choice'].get('reason', '')}")
        render.verdicts(run_["metrics"])
        render.console.print(f"Report: {summary['report']}\nDatabase: {summary['database']}")


ops_cmds.register(app)
serve_cmds.register(app)
value_cmds.register(app)
activate_cmds.register(app)
recommend_cmds.register(app)
privacy_cmds.register(app)
