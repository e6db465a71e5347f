"""The userseg database's own tables: migrations, runs, models, assignments, profiles."""

from __future__ import annotations

from pathlib import Path

from userseg.io.database import DEFAULT_DB, Database
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

__all__ = [
    "SCHEMA_VERSION",
    "Freshness",
    "Run",
    "feature_freshness",
    "feature_set_config",
    "get_feature_set",
    "get_matching",
    "get_run",
    "import_date_format",
    "latest_feature_set",
    "list_runs",
    "load_assignments",
    "load_model",
    "load_profiles",
    "migrate",
    "open_database",
    "record_feature_set",
    "record_ingest",
    "rename_segment",
    "save_run",
    "schema_version",
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
