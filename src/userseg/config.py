"""Typed, validated configuration: data sources, column mappings, policies and the feature steps.

The sections of a pipeline file that the early layers read (sources,
mappings, row policies, ``features``, ``prepare``) are dataclasses here, with
:func:`from_dict`, the one dict → dataclass conversion: unknown keys are errors
that suggest the closest known key, because a misspelt option silently ignored
is a wrong segmentation nobody notices. The ``fit`` section is
:class:`userseg.segment.params.FitConfig` (its parameters are declared with the
segmenter's); the whole file is :class:`userseg.jobs.pipeline_config.PipelineConfig`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from userseg.errors import ConfigError

__all__ = [
    "CANONICAL_EVENTS",
    "EventMapping",
    "FeatureConfig",
    "PrepareConfig",
    "RowPolicy",
    "Source",
    "SparkConfig",
    "UserMapping",
    "from_dict",
]

BadValuePolicy = Literal["reject", "drop", "impute"]

#: Canonical event kinds and the raw event names recognised for each (case-insensitive).
CANONICAL_EVENTS: dict[str, tuple[str, ...]] = {
    "view": ("view", "page_view", "pageview", "product_viewed", "product_view", "visit"),
    "cart": ("add_to_cart", "cart", "addtocart", "product_added", "add-to-cart"),
    "purchase": ("purchase", "order", "order_completed", "checkout", "buy", "transaction"),
    "refund": ("refund", "return", "order_refunded", "cancellation"),
    "rating": ("rating", "review", "rate"),
}


@dataclass
class Source:
    """Where data comes from: a file (or glob), a table in a DuckDB file, or an SQL query.

    Attributes
    ----------
    path : str, optional
        A file or a glob (``by-day/*.csv``); for ``format="duckdb"`` the DuckDB file.
    format : {"csv", "parquet", "json", "duckdb", "sql"}, optional
        Inferred from the file suffix when omitted.
    delimiter : str, optional
        CSV delimiter; sniffed when omitted.
    header : bool
        Whether the first CSV line holds column names.
    names : list of str, optional
        Column names for a header-less CSV (otherwise ``column0``, ``column1``, …).
    quote : str, optional
        CSV quote character (default ``"``).
    table : str, optional
        Table name, for ``format="duckdb"``.
    query : str, optional
        An SQL query run in the userseg database (``format="sql"``).
    """

    path: str | None = None
    format: Literal["csv", "parquet", "json", "duckdb", "sql"] | None = None
    delimiter: str | None = None
    header: bool = True
    names: list[str] | None = None
    quote: str | None = None
    table: str | None = None
    query: str | None = None

    def describe(self) -> str:
        if self.query:
            return f"query: {self.query[:60]}"
        if self.table:
            return f"{self.path}::{self.table}"
        return str(self.path)


#: Numbers beyond this magnitude are bad values wherever data enter userseg (files, the
#: service, data frames): no count, amount or rating of a user is that large, and a value
#: such as 1e308 overflows the float32 arithmetic of the clustering and rule steps.
MAX_ABS_VALUE = 1e15
#: Longest display name of a feature (it is read inside sentences and segment names).
MAX_DISPLAY_NAME = 60


@dataclass
class RowPolicy:
    """What to do with rows that fail validation; stated in the ingest report and the run record.

    Attributes
    ----------
    on_bad_value : "reject" | "drop" | "impute", or a mapping column → policy
        For text in a numeric column, NaN, ±inf, out-of-range numbers and
        unparseable dates: fail the import, drop the row, or keep the row with
        the value missing (imputed later by the preparation step).
    max_bad_fraction : float
        Above this share of bad rows the import fails whatever the policy:
        so many bad values mean a wrong mapping or format, not dirty data.
    max_abs_value : float
        Numbers beyond this magnitude (e.g. ``1e308``) count as bad values.
    duplicates : "drop" | "keep"
        Exact duplicate rows in an event log (or repeated event ids).
    future : "drop" | "reject"
        Events later than ``now`` (plus one day of clock skew) are dropped or fail the import.
    now : datetime, optional
        The reference time for the future check (the wall clock by default; never
        used for recency, which uses the explicit as-of date).
    """

    on_bad_value: BadValuePolicy | dict[str, BadValuePolicy] = "drop"
    max_bad_fraction: float = 0.01
    max_abs_value: float = MAX_ABS_VALUE
    duplicates: Literal["drop", "keep"] = "drop"
    future: Literal["drop", "reject"] = "drop"
    now: dt.datetime | None = None

    def for_column(self, column: str) -> BadValuePolicy:
        if isinstance(self.on_bad_value, dict):
            return self.on_bad_value.get(column, "drop")
        return self.on_bad_value

    def validate(self) -> None:
        policies = (
            self.on_bad_value.values()
            if isinstance(self.on_bad_value, dict)
            else [self.on_bad_value]
        )
        for p in policies:
            if p not in ("reject", "drop", "impute"):
                raise ConfigError(f"on_bad_value must be 'reject', 'drop' or 'impute'; got {p!r}.")
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ConfigError(
                f"max_bad_fraction must be within [0, 1]; got {self.max_bad_fraction}."
            )


@dataclass
class EventMapping:
    """Which columns of an event log hold what. Only ``user_id`` and ``time`` are required.

    ``amount`` holds money per row; when absent, ``quantity × price`` is used
    (e.g. an order-line log). Negative amounts are returns. Without an
    ``event`` column every row with money is a purchase (a transaction log).
    """

    user_id: str = "user_id"
    time: str = "timestamp"
    event: str | None = None
    amount: str | None = None
    quantity: str | None = None
    price: str | None = None
    category: str | None = None
    session: str | None = None
    rating: str | None = None
    order_id: str | None = None
    event_id: str | None = None
    date_format: str | None = None
    event_values: dict[str, list[str]] | None = None
    item: str | None = None  # product id (StockCode, SKU): for recommendations
    #: a free-text column (a review, a ticket, a message per event): stored in the
    #: ``texts`` table and turned into per-user sentiment and topic features
    text: str | None = None

    def mapped(self) -> dict[str, str]:
        """Canonical name → source column, for every mapped column."""
        names = (
            "user_id",
            "time",
            "event",
            "amount",
            "quantity",
            "price",
            "category",
            "session",
            "rating",
            "order_id",
            "event_id",
            "item",
            "text",
        )
        return {n: getattr(self, n) for n in names if getattr(self, n)}

    def event_lookup(self) -> dict[str, str]:
        """Raw event name (lower-case) → canonical kind."""
        table = {k: list(v) for k, v in CANONICAL_EVENTS.items()}
        for kind, values in (self.event_values or {}).items():
            if kind not in CANONICAL_EVENTS:
                raise ConfigError(
                    f"event_values has unknown kind {kind!r}; expected one of "
                    f"{sorted(CANONICAL_EVENTS)}."
                )
            table[kind] = list(values)
        return {str(v).lower(): kind for kind, values in table.items() for v in values}


@dataclass
class UserMapping:
    """How to read a user table: one row per user, attribute columns.

    Attributes
    ----------
    user_id : str, optional
        The id column; detected among common names (``user_id``, ``customer_id``,
        ``CUST_ID``, ``id``…) when omitted, else users are numbered by row.
    columns : list of str, optional
        The attribute columns to keep (all others when omitted).
    exclude : list of str
        Columns to leave out.
    categorical, numeric, dates : list of str, optional
        Force a column's kind (otherwise inferred: numeric when ≥ 90 % of its
        values are numbers, a date when ≥ 90 % are dates, else categorical).
    date_format : str, optional
        strptime format of date columns.
    text : str, optional
        A free-text column (a bio, a survey answer, a review per user): stored in
        the ``texts`` table, turned into text features, not kept as an attribute.
    """

    user_id: str | None = None
    columns: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    categorical: list[str] | None = None
    numeric: list[str] | None = None
    dates: list[str] | None = None
    date_format: str | None = None
    text: str | None = None


@dataclass
class FeatureConfig:
    """Per-user features from the event log.

    Attributes
    ----------
    as_of : date, optional
        The date recency and tenure are measured at; events from this date on are
        ignored. Default: the day after the last event in the data (never the wall clock).
    session_gap_minutes : float
        Without a session column, a gap longer than this starts a new session.
    top_categories : int
        Category-share features for this many most frequent categories (+ "other").
    smoothing : float
        Funnel rates and category shares are shrunk toward the population's value
        with a prior worth this many events (0 turns it off): a user with one view
        and one cart is not a 100 % converter.
    include, exclude : list of str, optional
        Feature names to keep or drop before segmentation.
    text : bool
        Per-user text features (sentiment, topics, volume) from the texts an
        import stored (``ingest --text``); False leaves them out.
    display_names : dict, optional
        Feature (or the column's name in the file, any case) → the words profiles
        and segment names use for it: ``{mntwines: "wine spend"}``. Without one, a
        feature is its column's name in words (``MntMeatProducts`` → "meat
        products spend", ``NumWebPurchases`` → "web purchases").
    """

    as_of: dt.date | None = None
    session_gap_minutes: float = 30.0
    top_categories: int = 8
    smoothing: float = 5.0
    include: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    display_names: dict[str, str] = field(default_factory=dict)
    text: bool = True

    def validate(self) -> None:
        for key, words in (self.display_names or {}).items():
            text = words.strip() if isinstance(words, str) else ""
            if not text or len(text) > MAX_DISPLAY_NAME or not text.isprintable():
                raise ConfigError(
                    f"features.display_names.{key} must be 1 to {MAX_DISPLAY_NAME} printable "
                    f"characters (the words profiles and names use); got {words!r}."
                )


@dataclass
class PrepareConfig:
    """How features are prepared for distance-based clustering.

    Defaults: missing values imputed with the median plus an indicator; heavy
    right tails (skew > 1) log1p-transformed; values clipped to the 0.5–99.5 %
    quantiles; every numeric feature standardised (unscaled, spend in currency
    would decide every segment); each categorical attribute one-hot encoded and
    weighted so that its whole block carries ``categorical_weight`` of the
    variance of one numeric feature (0.5 by default: attributes shape segments
    but cannot outvote behaviour). A numeric feature correlated above
    ``max_correlation`` (0.9) with an earlier one is left out of the distance:
    it would count the same signal twice (``None`` keeps every feature). A
    feature whose most common value is shared by ``max_mode_share`` (99 %) of
    the users is left out too: standardised, its few other users sit ten
    standard deviations away and k-means gives them a segment of their own
    (21 complainers of 2,240 customers did, in a trial).
    """

    impute: Literal["median", "mean", "zero"] = "median"
    indicators: bool = True
    log: Literal["auto", "none", "all"] = "auto"
    skew_threshold: float = 1.0
    clip_quantiles: tuple[float, float] | None = (0.005, 0.995)
    scale: Literal["standard", "robust", "none"] = "standard"
    categorical_weight: float = 0.5
    indicator_weight: float = 0.5
    max_categories: int = 12
    min_category_share: float = 0.01
    max_cardinality: int = 50
    max_correlation: float | None = 0.9
    max_mode_share: float = 0.99

    def validate(self) -> None:
        if not 0.0 < self.max_mode_share <= 1.0:
            raise ConfigError(
                f"max_mode_share={self.max_mode_share} should be in (0, 1] (1 leaves out only "
                "constant features)."
            )


@dataclass
class SparkConfig:
    """Where and how the Spark engine runs (``engine: spark``; needs the ``spark`` extra).

    Attributes
    ----------
    master : str
        ``local[2]`` (the default: Spark inside this process, two cores), or a cluster's
        master URL (``spark://host:7077``, ``yarn``, ``k8s://…``).
    driver_memory, executor_memory : str, optional
        Spark's memory settings (``"4g"``); left to Spark when omitted.
    partitions : int
        Partitions of the per-user tables (features, prepared rows, assignments) and of
        Spark SQL's shuffles: about 2-4 per core of the cluster.
    sample : int
        Users drawn to the driver for what runs on one machine: the preparation statistics,
        the k sweep, the silhouette, stability and the profiles. The final k-means runs on
        every user, distributed.
    kmeans : {"numba", "mllib"}
        The distributed k-means: userseg's compiled Lloyd kernels per partition
        (``mapInArrow``, sufficient statistics reduced on the driver), or MLlib's KMeans.
    assignments : str, optional
        Where the assignments are written as Parquet, partitioned by segment
        (default: ``<database>.assignments/run=<id>``).
    store_assignments : bool
        Also store every user's assignment in the userseg database (``compare``, ``segments``
        read them there); they pass through the driver, about 80 bytes a user. Off for
        hundreds of millions of users: the database then keeps the sample's, the Parquet
        everyone's.
    conf : dict
        Any other Spark settings, passed as they are.
    """

    master: str = "local[2]"
    driver_memory: str | None = None
    executor_memory: str | None = None
    partitions: int = 8
    sample: int = 200_000
    kmeans: Literal["numba", "mllib"] = "numba"
    assignments: str | None = None
    store_assignments: bool = True
    conf: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        if not isinstance(self.master, str) or not self.master.strip():
            raise ConfigError(f"spark.master={self.master!r} should be a master URL (local[2]).")
        if self.partitions < 1:
            raise ConfigError(f"spark.partitions={self.partitions} should be >= 1.")
        if self.sample < 100:
            raise ConfigError(f"spark.sample={self.sample} should be >= 100 users.")
        if self.kmeans not in ("numba", "mllib"):
            raise ConfigError(f"spark.kmeans={self.kmeans!r} should be 'numba' or 'mllib'.")


# -- generic dict → dataclass conversion with validation ----------------------------


def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking keys and value types.

    ``where`` names the place in the config (``"events.columns"``) for messages.
    """
    if isinstance(data, cls):
        return data
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping; got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {sorted(fields)}"
            raise ConfigError(f"unknown key {key!r} in {where}{hint}")
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    obj = cls(**kwargs)
    for check in ("validate",):
        if hasattr(obj, check):
            getattr(obj, check)()
    return obj


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(exc.message)
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: invalid value {value!r}.")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {list(args)}; got {value!r}.")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list; got {value!r}.")
        return [_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ConfigError(f"{where} must be a list of {len(args)} values; got {value!r}.")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping; got {value!r}.")
        return {str(k): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false; got {value!r}.")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be an integer; got {value!r}.")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where} must be a number; got {value!r}.")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string; got {value!r}.")
    if tp is dt.date:
        return parse_date(value, where)
    if tp is dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            return dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(
                f"{where} must be a date-time (YYYY-MM-DD HH:MM); got {value!r}."
            ) from None
    return value


def parse_date(value: Any, where: str) -> dt.date:
    """Parse a ``YYYY-MM-DD`` date (or accept a date object)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where} must be a date in YYYY-MM-DD form; got {value!r}.") from None
