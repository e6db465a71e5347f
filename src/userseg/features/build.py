"""Build the per-user feature table: event features joined with user attributes.

The result is one DuckDB table (``features`` by default), one row per user,
with money kept as exact decimals; :class:`FeatureSet` describes it. Storing
its description with a run is the store layer's job.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from userseg.config import FeatureConfig
from userseg.errors import ConfigError, DataError, SchemaError
from userseg.features.events import (
    FeatureInfo,
    FeatureSpec,
    default_as_of,
    event_feature_sql,
    population,
    spec_from_data,
)
from userseg.features.labels import feature_label, is_year, match_column, named_like_year
from userseg.features.stats import user_stats
from userseg.features.text import TextSpec, text_feature_frame, text_feature_infos
from userseg.io.database import Database, StatementProgress, quote_ident
from userseg.io.texts import TEXT_TABLE

__all__ = [
    "FeatureSet",
    "build_features",
    "compute_features",
    "load_features",
    "table_fingerprint",
]


@dataclass
class FeatureSet:
    """A built feature table and what is in it."""

    table: str
    as_of: dt.date | None
    n_users: int
    features: list[FeatureInfo]
    fingerprint: str
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    feature_set_id: int | None = None
    spec: FeatureSpec | None = None  # how event features were built, to build them again alike
    text: TextSpec | None = None  # how text features were built (topic model, priors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_set_id": self.feature_set_id,
            "table": self.table,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "n_users": self.n_users,
            "features": [f.to_dict() for f in self.features],
            "fingerprint": self.fingerprint,
            "notes": self.notes,
            "seconds": self.seconds,
            "spec": self.spec.to_dict() if self.spec else None,
            "text": self.text.to_dict() if self.text else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSet:
        return cls(
            table=d["table"],
            as_of=dt.date.fromisoformat(d["as_of"]) if d.get("as_of") else None,
            n_users=int(d["n_users"]),
            features=[FeatureInfo(**f) for f in d["features"]],
            fingerprint=d["fingerprint"],
            notes=list(d.get("notes", [])),
            seconds=float(d.get("seconds", 0.0)),
            feature_set_id=d.get("feature_set_id"),
            spec=FeatureSpec.from_dict(d["spec"]) if d.get("spec") else None,
            text=TextSpec.from_dict(d["text"]) if d.get("text") else None,
        )


def table_fingerprint(db: Database, table: str) -> str:
    """An order-independent fingerprint of a table's content (row count + XOR of row hashes)."""
    cols = ", ".join(quote_ident(c) for c in db.columns(table))
    n, h = db.execute(
        f"SELECT count(*), bit_xor(hash({cols})) FROM {quote_ident(table)}"
    ).fetchone()
    return f"{n}:{(h or 0):016x}"


def _attribute_columns(db: Database, users: str) -> list[tuple[str, str, str]]:
    """(column, kind, column as in the file) of the usable attribute columns of the user table."""
    if not db.table_exists("userseg_columns"):
        return [(c, "categorical", c) for c in db.columns(users) if c != "user_id"]
    return [
        (c, k, s or c)
        for c, k, s in db.rows(
            "SELECT column_name, kind, source_column FROM userseg_columns "
            "WHERE table_name = ? AND usable",
            [users],
        )
    ]


def _attribute_parts(
    attrs: list[tuple[str, str, str]], as_of: dt.date | dt.datetime | None, taken: set[str]
) -> tuple[list[str], list[FeatureInfo]]:
    """SQL select expressions (over alias ``u``) and descriptions of the attribute features.

    Each feature's label is its column's name in words, read from the name the file
    gave it (``MntMeatProducts`` → "meat products spend"; the import lower-cased it).
    """
    select: list[str] = []
    infos: list[FeatureInfo] = []
    taken = set(taken)
    for col, kind, source in attrs:
        words = feature_label(source)
        if kind == "date":
            if as_of is None:
                continue
            name = f"{col}_days"
            expr = (
                f"(epoch(TIMESTAMP '{as_of.isoformat()}') - "
                f"epoch(CAST(u.{quote_ident(col)} AS TIMESTAMP))) / 86400.0"
            )
            info = FeatureInfo(
                name, "numeric", "days", f"days since {col}", "users", f"days since {words}"
            )
        elif kind == "numeric":
            name, expr = col, f"u.{quote_ident(col)}"
            info = FeatureInfo(name, "numeric", "value", col.replace("_", " "), "users", words)
        else:
            name, expr = col, f"u.{quote_ident(col)}"
            info = FeatureInfo(
                name, "categorical", "category", col.replace("_", " "), "users", words
            )
        if name in taken:  # an attribute named like an event feature keeps both, renamed
            name = f"{name}_attr"
            info = FeatureInfo(
                name, info.kind, info.unit, info.description, info.source, info.label
            )
        taken.add(name)
        select.append(f"{expr} AS {quote_ident(name)}")
        infos.append(info)
    return select, infos


def _mark_years(
    db: Database, users: str, infos: list[FeatureInfo], attrs: list[tuple[str, str, str]]
) -> None:
    """Give calendar-year attributes (``Year_Birth``) the unit "year": printed 1957, not 1,957.

    ``attrs`` are the (column, kind, name in the file) the ``infos`` were made from.
    """
    for i, (f, (column, _, source)) in enumerate(zip(infos, attrs, strict=True)):
        if f.unit != "value" or not named_like_year(source):
            continue  # only a column named like a year has its values read
        values = db.execute(f"SELECT {quote_ident(column)} FROM {quote_ident(users)}").df()
        if is_year(source, values.iloc[:, 0].to_numpy()):
            infos[i] = FeatureInfo(f.name, f.kind, "year", f.description, f.source, f.label)


def _apply_display_names(
    feats: list[FeatureInfo], display: dict[str, str], sources: dict[str, str]
) -> list[FeatureInfo]:
    """Features with the display names a pipeline file gave, by feature name or by the
    column's name in the file (``MntWines`` or ``mntwines``, any case)."""
    names = [f.name for f in feats]
    by_source = {sources[n]: n for n in names if n in sources}
    chosen: dict[str, str] = {}
    for key, words in display.items():
        try:
            name = match_column(key, names, "features.display_names key", "feature")
        except SchemaError as exc:
            if key not in by_source and not any(s.lower() == key.lower() for s in by_source):
                raise ConfigError(exc.message, details=exc.details) from None
            name = by_source.get(key) or next(
                n for s, n in by_source.items() if s.lower() == key.lower()
            )
        chosen[name] = words.strip()
    return [
        FeatureInfo(f.name, f.kind, f.unit, f.description, f.source, chosen[f.name])
        if f.name in chosen
        else f
        for f in feats
    ]


def _dated(
    attrs: list[tuple[str, str, str]], as_of: dt.date | dt.datetime | None
) -> list[tuple[str, str, str]]:
    """The attributes :func:`_attribute_parts` makes features of (dates need an as-of date)."""
    return [a for a in attrs if a[1] != "date" or as_of is not None]


def _feature_body(event_sql: str | None, attr_select: list[str], users: str | None) -> str:
    """One row per user: event features (if any) left-joined with attributes (if any)."""
    if event_sql is not None:
        attr_part = ", " + ", ".join(attr_select) if attr_select else ""
        join = f"LEFT JOIN {quote_ident(users)} u USING (user_id)" if users else ""
        return f"SELECT e.*{attr_part} FROM ({event_sql}) e {join}"
    return f"SELECT u.user_id, {', '.join(attr_select)} FROM {quote_ident(users)} u"


def compute_features(
    db: Database,
    fs: FeatureSet,
    user_ids: list[str] | None,
    *,
    as_of: dt.datetime | None = None,
    events: str = "events",
    users: str = "users",
    id_query: str | None = None,
) -> pd.DataFrame:
    """Features of some users, built exactly as feature set ``fs`` built them (for scoring).

    Parameters
    ----------
    fs : FeatureSet
        The feature set a model was fitted on: its spec (categories, smoothing
        priors) and its list of features are reused, so a user gets the same
        numbers the model saw in training for the same events.
    user_ids : list of str, or None
        The users; ``None`` with ``id_query``, a SQL query returning a
        ``user_id`` column (e.g. every user of the current feature table).
    as_of : datetime, optional
        Recency is measured at this moment; default: as in training, the day
        after the latest event in the table (data time, not the wall clock,
        so replays and tests behave like live traffic).

    Returns
    -------
    DataFrame indexed by user_id, columns in ``fs.features`` order (users
    without events are absent).
    """
    if id_query is not None:
        id_sql = f"SELECT user_id FROM ({id_query})"
    elif not user_ids:
        return pd.DataFrame(columns=[f.name for f in fs.features]).rename_axis("user_id")
    else:
        ids = ", ".join("('" + str(u).replace("'", "''") + "')" for u in user_ids)
        id_sql = f"SELECT * FROM (VALUES {ids}) v(user_id)"
    event_sql = None
    event_names: set[str] = set()
    if fs.spec is None and any(f.source == "events" for f in fs.features):
        raise DataError(
            f"feature set {fs.feature_set_id} does not record how its event features were "
            "built (an older userseg made it); run `userseg features` and fit again."
        )
    if fs.spec is not None:
        if not events.startswith("__"):  # "__…" names are tables registered by the caller
            db.require_table(events, "the model was fitted on events: ingest some first.")
        if as_of is None:  # the training rule: the day after the latest event
            as_of = dt.datetime.combine(default_as_of(db, events), dt.time())
        event_sql, infos = event_feature_sql(fs.spec, as_of, table=events, users=id_sql)
        event_names = {f.name for f in infos}
    has_users = db.table_exists(users)
    attrs = _attribute_columns(db, users) if has_users else []
    attr_as_of = as_of if as_of is not None else fs.as_of
    attr_select, _ = _attribute_parts(attrs, attr_as_of, event_names)
    if event_sql is None:
        users_part = f"(SELECT * FROM {quote_ident(users)} WHERE user_id IN ({id_sql}))"
        body = f"SELECT u.user_id, {', '.join(attr_select)} FROM {users_part} u"
    else:
        body = _feature_body(event_sql, attr_select, users if has_users else None)
    frame = db.execute(f"SELECT * FROM ({body})").df().set_index("user_id")
    if fs.text is not None:
        frame = _with_text(db, frame, fs.text)
    missing = [f.name for f in fs.features if f.name not in frame.columns]
    for name in missing:  # an attribute column absent from this database
        frame[name] = np.nan
    frame = frame[[f.name for f in fs.features]]
    for f in fs.features:
        if f.kind == "numeric":
            frame[f.name] = pd.to_numeric(frame[f.name]).astype(np.float64)
    return frame


def _no_text_value(name: str, spec: TextSpec) -> float:
    """The text feature of a user who wrote nothing.

    No text, no length, no trend; sentiment, negative share and topic shares are the
    population's (what the shrinkage gives a user with no text: ``(0 + a·pop) /
    (0 + a)``), so that users without texts do not become a group of their own
    through imputed values and missing-value indicators. Without shrinkage they
    are missing.
    """
    if name == "sentiment_mean" and spec.smoothing > 0:
        return float(spec.prior[0])
    if name == "negative_share" and spec.smoothing > 0:
        return float(spec.prior[1])
    if name in ("sentiment_mean", "negative_share"):
        return float("nan")
    if name.startswith("topic_") and spec.smoothing > 0 and len(spec.prior) > 2:
        return float(spec.prior[2 + int(name.removeprefix("topic_"))])
    return 0.0


def _with_text(db: Database, frame: pd.DataFrame, spec: TextSpec) -> pd.DataFrame:
    """``frame`` (indexed by user id) with the users' text features, as ``spec`` builds them."""
    if db.table_exists(TEXT_TABLE):
        texts, _, _ = text_feature_frame(db, spec=spec, user_ids=[str(u) for u in frame.index])
    else:
        texts = pd.DataFrame(columns=spec.columns)
    frame = frame.join(texts[spec.columns], how="left")
    for name in spec.columns:
        frame[name] = frame[name].astype(np.float64).fillna(_no_text_value(name, spec))
    return frame


def _join_text(body: str, spec: TextSpec) -> str:
    """SQL: ``body`` left-joined with the registered ``__text_features`` view."""
    fill = {n: _no_text_value(n, spec) for n in spec.columns}
    cols = ", ".join(
        f"x.{quote_ident(n)}"
        if np.isnan(fill[n])
        else f"COALESCE(x.{quote_ident(n)}, {fill[n]!r}::DOUBLE) AS {quote_ident(n)}"
        for n in spec.columns
    )
    return f"SELECT b.*, {cols} FROM ({body}) b LEFT JOIN __text_features x USING (user_id)"


def check_feature_config(config: FeatureConfig) -> None:
    """Refuse settings no feature can be built with (a trial passed --top-categories -1)."""
    if isinstance(config.top_categories, bool) or not isinstance(config.top_categories, int):
        raise ConfigError(f"top_categories must be a whole number; got {config.top_categories!r}.")
    if config.top_categories < 0:
        raise ConfigError(f"top_categories must be >= 0; got {config.top_categories}.")
    if not config.session_gap_minutes > 0:
        raise ConfigError(f"session_gap_minutes must be > 0; got {config.session_gap_minutes!r}.")
    if not config.smoothing >= 0:
        raise ConfigError(f"smoothing must be >= 0 (0 turns it off); got {config.smoothing!r}.")


def _day_after_the_latest_date(db: Database, users: str, attrs: list[tuple]) -> dt.date | None:
    """The as-of date of a user table alone: the day after its latest date value."""
    latest = db.scalar(
        "SELECT max(greatest("
        + ", ".join(f"CAST({quote_ident(c)} AS TIMESTAMP)" for c, k, _ in attrs if k == "date")
        + f")) FROM {quote_ident(users)}"
    )
    return latest.date() + dt.timedelta(days=1) if latest else None


def _kept(feats: list[FeatureInfo], config: FeatureConfig) -> list[FeatureInfo]:
    """The features ``include``/``exclude`` keep; an unknown name or none left is an error."""
    wanted = [f.name for f in feats]
    unknown = [n for n in [*(config.include or []), *config.exclude] if n not in wanted]
    if unknown:
        raise ConfigError(
            f"features include/exclude name unknown feature(s) {unknown}; available: {wanted}."
        )
    keep = [
        f
        for f in feats
        if (config.include is None or f.name in config.include) and f.name not in config.exclude
    ]
    if not keep:
        raise ConfigError("no features left after include/exclude.")
    return keep


def _incremental_note(stats: Any) -> list[str]:
    """What an incremental build did (only the users with new events were recomputed)."""
    if stats.mode != "incremental":
        return []
    return [
        f"features of {stats.users_recomputed:,} users with new events recomputed; "
        "the others' statistics were kept"
    ]


def _orphans_note(db: Database, users: str, stats_table: str, as_of: Any) -> list[str]:
    """A note when users of the user table have no events (they are not segmented)."""
    orphans = db.scalar(
        f"SELECT count(*) FROM {quote_ident(users)} WHERE user_id NOT IN "
        f"(SELECT user_id FROM {quote_ident(stats_table)})"
    )
    if not orphans:
        return []
    return [f"{orphans} users of the user table have no events before {as_of}: not segmented"]


def _event_part(
    db: Database, config: FeatureConfig, events: str, progress: StatementProgress | None
) -> tuple[dt.date, FeatureSpec, Any, str, list[FeatureInfo]]:
    """The event features: as-of date, spec, kept statistics, their SQL and descriptions."""
    as_of = config.as_of
    pop = population(db, events, as_of)
    if as_of is None:
        if pop.last is None:
            raise DataError(f"table {events!r} has no events.")
        as_of = pop.last.date() + dt.timedelta(days=1)
    spec = spec_from_data(
        db,
        as_of,
        table=events,
        session_gap_minutes=config.session_gap_minutes,
        top_categories=config.top_categories,
        smoothing=config.smoothing,
        pop=pop,
    )
    last_event = (
        pop.last
        if config.as_of is None
        else db.scalar(f"SELECT max(ts) FROM {quote_ident(events)}")
    )
    stats = user_stats(db, spec, as_of, events=events, last_event=last_event, progress=progress)
    event_sql, feats = event_feature_sql(spec, as_of, stats=stats.table)
    return as_of, spec, stats, event_sql, feats


def build_features(
    db: Database,
    config: FeatureConfig | None = None,
    *,
    events: str = "events",
    users: str = "users",
    out: str = "features",
    progress: StatementProgress | None = None,
) -> FeatureSet:
    """Compute one row of features per user into table ``out``.

    The event log is read twice: a narrow grouped pass for the population
    figures (as-of date, event kinds, top categories) and one pass for the
    per-user statistics every feature derives from. The statistics are kept, so
    after events are appended only the users with new events are recomputed
    (:mod:`userseg.features.stats`); the result is the same as a build from
    scratch.

    Parameters
    ----------
    db : Database
    config : FeatureConfig
        As-of date, session gap, number of category shares, include/exclude.
    events, users : str
        Source tables (either may be absent, not both).
    out : str
        The feature table to (re)create.
    progress : callable, optional
        ``progress(fraction, seconds)`` while the event log is read.

    Returns
    -------
    FeatureSet
    """
    config = config or FeatureConfig()
    check_feature_config(config)
    t0 = time.perf_counter()
    has_events = db.table_exists(events)
    has_users = db.table_exists(users)
    if not has_events and not has_users:
        raise DataError(
            f"no data in {db.path}: neither an {events!r} nor a {users!r} table; "
            "run `userseg ingest` first."
        )
    notes: list[str] = []
    feats: list[FeatureInfo] = []
    as_of = config.as_of
    spec: FeatureSpec | None = None
    stats = None
    event_sql: str | None = None
    if has_events:
        as_of, spec, stats, event_sql, feats = _event_part(db, config, events, progress)
        notes.extend(_incremental_note(stats))
    text_spec: TextSpec | None = None
    if config.text and db.table_exists(TEXT_TABLE):
        text_frame, text_spec, text_notes = text_feature_frame(db, smoothing=config.smoothing)
        notes += text_notes
        db.con.register("__text_features", text_frame.reset_index())
    attrs = _attribute_columns(db, users) if has_users else []
    if as_of is None and any(k == "date" for _, k, _ in attrs):
        as_of = _day_after_the_latest_date(db, users, attrs)

    attr_select, attr_infos = _attribute_parts(attrs, as_of, {f.name for f in feats})
    # the name each attribute had in the file (to read years and display names by)
    dated = _dated(attrs, as_of)
    sources = {info.name: src for info, (_, _, src) in zip(attr_infos, dated, strict=True)}
    if has_users:
        _mark_years(db, users, attr_infos, dated)
    feats = [
        *(
            FeatureInfo(f.name, f.kind, f.unit, f.description, f.source, f.name.replace("_", " "))
            for f in feats
        ),
        *attr_infos,
        *(text_feature_infos(text_spec) if text_spec else []),
    ]
    feats = _apply_display_names(feats, config.display_names or {}, sources)

    keep = _kept(feats, config)

    body = _feature_body(event_sql, attr_select, users if has_users else None)
    if stats is not None and has_users:
        notes.extend(_orphans_note(db, users, stats.table, as_of))
    if text_spec is not None:
        body = _join_text(body, text_spec)
    cols = ", ".join(["user_id", *(quote_ident(f.name) for f in keep)])
    try:
        with db.transaction():
            db.execute(
                f"CREATE OR REPLACE TABLE {quote_ident(out)} AS "
                f"SELECT {cols} FROM ({body}) ORDER BY user_id"
            )
    finally:
        if text_spec is not None:
            db.con.unregister("__text_features")
    if stats is not None and stats.mode == "temporary":
        db.execute(f"DROP TABLE IF EXISTS {stats.table}")
    n_users = int(db.scalar(f"SELECT count(*) FROM {quote_ident(out)}"))
    if n_users == 0:
        raise DataError("the feature table is empty: no users to segment.")
    return FeatureSet(
        table=out,
        as_of=as_of,
        n_users=n_users,
        features=keep,
        fingerprint=table_fingerprint(db, out),
        notes=notes,
        seconds=time.perf_counter() - t0,
        spec=spec,
        text=text_spec,
    )


def load_features(
    db: Database, features: FeatureSet | None = None, table: str = "features"
) -> pd.DataFrame:
    """The feature table as a DataFrame indexed by ``user_id`` (money as float64 for modelling)."""
    table = features.table if features else table
    db.require_table(table, "run `userseg features` first.")
    df = db.execute(f"SELECT * FROM {quote_ident(table)} ORDER BY user_id").df()
    df = df.set_index("user_id")
    for col in df.columns:
        if df[col].dtype == object and features is not None:
            info = next((f for f in features.features if f.name == col), None)
            if info is not None and info.kind == "numeric":
                df[col] = pd.to_numeric(df[col]).astype(np.float64)
    return df
