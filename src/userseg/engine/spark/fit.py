"""``engine: spark``: features, preparation and k-means on Spark; the model in the usual store.

The steps, and where each runs:

1. events read by Spark (Parquet or a table), features in Spark SQL from the embedded
   engine's own definitions (:mod:`userseg.engine.spark.features`);
2. a uniform sample of ``spark.sample`` users is drawn to the driver, where the
   embedded :class:`~userseg.segment.segmenter.Segmenter` fits it as ``userseg fit`` does:
   preparation statistics, the k sweep, silhouette, stability, profiles, names (the
   whole table when it has at most ``spark.sample`` users);
3. every user is prepared with those statistics and k-means is run on all of them,
   distributed (:func:`userseg.engine.spark.kmeans.lloyd`, or MLlib), starting from
   the sample's centres; segment numbers are the sample's (by size);
4. each user's segment and distance are written as Parquet partitioned by segment,
   then the model, the feature set and the assignments are stored in the userseg
   database in one transaction, so ``assign``, ``compare``, ``segments`` and ``serve``
   read a Spark run as any other.

A Spark job that fails leaves the database as it was and no Parquet behind: nothing
is written before every distributed step has finished, the Parquet goes to a
temporary folder renamed into place after the database commit.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from userseg.cluster.assigners import CentroidAssigner
from userseg.engine.spark.features import read_events, spark_features
from userseg.engine.spark.kmeans import assign_columns, lloyd, mllib_kmeans
from userseg.engine.spark.session import spark_session
from userseg.errors import ConfigError, DataError, UsersegError
from userseg.jobs.pipeline_config import PipelineConfig
from userseg.segment.registry import get_family

__all__ = ["SparkRun", "fit_spark", "prepare_columns", "run_spark_pipeline"]

Progress = Callable[[str, int, int], None]


class SparkRun(dict):
    """The summary of a Spark fit (a dict: run id, users, k, timings, paths)."""


def _numeric_frame(pdf: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    """Money (DECIMAL, read as Python Decimals) as float64, as ``load_features`` reads it;
    counts stay integers, so the sample is the very frame the embedded engine fits."""
    for col in numeric:
        if col in pdf.columns and pdf[col].dtype == object:
            pdf[col] = pd.to_numeric(pdf[col]).astype(np.float64)
    return pdf


def prepare_columns(frame: Any, preparer: Any, numeric: list[str]) -> tuple[Any, list[str]]:
    """``user_id`` and the prepared matrix's columns (``z0``…), every user, per partition.

    ``preparer`` is the driver-side sample's fitted
    :class:`~userseg.features.prepare.Preparer`; each partition applies its
    ``transform`` (the statistics travel with it, the rows stay where they are).
    """
    names = [f"z{i}" for i in range(len(preparer.get_feature_names_out()))]
    schema = ", ".join(["user_id string", *(f"{n} double" for n in names)])

    def fn(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for batch in batches:
            pdf = _numeric_frame(batch.to_pandas(), numeric).set_index("user_id")
            Z = preparer.transform(pdf) if len(pdf) else np.empty((0, len(names)))
            yield pa.RecordBatch.from_arrays(
                [pa.array(pdf.index.astype(str)), *(pa.array(Z[:, i]) for i in range(len(names)))],
                names=["user_id", *names],
            )

    return frame.mapInArrow(fn, schema), names


def _spark_error(exc: BaseException, step: str) -> UsersegError:
    if isinstance(exc, UsersegError):
        return exc
    first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    return DataError(
        f"the Spark job failed while {step}: {first[:500]}; nothing was stored.",
        details={"step": step},
    )


def fit_spark(
    config: PipelineConfig,
    *,
    spark: Any = None,
    progress: Progress | None = None,
) -> SparkRun:
    """Fit the pipeline's segmentation on Spark and store the run; see the module docstring.

    Parameters
    ----------
    config : PipelineConfig
        ``events`` (Parquet path or Spark table) and ``event_columns``, ``features``,
        ``prepare``, ``fit`` (k-means only), ``spark`` (master, partitions, sample,
        k-means implementation, where the assignments go) and ``database``.
    spark : SparkSession, optional
        A running session (tests share one); else one is started from ``config.spark``.

    Returns
    -------
    SparkRun
        ``run_id``, ``n_users``, ``k``, ``inertia``, ``n_iter``, ``assignments`` (the
        Parquet folder), ``timings`` (seconds per step).
    """
    from userseg.jobs.pipeline import open_db, settings_dict
    from userseg.segment.segmenter import Segmenter
    from userseg.store import record_feature_set, save_run

    sc = config.spark
    sc.validate()
    fit_cfg = config.fit
    fit_cfg.validate()
    if not get_family(fit_cfg.algorithm).centroid:
        raise ConfigError(
            f"engine: spark runs k-means; fit.algorithm is {fit_cfg.algorithm!r}. Use the "
            "embedded engine for the other algorithms."
        )
    if fit_cfg.target is not None:
        raise ConfigError("engine: spark does not take fit.target yet; use the embedded engine.")
    if config.events is None:
        raise ConfigError("engine: spark needs an events section (events.path: Parquet).")
    if config.users is not None:
        raise ConfigError(
            "engine: spark reads events only; join user attributes into the event table's "
            "features, or use the embedded engine for a users section."
        )
    out_root = Path(sc.assignments or f"{config.database}.assignments")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    spark = spark or spark_session(sc)
    seed = int(fit_cfg.random_state)
    tmp = out_root / f".tmp-{uuid.uuid4().hex}"
    step = "reading the events"
    cached: list[Any] = []
    try:
        read_events(spark, config.events, config.event_columns)
        step = "computing the features"
        frame, fs = spark_features(spark, config.features)
        frame = frame.repartition(sc.partitions, "user_id").cache()
        cached.append(frame)
        n = frame.count()
        if n == 0:
            raise DataError("the feature table is empty: no users to segment.")
        fs.n_users = n
        fs.fingerprint = f"spark:{n}"
        timings["features"] = time.perf_counter() - t0
        if progress:
            progress("features", 1, 1)

        step = "drawing the driver-side sample"
        t1 = time.perf_counter()
        numeric = [f.name for f in fs.features if f.kind == "numeric"]
        fraction = min(1.0, sc.sample / n)
        part = frame if fraction >= 1.0 else frame.sample(False, fraction, seed)
        sample = _numeric_frame(part.toPandas(), numeric).set_index("user_id").sort_index()
        seg = Segmenter(
            n_segments=fit_cfg.k,
            k_min=fit_cfg.k_min,
            k_max=fit_cfg.k_max,
            prepare=config.prepare,
            units={f.name: f.unit for f in fs.features},
            labels={f.name: f.label for f in fs.features if f.label} or None,
            algorithm_params=fit_cfg.params or None,
            silhouette_sample=fit_cfg.silhouette_sample,
            random_state=seed,
            stability_runs=fit_cfg.stability_runs,
            check_structure=fit_cfg.structure,
            rules=fit_cfg.rules,
        ).fit(sample, progress=progress)
        timings["sample_fit"] = time.perf_counter() - t1

        step = "running k-means on every user"
        t2 = time.perf_counter()
        prepared, zcols = prepare_columns(frame, seg.preparer_, numeric)
        prepared = prepared.cache()
        cached.append(prepared)
        init = seg.assigner_.centers
        if sc.kmeans == "mllib":
            run = mllib_kmeans(prepared, zcols, len(init), seed=seed)
        else:
            run = lloyd(prepared, zcols, init)
        seg.assigner_ = CentroidAssigner(run.centers)
        timings["kmeans"] = time.perf_counter() - t2

        step = "writing the assignments"
        t3 = time.perf_counter()
        assigned = assign_columns(prepared, zcols, run.centers)
        assigned.write.partitionBy("segment").parquet(str(tmp))
        if sc.store_assignments:
            table = spark.read.parquet(str(tmp)).select("user_id", "segment", "distance").toPandas()
        else:  # the sample's only: every user's would not fit the driver
            index, dist = seg.assigner_.predict(seg.preparer_.transform(sample))
            table = pd.DataFrame({"user_id": sample.index, "segment": index, "distance": dist})
        timings["assign"] = time.perf_counter() - t3
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise _spark_error(exc, step) from None
    finally:
        for df in cached:
            df.unpersist()

    table = table.sort_values("user_id", kind="stable").reset_index(drop=True)
    labels = seg._ids(table["segment"].to_numpy(np.int64))
    seg.labels_ = labels
    seg.distances_ = table["distance"].to_numpy(np.float64)
    # sizes and shares of every user (the distributed final pass counted them, in the
    # assigner's order, which is the segment order)
    counts = np.rint(run.counts).astype(np.int64)
    ids = seg.segment_ids_
    seg.baseline_["segment_shares"] = {int(ids[j]): float(c) / n for j, c in enumerate(counts) if c}
    seg.baseline_["distance_p99"] = float(np.quantile(seg.distances_, 0.99))
    seg.baseline_["n_users"] = n
    size = {int(ids[j]): int(c) for j, c in enumerate(counts)}
    for p in seg.profiles_:  # the means are the sample's
        p.size = size.get(p.segment, 0)
        p.share = p.size / n
    if len(sample) < n:
        seg.notes_.append(
            f"engine spark: k, preparation, profiles and metrics from a sample of "
            f"{len(sample):,} of {n:,} users; k-means and sizes on every user"
        )
    if not sc.store_assignments:
        seg.notes_.append(
            f"engine spark: the database holds the sample's assignments; every user's are "
            f"in {out_root}/run=<id>"
        )
    timings.update(total=time.perf_counter() - t0)
    seg.timings_ = {**seg.timings_, **{f"spark_{k}": v for k, v in timings.items()}}

    t4 = time.perf_counter()
    db = open_db(config.database)
    try:
        with db.transaction():
            record_feature_set(
                db,
                fs,
                {
                    "features": settings_dict(config.features),
                    "engine": "spark",
                    "events": config.events.path or config.events.table,
                },
            )
            run_id = save_run(
                db,
                seg,
                table["user_id"].to_numpy(),
                feature_set=fs,
                config={
                    "engine": "spark",
                    "spark": asdict(sc),
                    "fit": settings_dict(fit_cfg),
                    "prepare": settings_dict(config.prepare),
                    "feature_set_id": fs.feature_set_id,
                    "as_of": fs.as_of,
                    "kmeans": {
                        "implementation": sc.kmeans,
                        "inertia": run.inertia,
                        "n_iter": run.n_iter,
                        "converged": run.converged,
                    },
                },
                timings=seg.timings_,
            )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        db.close()
    final = out_root / f"run={run_id}"
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    timings["store"] = time.perf_counter() - t4
    return SparkRun(
        run_id=run_id,
        n_users=n,
        sample=len(sample),
        k=seg.n_segments_,
        inertia=run.inertia,
        n_iter=run.n_iter,
        assignments=str(final),
        timings=timings,
        segmenter=seg,
    )


def run_spark_pipeline(
    config: PipelineConfig, *, progress: Progress | None = None
) -> dict[str, Any]:
    """``userseg run`` with ``engine: spark``: fit on Spark, then the report; a summary
    shaped as :func:`userseg.jobs.pipeline.run_pipeline`'s (no ingests: Spark reads the lake)."""
    from userseg.explain.report import check_output_path, report_path
    from userseg.jobs.pipeline import open_db, report
    from userseg.store import get_run, load_profiles

    report_path(config.report.out)
    if config.report.heatmap:
        check_output_path(config.report.heatmap, "heatmap")
    t0 = time.perf_counter()
    result = fit_spark(config, progress=progress)
    db = open_db(config.database)
    try:
        html, png = report(db, result["run_id"], config.report.out, heatmap=config.report.heatmap)
        return {
            "database": config.database,
            "engine": "spark",
            "ingests": [],
            "run": get_run(db, result["run_id"]).to_dict(),
            "report": str(html),
            "heatmap": str(png) if png else None,
            "segments": [p.to_dict() for p in load_profiles(db, result["run_id"])],
            "assignments": result["assignments"],
            "timings": result["timings"],
            "seconds": time.perf_counter() - t0,
        }
    finally:
        db.close()
