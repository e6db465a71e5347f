"""A pipeline file: every section of ingest → features → fit → report, read and checked.

A pipeline file (YAML or TOML) maps onto :class:`PipelineConfig`, whose
sections are the dataclasses of the layers that read them (:mod:`userseg.config`
for sources, mappings, policies, ``features`` and ``prepare``;
:class:`~userseg.segment.params.FitConfig` for ``fit``); the command line
builds the same dataclasses from its flags, so both paths validate the same way.

Example ``pipeline.yaml``::

    database: shop.duckdb
    events:
      path: data/events.csv
      columns: {user_id: customer, time: ts, event: type, amount: value}
    users:
      path: data/users.csv
      user_id: customer
    features: {as_of: 2024-07-01}
    fit: {k_min: 2, k_max: 8}
    report: {out: report.html}
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from userseg.config import (
    EventMapping,
    FeatureConfig,
    PrepareConfig,
    RowPolicy,
    Source,
    SparkConfig,
    UserMapping,
    from_dict,
)
from userseg.errors import ConfigError
from userseg.segment.params import FitConfig

__all__ = ["PipelineConfig", "ReportConfig", "load_pipeline"]


@dataclass
class ReportConfig:
    out: str = "userseg-report.html"
    heatmap: str | None = None  # PNG path; next to the report when omitted


@dataclass
class PipelineConfig:
    """A whole pipeline: ingest → features → fit → report."""

    database: str = "userseg.duckdb"
    events: Source | None = None
    event_columns: EventMapping = field(default_factory=EventMapping)
    event_policy: RowPolicy = field(default_factory=RowPolicy)
    users: Source | None = None
    user_columns: UserMapping = field(default_factory=UserMapping)
    user_policy: RowPolicy = field(default_factory=lambda: RowPolicy(on_bad_value="impute"))
    features: FeatureConfig = field(default_factory=FeatureConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    # "embedded" (DuckDB on this machine) or "spark" (events read from Parquet by Spark)
    engine: Literal["embedded", "spark"] = "embedded"
    spark: SparkConfig = field(default_factory=SparkConfig)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (the last would win)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} is written twice (first on line {seen[key] + 1}); the last "
                "value would silently win",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _unique_mapping,  # type: ignore[arg-type]
)


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Read a pipeline file (``.yaml``/``.yml``/``.toml``); relative paths start at its folder.

    The file's sections are ``database``, ``events`` (a :class:`Source` plus
    ``columns`` and ``policy``), ``users`` (a :class:`Source` plus ``user_id``,
    ``columns``…, ``policy``), ``features``, ``prepare``, ``fit`` and ``report``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"pipeline file {path} not found.")
    text = path.read_text(encoding="utf-8")
    try:
        raw = (
            tomllib.loads(text)
            if path.suffix.lower() == ".toml"
            else yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
        )
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid {path.suffix.lstrip('.').upper()}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of sections; got {type(raw).__name__}.")
    raw = dict(raw)
    base = path.resolve().parent
    flat: dict[str, Any] = {}
    for section, (src_key, cols_key, pol_key, mapping_cls) in {
        "events": ("events", "event_columns", "event_policy", EventMapping),
        "users": ("users", "user_columns", "user_policy", UserMapping),
    }.items():
        sect = raw.pop(section, None)
        if sect is None:
            continue
        if not isinstance(sect, dict):
            raise ConfigError(f"{section} must be a mapping; got {type(sect).__name__}.")
        sect = dict(sect)
        allowed = (
            {f.name for f in dataclasses.fields(Source)}
            | {"policy"}
            | (
                {"columns", "date_format", "event_values"}
                if mapping_cls is EventMapping
                else {f.name for f in dataclasses.fields(UserMapping)}
            )
        )
        for key in sect:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = (
                    f"; did you mean {close[0]!r}?" if close else f"; known keys: {sorted(allowed)}"
                )
                raise ConfigError(f"unknown key {key!r} in {section}{hint}")
        policy = sect.pop("policy", None)
        if mapping_cls is EventMapping:
            columns = sect.pop("columns", None) or {}
            for extra in ("date_format", "event_values"):
                if extra in sect:
                    columns[extra] = sect.pop(extra)
        else:
            mapping_keys = {f.name for f in dataclasses.fields(UserMapping)}
            columns = {k: sect.pop(k) for k in list(sect) if k in mapping_keys}
        source = from_dict(Source, sect, section)
        if source.path and not Path(source.path).is_absolute() and source.format != "sql":
            source.path = str(base / source.path)
        flat[src_key] = source
        flat[cols_key] = from_dict(mapping_cls, columns, f"{section}.columns")
        if policy is not None:
            default = {} if section == "events" else {"on_bad_value": "impute"}
            flat[pol_key] = from_dict(RowPolicy, {**default, **policy}, f"{section}.policy")
    for key in ("event_columns", "event_policy", "user_columns", "user_policy"):
        if key in raw:
            raise ConfigError(
                f"unknown key {key!r} at top level of {path}; put it under its section."
            )
    config = from_dict(PipelineConfig, {**raw, **{}}, str(path))
    for key, value in flat.items():
        setattr(config, key, value)
    if config.database != ":memory:" and not Path(config.database).is_absolute():
        config.database = str(base / config.database)
    if not Path(config.report.out).is_absolute():
        config.report.out = str(base / config.report.out)
    if config.events is None and config.users is None:
        raise ConfigError(f"{path} names no data: add an 'events' or a 'users' section.")
    return config
