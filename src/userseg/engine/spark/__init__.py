"""``engine: spark``: the same segmentation on Apache Spark (needs the ``spark`` extra and Java).

:func:`spark_session` starts ``local[2]`` or joins a cluster; :func:`fit_spark` runs the
pipeline's features, preparation and k-means on it and stores the run in the usual
userseg database. See ``docs/scale.md``.
"""

from __future__ import annotations

from userseg.engine.spark.fit import SparkRun, fit_spark, run_spark_pipeline
from userseg.engine.spark.session import java_available, pyspark_available, spark_session

__all__ = [
    "SparkRun",
    "fit_spark",
    "java_available",
    "pyspark_available",
    "run_spark_pipeline",
    "spark_session",
]
