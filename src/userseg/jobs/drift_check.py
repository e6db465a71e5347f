"""Is the model still right for today's users? The drift of the latest users (``userseg drift``)."""

from __future__ import annotations

import pandas as pd

from userseg.features.build import compute_features, load_features
from userseg.io.database import Database, quote_ident
from userseg.monitor.drift import DriftReport, drift_report
from userseg.store import (
    feature_freshness,
    get_feature_set,
    get_run,
    latest_feature_set,
    load_model,
)

__all__ = ["drift"]


def drift(
    db: Database, run_id: int | None = None, current: pd.DataFrame | None = None
) -> DriftReport:
    """Drift of the current users (those of the latest feature table) against a run's model.

    Without ``current``, the users' features are computed as the model's feature
    set computed them: with its smoothing priors (the population rates a user with
    few events is shrunk toward). The latest feature table has new priors, and a
    prior that moves with one day of data shifted every light user's rates: a trial
    saw return_rate read PSI 0.52 and a refit advised after one new day, the refit
    then matching every segment at 0.97-0.99 overlap.

    The users are those of the latest feature table; when the data changed after
    it was built, ``features_stale`` says how (users new since are not in it).
    """
    run = get_run(db, run_id)
    model = load_model(db, run.run_id)
    stale = None
    if current is None:
        latest = latest_feature_set(db)
        stale = feature_freshness(db, latest).to_dict()
        trained = get_feature_set(db, run.feature_set_id) if run.feature_set_id else None
        if trained is not None and trained.spec is not None:
            current = compute_features(
                db, trained, None, id_query=f"SELECT user_id FROM {quote_ident(latest.table)}"
            )
        else:  # attributes only (no priors), or a feature set of an older userseg
            current = load_features(db, latest)
    report = drift_report(model, current, run_id=run.run_id)
    report.features_stale = stale
    return report
