"""The userseg database's own tables: migrations, runs, models, assignments, profiles."""

from __future__ import annotations

from pathlib import Path

from userseg.io.database import DEFAULT_DB, Database
from userseg.store.access import SCOPES, key_access, key_scopes, set_key_scope
from userseg.store.audit import list_actions, record_action
from userseg.store.lineage import (
    Freshness,
    feature_freshness,
    feature_set_config,
    import_date_format,
    source_state,
)
from userseg.store.migrations import SCHEMA_VERSION, migrate, schema_version
from userseg.store.runs import (
    Run,
    get_feature_set,
    get_matching,
    get_run,
    latest_feature_set,
    list_runs,
    load_assignments,
    load_model,
    load_profiles,
    record_feature_set,
    record_ingest,
    rename_segment,
    save_run,
)
from userseg.store.views import (
    comparison,
    drift_reports,
    member_sample,
    run_map,
    runs_overview,
    save_comparison,
    segment_shares,
)

__all__ = [
    "SCHEMA_VERSION",
    "SCOPES",
    "Freshness",
    "Run",
    "comparison",
    "drift_reports",
    "feature_freshness",
    "feature_set_config",
    "get_feature_set",
    "get_matching",
    "get_run",
    "import_date_format",
    "key_access",
    "key_scopes",
    "latest_feature_set",
    "list_actions",
    "list_runs",
    "load_assignments",
    "load_model",
    "load_profiles",
    "member_sample",
    "migrate",
    "open_database",
    "record_action",
    "record_feature_set",
    "record_ingest",
    "rename_segment",
    "run_map",
    "runs_overview",
    "save_comparison",
    "save_run",
    "schema_version",
    "segment_shares",
    "set_key_scope",
    "source_state",
]


def open_database(path: str | Path = DEFAULT_DB, *, read_only: bool = False) -> Database:
    """Open the userseg database at ``path`` and bring its tables up to date.

    Read-only connections are checked, never migrated.
    """
    db = Database(path, read_only=read_only)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db
