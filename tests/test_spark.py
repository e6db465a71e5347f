"""engine: spark — the same features, k, segments and store as the embedded engine.

Few and small: one ``local[2]`` session for the module, the 3,000-user demo shop.
They skip (with the reason) only when Java or PySpark is missing.
"""

from __future__ import annotations

import decimal
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from userseg.config import FeatureConfig, Source, SparkConfig
from userseg.engine.spark.session import java_available, pyspark_available
from userseg.jobs.pipeline_config import PipelineConfig
from userseg.segment.params import FitConfig

pytestmark = [
    pytest.mark.skipif(
        not java_available(),
        reason="engine: spark needs a Java runtime (JAVA_HOME or java on the PATH); "
        "see README 'Spark engine' for how to get one",
    ),
    pytest.mark.skipif(
        not pyspark_available(),
        reason="engine: spark needs PySpark: pip install -e '.[spark]' (make test installs it)",
    ),
]

FIT = FitConfig(k_min=2, k_max=6, stability_runs=4, structure=False, rules=False)
INTEGER = {"frequency", "n_events", "active_days", "sessions"}


@pytest.fixture(scope="module")
def spark():
    from userseg.engine.spark import spark_session

    session = spark_session(SparkConfig(master="local[2]", partitions=4, driver_memory="1g"))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, demo_files: dict[str, Path]) -> dict:
    """The demo shop through the embedded engine, and its event table as Parquet."""
    from userseg import demo
    from userseg.features.build import load_features
    from userseg.jobs import pipeline

    tmp = tmp_path_factory.mktemp("spark")
    db = pipeline.open_db(tmp / "embedded.duckdb")
    try:
        pipeline.ingest(
            db, Source(path=str(demo_files["events"])), kind="events", mapping=demo.EVENT_MAPPING
        )
        fs = pipeline.features(db, FeatureConfig())
        feats = load_features(db, fs)
        # fetched as Python Decimals (a DataFrame would turn them into floats)
        money = dict(db.rows("SELECT user_id, monetary FROM features"))
        parquet = tmp / "events.parquet"
        db.execute(f"COPY events TO '{parquet}' (FORMAT parquet)")
        run_id, seg = pipeline.fit(db, FIT)
    finally:
        db.close()
    return {
        "dir": tmp,
        "db": tmp / "embedded.duckdb",
        "parquet": parquet,
        "features": feats,
        "money": money,
        "fs": fs,
        "run_id": run_id,
        "seg": seg,
    }


def test_demo_features_equal_the_duckdb_features(spark, shop) -> None:
    """Every feature from Spark SQL equals DuckDB's: counts and money exactly, the rest to 1e-9."""
    from userseg.engine.spark.features import read_events, spark_features

    read_events(spark, Source(path=str(shop["parquet"])))
    frame, fs = spark_features(spark, FeatureConfig())
    assert fs.spec.to_dict() == shop["fs"].spec.to_dict()
    assert [f.name for f in fs.features] == [f.name for f in shop["fs"].features]
    got = frame.toPandas().set_index("user_id").sort_index()
    want = shop["features"]
    assert list(got.index) == list(want.index)
    # money is DECIMAL(38, 8) in both engines: the same Decimal for every user
    assert all(isinstance(v, decimal.Decimal) for v in got["monetary"].head())
    assert all(got["monetary"][u] == shop["money"][u] for u in got.index)
    for name in want.columns:
        a = pd.to_numeric(got[name]).to_numpy(np.float64)
        b = want[name].to_numpy(np.float64)
        if name in INTEGER:
            assert np.array_equal(a, b), name
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=name)


def test_distributed_lloyd_equals_the_embedded_kmeans(spark) -> None:
    """The per-partition kernels reduce to the embedded Lloyd: same labels, inertia to 1e-9."""
    from userseg.cluster import KMeans
    from userseg.engine.spark.kmeans import assign_columns, lloyd

    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(c, 1.0, (700, 4)) for c in (0.0, 4.0, 9.0)])
    init = X[[5, 900, 1900]].copy()
    ref = KMeans(3, init=init, n_init=1, algorithm="lloyd", tol=0.0).fit(X)
    pdf = pd.DataFrame(X, columns=[f"z{i}" for i in range(4)])
    pdf.insert(0, "user_id", [f"u{i:05d}" for i in range(len(X))])
    frame = spark.createDataFrame(pdf).repartition(4).cache()
    cols = [f"z{i}" for i in range(4)]
    run = lloyd(frame, cols, init, tol=0.0)
    assert run.converged
    np.testing.assert_allclose(run.centers, ref.cluster_centers_, rtol=1e-9, atol=1e-12)
    assert run.inertia == pytest.approx(ref.inertia_, rel=1e-9)
    out = assign_columns(frame, cols, run.centers).toPandas().sort_values("user_id")
    assert np.array_equal(out["segment"].to_numpy(), ref.labels_)
    frame.unpersist()


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    """ARI after matching b's segment numbers to a's (Hungarian on the contingency table)."""
    ka, kb = a.max() + 1, b.max() + 1
    table = np.zeros((ka, kb))
    np.add.at(table, (a, b), 1)
    rows, cols = linear_sum_assignment(-table)
    mapping = dict(zip(cols, rows, strict=True))
    return adjusted_rand_score(a, np.array([mapping.get(x, -1) for x in b]))


def _pipeline(shop: dict, tmp: Path, **spark: object) -> PipelineConfig:
    shutil.copy(shop["db"], tmp / "store.duckdb")
    return PipelineConfig(
        database=str(tmp / "store.duckdb"),
        events=Source(path=str(shop["parquet"])),
        fit=FIT,
        spark=SparkConfig(partitions=4, assignments=str(tmp / "assignments"), **spark),
    )


def test_spark_fit_matches_the_embedded_fit_and_is_stored(spark, shop, tmp_path: Path) -> None:
    """Same k, ARI ≥ 0.99 after matching, inertia within 0.1 %; the run is an ordinary run."""
    from userseg.engine.spark import fit_spark
    from userseg.jobs import pipeline
    from userseg.store import get_run, load_assignments, load_model

    config = _pipeline(shop, tmp_path)
    result = fit_spark(config, spark=spark)
    emb = shop["seg"]
    assert result["k"] == emb.n_segments_
    db = pipeline.open_db(config.database)
    try:
        run = get_run(db, result["run_id"])
        assert run.config["engine"] == "spark" and run.n_users == len(emb.labels_)
        got = load_assignments(db, result["run_id"]).set_index("user_id")["segment"]
        want = load_assignments(db, shop["run_id"]).set_index("user_id")["segment"]
        model = load_model(db, result["run_id"])
        # the stored model scores users as the Spark run assigned them (assign, serve)
        sample = shop["features"].head(200)
        assert np.array_equal(model.predict(sample), got.reindex(sample.index).to_numpy())
    finally:
        db.close()
    assert _agreement(want.to_numpy(), got.reindex(want.index).to_numpy()) >= 0.99
    assert result["inertia"] == pytest.approx(float(np.sum(emb.distances_**2)), rel=1e-3)
    # Parquet partitioned by segment, one folder a segment, every user once
    parts = sorted(p.name for p in Path(result["assignments"]).glob("segment=*"))
    assert parts == [f"segment={s}" for s in range(result["k"])]
    back = pd.read_parquet(result["assignments"])
    assert len(back) == len(want) and back["user_id"].is_unique


def test_mllib_kmeans_from_a_sample_gives_the_same_segments(spark, shop, tmp_path: Path) -> None:
    from userseg.engine.spark import fit_spark

    config = _pipeline(shop, tmp_path, kmeans="mllib", store_assignments=False, sample=1000)
    result = fit_spark(config, spark=spark)
    assert result["k"] == shop["seg"].n_segments_
    # MLlib seeds itself (k-means||) and may stop in a worse optimum: 12.8 % more inertia here
    # than the embedded fit, the reason the engine runs userseg's Lloyd by default
    assert result["inertia"] <= 1.2 * float(np.sum(shop["seg"].distances_**2))
    seg = result["segmenter"]
    # the database holds the sample's assignments; sizes and shares count every user
    assert len(seg.labels_) == result["sample"] < result["n_users"] == len(shop["features"])
    assert sum(p.size for p in seg.profiles_) == result["n_users"]
    assert any("sample of" in note for note in seg.notes_)


def test_a_spark_job_failing_midway_leaves_the_store_as_it_was(spark, shop, tmp_path) -> None:
    """A corrupt Parquet part fails the job: a DataError, no new rows, no assignments folder."""
    from userseg.engine.spark import fit_spark
    from userseg.errors import DataError
    from userseg.jobs import pipeline

    lake = tmp_path / "lake"
    lake.mkdir()
    shutil.copy(shop["parquet"], lake / "part-0.parquet")
    (lake / "part-1.parquet").write_bytes(b"PAR1" + b"\x00garbage" * 100 + b"PAR1")
    config = _pipeline(shop, tmp_path)
    config.events = Source(path=str(lake))

    def counts() -> dict[str, int]:
        db = pipeline.open_db(config.database)
        try:
            return {
                t: db.scalar(f"SELECT count(*) FROM {t}")
                for t in ("userseg_runs", "userseg_feature_sets", "userseg_assignments")
            }
        finally:
            db.close()

    before = counts()
    with pytest.raises(DataError, match=r"Spark job failed|cannot read events"):
        fit_spark(config, spark=spark)
    assert counts() == before
    assert (
        not any(Path(config.spark.assignments).glob("*"))
        if Path(config.spark.assignments).exists()
        else True
    )


def test_unreachable_master_is_a_clear_error_exit_2(tmp_path: Path, shop) -> None:
    from typer.testing import CliRunner

    from userseg.cli import app

    (tmp_path / "p.yaml").write_text(
        f"database: {tmp_path / 'x.duckdb'}\n"
        f"engine: spark\nspark: {{master: 'spark://127.0.0.1:9'}}\n"
        f"events: {{path: {shop['parquet']}}}\n"
    )
    res = CliRunner().invoke(app, ["fit", "--config", str(tmp_path / "p.yaml")])
    assert res.exit_code == 2, res.output
    assert "Spark master spark://127.0.0.1:9 is unreachable" in res.output
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_online_retail_matches_the_embedded_engine(spark, tmp_path: Path) -> None:
    """On Online Retail too: every feature as DuckDB computes it, same k, ARI, inertia."""
    from test_realdata import RETAIL

    from userseg.engine.spark import fit_spark
    from userseg.engine.spark.features import read_events, spark_features
    from userseg.features.build import load_features
    from userseg.jobs import pipeline
    from userseg.store import load_assignments

    folder = shared("online_retail", "by-day")
    db = pipeline.open_db(tmp_path / "retail.duckdb")
    try:
        pipeline.ingest(db, Source(path=str(folder / "*.csv")), kind="events", mapping=RETAIL)
        fs = pipeline.features(db, FeatureConfig())
        want = load_features(db, fs)
        db.execute(f"COPY events TO '{tmp_path / 'ev.parquet'}' (FORMAT parquet)")
        run_id, seg = pipeline.fit(db, FIT)
        emb = load_assignments(db, run_id).set_index("user_id")["segment"]
    finally:
        db.close()
    read_events(spark, Source(path=str(tmp_path / "ev.parquet")))
    frame, sfs = spark_features(spark, FeatureConfig())
    assert sfs.spec.to_dict() == fs.spec.to_dict()
    got = frame.toPandas().set_index("user_id").sort_index()
    assert list(got.index) == list(want.index)
    for name in want.columns:
        a = pd.to_numeric(got[name]).to_numpy(np.float64)
        b = want[name].to_numpy(np.float64)
        if name in INTEGER or name == "monetary":
            assert np.array_equal(a, b), name
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=name)
    config = PipelineConfig(
        database=str(tmp_path / "retail.duckdb"),
        events=Source(path=str(tmp_path / "ev.parquet")),
        fit=FIT,
        spark=SparkConfig(partitions=4, assignments=str(tmp_path / "out")),
    )
    result = fit_spark(config, spark=spark)
    assert result["k"] == seg.n_segments_
    db = pipeline.open_db(config.database)
    try:
        mine = load_assignments(db, result["run_id"]).set_index("user_id")["segment"]
    finally:
        db.close()
    assert _agreement(emb.to_numpy(), mine.reindex(emb.index).to_numpy()) >= 0.99
    assert result["inertia"] == pytest.approx(float(np.sum(seg.distances_**2)), rel=1e-3)
