"""The activation tables (migration 4) and the store's webhook delivery state."""

from __future__ import annotations

from userseg.activate.webhook import DeliveryProgress
from userseg.jobs.activation import StoreDeliveryState
from userseg.store import SCHEMA_VERSION, open_database, schema_version
from userseg.store.migrations import MIGRATIONS

TABLES = {
    "userseg_audiences",
    "userseg_audience_versions",
    "userseg_audience_members",
    "userseg_exports",
    "userseg_webhook_deliveries",
    "userseg_campaigns",
    "userseg_campaign_arms",
    "userseg_campaign_measurements",
}


def test_a_database_of_schema_2_is_upgraded_with_the_activation_tables(tmp_path) -> None:
    path = tmp_path / "old.duckdb"
    from userseg.io.database import Database

    old = Database(path)
    old.execute(
        "CREATE TABLE userseg_schema (version INTEGER PRIMARY KEY, description VARCHAR, "
        "applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    for version, description, statements in MIGRATIONS[:2]:
        for sql in statements:
            old.execute(sql)
        old.execute("INSERT INTO userseg_schema VALUES (?, ?, DEFAULT)", [version, description])
    assert not any(old.table_exists(t) for t in TABLES)
    old.close()
    db = open_database(path)
    try:
        assert schema_version(db) == SCHEMA_VERSION >= 3
        assert all(db.table_exists(t) for t in TABLES)
    finally:
        db.close()


def test_the_store_keeps_webhook_progress_across_connections(tmp_path) -> None:
    path = tmp_path / "s.duckdb"
    db = open_database(path)
    state = StoreDeliveryState(db)
    assert state.load("exp-1") is None
    p = DeliveryProgress("exp-1", "https://x.example/h", 5, 100, "f" * 64, delivered=[1, 2])
    state.save(p)
    p.delivered.append(3)
    p.status = "failed"
    state.save(p)  # replaces, never duplicates
    db.close()
    db = open_database(path)
    try:
        back = StoreDeliveryState(db).load("exp-1")
        assert back == p and back.next_batch == 4
        assert db.scalar("SELECT count(*) FROM userseg_webhook_deliveries") == 1
    finally:
        db.close()
