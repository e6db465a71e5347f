"""The feature SQL, written once for DuckDB, rendered in Spark SQL.

Every feature is defined in one place (:mod:`userseg.features.events`), as DuckDB
SQL. Spark runs the same statements after :func:`to_spark` has rendered them
with sqlglot, plus three rewrites where the two engines do not mean the same
thing by the same text:

* ``epoch(ts)``: DuckDB's seconds since 1970 with the fraction; Spark's
  ``unix_timestamp`` drops the fraction, so it becomes
  ``unix_micros(CAST(ts AS TIMESTAMP_LTZ)) / 1e6`` (the session time zone is
  UTC, so a naive timestamp means the same instant in both engines).
* decimal literals (``2.5``, ``86400.0``): both engines read them as DECIMAL,
  but Spark rounds a decimal quotient to 6 places where DuckDB divides in
  double precision; they are cast to DOUBLE, which is what DuckDB computes
  with (the smoothing rates would otherwise differ in the 7th digit).
* timestamps are naive (``TIMESTAMP_NTZ``) in the session the engine opens,
  as DuckDB's ``TIMESTAMP`` is; :data:`SPARK_SQL_CONF` holds those settings.

Only sqlglot is needed here (no Spark), so the rendering is tested without Java.
"""

from __future__ import annotations

from typing import Any

from userseg.errors import ConfigError

__all__ = ["SPARK_SQL_CONF", "SparkSQL", "to_spark"]

# The session settings under which the rendered SQL means what the DuckDB SQL means.
SPARK_SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}


def _sqlglot() -> Any:
    try:
        import sqlglot
    except ImportError as exc:  # pragma: no cover - sqlglot comes with the spark extra
        raise ConfigError("the Spark engine needs sqlglot: pip install 'userseg[spark]'.") from exc
    return sqlglot


def to_spark(sql: str) -> str:
    """Render a DuckDB statement of the feature code in Spark SQL.

    Parameters
    ----------
    sql : str
        A statement as :func:`userseg.features.events.event_feature_sql` or
        :func:`~userseg.features.events.spec_from_data` write it.

    Returns
    -------
    str
        The same statement in Spark SQL (see the module docstring for the rewrites).

    Examples
    --------
    >>> to_spark("SELECT epoch(max(ts)) / 86400.0 AS d FROM events")
    'SELECT UNIX_MICROS(CAST(MAX(ts) AS TIMESTAMP_LTZ)) / CAST(1000000 AS DOUBLE) / CAST(86400.0 AS DOUBLE) AS d FROM events'
    """  # noqa: E501
    sqlglot = _sqlglot()
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.TimeToUnix) or (
            isinstance(node, exp.Anonymous) and str(node.name).lower() == "epoch"
        ):
            arg = node.this if isinstance(node, exp.TimeToUnix) else node.expressions[0]
            micros = exp.Anonymous(
                this="UNIX_MICROS",
                expressions=[exp.Cast(this=arg, to=exp.DataType.build("TIMESTAMPLTZ"))],
            )
            return exp.Div(
                this=micros,
                expression=exp.Cast(
                    this=exp.Literal.number(1000000), to=exp.DataType.build("DOUBLE")
                ),
            )
        if (
            isinstance(node, exp.Literal)
            and not node.is_string
            and any(ch in node.this for ch in ".eE")
            and not isinstance(node.parent, exp.DataTypeParam)
        ):
            return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
        return node

    return tree.transform(rewrite).sql(dialect="spark")


class _Result:
    """What a DuckDB cursor gives the feature code: ``fetchone`` and ``fetchall``."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


class SparkSQL:
    """The part of :class:`userseg.io.database.Database` the feature code reads through.

    ``execute``, ``rows`` and ``scalar`` take DuckDB SQL, render it with
    :func:`to_spark` and run it in ``spark`` (a ``SparkSession``), so that
    :func:`~userseg.features.events.spec_from_data` and
    :func:`~userseg.features.events.default_as_of` run unchanged on a Spark table.
    Parameters (``?``) are not supported: the feature code inlines its literals.
    """

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def execute(self, sql: str, params: Any = None) -> _Result:
        if params:
            raise ConfigError("SparkSQL does not bind parameters; inline the literals.")
        return _Result([tuple(r) for r in self.spark.sql(to_spark(sql)).collect()])

    def rows(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Any = None) -> Any:
        row = self.execute(sql, params).fetchone()
        return row[0] if row else None
