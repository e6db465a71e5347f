"""Commands that segment and show: ``fit``, ``report``, ``runs``, ``segments``, ``rename``,
``assign``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from userseg.cli import render
from userseg.cli.options import (
    DEFAULT_DB,
    DateFormat,
    Db,
    Json,
    MinGroup,
    RunArg,
    RunOpt,
    check_db_exists,
    config_help,
    given,
    open_db,
    pairs,
    pick_run,
    with_flags,
)
from userseg.config import PrepareConfig, Source
from userseg.errors import ConfigError
from userseg.jobs.pipeline_config import load_pipeline
from userseg.segment.params import FIT, FitConfig, cli_words, speaking

# -- fit --------------------------------------------------------------------------------


# The fit options default to None, "not given": the values come from FitConfig (one
# declaration, userseg.segment.params.FIT), so a flag overrides a pipeline file only when given.
def fit(
    ctx: typer.Context,
    db: Db = DEFAULT_DB,
    k: Annotated[int | None, typer.Option("--k", help=FIT["n_segments"].cli_help())] = None,
    k_min: Annotated[int | None, typer.Option("--k-min", help=FIT["k_min"].cli_help())] = None,
    k_max: Annotated[int | None, typer.Option("--k-max", help=FIT["k_max"].cli_help())] = None,
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", help=FIT["algorithm"].cli_help())
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help=FIT["random_state"].cli_help())] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help=FIT["algorithm_params"].cli_help()),
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
        typer.Option(
            "--config", help=config_help("fit and prepare sections (and database) to use")
        ),
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
            help="A known outcome column (response, churn; any case), or campaign:NAME (its "
            "treated users' conversion in the campaign window): select the features "
            "that tell it apart, leave it out of the clustering, and show its rate (or mean) "
            "per segment with a 95% interval and the lift.",
        ),
    ] = None,
    stability_runs: Annotated[
        int | None,
        typer.Option("--stability-runs", help=FIT["stability_runs"].cli_help()),
    ] = None,
    rebuild_features: Annotated[
        bool,
        typer.Option(
            "--rebuild-features",
            help="When the events or users changed after the feature set was built, build "
            "the features again (with its settings) and fit those; without it such a fit "
            "is on the old features, with a warning.",
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="embedded (DuckDB on this machine) or spark: the events of the --config "
            "pipeline file read from Parquet by Spark (its spark section: master, "
            "partitions; docs/scale.md).",
        ),
    ] = "embedded",
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="A ready segmentation instead of a clustering: 'value' puts each customer "
            "in a value tier (high value, potential high value, at risk, low value) by the "
            "value model and stated thresholds (docs/value.md).",
        ),
    ] = None,
    high_quantile: Annotated[
        float | None,
        typer.Option(
            "--high-quantile",
            help="--preset value: 'high' is at or above this quantile of spend so far and of "
            "expected value [default: 0.8, the top fifth].",
        ),
    ] = None,
    p_alive_threshold: Annotated[
        float | None,
        typer.Option(
            "--p-alive-threshold",
            help="--preset value: a high spender below this P(alive) is 'at risk' [default: 0.5].",
        ),
    ] = None,
    past_value_min: Annotated[
        float | None,
        typer.Option(
            "--past-value-min",
            help="--preset value: spend so far (net of refunds) that makes high value, in "
            "money, instead of the quantile.",
        ),
    ] = None,
    predicted_value_min: Annotated[
        float | None,
        typer.Option(
            "--predicted-value-min",
            help="--preset value: expected value (365 days) that makes potential high value, "
            "in money, instead of the quantile.",
        ),
    ] = None,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(
            "--dp-epsilon",
            help="Differentially private k-means at this epsilon (> 0; needs --k): charged to "
            "the data set's privacy budget, refused when it is spent (docs/privacy.md).",
        ),
    ] = None,
    dp_bounds: Annotated[
        str | None,
        typer.Option(
            "--dp-bounds",
            help="--dp-epsilon: the declared range 'lo,hi' of every prepared (standardised) "
            "feature; values outside are clipped [default: -4,4].",
        ),
    ] = None,
    dp_budget: Annotated[
        float | None,
        typer.Option(
            "--dp-budget",
            help="--dp-epsilon: the data set's total privacy budget, set on its first DP fit "
            "[default: 3.0].",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Segment the users; k chosen by silhouette, Calinski-Harabasz, Davies-Bouldin."""
    from userseg.jobs import pipeline
    from userseg.store import get_matching, get_run

    words = cli_words({p: given(ctx, p) for p in ctx.params}, from_file=config is not None)
    tiers = {
        "high_quantile": high_quantile,
        "p_alive_threshold": p_alive_threshold,
        "past_value_min": past_value_min,
        "predicted_value_min": predicted_value_min,
    }
    dp = {"epsilon": dp_epsilon, "bounds": dp_bounds, "total": dp_budget}
    if any(v is not None for v in dp.values()):
        _fit_dp(ctx, db, k, seed, dp, feature_set, as_json)
        return
    if preset is not None or any(v is not None for v in tiers.values()):
        _fit_preset(ctx, db, preset, tiers, feature_set, as_json)
        return
    with render.errors(as_json), speaking(words):
        if engine not in ("embedded", "spark"):
            raise ConfigError(f"--engine {engine!r} should be 'embedded' or 'spark'.")
        cfg = load_pipeline(config) if config is not None else None
        if cfg is not None:
            flags = {"database": ("db", str(db)), "engine": ("engine", engine)}
            cfg = with_flags(ctx, cfg, flags, str(config))
            db = Path(cfg.database)
        use_spark = (cfg.engine if cfg is not None else engine) == "spark"
        if use_spark and cfg is None:
            raise ConfigError(
                "--engine spark reads the events a pipeline file names: pass --config "
                "PIPELINE with events.path (Parquet) and a spark section (docs/scale.md)."
            )
        if use_spark and (feature_set is not None or previous is not None or rebuild_features):
            raise ConfigError(
                "--engine spark builds its features from the events each time: --feature-set, "
                "--previous and --rebuild-features are for the embedded engine."
            )
        fit_cfg = with_flags(
            ctx,
            cfg.fit if cfg else FitConfig(),
            {
                "algorithm": ("algorithm", algorithm),
                "k": ("k", k),
                "k_min": ("k_min", k_min),
                "k_max": ("k_max", k_max),
                "random_state": ("seed", seed),
                "params": ("param", pairs(param, "--param")),
                "target": ("target", target),
                "stability_runs": ("stability_runs", stability_runs),
            },
            "fit",
        )
        prep_cfg = with_flags(
            ctx,
            cfg.prepare if cfg else PrepareConfig(),
            {key: ("prep", value) for key, value in pairs(prep, "--prepare").items()},
            "prepare",
        )
        if use_spark:
            from userseg.engine.spark import fit_spark

            cfg.fit, cfg.prepare = fit_cfg, prep_cfg
            with render.progress(not as_json) as bar:
                result = fit_spark(cfg, progress=bar)
            run_id, seg = result["run_id"], result["segmenter"]
            with open_db(db) as db_:
                run = get_run(db_, run_id)
            matching = None
        else:
            with open_db(db) as db_:
                with render.progress(not as_json) as bar:
                    run_id, seg = pipeline.fit(
                        db_,
                        fit_cfg,
                        prep_cfg,
                        feature_set_id=feature_set,
                        progress=bar,
                        previous_run=previous,
                        rebuild_features=rebuild_features,
                    )
                run = get_run(db_, run_id)
                matching = get_matching(db_, run_id)
        stale = run.config.get("features_stale")
        rebuilt = run.config.get("features_rebuilt")
        if as_json:
            render.print_json(
                run.to_dict()
                | {
                    "segments": [p.to_dict() for p in seg.profiles_],
                    "matching": matching,
                    "features_stale": stale,
                    "features_rebuilt": rebuilt,
                    "outcome": seg.outcome_,
                    "warnings": seg.warnings_,
                }
            )
            return
        _show_fit(run, seg, matching, stale, rebuilt)


#: fit options that choose or check the model by reading the features: neither a DP fit (it
#: would read the data outside the budget) nor a preset (its tiers are rules) takes them.
_CHOOSES_FROM_DATA = (
    "k_min",
    "k_max",
    "algorithm",
    "param",
    "prep",
    "config",
    "previous",
    "target",
    "stability_runs",
    "rebuild_features",
    "engine",
)
_NOT_WITH_DP = (*_CHOOSES_FROM_DATA, "preset")


def _refuse_given(ctx: typer.Context, names: tuple[str, ...], before: str, after: str) -> None:
    """A ConfigError ``before`` + the flags of ``names`` given on the command line + ``after``."""
    clash = [n for n in names if given(ctx, n)]
    if clash:
        flags = ", ".join("--" + n.replace("_", "-") for n in clash)
        raise ConfigError(f"{before}{flags}{after}")


def _fit_dp(
    ctx: typer.Context,
    db: Path,
    k: int | None,
    seed: int | None,
    dp: dict[str, Any],
    feature_set: int | None,
    as_json: bool,
) -> None:
    """``fit --dp-epsilon``: DP k-means stored as a run, charged to the budget (jobs.dp_fit)."""
    from userseg.jobs.dp_fit import check_epsilon, fit_dp, parse_bounds
    from userseg.store import get_run

    with render.errors(as_json):
        if dp["epsilon"] is None:
            raise ConfigError("--dp-bounds and --dp-budget apply to a DP fit; add --dp-epsilon.")
        epsilon = check_epsilon(dp["epsilon"])
        bounds = parse_bounds(dp["bounds"])
        _refuse_given(
            ctx,
            _NOT_WITH_DP,
            "--dp-epsilon fits DP k-means at a fixed --k with the default preparation: ",
            " do not apply to it (they would read the data outside the budget).",
        )
        if k is None:
            raise ConfigError("--dp-epsilon needs a fixed --k: choosing k would spend more.")
        check_db_exists(db)
        with open_db(db) as db_:
            result = fit_dp(
                db_,
                k=k,
                epsilon=epsilon,
                bounds=bounds,
                total=dp["total"],
                feature_set_id=feature_set,
                random_state=0 if seed is None else seed,
            )
            run = get_run(db_, result.run_id)
        if as_json:
            render.print_json(
                run.to_dict()
                | {
                    "segments": [p.to_dict() for p in result.segmenter.profiles_],
                    "privacy_budget": result.budget.to_dict(),
                    "utility": result.utility,
                }
            )
            return
        _show_fit(run, result.segmenter, None, None, None)
        u, b = result.utility, result.budget
        print(
            f"utility cost: DP inertia {u['dp_inertia']:.4g} vs non-private k-means "
            f"{u['plain_inertia']:.4g} on the same prepared data, ratio {u['utility_ratio']:.3f}"
        )
        print(
            f"privacy budget of {b.dataset}: spent {b.spent:g} of {b.total:g}, {b.remaining:g} left"
        )


#: The ready segmentations of ``fit --preset``.
PRESETS = ("value",)
#: fit options a preset sets itself (a preset run is not a clustering of the features).
_NOT_WITH_PRESET = ("k", *_CHOOSES_FROM_DATA, "seed")


def _fit_preset(
    ctx: typer.Context,
    db: Path,
    preset: str | None,
    tiers: dict[str, float | None],
    feature_set: int | None,
    as_json: bool,
) -> None:
    """``fit --preset value``: the value tiers stored as a run (pipeline.fit_value_tiers)."""
    from userseg.jobs import pipeline
    from userseg.store import get_run

    with render.errors(as_json):
        if preset is None:
            flags = ", ".join("--" + k.replace("_", "-") for k, v in tiers.items() if v is not None)
            raise ConfigError(f"{flags} set the thresholds of --preset value; add --preset value.")
        if preset not in PRESETS:
            raise ConfigError(f"--preset {preset!r} is not one of {', '.join(PRESETS)}.")
        _refuse_given(
            ctx,
            _NOT_WITH_PRESET,
            f"--preset {preset} is a ready segmentation (its tiers are rules, not a clustering): ",
            " do not apply to it; drop them.",
        )
        with open_db(db) as db_:
            with render.progress(not as_json) as bar:
                run_id, seg = pipeline.fit_value_tiers(
                    db_,
                    feature_set_id=feature_set,
                    progress=bar,
                    **{k: v for k, v in tiers.items() if v is not None},
                )
            run = get_run(db_, run_id)
        if as_json:
            render.print_json(
                run.to_dict()
                | {"segments": [p.to_dict() for p in seg.profiles_], "warnings": seg.warnings_}
            )
            return
        render.console.print(
            render.segments_table(
                seg.profiles_, f"Run {run_id}: value tiers of {run.n_users:,} customers"
            )
        )
        if (values := render.value_table(seg.profiles_)) is not None:
            render.console.print(values)
        render.console.print(f"Thresholds: {seg.k_choice_['reason']}")
        for note in seg.notes_:
            render.console.print(f"note: {note}")
        render.console.print(f"run id: {run_id}")


def _show_fit(run: Any, seg: Any, matching: Any, stale: Any, rebuilt: int | None) -> None:
    """A fitted run for people: segments, metrics, why this k, verdicts, matches."""
    run_id = run.run_id
    render.stale_warning(stale)
    if rebuilt is not None:
        render.console.print(
            f"features rebuilt from the data now: feature set {rebuilt} ({run.n_users:,} users)"
        )
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
    if (values := render.value_table(seg.profiles_)) is not None:
        render.console.print(values)
    render.console.print(f"Why {seg.n_segments_}: {seg.k_choice_['reason']}")
    if seg.outcome_ is not None:
        render.console.print(render.outcome_line(seg.outcome_))
    render.verdicts(seg.metrics_)
    if matching is not None:
        from userseg.cli.render import print_matching as _matching_tables

        _matching_tables(matching)
    render.console.print(f"run id: {run_id}")


# -- report, runs, segments, rename -------------------------------------------------------


def report(
    run: RunArg = None,
    run_option: RunOpt = None,
    db: Db = DEFAULT_DB,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path(
        "userseg-report.html"
    ),
    heatmap: Annotated[
        Path | None,
        typer.Option("--heatmap", help="PNG heatmap path (default: beside the report)."),
    ] = None,
    min_group: MinGroup = 10,
    as_json: Json = False,
) -> None:
    """Write a run's self-contained HTML report and its segment × feature heatmap (PNG)."""
    from userseg.jobs import pipeline

    with render.errors(as_json):
        run = pick_run(run, run_option)
        with open_db(db) as db_, render.step("writing the report", not as_json):
            html, png = pipeline.report(db_, run, out, heatmap=heatmap, min_group=min_group)
        if as_json:
            render.print_json({"report": str(html), "heatmap": str(png) if png else None})
        else:
            render.console.print(f"Report: {html}\nHeatmap: {png}")


def runs(db: Db = DEFAULT_DB, as_json: Json = False) -> None:
    """List the stored runs, newest first."""
    from userseg.store import list_runs

    with render.errors(as_json):
        with open_db(db) as db_:
            items = list_runs(db_)
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


def segments(
    run: RunArg = None,
    run_option: RunOpt = None,
    db: Db = DEFAULT_DB,
    min_group: MinGroup = 10,
    as_json: Json = False,
) -> None:
    """Show a run's segments: name, size, share and what sets each apart.

    Segments and category cells of fewer than --min-group users are not described.
    """
    from userseg.explain.small_groups import hide_small_groups
    from userseg.store import get_run, load_profiles

    with render.errors(as_json):
        with open_db(db) as db_:
            r = get_run(db_, pick_run(run, run_option))
            profiles = load_profiles(db_, r.run_id)
        shown = hide_small_groups(profiles, min_group)
        if as_json:
            render.print_json(shown.profiles)
        else:
            hidden = set(shown.segments)
            rows = [
                dataclasses.replace(p, size=shown.marker, share=shown.marker, distinctions=[])
                if p.segment in hidden
                else p
                for p in profiles
            ]
            render.console.print(render.segments_table(rows, f"Run {r.run_id}"))
            if hidden or shown.cells:
                render.console.print(f"note: {shown.note()}")
            if (values := render.value_table(profiles)) is not None:
                render.console.print(values)
            render.stale_warning(
                r.config.get("features_stale"), f"run {r.run_id} was fitted on old features: "
            )


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
        with open_db(db) as db_:
            rename_segment(db_, run, segment, name)
        if as_json:
            render.print_json({"run_id": run, "segment": segment, "name": name.strip()})
        else:
            render.console.print(f"run {run}, segment {segment}: {name.strip()!r}")


# -- assign -----------------------------------------------------------------------------


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
    date_format: DateFormat = None,
    as_json: Json = False,
) -> None:
    """Score new users with a stored model: segment, name and distance for each.

    INPUT has one row a user with the model's features (as `userseg features` built
    them); a user table's date columns may come as imported (`signup_date`), and are
    measured in days at the feature set's as-of date, read in the format the import
    used (`ingest --date-format`) unless --date-format names another.
    """
    from userseg.jobs import pipeline

    with render.errors(as_json):
        with open_db(db) as db_:
            result = pipeline.assign(
                db_, run, Source(path=input_path), user_id=user_id, date_format=date_format
            )
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


def register(app: typer.Typer) -> None:
    """Add these commands to the ``userseg`` app."""
    for command in (fit, report, runs, segments, rename, assign):
        app.command()(command)
