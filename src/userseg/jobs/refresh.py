"""The nightly job (`userseg refresh`): new data → features → drift → refit or rescore."""

from __future__ import annotations

import datetime as dt
from typing import Any

from userseg.config import FeatureConfig, PrepareConfig
from userseg.errors import ConfigError
from userseg.features.build import load_features
from userseg.io.database import Database
from userseg.jobs.drift_check import drift
from userseg.jobs.live import LiveScorer
from userseg.jobs.pipeline import features as build_feature_set
from userseg.jobs.pipeline import fit as fit_run
from userseg.jobs.pipeline import ingest_config
from userseg.jobs.pipeline_config import PipelineConfig
from userseg.segment.params import FitConfig
from userseg.store.drift import record_drift_report
from userseg.store.live import save_rescored
from userseg.store.runs import count_runs

__all__ = ["refresh"]


def refresh(
    db: Database,
    config: PipelineConfig | None = None,
    *,
    refit: str = "auto",
    fit_config: FitConfig | None = None,
    prepare: PrepareConfig | None = None,
    features_config: FeatureConfig | None = None,
) -> dict[str, Any]:
    """The nightly job: ingest new data, rebuild features, check drift, refit (ids kept) or rescore.

    Parameters
    ----------
    config : PipelineConfig, optional
        New data to ingest first (events are appended, skipping known event
        ids; the user table is replaced).
    refit : {"auto", "always", "never"}
        Refit when drift advises it (auto), every time, or never (the latest
        model rescores every user).

    Returns
    -------
    dict
        What was done: ingests, feature set, drift report, and either the new
        run (with its matching to the previous one) or the number rescored.
    """
    if refit not in ("auto", "always", "never"):
        raise ConfigError(f"refit must be 'auto', 'always' or 'never'; got {refit!r}.")
    summary: dict[str, Any] = {"ingests": []}
    if config is not None:
        # new events are appended (known event ids skipped); the user table is replaced
        summary["ingests"] = [r.to_dict() for r in ingest_config(db, config, event_mode="append")]
        features_config = features_config or config.features
        fit_config = fit_config or config.fit
        prepare = prepare or config.prepare
    fs = build_feature_set(db, features_config or FeatureConfig(as_of=None))
    summary["feature_set"] = fs.feature_set_id
    has_runs = bool(count_runs(db))
    report = drift(db) if has_runs else None
    if report is not None:
        record_drift_report(db, report)
        summary["drift"] = report.to_dict()
    if not has_runs or refit == "always" or (refit == "auto" and report.refit_advised):
        run_id, seg = fit_run(db, fit_config, prepare, previous_run="latest" if has_runs else None)
        summary.update(action="refit", run_id=run_id, n_segments=seg.n_segments_)
    else:
        scorer = LiveScorer(db)
        current = load_features(db, fs)
        scored = scorer.score_frame(current)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        table = scored.reset_index(names="user_id")
        save_rescored(db, scorer.run_id, table, now, reason="refresh")
        summary.update(action="rescore", run_id=scorer.run_id, rescored=len(table))
    return summary
