"""Engines beyond the embedded one: Apache Spark (PySpark, MLlib).

Nothing here is imported by the core: ``userseg.engine.spark`` needs the ``spark``
extra (PySpark) and a Java runtime, and is imported only when ``engine: spark`` is
asked for. :mod:`userseg.engine.dialect` renders the feature SQL written for DuckDB
in Spark SQL (one definition of each feature, two dialects) and needs only sqlglot.
"""

from __future__ import annotations

__all__: list[str] = []
