"""Versioned migrations of userseg's own tables in the userseg database.

Each migration is applied once, in its own transaction, and recorded in
``userseg_schema``. Every ``userseg_*`` table is created here and nowhere else
(a test compares the tables of a database every job wrote to with these); the
modules of :mod:`userseg.store` are the only code that reads or writes them.
A database written by a newer userseg is refused rather than misread.
"""

from __future__ import annotations

from userseg.errors import DatabaseError
from userseg.io.database import Database

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "schema_version"]

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "runs, models, assignments, profiles, ingests, feature sets",
        [
            """CREATE TABLE IF NOT EXISTS userseg_ingests (
            ingest_id INTEGER PRIMARY KEY, created_at TIMESTAMP NOT NULL,
            table_name VARCHAR NOT NULL, source VARCHAR, rows_read BIGINT, rows_loaded BIGINT,
            users BIGINT, report JSON)""",
            """CREATE TABLE IF NOT EXISTS userseg_columns (
            table_name VARCHAR, column_name VARCHAR, kind VARCHAR, source_column VARCHAR,
            usable BOOLEAN)""",
            """CREATE TABLE IF NOT EXISTS userseg_feature_sets (
            feature_set_id INTEGER PRIMARY KEY, created_at TIMESTAMP NOT NULL,
            table_name VARCHAR NOT NULL, as_of DATE, n_users BIGINT, features JSON,
            config JSON, fingerprint VARCHAR, seconds DOUBLE)""",
            """CREATE TABLE IF NOT EXISTS userseg_runs (
            run_id INTEGER PRIMARY KEY, created_at TIMESTAMP NOT NULL, algorithm VARCHAR,
            n_segments INTEGER, n_users BIGINT, feature_set_id INTEGER, config JSON,
            data_fingerprint VARCHAR, metrics JSON, k_choice JSON, timings JSON,
            library_version VARCHAR, notes JSON)""",
            """CREATE TABLE IF NOT EXISTS userseg_models (
            run_id INTEGER PRIMARY KEY, format_version INTEGER NOT NULL, kind VARCHAR NOT NULL,
            params JSON NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS userseg_model_arrays (
            run_id INTEGER NOT NULL, name VARCHAR NOT NULL, dtype VARCHAR NOT NULL,
            shape JSON NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run_id, name))""",
            """CREATE TABLE IF NOT EXISTS userseg_assignments (
            run_id INTEGER NOT NULL, user_id VARCHAR NOT NULL, segment INTEGER NOT NULL,
            distance DOUBLE)""",
            """CREATE TABLE IF NOT EXISTS userseg_profiles (
            run_id INTEGER NOT NULL, segment INTEGER NOT NULL, name VARCHAR NOT NULL,
            name_source VARCHAR NOT NULL, size BIGINT NOT NULL, share DOUBLE NOT NULL,
            profile JSON NOT NULL, PRIMARY KEY (run_id, segment))""",
        ],
    ),
    (
        2,
        "API keys, live user segments and their history, segment matches, stream offsets",
        [
            """CREATE TABLE IF NOT EXISTS userseg_api_keys (
            key_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, key_hash VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP, last_used_at TIMESTAMP)""",
            """CREATE TABLE IF NOT EXISTS userseg_user_segments (
            user_id VARCHAR PRIMARY KEY, run_id INTEGER NOT NULL, segment INTEGER NOT NULL,
            distance DOUBLE, updated_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS userseg_segment_history (
            user_id VARCHAR NOT NULL, run_id INTEGER NOT NULL, segment INTEGER NOT NULL,
            changed_at TIMESTAMP NOT NULL, reason VARCHAR)""",
            """CREATE TABLE IF NOT EXISTS userseg_segment_matches (
            run_id INTEGER NOT NULL, previous_run_id INTEGER NOT NULL, segment INTEGER,
            previous_segment INTEGER, status VARCHAR NOT NULL, jaccard DOUBLE, detail JSON)""",
            """CREATE TABLE IF NOT EXISTS userseg_run_matchings (
            run_id INTEGER PRIMARY KEY, previous_run_id INTEGER NOT NULL,
            matching JSON NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS userseg_stream_offsets (
            source VARCHAR PRIMARY KEY, position BIGINT NOT NULL, events BIGINT NOT NULL,
            updated_at TIMESTAMP NOT NULL)""",
        ],
    ),
    (
        3,
        "API key scopes, the audit log of actions, drift reports, stored run comparisons",
        [
            # a key without a row here is an admin key (what every key was before scopes)
            """CREATE TABLE IF NOT EXISTS userseg_key_scopes (
            key_id VARCHAR PRIMARY KEY, scope VARCHAR NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS userseg_audit (
            audit_id BIGINT PRIMARY KEY, acted_at TIMESTAMP NOT NULL, key_id VARCHAR,
            key_name VARCHAR, action VARCHAR NOT NULL, target VARCHAR, outcome VARCHAR NOT NULL,
            detail JSON)""",
            """CREATE TABLE IF NOT EXISTS userseg_drift_reports (run_id INTEGER,
            checked_at TIMESTAMP, refit_advised BOOLEAN, report JSON)""",
            """CREATE TABLE IF NOT EXISTS userseg_comparisons (
            run_a INTEGER NOT NULL, run_b INTEGER NOT NULL, computed_at TIMESTAMP NOT NULL,
            matching JSON NOT NULL, PRIMARY KEY (run_a, run_b))""",
        ],
    ),
    (
        4,
        "audiences and their versions, exports, webhook deliveries, campaigns and their arms",
        [
            """CREATE TABLE IF NOT EXISTS userseg_audiences (
            audience_id INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE,
            created_at TIMESTAMP NOT NULL, run_spec VARCHAR NOT NULL, segments JSON,
            where_text VARCHAR, description VARCHAR)""",
            """CREATE TABLE IF NOT EXISTS userseg_audience_versions (
            audience_id INTEGER NOT NULL, version INTEGER NOT NULL, created_at TIMESTAMP NOT NULL,
            run_id INTEGER NOT NULL, feature_set_id INTEGER, n_members BIGINT NOT NULL,
            definition JSON NOT NULL, PRIMARY KEY (audience_id, version))""",
            """CREATE TABLE IF NOT EXISTS userseg_audience_members (
            audience_id INTEGER NOT NULL, version INTEGER NOT NULL, user_id VARCHAR NOT NULL,
            segment INTEGER NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS userseg_exports (
            export_id VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL,
            audience_id INTEGER NOT NULL, version INTEGER NOT NULL, destination VARCHAR NOT NULL,
            target VARCHAR NOT NULL, status VARCHAR NOT NULL, n_members BIGINT, n_written BIGINT,
            min_size INTEGER, size_override BOOLEAN, result JSON)""",
            """CREATE TABLE IF NOT EXISTS userseg_webhook_deliveries (
            export_id VARCHAR PRIMARY KEY, progress JSON NOT NULL,
            updated_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS userseg_campaigns (
            campaign_id INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE,
            created_at TIMESTAMP NOT NULL, audience_id INTEGER NOT NULL, version INTEGER NOT NULL,
            holdout DOUBLE NOT NULL, start_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL,
            ended_at TIMESTAMP, overlap JSON)""",
            """CREATE TABLE IF NOT EXISTS userseg_campaign_arms (
            campaign_id INTEGER NOT NULL, user_id VARCHAR NOT NULL, segment INTEGER NOT NULL,
            arm VARCHAR NOT NULL, PRIMARY KEY (campaign_id, user_id))""",
            """CREATE TABLE IF NOT EXISTS userseg_campaign_measurements (
            campaign_id INTEGER NOT NULL, measured_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL,
            result JSON NOT NULL, outcomes JSON NOT NULL)""",
        ],
    ),
    (
        5,
        "privacy: settings (suppression salt), suppressed users, sealed contact hashes",
        [
            """CREATE TABLE IF NOT EXISTS userseg_privacy_settings (
            name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)""",
            # salted hashes of the stored ids of forgotten people (never the ids)
            """CREATE TABLE IF NOT EXISTS userseg_suppressed (
            id_hash VARCHAR PRIMARY KEY, added_at TIMESTAMP NOT NULL)""",
            # platform hashes of e-mails and phones, sealed under the secret key
            """CREATE TABLE IF NOT EXISTS userseg_contact_hashes (
            table_name VARCHAR NOT NULL, user_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
            platform VARCHAR NOT NULL, sealed VARCHAR NOT NULL, key_id VARCHAR NOT NULL)""",
        ],
    ),
    (
        6,
        "privacy: differential-privacy budget per data set and its ledger of spends",
        [
            # one row per data set (a fingerprint of the imported data): its total epsilon
            """CREATE TABLE IF NOT EXISTS userseg_dp_budgets (
            dataset VARCHAR PRIMARY KEY, total DOUBLE NOT NULL, created_at TIMESTAMP NOT NULL)""",
            # every epsilon spent on it, by what (a DP fit) and the run it made
            """CREATE TABLE IF NOT EXISTS userseg_dp_spends (
            dataset VARCHAR NOT NULL, spent_at TIMESTAMP NOT NULL, epsilon DOUBLE NOT NULL,
            what VARCHAR NOT NULL, run_id INTEGER)""",
        ],
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(db: Database) -> int:
    """The schema version recorded in ``db`` (0 for a database userseg never touched)."""
    if not db.table_exists("userseg_schema"):
        return 0
    return int(db.scalar("SELECT coalesce(max(version), 0) FROM userseg_schema"))


def migrate(db: Database) -> int:
    """Apply every pending migration; return the resulting schema version."""
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise DatabaseError(
            f"{db.path} has userseg schema version {current}, newer than this userseg "
            f"understands ({SCHEMA_VERSION}); upgrade userseg."
        )
    if current == SCHEMA_VERSION:
        return current
    if db.read_only:
        raise DatabaseError(
            f"{db.path} has schema version {current} but this userseg needs {SCHEMA_VERSION}; "
            "open it once without read-only to upgrade it."
        )
    with db.transaction():
        db.execute(
            "CREATE TABLE IF NOT EXISTS userseg_schema (version INTEGER PRIMARY KEY, "
            "description VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)"
        )
    for version, description, statements in MIGRATIONS:
        if version <= current:
            continue
        with db.transaction():
            for sql in statements:
                db.execute(sql)
            db.execute(
                "INSERT INTO userseg_schema (version, description) VALUES (?, ?)",
                [version, description],
            )
    return SCHEMA_VERSION
