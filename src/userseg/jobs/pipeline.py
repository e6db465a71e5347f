"""The pipeline steps over the userseg database: ingest → features → fit → report, and assign.

Each function is one step of the command line (``userseg ingest``, ``features``,
``fit``, ``report``, ``assign``, ``run``) with the same power from Python:

>>> from userseg import demo                                         # doctest: +SKIP
>>> from userseg.jobs import pipeline                                # doctest: +SKIP
>>> paths = demo.write_demo("demo-data", n_users=5000)               # doctest: +SKIP
>>> db = pipeline.open_db("shop.duckdb")                             # doctest: +SKIP
>>> pipeline.ingest(db, Source(path=paths["events"]), kind="events",
...                 mapping=demo.EVENT_MAPPING)                      # doctest: +SKIP
>>> fs = pipeline.features(db)                                       # doctest: +SKIP
>>> run_id, seg = pipeline.fit(db)                                   # doctest: +SKIP
>>> pipeline.report(db, run_id, "report.html")                      # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from userseg.config import (
    EventMapping,
    FeatureConfig,
    PrepareConfig,
    RowPolicy,
    Source,
    UserMapping,
    from_dict,
)
from userseg.errors import ConfigError, DataError
from userseg.explain.report import ReportInput, matching_section, write_report
from userseg.explain.small_groups import DEFAULT_MIN_GROUP, hide_small_groups
from userseg.features.build import FeatureSet, build_features, load_features
from userseg.features.text import text_weights
from userseg.io.database import Database
from userseg.io.ingest import IngestProgress, IngestReport, ingest_events, ingest_users
from userseg.io.private import PrivacyOptions
from userseg.jobs.pipeline_config import PipelineConfig
from userseg.monitor.matching import Matching, match_segments
from userseg.segment.params import FitConfig
from userseg.segment.registry import get_family
from userseg.segment.rows import read_feature_rows
from userseg.segment.segmenter import Segmenter
from userseg.store import (
    feature_freshness,
    feature_set_config,
    get_feature_set,
    get_matching,
    get_run,
    import_date_format,
    latest_feature_set,
    load_assignments,
    load_model,
    load_profiles,
    open_database,
    record_feature_set,
    record_ingest,
    save_run,
    source_state,
)
from userseg.store.audit import record_action
from userseg.store.lineage import import_report
from userseg.store.privacy import load_suppression, save_contacts
from userseg.store.runs import count_runs, next_segment_id, set_run_timings

__all__ = [
    "assign",
    "features",
    "fit",
    "fit_value_tiers",
    "ingest",
    "ingest_config",
    "open_db",
    "read_scoring_input",
    "report",
    "run_pipeline",
]

Progress = Callable[[str, int, int], None]


def open_db(path: str | Path, *, read_only: bool = False) -> Database:
    """Open (creating and migrating when needed) the userseg database."""
    return open_database(path, read_only=read_only)


def settings_dict(obj: Any) -> Any:
    """A settings dataclass as the dict a run or feature set records (anything else as is)."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def ingest(
    db: Database,
    source: Source,
    *,
    kind: str = "events",
    mapping: EventMapping | UserMapping | None = None,
    policy: RowPolicy | None = None,
    table: str | None = None,
    mode: str = "replace",
    progress: IngestProgress | None = None,
    privacy: PrivacyOptions | None = None,
) -> IngestReport:
    """Import an event log (``kind="events"``) or a user table (``"users"``) and log the import.

    ``progress(stage, fraction, rows_per_second)`` is called while the source is read.
    ``privacy`` holds the secret key and ``--allow-pii`` overrides (default: the key of
    ``USERSEG_SECRET_KEY`` when set); forgotten people are left out.
    """
    if kind not in ("events", "users"):
        raise ConfigError(f"kind must be 'events' or 'users'; got {kind!r}.")
    privacy = privacy or PrivacyOptions.from_key_file()
    with db.transaction(step="ingest"):  # the data and its import record commit together
        salt = load_suppression(db)
        if salt is not None:
            privacy = dataclasses.replace(privacy, suppression_salt=salt)
        if kind == "events":
            if mapping is not None and not isinstance(mapping, EventMapping):
                raise ConfigError("an event log needs an EventMapping.")
            report = ingest_events(
                db,
                source,
                mapping,
                policy,
                table=table or "events",
                mode=mode,
                progress=progress,
                privacy=privacy,
            )
        else:
            if mapping is not None and not isinstance(mapping, UserMapping):
                raise ConfigError("a user table needs a UserMapping.")
            if mode != "replace":
                raise ConfigError("user tables are always replaced (mode='replace').")
            report = ingest_users(
                db,
                source,
                mapping,
                policy,
                table=table or "users",
                progress=progress,
                privacy=privacy,
            )
        fmt = getattr(mapping, "date_format", None)
        record_ingest(db, report, settings={"date_format": fmt} if fmt else None)
        _record_privacy(db, report, privacy, replace=kind == "users" or mode == "replace")
    return report


def _record_privacy(
    db: Database, report: IngestReport, privacy: PrivacyOptions, *, replace: bool
) -> None:
    """Keep the sealed contact hashes; audit every personal column kept raw on request."""
    if privacy.keys is not None:
        save_contacts(db, report.table, privacy.keys.key_id, replace=replace)
    for issue in report.issues:
        if issue.kind == "personal_data" and "--allow-pii" in issue.action:
            record_action(
                db,
                action="pii.allow",
                outcome="ok",
                target=f"{report.table}.{issue.column}",
                detail={"found": issue.action, "ingest_id": report.ingest_id},
            )


def features(
    db: Database,
    config: FeatureConfig | None = None,
    *,
    progress: Callable[[float, float], None] | None = None,
) -> FeatureSet:
    """Build the feature table from the imported data and record its description.

    ``progress(fraction, seconds)`` is called while the event log is read.
    """
    config = config or FeatureConfig()
    with db.transaction():
        fs = build_features(db, config, progress=progress)
        # what it was built from (imports, row counts, fingerprints): later commands
        # tell from it whether the data changed since (store.lineage)
        record_feature_set(db, fs, {"features": settings_dict(config), **source_state(db)})
    return fs


def _rebuild(db: Database, stale: FeatureSet) -> FeatureSet:
    """A new feature set built from the data now with the settings ``stale`` was built with."""
    settings = feature_set_config(db, stale.feature_set_id).get("features") or {}
    return features(db, from_dict(FeatureConfig, settings, "features"))


def fit(
    db: Database,
    config: FitConfig | None = None,
    prepare: PrepareConfig | None = None,
    *,
    feature_set_id: int | None = None,
    progress: Progress | None = None,
    previous_run: int | str | None = None,
    rebuild_features: bool = False,
) -> tuple[int, Segmenter]:
    """Segment the users of a feature set (the latest by default) and store the run.

    With ``previous_run`` (a run id, or ``"latest"``) the new segments are
    matched to that run's: the same groups keep their ids and names, and the
    matches (kept, appeared, gone) and the migration matrix are stored with
    the run (see :mod:`userseg.monitor.matching`).

    When the events or users changed after the feature set was built, the run
    records it (``config["features_stale"]`` and a note); with
    ``rebuild_features=True`` the features are built again first, with the
    feature set's own settings (``config["features_rebuilt"]``: the new id).
    """
    config = config or FitConfig()
    config.validate()
    if get_family(config.algorithm).private:
        # a private family spends epsilon: only the DP fit charges it to the budget
        raise ConfigError(
            f"--algorithm {config.algorithm} is differentially private: fit it with "
            "`userseg fit --dp-epsilon E --k K`, which charges the data set's privacy budget."
        )
    prepare = prepare or PrepareConfig()
    fs = get_feature_set(db, feature_set_id) if feature_set_id else latest_feature_set(db)
    freshness = feature_freshness(db, fs)
    rebuilt = None
    if freshness.stale and rebuild_features:
        fs = _rebuild(db, fs)
        rebuilt = fs.feature_set_id
        freshness = feature_freshness(db, fs)
    df = load_features(db, fs)
    df, target_notes = _campaign_target(db, config.target, df)
    units = {f.name: f.unit for f in fs.features}
    labels = {f.name: f.label for f in fs.features if getattr(f, "label", "")}
    categorical = [f.name for f in fs.features if f.kind == "categorical"]
    seg = Segmenter(
        n_segments=config.k,
        k_min=config.k_min,
        k_max=config.k_max,
        algorithm=config.algorithm,
        prepare=prepare,
        categorical=categorical,
        units=units,
        labels=labels or None,
        algorithm_params=config.params or None,
        silhouette_sample=config.silhouette_sample,
        random_state=config.random_state,
        target=config.target,
        stability_runs=config.stability_runs,
        check_structure=config.structure,
        rules=config.rules,
        weights=text_weights(fs.features) or None,
    )
    t0 = time.perf_counter()
    seg.fit(df, progress=progress)
    seg.notes_ = [
        *([freshness.message] if freshness.stale else []),
        *fs.notes,
        *target_notes,
        *seg.notes_,
    ]
    timings = dict(seg.timings_)
    matching = None
    if previous_run is not None:
        prev_id = None if previous_run == "latest" else int(previous_run)
        if prev_id is not None or count_runs(db):
            matching = _match_to(db, get_run(db, prev_id).run_id, df.index, seg)
    t_value = time.perf_counter()
    _attach_value(db, seg, df.index, fs.as_of)
    timings["value"] = time.perf_counter() - t_value
    t1 = time.perf_counter()
    run_id = save_run(
        db,
        seg,
        df.index,
        feature_set=fs,
        config={
            "fit": settings_dict(config),
            "prepare": settings_dict(prepare),
            "feature_set_id": fs.feature_set_id,
            "as_of": fs.as_of,
            "features_stale": freshness.to_dict(),
            "features_rebuilt": rebuilt,
        },
        timings=timings,
        matching=matching,
    )
    timings["store"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    set_run_timings(db, run_id, timings)
    return run_id, seg


#: The preparation of the value tiers: none (the rules read money and a probability as
#: they are; nothing imputed, clipped, logged, scaled or left out).
VALUE_TIERS_PREPARE = PrepareConfig(
    indicators=False,
    log="none",
    clip_quantiles=None,
    scale="none",
    max_correlation=None,
    max_mode_share=1.0,
)


def fit_value_tiers(
    db: Database,
    *,
    feature_set_id: int | None = None,
    high_quantile: float = 0.8,
    p_alive_threshold: float = 0.5,
    past_value_min: float | None = None,
    predicted_value_min: float | None = None,
    progress: Progress | None = None,
) -> tuple[int, Segmenter]:
    """The value tiers as a run: high value, potential high value, at risk, low value.

    The value model (:func:`userseg.value.customer_value`, 365 days, 10 % a year)
    is fitted on the event log at the feature set's as-of date; each customer
    (a user with a purchase before it) is put in a tier by the rules of
    :func:`userseg.value.tiers.value_tiers` with these thresholds, and the run
    is stored like any other (its model: the thresholds, replayed by ``assign``
    and the service on the columns ``spend_net, value, p_alive`` that
    ``userseg value --out`` writes). The thresholds used are in the run's
    ``config["value_tiers"]`` and its k-choice reason.
    """
    from userseg.segment.families.value_tiers import COLUMNS
    from userseg.value.model import customer_value
    from userseg.value.tiers import TIERS, check_tier_settings

    settings = check_tier_settings(
        high_quantile=high_quantile,
        p_alive_threshold=p_alive_threshold,
        past_value_min=past_value_min,
        predicted_value_min=predicted_value_min,
    )
    fs = get_feature_set(db, feature_set_id) if feature_set_id else latest_feature_set(db)
    if not db.table_exists("events"):
        raise DataError("the value preset reads purchases from the event log; there is none.")
    res = customer_value(db, as_of=fs.as_of)  # DataError: no purchases, no repeat buyer…
    if "value" not in res.frame.columns:
        raise DataError("the value preset needs purchase amounts; the event log has none.")
    df = res.frame[list(COLUMNS)].astype(float)
    df.index = df.index.astype(str)
    params = {k: v for k, v in settings.items() if v is not None}
    seg = Segmenter(
        algorithm="value_tiers",
        algorithm_params=params,
        prepare=VALUE_TIERS_PREPARE,
        units={"spend_net": "money", "value": "money"},
        labels={
            "spend_net": "spend so far (net of refunds)",
            "value": "expected value (365 days)",
            "p_alive": "P(alive)",
        },
        stability_runs=0,
        check_structure=False,
    )
    t0 = time.perf_counter()
    seg.fit(df, progress=progress)
    tiers = seg.assigner_.to_state()[0]["thresholds"]
    thresholds = dict(settings, **tiers)
    for p, tier in zip(seg.profiles_, seg.assigner_.to_state()[1]["tiers"], strict=True):
        p.name, p.name_source = TIERS[int(tier)], "rule"
    seg.names_ = [p.name for p in seg.profiles_]
    seg.k_choice_["reason"] = _tier_reason(thresholds)
    left_out = max(fs.n_users - len(df), 0)
    seg.notes_ = [
        *res.notes,
        *(
            [f"{left_out:,} users without a purchase before {res.as_of} are in no tier"]
            if left_out
            else []
        ),
        *seg.notes_,
    ]
    timings = dict(seg.timings_)
    _attach_value(db, seg, df.index, fs.as_of)
    t1 = time.perf_counter()
    run_id = save_run(
        db,
        seg,
        df.index,
        feature_set=fs,
        config={
            "preset": "value",
            "value_tiers": thresholds,
            "fit": {"algorithm": "value_tiers", "params": params},
            "feature_set_id": fs.feature_set_id,
            "as_of": fs.as_of,
        },
        timings=timings,
    )
    timings["store"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    set_run_timings(db, run_id, timings)
    return run_id, seg


def _tier_reason(t: dict[str, Any]) -> str:
    """The tier rules with the thresholds used, in words."""
    how = f" (the top {1 - t['high_quantile']:.0%})" if t.get("high_quantile") else ""
    return (
        f"value tiers by rule{how}: high value = spend so far >= {t['past_value_min']:,.2f}; "
        f"potential high value = expected value >= {t['predicted_value_min']:,.2f}; at risk = "
        f"high spend and P(alive) < {t['p_alive_threshold']:g}; low value = the rest."
    )


def _attach_value(db: Database, seg: Segmenter, users: pd.Index, as_of: Any) -> None:
    """Churn risk and expected value per segment on each profile (a note when not possible)."""
    from userseg.value.segments import segment_value

    if not db.table_exists("events"):
        seg.notes_.append("value per segment not computed: no event log (only a user table)")
        return
    figures, notes = segment_value(db, users, seg.labels_, as_of=as_of)
    for p in seg.profiles_:
        p.value = figures.get(int(p.segment))
    seg.notes_.extend(notes)
def _campaign_target(
    db: Database, target: str | None, df: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """``--target campaign:NAME``: the campaign's response joined to the features as a column.

    Users outside the campaign's treatment arm get no value, and the target's
    selection and rates leave them out. Checked before any fitting, so an
    unknown campaign stores nothing.
    """
    from userseg.jobs.activation import CAMPAIGN_TARGET, campaign_response

    if target is None or not str(target).startswith(CAMPAIGN_TARGET):
        return df, []
    response, notes = campaign_response(db, str(target)[len(CAMPAIGN_TARGET) :])
    df = df.copy()  # the loaded features stay as read
    df[str(target)] = response.reindex(df.index.astype(str)).to_numpy()
    return df, notes


def _match_to(db: Database, previous_run: int, users: pd.Index, seg: Segmenter) -> Matching:
    """Match a fitted segmenter to a stored run and renumber it with the stable ids."""
    prev_assign = load_assignments(db, previous_run).set_index("user_id")["segment"]
    prev_profiles = load_profiles(db, previous_run)
    next_id = next_segment_id(db)
    matching = match_segments(
        prev_assign,
        pd.Series(seg.labels_, index=users.astype(str)),
        previous_names={p.segment: (p.name, p.name_source) for p in prev_profiles},
        current_names=list(seg.names_),
        previous_means=pd.DataFrame({p.segment: p.means for p in prev_profiles}).T,
        current_means=pd.DataFrame({p.segment: p.means for p in seg.profiles_}).T,
        next_id=next_id,
    )
    matching.previous_run_id = previous_run
    seg.renumber(matching.ids, names=matching.names)
    return matching


def _data_quality(db: Database, feature_set: FeatureSet | None) -> list[dict[str, Any]]:
    if feature_set is None or feature_set.feature_set_id is None:
        return []
    ingests = feature_set_config(db, feature_set.feature_set_id).get("ingests", {})
    rows = []
    for ingest_id in ingests.values():
        rep = import_report(db, ingest_id)
        for issue in rep.get("issues", []):
            rows.append({"source": Path(rep["source"]).name if rep.get("source") else "", **issue})
    return rows


def report(
    db: Database,
    run_id: int | None = None,
    out: str | Path = "userseg-report.html",
    *,
    heatmap: str | Path | None = None,
    min_group: int = DEFAULT_MIN_GROUP,
) -> tuple[Path, Path | None]:
    """Write the run's self-contained HTML report and heatmap PNG; returns their paths.

    Segments of fewer than ``min_group`` users are not described (said in the notes),
    nor drawn on the map of users.
    """
    run = get_run(db, run_id)
    all_profiles = load_profiles(db, run.run_id)
    small = hide_small_groups(all_profiles, min_group)
    profiles = [p for p in all_profiles if p.segment not in set(small.segments)]
    fs = get_feature_set(db, run.feature_set_id) if run.feature_set_id else None
    model = load_model(db, run.run_id)
    user_map = None
    if getattr(model, "map_", None) is not None:
        m = model.map_
        ids = model.segment_ids_[np.asarray(m["index"])]
        shown = ~np.isin(ids, small.segments)  # no point of a small segment's users
        user_map = {
            "x": list(np.asarray(m["x"])[shown]),
            "y": list(np.asarray(m["y"])[shown]),
            "names": [model.name_of(int(s)) for s in ids[shown]],
            "method": m.get("method", "pca"),
            "explained": m.get("explained"),
        }
    data = ReportInput(
        title=f"userseg — {run.n_segments} segments of {run.n_users:,} users",
        run=run.to_dict(),
        profiles=profiles,
        features=[f.to_dict() for f in fs.features] if fs else [],
        data_quality=_data_quality(db, fs),
        notes=list(run.notes) + ([small.note()] if small.segments else []),
        selection=getattr(model, "selection_", None),
        user_map=user_map,
        outcome=getattr(model, "outcome_", None),
        warnings=list(getattr(model, "warnings_", None) or run.metrics.get("warnings") or []),
    )
    matching = get_matching(db, run.run_id)
    if matching is not None:
        data.sections.append(matching_section(matching))
    if fs is not None and fs.text is not None:  # what each segment writes (issue 16)
        from userseg.explain.report import text_section
        from userseg.features.text import segment_top_words
        from userseg.privacy.suppress import DEFAULT_K

        words = segment_top_words(db, load_assignments(db, run.run_id), min_users=DEFAULT_K)
        if words:
            names = {p.segment: p.name for p in profiles}
            data.sections.append(text_section(words, names, fs.text.topic_names, DEFAULT_K))
    from userseg.explain.report import campaigns_section
    from userseg.jobs.activation import campaign_report_items

    campaigns = campaign_report_items(db, run.run_id)
    if campaigns:
        data.sections.append(campaigns_section(campaigns))
    return write_report(data, out, heatmap_path=heatmap)


def assign(
    db: Database,
    run_id: int | None,
    source: Source,
    *,
    user_id: str | None = None,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Score the users of ``source`` (one row per user, the model's features) with a stored run.

    Date columns of a user table are read with ``date_format`` when given, else
    with the format the user table's import used (see :func:`read_scoring_input`).
    Returns a DataFrame with ``user_id, segment, name, distance`` in input order.
    """
    model, ids, X = read_scoring_input(db, run_id, source, user_id=user_id, date_format=date_format)
    labels, dist = model.predict_with_distance(X)
    names = {int(s): model.name_of(int(s)) for s in np.unique(labels)}
    return pd.DataFrame(
        {
            "user_id": ids,
            "segment": labels,
            "name": [names[int(s)] for s in labels],
            "distance": dist,
        }
    )


def read_scoring_input(
    db: Database,
    run_id: int | None,
    source: Source,
    *,
    user_id: str | None = None,
    date_format: str | None = None,
) -> tuple[Segmenter, np.ndarray, pd.DataFrame]:
    """A run's model and the users of ``source`` as its feature rows (``assign``, ``drift``).

    Raw date columns of a user table are read with ``date_format`` when given,
    else with the strptime format the import of the user table behind the run's
    feature set used (``ingest --date-format``), else as ISO text, where a day and
    month that could be either way round are an error rather than a guess.
    """
    run = get_run(db, run_id)
    model = load_model(db, run.run_id)
    fs = get_feature_set(db, run.feature_set_id) if run.feature_set_id else None
    fmt = date_format or import_date_format(db, fs)
    ids, X = read_feature_rows(source, model, user_id=user_id, feature_set=fs, date_format=fmt)
    return model, ids, X


def ingest_config(
    db: Database, config: PipelineConfig, *, event_mode: str = "replace"
) -> list[IngestReport]:
    """Import the event log and the user table a pipeline file names (either may be absent)."""
    reports = []
    if config.events is not None:
        reports.append(
            ingest(
                db,
                config.events,
                kind="events",
                mapping=config.event_columns,
                policy=config.event_policy,
                mode=event_mode,
            )
        )
    if config.users is not None:
        reports.append(
            ingest(
                db,
                config.users,
                kind="users",
                mapping=config.user_columns,
                policy=config.user_policy,
            )
        )
    return reports


def run_pipeline(config: PipelineConfig, *, progress: Progress | None = None) -> dict[str, Any]:
    """Run ingest → features → fit → report from one configuration; returns a summary."""
    from userseg.explain.report import check_output_path, report_path

    # Outputs are checked before anything is read or written: a wrong path costs nothing.
    report_path(config.report.out)
    if config.report.heatmap:
        check_output_path(config.report.heatmap, "heatmap")
    db = open_db(config.database)
    summary: dict[str, Any] = {"database": config.database, "ingests": []}
    try:
        t0 = time.perf_counter()
        # One transaction for the whole file: a step that fails (a missing users file, a
        # k larger than the users) leaves the database as it was, not with new events
        # beside an old model. Each step's own transaction joins this one.
        with db.transaction():
            summary["ingests"] = [r.to_dict() for r in ingest_config(db, config)]
            if progress:
                progress("ingest", 1, 1)
            fs = features(db, config.features)
            summary["features"] = fs.to_dict()
            if progress:
                progress("features", 1, 1)
            run_id, _seg = fit(db, config.fit, config.prepare, progress=progress)
            html, png = report(db, run_id, config.report.out, heatmap=config.report.heatmap)
            if progress:
                progress("report", 1, 1)
        summary.update(
            run=get_run(db, run_id).to_dict(),
            report=str(html),
            heatmap=str(png) if png else None,
            segments=[p.to_dict() for p in load_profiles(db, run_id)],
            seconds=time.perf_counter() - t0,
        )
    finally:
        db.close()
    return summary
