"""The ``userseg`` command: a thin shell over :mod:`userseg.pipeline`.

Every command takes ``--db`` (or ``$USERSEG_DB``) and ``--json``; exit status
0 means success, 2 bad input or configuration, 1 a bug in userseg.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from userseg._version import __version__
from userseg.cli import render
from userseg.config import (
    EventMapping,
    FeatureConfig,
    FitConfig,
    PrepareConfig,
    RowPolicy,
    Source,
    UserMapping,
    from_dict,
    load_pipeline,
    parse_date,
)
from userseg.errors import ConfigError

app = typer.Typer(
    name="userseg",
    help="User segmentation: from raw event logs and user tables to named, explained segments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Db = Annotated[
    Path, typer.Option("--db", envvar="USERSEG_DB", help="The userseg database file (DuckDB).")
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON, for scripts.")]
DEFAULT_DB = Path("userseg.duckdb")


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


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _pairs(values: list[str] | None, what: str) -> dict[str, Any]:
    """``key=value`` options; values parsed as numbers or booleans where they look like one."""
    out: dict[str, Any] = {}
    for item in values or []:
        if "=" not in item:
            raise ConfigError(f"{what} expects key=value; got {item!r}.")
        key, raw = item.split("=", 1)
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        out[key.strip()] = value
    return out


def _open(db: Path):
    from userseg.pipeline import open_db

    return open_db(db)


# -- demo -------------------------------------------------------------------------------


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
    as_json: Json = False,
) -> None:
    """Generate realistic e-commerce demo data (and, by default, segment it end to end)."""
    from userseg import demo as demo_mod
    from userseg import pipeline

    with render.errors(as_json):
        t0 = time.perf_counter()
        with render.step(f"generating {users:,} demo users", not as_json):
            paths = demo_mod.write_demo(out, users, seed=seed)
        summary: dict[str, Any] = {
            "files": {k: str(v) for k, v in paths.items()},
            "seconds": {"generate": time.perf_counter() - t0},
        }
        if not run:
            if as_json:
                render.print_json(summary)
            else:
                render.console.print(
                    f"demo data written to {out}/ (events.csv, users.csv, personas.csv)"
                )
            return
        db_path = out / "userseg.duckdb"
        for suffix in ("", ".wal"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        db = pipeline.open_db(db_path)
        try:
            with render.step("importing events.csv", not as_json):
                ev = pipeline.ingest(
                    db,
                    Source(path=str(paths["events"])),
                    kind="events",
                    mapping=demo_mod.EVENT_MAPPING,
                )
            with render.step("importing users.csv", not as_json):
                us = pipeline.ingest(
                    db,
                    Source(path=str(paths["users"])),
                    kind="users",
                    mapping=demo_mod.USER_MAPPING,
                )
            with render.step("building features", not as_json):
                fs = pipeline.features(db)
            with render.progress(not as_json) as bar:
                run_id, seg = pipeline.fit(db, progress=bar)
            with render.step("writing the report", not as_json):
                html, png = pipeline.report(db, run_id, out / "report.html")
        finally:
            db.close()
        summary.update(
            database=str(db_path),
            run_id=run_id,
            report=str(html),
            heatmap=str(png),
            n_events=ev.rows_loaded,
            n_users=fs.n_users,
            segments=[p.to_dict() for p in seg.profiles_],
            k_choice=seg.k_choice_["reason"],
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
        render.console.print(
            f"Report: {html}\nHeatmap: {png}\nDatabase: {db_path}  "
            f"({time.perf_counter() - t0:.1f} s)"
        )


# -- ingest -----------------------------------------------------------------------------


@app.command()
def ingest(
    path: Annotated[
        str | None, typer.Argument(help="File or glob (CSV, Parquet, JSON lines, DuckDB).")
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            "--kind", help="events, users, or auto (events when any event column is mapped)."
        ),
    ] = "auto",
    db: Db = DEFAULT_DB,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Pipeline YAML/TOML whose events/users section maps the columns."
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv, parquet, json, duckdb or sql (default: from the suffix)."
        ),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="CSV delimiter (sniffed when omitted).")
    ] = None,
    header: Annotated[
        bool, typer.Option("--header/--no-header", help="CSV has a header line.")
    ] = True,
    names: Annotated[
        str | None,
        typer.Option("--names", help="Column names of a header-less CSV, comma-separated."),
    ] = None,
    source_table: Annotated[
        str | None, typer.Option("--source-table", help="Table to read from a DuckDB file.")
    ] = None,
    query: Annotated[
        str | None,
        typer.Option("--query", help="Read the result of this SQL query instead of a file."),
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="replace or append (events).")] = "replace",
    user_id: Annotated[str | None, typer.Option("--user-id", help="User id column.")] = None,
    time_col: Annotated[
        str | None, typer.Option("--time", help="Timestamp column (events).")
    ] = None,
    event: Annotated[str | None, typer.Option("--event", help="Event name column.")] = None,
    amount: Annotated[
        str | None, typer.Option("--amount", help="Money column (negative = return).")
    ] = None,
    quantity: Annotated[
        str | None, typer.Option("--quantity", help="Quantity column (amount = quantity × price).")
    ] = None,
    price: Annotated[str | None, typer.Option("--price", help="Unit price column.")] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Product category column.")
    ] = None,
    session: Annotated[str | None, typer.Option("--session", help="Session id column.")] = None,
    rating: Annotated[str | None, typer.Option("--rating", help="Rating column.")] = None,
    order_id: Annotated[
        str | None, typer.Option("--order-id", help="Order/invoice id column.")
    ] = None,
    event_id: Annotated[
        str | None, typer.Option("--event-id", help="Unique event id column (deduplication).")
    ] = None,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="strptime format, e.g. '%d/%m/%Y %H:%M'.")
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option("--columns", help="Users: attribute columns to keep, comma-separated."),
    ] = None,
    exclude: Annotated[
        str | None, typer.Option("--exclude", help="Users: columns to leave out.")
    ] = None,
    categorical: Annotated[
        str | None, typer.Option("--categorical", help="Users: columns to treat as categorical.")
    ] = None,
    on_bad: Annotated[
        str | None,
        typer.Option(
            "--on-bad", help="Bad values: reject, drop or impute (events: drop, users: impute)."
        ),
    ] = None,
    max_bad_fraction: Annotated[
        float, typer.Option("--max-bad-fraction", help="Fail above this share of bad rows.")
    ] = 0.01,
    as_json: Json = False,
) -> None:
    """Import an event log or a user table into the database, validated, in one transaction."""
    from userseg import pipeline

    with render.errors(as_json):
        event_flags = {
            "time": time_col,
            "event": event,
            "amount": amount,
            "quantity": quantity,
            "price": price,
            "category": category,
            "session": session,
            "rating": rating,
            "order_id": order_id,
            "event_id": event_id,
        }
        mapping: EventMapping | UserMapping
        policy: RowPolicy | None = None
        source: Source | None = None
        if config is not None:
            cfg = load_pipeline(config)
            section = kind if kind != "auto" else ("events" if cfg.events else "users")
            if section == "events":
                source, mapping, policy = cfg.events, cfg.event_columns, cfg.event_policy
            else:
                source, mapping, policy = cfg.users, cfg.user_columns, cfg.user_policy
            kind = section
        else:
            if kind == "auto":
                kind = "events" if any(event_flags.values()) else "users"
            if kind == "events":
                mapping = EventMapping(
                    user_id=user_id or "user_id",
                    time=time_col or "timestamp",
                    date_format=date_format,
                    **{k: v for k, v in event_flags.items() if k != "time" and v},
                )
            elif kind == "users":
                mapping = UserMapping(
                    user_id=user_id,
                    columns=_csv(columns),
                    exclude=_csv(exclude) or [],
                    categorical=_csv(categorical),
                    date_format=date_format,
                )
            else:
                raise ConfigError(f"--kind must be events, users or auto; got {kind!r}.")
        if path is not None or query is not None or source is None:
            if path is None and query is None:
                raise ConfigError("give a file to import (PATH), or --query.")
            source = Source(
                path=path,
                format=fmt or ("sql" if query and not path else None),
                delimiter=delimiter,
                header=header,
                names=_csv(names),
                table=source_table,
                query=query,
            )
        if policy is None or on_bad is not None:
            default_bad = "drop" if kind == "events" else "impute"
            policy = from_dict(
                RowPolicy,
                {"on_bad_value": on_bad or default_bad, "max_bad_fraction": max_bad_fraction},
                "policy",
            )
        db_ = _open(db)
        try:
            with render.step(f"importing {source.describe()}", not as_json):
                rep = pipeline.ingest(
                    db_, source, kind=kind, mapping=mapping, policy=policy, mode=mode
                )
        finally:
            db_.close()
        if as_json:
            render.print_json(rep.to_dict())
            return
        render.console.print(
            f"{rep.table}: {rep.rows_loaded:,} of {rep.rows_read:,} rows loaded, "
            f"{rep.users:,} users ({rep.seconds:.1f} s) into {db}"
        )
        t = render.issues_table(rep, "data quality")
        if t is not None:
            render.console.print(t)
        for note in rep.notes:
            render.console.print(f"note: {note}")


# -- features ---------------------------------------------------------------------------


@app.command()
def features(
    db: Db = DEFAULT_DB,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Date (YYYY-MM-DD) recency is measured at; default: the day after the last event.",
        ),
    ] = None,
    session_gap: Annotated[
        float, typer.Option("--session-gap", help="Minutes of inactivity that start a new session.")
    ] = 30.0,
    top_categories: Annotated[
        int,
        typer.Option("--top-categories", help="Category-share features for this many categories."),
    ] = 8,
    smoothing: Annotated[
        float,
        typer.Option(
            "--smoothing",
            help="Prior (in events) shrinking rates and shares toward the population.",
        ),
    ] = 5.0,
    include: Annotated[
        str | None, typer.Option("--include", help="Keep only these features.")
    ] = None,
    exclude: Annotated[
        str | None, typer.Option("--exclude", help="Leave out these features.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Compute per-user features (RFM, activity, funnel, categories, attributes) in SQL."""
    from userseg import pipeline

    with render.errors(as_json):
        cfg = FeatureConfig(
            as_of=parse_date(as_of, "--as-of") if as_of else None,
            session_gap_minutes=session_gap,
            top_categories=top_categories,
            smoothing=smoothing,
            include=_csv(include),
            exclude=_csv(exclude) or [],
        )
        db_ = _open(db)
        try:
            with render.step("building features", not as_json):
                fs = pipeline.features(db_, cfg)
        finally:
            db_.close()
        if as_json:
            render.print_json(fs.to_dict())
            return
        rows = [[f.name, f.kind, f.unit, f.description] for f in fs.features]
        render.console.print(
            render.table(
                f"Feature set {fs.feature_set_id}: {fs.n_users:,} users, as of {fs.as_of}",
                ["feature", "kind", "unit", "meaning"],
                rows,
            )
        )
        for note in fs.notes:
            render.console.print(f"note: {note}")


# -- fit --------------------------------------------------------------------------------


@app.command()
def fit(
    db: Db = DEFAULT_DB,
    k: Annotated[int | None, typer.Option("--k", help="Force the number of segments.")] = None,
    k_min: Annotated[int, typer.Option("--k-min", help="Smallest k tried.")] = 2,
    k_max: Annotated[int, typer.Option("--k-max", help="Largest k tried.")] = 10,
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="kmeans, gmm, dbscan or hdbscan.")
    ] = "kmeans",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Algorithm parameter key=value (repeatable)."),
    ] = None,
    prep: Annotated[
        list[str] | None,
        typer.Option(
            "--prepare", help="Preparation setting key=value, e.g. scale=robust (repeatable)."
        ),
    ] = None,
    feature_set: Annotated[
        int | None, typer.Option("--feature-set", help="Feature set id (default: the latest).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Pipeline file whose fit and prepare sections to use."),
    ] = None,
    previous: Annotated[
        str | None,
        typer.Option(
            "--previous",
            help="Run id (or 'latest') to keep segment ids from: the "
            "same groups keep their id and name.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="A known outcome column (response, churn): select the features that tell it "
            "apart, and leave it out of the clustering.",
        ),
    ] = None,
    stability_runs: Annotated[
        int, typer.Option("--stability-runs", help="Subsample refits for stability (0: skip).")
    ] = 20,
    as_json: Json = False,
) -> None:
    """Segment the users; k chosen by silhouette, Calinski-Harabasz, Davies-Bouldin."""
    from userseg import pipeline
    from userseg.store import get_matching, get_run

    with render.errors(as_json):
        if config is not None:
            cfg = load_pipeline(config)
            fit_cfg, prep_cfg = cfg.fit, cfg.prepare
        else:
            fit_cfg = from_dict(
                FitConfig,
                {
                    "algorithm": algorithm,
                    "k": k,
                    "k_min": k_min,
                    "k_max": k_max,
                    "random_state": seed,
                    "params": _pairs(param, "--param"),
                    "target": target,
                    "stability_runs": stability_runs,
                },
                "fit",
            )
            prep_cfg = from_dict(PrepareConfig, _pairs(prep, "--prepare"), "prepare")
        db_ = _open(db)
        try:
            with render.progress(not as_json) as bar:
                run_id, seg = pipeline.fit(
                    db_,
                    fit_cfg,
                    prep_cfg,
                    feature_set_id=feature_set,
                    progress=bar,
                    previous_run=previous,
                )
            run = get_run(db_, run_id)
            matching = get_matching(db_, run_id)
        finally:
            db_.close()
        if as_json:
            render.print_json(
                run.to_dict()
                | {"segments": [p.to_dict() for p in seg.profiles_], "matching": matching}
            )
            return
        render.console.print(
            render.segments_table(
                seg.profiles_, f"Run {run_id}: {seg.n_segments_} segments of {run.n_users:,} users"
            )
        )
        m = seg.metrics_
        if m.get("silhouette") == m.get("silhouette"):
            ci = (
                ""
                if m.get("silhouette_exact")
                else (f" [{m['silhouette_low']:.3f}, {m['silhouette_high']:.3f}]")
            )
            render.console.print(
                f"silhouette {m['silhouette']:.3f}{ci} · Calinski-Harabasz "
                f"{m['calinski_harabasz']:.1f} · Davies-Bouldin {m['davies_bouldin']:.3f}"
            )
        render.console.print(f"Why {seg.n_segments_}: {seg.k_choice_['reason']}")
        structure = seg.metrics_.get("structure")
        if structure is not None:
            label = "" if structure["has_structure"] else "[bold yellow]warning:[/] "
            render.console.print(f"{label}{structure['verdict']}", markup=True)
        if seg.metrics_.get("stability"):
            render.console.print(seg.metrics_["stability"]["summary"])
        if matching is not None:
            from userseg.cli.ops_cmds import _matching_tables

            _matching_tables(matching)
        render.console.print(f"run id: {run_id}")


# -- report, runs, segments, rename -------------------------------------------------------


@app.command()
def report(
    run: Annotated[int | None, typer.Argument(help="Run id (default: the latest).")] = None,
    db: Db = DEFAULT_DB,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path(
        "userseg-report.html"
    ),
    heatmap: Annotated[
        Path | None,
        typer.Option("--heatmap", help="PNG heatmap path (default: beside the report)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Write a run's self-contained HTML report and its segment × feature heatmap (PNG)."""
    from userseg import pipeline

    with render.errors(as_json):
        db_ = _open(db)
        try:
            with render.step("writing the report", not as_json):
                html, png = pipeline.report(db_, run, out, heatmap=heatmap)
        finally:
            db_.close()
        if as_json:
            render.print_json({"report": str(html), "heatmap": str(png) if png else None})
        else:
            render.console.print(f"Report: {html}\nHeatmap: {png}")


@app.command()
def runs(db: Db = DEFAULT_DB, as_json: Json = False) -> None:
    """List the stored runs, newest first."""
    from userseg.store import list_runs

    with render.errors(as_json):
        db_ = _open(db)
        try:
            items = list_runs(db_)
        finally:
            db_.close()
        if as_json:
            render.print_json([r.to_dict() for r in items])
            return
        rows = [
            [
                r.run_id,
                f"{r.created_at:%Y-%m-%d %H:%M}",
                r.algorithm,
                r.n_segments,
                f"{r.n_users:,}",
                f"{r.metrics.get('silhouette', float('nan')):.3f}",
                r.data_fingerprint,
            ]
            for r in items
        ]
        render.console.print(
            render.table(
                None,
                ["run", "created", "algorithm", "segments", "users", "silhouette", "data"],
                rows,
                right={"run", "segments", "users", "silhouette"},
            )
        )
        if not items:
            render.console.print("no runs yet: run `userseg fit`.")


@app.command()
def segments(
    run: Annotated[int | None, typer.Argument(help="Run id (default: the latest).")] = None,
    db: Db = DEFAULT_DB,
    as_json: Json = False,
) -> None:
    """Show a run's segments: name, size, share and what sets each apart."""
    from userseg.store import get_run, load_profiles

    with render.errors(as_json):
        db_ = _open(db)
        try:
            r = get_run(db_, run)
            profiles = load_profiles(db_, r.run_id)
        finally:
            db_.close()
        if as_json:
            render.print_json([p.to_dict() for p in profiles])
        else:
            render.console.print(render.segments_table(profiles, f"Run {r.run_id}"))


@app.command()
def rename(
    run: Annotated[int, typer.Argument(help="Run id.")],
    segment: Annotated[int, typer.Argument(help="Segment number.")],
    name: Annotated[str, typer.Argument(help="The new name.")],
    db: Db = DEFAULT_DB,
    as_json: Json = False,
) -> None:
    """Give a segment a name of your own (kept with the run)."""
    from userseg.store import rename_segment

    with render.errors(as_json):
        db_ = _open(db)
        try:
            rename_segment(db_, run, segment, name)
        finally:
            db_.close()
        if as_json:
            render.print_json({"run_id": run, "segment": segment, "name": name.strip()})
        else:
            render.console.print(f"run {run}, segment {segment}: {name.strip()!r}")


# -- assign -----------------------------------------------------------------------------


@app.command()
def assign(
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT", help="Users to score: one row per user with the run's feature columns."
        ),
    ],
    run: Annotated[int | None, typer.Option("--run", help="Run id (default: the latest).")] = None,
    db: Db = DEFAULT_DB,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the assignments here (.csv or .parquet) instead of printing them."
        ),
    ] = None,
    user_id: Annotated[
        str | None, typer.Option("--user-id", help="User id column of INPUT.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Score new users with a stored model: segment, name and distance for each."""
    from userseg import pipeline

    with render.errors(as_json):
        db_ = _open(db)
        try:
            result = pipeline.assign(db_, run, Source(path=input_path), user_id=user_id)
        finally:
            db_.close()
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            if out.suffix.lower() == ".parquet":
                result.to_parquet(tmp, index=False)
            elif out.suffix.lower() == ".csv":
                result.to_csv(tmp, index=False)
            else:
                raise ConfigError(f"--out must end in .csv or .parquet; got {out.name!r}.")
            tmp.replace(out)
        if as_json:
            render.print_json(
                {"assignments": result.to_dict(orient="records")}
                if out is None
                else {"written": str(out), "rows": len(result)}
            )
        elif out is not None:
            render.console.print(f"{len(result):,} users scored → {out}")
        else:
            rows = [
                [r.user_id, r.segment, r.name, f"{r.distance:.3f}"]
                for r in result.head(50).itertuples()
            ]
            render.console.print(
                render.table(
                    None,
                    ["user", "segment", "name", "distance"],
                    rows,
                    right={"segment", "distance"},
                )
            )
            if len(result) > 50:
                render.console.print(f"… {len(result) - 50:,} more; use --out or --json.")


# -- run (pipeline file) ------------------------------------------------------------------


@app.command("run")
def run_cmd(
    pipeline_file: Annotated[
        Path, typer.Argument(metavar="PIPELINE", help="YAML or TOML pipeline file.")
    ],
    as_json: Json = False,
) -> None:
    """Run ingest → features → fit → report from one pipeline file."""
    from userseg import pipeline
    from userseg.explain.profiles import SegmentProfile

    with render.errors(as_json):
        cfg = load_pipeline(pipeline_file)
        with render.progress(not as_json) as bar:
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
        render.console.print(f"Report: {summary['report']}\nDatabase: {summary['database']}")


def _register_more() -> None:
    from userseg.cli import ops_cmds

    ops_cmds.register(app)


_register_more()
