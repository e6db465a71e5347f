"""Distributed k-means on Spark: userseg's Lloyd kernels per partition, or MLlib's KMeans.

:func:`lloyd` runs the embedded engine's compiled pass
(:func:`userseg.cluster._kmeans_kernels.full_pass`) inside each partition through
``mapInArrow``; a partition sends back only its sufficient statistics (per
cluster: the weight, the sum of its rows and the sum of squared distances,
k·(d+2) numbers), which the driver adds up into the new centres. The data never
leaves the executors, and one iteration is one pass over the cached rows.

:func:`mllib_kmeans` is Spark's own (k-means|| seeding, Lloyd); the benchmark
(``benchmarks/bench_spark.py``) compares the two and the engine keeps the
Numba one by default (``spark.kmeans``) because it measured faster at equal inertia.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DistributedRun", "assign_columns", "lloyd", "mllib_kmeans", "rows_of"]


def rows_of(batch: Any, columns: list[str]) -> np.ndarray:
    """The rows of an Arrow record batch's ``columns`` as a C-contiguous float64 (n, d) array."""
    idx = [batch.schema.get_field_index(c) for c in columns]
    if not len(batch):
        return np.empty((0, len(columns)))
    return np.ascontiguousarray(
        np.column_stack(
            [
                np.asarray(batch.column(i).to_numpy(zero_copy_only=False), dtype=np.float64)
                for i in idx
            ]
        )
    )


def _partition_stats(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, ...]:
    """One pass of the compiled kernel over ``X``: per-cluster counts, sums, squared distances."""
    from userseg.cluster import _kmeans_kernels as K

    n, d = X.shape
    k = centers.shape[0]
    bounds = K.chunk_bounds(n, k, d)
    nch = bounds.size - 1
    labels = np.full(n, -1, dtype=np.int32)
    sums = np.zeros((nch, k, d))
    counts = np.zeros((nch, k))
    sq = np.zeros((nch, k))
    ds = np.zeros((nch, k))
    none = np.empty(0, dtype=np.float32)
    K.full_pass(
        X,
        np.empty(0),
        centers,
        bounds,
        labels,
        none,
        none,
        sums,
        counts,
        sq,
        ds,
        K.FLAG_UPDATE | K.FLAG_STATS,
    )
    return counts.sum(axis=0), sums.sum(axis=0), sq.sum(axis=0)


def _stats_fn(columns: list[str], centers: np.ndarray) -> Any:
    """The ``mapInArrow`` function of one Lloyd iteration (runs on the executors)."""

    def fn(batches: Iterator[Any]) -> Iterator[Any]:
        import numba
        import pyarrow as pa

        # Spark runs one task per core already: a task's kernel uses one thread.
        numba.set_num_threads(1)
        k, d = centers.shape
        counts, sums, sq = np.zeros(k), np.zeros((k, d)), np.zeros(k)
        for batch in batches:
            X = rows_of(batch, columns)
            if len(X):
                c, s, q = _partition_stats(X, centers)
                counts += c
                sums += s
                sq += q
        yield pa.RecordBatch.from_pydict(
            {
                "cluster": pa.array(np.arange(k, dtype=np.int32)),
                "weight": pa.array(counts),
                "sq": pa.array(sq),
                "sums": pa.array(list(sums), type=pa.list_(pa.float64())),
            }
        )

    return fn


_STATS_SCHEMA = "cluster int, weight double, sq double, sums array<double>"


@dataclass
class DistributedRun:
    """The result of :func:`lloyd`: centres, inertia and how it got there."""

    centers: np.ndarray
    inertia: float
    counts: np.ndarray
    n_iter: int
    converged: bool


def _reduce(rows: list[Any], k: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts, sums, sq = np.zeros(k), np.zeros((k, d)), np.zeros(k)
    for r in rows:
        counts[r["cluster"]] += r["weight"]
        sums[r["cluster"]] += np.asarray(r["sums"])
        sq[r["cluster"]] += r["sq"]
    return counts, sums, sq


def lloyd(
    frame: Any,
    columns: list[str],
    init: np.ndarray,
    *,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> DistributedRun:
    """Lloyd's k-means over every row of a Spark DataFrame, from the centres ``init``.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        Numeric columns ``columns`` (the prepared features); cache it, each
        iteration reads it once.
    columns : list of str
    init : ndarray of shape (k, d)
        Starting centres (the driver-side sample's k-means).
    max_iter : int
    tol : float
        Relative tolerance, as scikit-learn's: stop when the squared shift of the
        centres is at most ``tol`` times the mean variance of the columns.

    Returns
    -------
    DistributedRun
        An empty cluster keeps its previous centre.
    """
    from pyspark.sql import functions as F

    centers = np.ascontiguousarray(init, dtype=np.float64)
    k, d = centers.shape
    var = frame.agg(*(F.var_pop(c) for c in columns)).collect()[0]
    threshold = tol * float(np.mean([v or 0.0 for v in var]))
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        rows = frame.mapInArrow(_stats_fn(columns, centers), _STATS_SCHEMA).collect()
        counts, sums, _ = _reduce(rows, k, d)
        new = centers.copy()
        full = counts > 0
        new[full] = sums[full] / counts[full, None]
        shift = float(np.sum((new - centers) ** 2))
        centers = new
        if shift <= threshold:
            converged = True
            break
    rows = frame.mapInArrow(_stats_fn(columns, centers), _STATS_SCHEMA).collect()
    counts, _, sq = _reduce(rows, k, d)
    return DistributedRun(centers, float(sq.sum()), counts, n_iter, converged)


def assign_columns(
    frame: Any, columns: list[str], centers: np.ndarray, *, keep: tuple[str, ...] = ("user_id",)
) -> Any:
    """``keep`` columns, ``segment`` (the nearest centre) and ``distance``, per partition."""
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    fields = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    schema = ", ".join([*(f"`{c}` {fields[c]}" for c in keep), "segment int", "distance double"])

    def fn(batches: Iterator[Any]) -> Iterator[Any]:
        import numba
        import pyarrow as pa

        from userseg.cluster.nearest import nearest_centres

        numba.set_num_threads(1)
        for batch in batches:
            X = rows_of(batch, columns)
            n = len(X)
            labels = np.full(n, -1, dtype=np.int32)
            dist = np.empty(n)
            if n:
                # the stored model's own nearest-centre rule, so `assign` agrees with Spark
                found, dist = nearest_centres(np.ascontiguousarray(X, dtype=np.float64), centers)
                labels = found.astype(np.int32)
            arrays = [batch.column(batch.schema.get_field_index(c)) for c in keep]
            yield pa.RecordBatch.from_arrays(
                [*arrays, pa.array(labels), pa.array(dist)], names=[*keep, "segment", "distance"]
            )

    return frame.mapInArrow(fn, schema)


def mllib_kmeans(
    frame: Any, columns: list[str], k: int, *, seed: int = 0, max_iter: int = 300, tol: float = 1e-4
) -> DistributedRun:
    """MLlib's KMeans (k-means|| seeding) on the same columns, for the comparison."""
    from pyspark.ml.clustering import KMeans as MLKMeans
    from pyspark.ml.feature import VectorAssembler

    vec = VectorAssembler(inputCols=columns, outputCol="__features").transform(frame)
    model = MLKMeans(
        k=k, seed=seed, maxIter=max_iter, tol=tol, featuresCol="__features", initMode="k-means||"
    ).fit(vec)
    summary = model.summary
    return DistributedRun(
        np.asarray(model.clusterCenters()),
        float(summary.trainingCost),
        np.asarray(summary.clusterSizes, dtype=np.float64),
        int(summary.numIter),
        True,
    )
