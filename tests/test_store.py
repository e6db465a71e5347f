"""The userseg database: migrations, atomic runs, models without pickle, names kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from userseg import Segmenter
from userseg.errors import DatabaseError, DatabaseLockedError, DataError, NotFoundError
from userseg.io import Database
from userseg.jobs.pipeline import open_db
from userseg.store import (
    SCHEMA_VERSION,
    get_run,
    list_runs,
    load_assignments,
    load_model,
    load_profiles,
    rename_segment,
    save_run,
    schema_version,
)


def _fitted() -> tuple[Segmenter, pd.DataFrame]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "monetary": np.r_[rng.gamma(2, 5, 150), rng.gamma(2, 500, 50)],
            "frequency": np.r_[rng.poisson(1, 150), rng.poisson(9, 50)],
        },
        index=[f"u{i}" for i in range(200)],
    )
    return Segmenter(n_segments=2, random_state=0).fit(df), df


def test_migrations_are_versioned_and_idempotent(tmp_path) -> None:
    db = open_db(tmp_path / "a.duckdb")
    assert schema_version(db) == SCHEMA_VERSION
    db.close()
    db = open_db(tmp_path / "a.duckdb")  # opening again applies nothing
    assert db.scalar("SELECT count(*) FROM userseg_schema") == SCHEMA_VERSION
    db.close()


def test_a_database_from_a_newer_userseg_is_refused(tmp_path) -> None:
    db = open_db(tmp_path / "a.duckdb")
    db.execute("INSERT INTO userseg_schema (version, description) VALUES (999, 'future')")
    db.close()
    with pytest.raises(DatabaseError, match="schema version 999, newer than"):
        open_db(tmp_path / "a.duckdb")


def test_run_round_trip(db) -> None:
    seg, df = _fitted()
    run_id = save_run(db, seg, df.index, feature_set=None, config={"fit": {"k": 2}})
    run = get_run(db, run_id)
    assert (run.run_id, run.n_segments, run.n_users, run.algorithm) == (1, 2, 200, "kmeans")
    assert run.metrics["silhouette"] == pytest.approx(seg.metrics_["silhouette"])
    assert run.config == {"fit": {"k": 2}}
    assign = load_assignments(db, run_id)
    assert len(assign) == 200 and set(assign.segment) == {0, 1}
    model = load_model(db, run_id)
    np.testing.assert_array_equal(model.predict(df), seg.labels_)
    assert [p.name for p in load_profiles(db, run_id)] == seg.names_
    assert [r.run_id for r in list_runs(db)] == [1]


def test_models_are_never_pickled(db) -> None:
    seg, df = _fitted()
    run_id = save_run(db, seg, df.index, feature_set=None, config={})
    dtypes = {d for (d,) in db.rows("SELECT dtype FROM userseg_model_arrays")}
    assert all(np.dtype(d).kind in "biuf" for d in dtypes)
    blob = db.scalar("SELECT params FROM userseg_models")
    assert isinstance(blob, str) and blob.startswith("{")  # JSON
    db.execute("UPDATE userseg_model_arrays SET dtype = '|O'")  # an object array would need pickle
    with pytest.raises(DataError, match="unsupported dtype"):
        load_model(db, run_id)


def test_a_failed_save_leaves_nothing(db, monkeypatch) -> None:
    seg, df = _fitted()
    import userseg.store.runs as runs

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs.SegmentProfile, "to_dict", boom)
    with pytest.raises(RuntimeError):
        save_run(db, seg, df.index, feature_set=None, config={})
    for table in (
        "userseg_runs",
        "userseg_models",
        "userseg_model_arrays",
        "userseg_assignments",
        "userseg_profiles",
    ):
        assert db.scalar(f"SELECT count(*) FROM {table}") == 0, table


def test_rename_is_kept_with_the_run(db) -> None:
    seg, df = _fitted()
    run_id = save_run(db, seg, df.index, feature_set=None, config={})
    rename_segment(db, run_id, 1, "  VIP customers ")
    profiles = load_profiles(db, run_id)
    assert profiles[1].name == "VIP customers" and profiles[1].name_source == "user"
    assert load_model(db, run_id).names_[1] == "VIP customers"
    with pytest.raises(NotFoundError, match="run 1 has no segment 7"):
        rename_segment(db, run_id, 7, "x")
    with pytest.raises(DataError, match="cannot be empty"):
        rename_segment(db, run_id, 0, "  ")


def test_names_follow_segment_ids_that_are_not_in_position_order(db) -> None:
    # After a refit keeps the previous version's ids, positions and ids differ (e.g. the
    # new segment at position 1 keeps id 2). Every name must come back with its id, not
    # with the position: the service, assign, drift and the report all read them.
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "monetary": np.r_[rng.gamma(2, 5, 150), rng.gamma(2, 500, 60), rng.gamma(2, 50, 90)],
            "frequency": np.r_[rng.poisson(1, 150), rng.poisson(12, 60), rng.poisson(4, 90)],
        },
        index=[f"u{i}" for i in range(300)],
    )
    seg = Segmenter(n_segments=3, random_state=0).fit(df)
    seg.renumber([0, 2, 1])
    assert len(set(seg.names_)) == 3
    expected = {int(s): seg.name_of(int(s)) for s in seg.segment_ids_}
    run_id = save_run(db, seg, df.index, feature_set=None, config={})
    model = load_model(db, run_id)
    assert {int(s): model.name_of(int(s)) for s in model.segment_ids_} == expected
    assert {p.segment: p.name for p in load_profiles(db, run_id)} == expected
    np.testing.assert_array_equal(model.predict(df), seg.labels_)
    rename_segment(db, run_id, 2, "VIP customers")
    model = load_model(db, run_id)
    assert model.name_of(2) == "VIP customers"
    assert model.name_of(1) == expected[1] and model.name_of(0) == expected[0]
    assert [p.segment for p in model.profiles_] == [0, 2, 1]  # in the model's positions


def test_missing_runs(db) -> None:
    with pytest.raises(NotFoundError, match=r"no runs in .*run `userseg fit` first"):
        get_run(db)
    with pytest.raises(NotFoundError, match="run 4 not found"):
        get_run(db, 4)


def test_a_second_writer_gets_a_clear_error(tmp_path) -> None:
    import subprocess
    import sys

    path = tmp_path / "locked.duckdb"
    holder = open_db(path)
    try:
        code = (
            "from userseg.jobs.pipeline import open_db\n"
            "from userseg.errors import DatabaseLockedError\n"
            f"try:\n    open_db({str(path)!r})\n"
            "except DatabaseLockedError as e:\n    print('LOCKED', e.message)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert "LOCKED" in out.stdout, out.stderr
        assert "in use by another process" in out.stdout
        assert "Traceback" not in out.stderr
    finally:
        holder.close()
    assert DatabaseLockedError.exit_code == 2


def test_database_folder_must_exist(tmp_path) -> None:
    with pytest.raises(DatabaseError, match=r"folder .* does not exist"):
        Database(tmp_path / "nope" / "x.duckdb")
