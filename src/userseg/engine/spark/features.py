"""Events read by Spark, and the per-user features computed in Spark SQL.

The features are the embedded engine's own definitions
(:func:`userseg.features.events.spec_from_data`,
:func:`~userseg.features.events.event_feature_sql`), written once in DuckDB SQL
and rendered in Spark SQL by :mod:`userseg.engine.dialect`: no second copy.

The Spark engine reads a curated event table: Parquet (a file, a folder, a glob)
or a Spark table, with the canonical columns of an imported event log or the
columns a pipeline file's ``events.columns`` names. Validating raw exports
(text in money, day/month dates, duplicates) is the embedded ``ingest``'s job;
a lake's table has been through its own.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from userseg.config import EventMapping, FeatureConfig, Source
from userseg.engine.dialect import SparkSQL, to_spark
from userseg.errors import ConfigError, DataError, SchemaError
from userseg.features.build import FeatureSet, check_feature_config
from userseg.features.events import (
    FeatureInfo,
    default_as_of,
    event_feature_sql,
    spec_from_data,
)
from userseg.io.ingest import MONEY

__all__ = ["EVENTS_VIEW", "read_events", "spark_features"]

EVENTS_VIEW = "userseg_spark_events"
# canonical column → the EventMapping attribute that may name its source column
_COLUMNS = {
    "user_id": "user_id",
    "ts": "time",
    "event": "event",
    "amount": "amount",
    "category": "category",
    "session_id": "session",
    "rating": "rating",
    "order_id": "order_id",
}


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _lit(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_events(spark: Any, source: Source, mapping: EventMapping | None = None) -> Any:
    """The canonical event table as a Spark DataFrame (also registered as a temp view).

    Parameters
    ----------
    spark : SparkSession
    source : Source
        ``path`` (Parquet: a file, a folder or a glob) or ``table`` (a Spark table).
    mapping : EventMapping, optional
        Source column of each canonical column; a canonical name present in the data
        (``user_id``, ``ts``, ``event``, ``amount``…) is taken as it is. Event names
        are mapped to kinds as ``ingest`` maps them (case-insensitive, ``event_values``).

    Raises
    ------
    DataError
        The Parquet cannot be read.
    SchemaError
        A named column is absent (the message lists the available ones).
    """
    mapping = mapping or EventMapping()
    try:
        if source.table:
            raw = spark.table(source.table)
            where = f"table {source.table}"
        elif source.path:
            if source.format not in (None, "parquet"):
                raise ConfigError(
                    f"engine: spark reads Parquet or a Spark table; events.format is "
                    f"{source.format!r}. Convert the file to Parquet, or use the embedded engine."
                )
            raw = spark.read.parquet(source.path)
            where = source.path
        else:
            raise ConfigError("engine: spark needs events.path (Parquet) or events.table.")
    except (ConfigError, SchemaError):
        raise
    except Exception as exc:  # AnalysisException: path absent, not Parquet
        raise DataError(
            f"cannot read events from {source.path or source.table}: {str(exc).splitlines()[0]}"
        ) from None
    available = list(raw.columns)
    picked: dict[str, str] = {}
    for canon, attr in _COLUMNS.items():
        named = getattr(mapping, attr, None)
        default = EventMapping.__dataclass_fields__[attr].default
        if named and (named != default or named in available):
            picked[canon] = named
        elif canon in available:
            picked[canon] = canon
    if "ts" not in picked and mapping.time in available:
        picked["ts"] = mapping.time
    missing = [c for c in ("user_id", "ts") if c not in picked or picked[c] not in available]
    wrong = [n for n in picked.values() if n not in available]
    if missing or wrong:
        raise SchemaError(
            f"events in {where}: column(s) {sorted(set(wrong) | set(missing))} not found; "
            f"available: {available}.",
            details={"missing": sorted(set(wrong) | set(missing)), "available": available},
        )

    def col(canon: str, cast: str) -> str:
        if canon in picked:
            return f"CAST({_q(picked[canon])} AS {cast})"
        return f"CAST(NULL AS {cast})"

    amount = col("amount", MONEY)
    if "event" in picked:
        lookup = mapping.event_lookup()
        cases = " ".join(f"WHEN {_lit(raw_)} THEN {_lit(kind)}" for raw_, kind in lookup.items())
        kind = f"CASE lower(CAST({_q(picked['event'])} AS STRING)) {cases} ELSE 'other' END"
    else:  # without an event column every row with money is a purchase (as ingest)
        kind = f"CASE WHEN {amount} IS NOT NULL THEN 'purchase' ELSE 'other' END"
    # a purchase with negative money is a return; returns carry negative money (as ingest)
    event = f"CASE WHEN ({kind}) = 'purchase' AND {amount} < 0 THEN 'refund' ELSE ({kind}) END"
    select = [
        f"{col('user_id', 'STRING')} AS user_id",
        f"{col('ts', 'TIMESTAMP_NTZ')} AS ts",
        f"{event} AS event",
        f"CASE WHEN ({event}) = 'refund' THEN -abs({amount}) ELSE {amount} END AS amount",
        f"{col('category', 'STRING')} AS category",
        f"{col('session_id', 'STRING')} AS session_id",
        f"{col('rating', 'DOUBLE')} AS rating",
        f"{col('order_id', 'STRING')} AS order_id",
    ]
    raw.createOrReplaceTempView("__userseg_raw_events")
    events = spark.sql(
        f"SELECT {', '.join(select)} FROM __userseg_raw_events "
        f"WHERE {col('user_id', 'STRING')} IS NOT NULL AND {col('ts', 'TIMESTAMP_NTZ')} IS NOT NULL"
    )
    events.createOrReplaceTempView(EVENTS_VIEW)
    return events


def spark_features(
    spark: Any, config: FeatureConfig | None = None, *, table: str = EVENTS_VIEW
) -> tuple[Any, FeatureSet]:
    """Per-user features of the events in Spark view ``table``, as the embedded engine builds them.

    Returns
    -------
    features : pyspark.sql.DataFrame
        ``user_id`` and one column per feature (money as DECIMAL(38, 8)), not yet computed.
    feature_set : FeatureSet
        Its description, with the frozen :class:`~userseg.features.events.FeatureSpec`
        (categories, population rates) that scoring reuses; ``n_users`` is filled
        in once the table is counted (``fingerprint`` is ``spark:<n>``).
    """
    config = config or FeatureConfig()
    check_feature_config(config)
    t0 = time.perf_counter()
    sql = SparkSQL(spark)
    as_of = config.as_of or default_as_of(sql, table)  # type: ignore[arg-type]
    spec = spec_from_data(
        sql,  # type: ignore[arg-type]
        as_of,
        table=table,
        session_gap_minutes=config.session_gap_minutes,
        top_categories=config.top_categories,
        smoothing=config.smoothing,
    )
    event_sql, feats = event_feature_sql(spec, as_of, table=table)
    feats = [
        FeatureInfo(f.name, f.kind, f.unit, f.description, f.source, f.name.replace("_", " "))
        for f in feats
    ]
    names = [f.name for f in feats]
    unknown = [n for n in [*(config.include or []), *config.exclude] if n not in names]
    if unknown:
        raise ConfigError(
            f"features include/exclude name unknown feature(s) {unknown}; available: {names}."
        )
    keep = [
        f
        for f in feats
        if (config.include is None or f.name in config.include) and f.name not in config.exclude
    ]
    if not keep:
        raise ConfigError("no features left after include/exclude.")
    frame = spark.sql(to_spark(event_sql)).select("user_id", *(f.name for f in keep))
    fs = FeatureSet(
        table="spark:features",
        as_of=as_of if isinstance(as_of, dt.date) else None,
        n_users=0,
        features=keep,
        fingerprint="",
        notes=[],
        seconds=time.perf_counter() - t0,
        spec=spec,
    )
    return frame, fs
