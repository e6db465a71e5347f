"""Commands that bring data in: ``ingest`` and ``features``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from userseg.cli import render
from userseg.cli.options import (
    DEFAULT_DB,
    Db,
    Json,
    KeyFile,
    config_help,
    csv_list,
    open_db,
    with_flags,
)
from userseg.config import (
    CANONICAL_EVENTS,
    EventMapping,
    FeatureConfig,
    RowPolicy,
    Source,
    UserMapping,
    parse_date,
)
from userseg.errors import ConfigError
from userseg.jobs.pipeline_config import load_pipeline

MemoryLimit = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        envvar="USERSEG_MEMORY_LIMIT",
        help="Memory DuckDB may use (2GB, 512MB, 25%); beyond it, it spills to a folder "
        "beside the database. Default: 10% of the machine, at least 1GB.",
    ),
]

# -- ingest -----------------------------------------------------------------------------


def ingest(
    ctx: typer.Context,
    path: Annotated[
        str | None, typer.Argument(help="File or glob (CSV, Parquet, JSON lines, DuckDB).")
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            "--kind", help="events, users, or auto (events when any event column is mapped)."
        ),
    ] = "auto",
    db: Db = DEFAULT_DB,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help=config_help("events or users section names the data and maps the columns"),
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv, parquet, json, duckdb or sql (default: from the suffix)."
        ),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(
            "--delimiter",
            help="CSV delimiter, or 'whitespace' for fields separated by runs of spaces and "
            "tabs (sniffed when omitted).",
        ),
    ] = None,
    header: Annotated[
        bool, typer.Option("--header/--no-header", help="CSV has a header line.")
    ] = True,
    names: Annotated[
        str | None,
        typer.Option("--names", help="Column names of a header-less CSV, comma-separated."),
    ] = None,
    source_table: Annotated[
        str | None, typer.Option("--source-table", help="Table to read from a DuckDB file.")
    ] = None,
    query: Annotated[
        str | None,
        typer.Option("--query", help="Read the result of this SQL query instead of a file."),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="replace or append (events); appends skip events whose user id and event id are "
            "already stored (without --event-id: rows identical to stored ones), so map "
            "--event-id when exports overlap.",
        ),
    ] = "replace",
    user_id: Annotated[str | None, typer.Option("--user-id", help="User id column.")] = None,
    time_col: Annotated[
        str | None, typer.Option("--time", help="Timestamp column (events).")
    ] = None,
    event: Annotated[str | None, typer.Option("--event", help="Event name column.")] = None,
    amount: Annotated[
        str | None, typer.Option("--amount", help="Money column (negative = return).")
    ] = None,
    quantity: Annotated[
        str | None, typer.Option("--quantity", help="Quantity column (amount = quantity × price).")
    ] = None,
    price: Annotated[str | None, typer.Option("--price", help="Unit price column.")] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Product category column.")
    ] = None,
    session: Annotated[str | None, typer.Option("--session", help="Session id column.")] = None,
    rating: Annotated[str | None, typer.Option("--rating", help="Rating column.")] = None,
    order_id: Annotated[
        str | None, typer.Option("--order-id", help="Order/invoice id column.")
    ] = None,
    event_id: Annotated[
        str | None, typer.Option("--event-id", help="Unique event id column (deduplication).")
    ] = None,
    item: Annotated[
        str | None,
        typer.Option("--item", help="Product id column (SKU, StockCode): for recommendations."),
    ] = None,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="strptime format, e.g. '%d/%m/%Y %H:%M'.")
    ] = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            help="Free-text column (a review, ticket or message per event, or a text per user): "
            "stored and turned into per-user sentiment, topic and volume features.",
        ),
    ] = None,
    map_event: Annotated[
        list[str] | None,
        typer.Option(
            "--map-event",
            metavar="KIND=NAME",
            help="Count event NAME as KIND (view, cart, purchase, refund, rating), besides the "
            "names recognised already; repeatable, e.g. --map-event cart=basket.",
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option("--columns", help="Users: attribute columns to keep, comma-separated."),
    ] = None,
    exclude: Annotated[
        str | None, typer.Option("--exclude", help="Users: columns to leave out.")
    ] = None,
    categorical: Annotated[
        str | None, typer.Option("--categorical", help="Users: columns to treat as categorical.")
    ] = None,
    on_bad: Annotated[
        str | None,
        typer.Option(
            "--on-bad", help="Bad values: reject, drop or impute (events: drop, users: impute)."
        ),
    ] = None,
    max_bad_fraction: Annotated[
        float, typer.Option("--max-bad-fraction", help="Fail above this share of bad rows.")
    ] = 0.01,
    memory_limit: MemoryLimit = None,
    keep_duplicates: Annotated[
        bool,
        typer.Option(
            "--keep-duplicates",
            help="Events: keep rows identical in every column (real repeat purchases in a log "
            "without ids); by default they are dropped as duplicates.",
        ),
    ] = False,
    key_file: KeyFile = None,
    allow_pii: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-pii",
            metavar="COL",
            help="Keep this personal-data column raw and usable as a feature (recorded in the "
            "audit log); repeatable. By default personal columns are pseudonymised (with a "
            "key) or left out, and never features.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Import an event log or a user table into the database, validated, in one transaction."""
    from userseg.jobs import pipeline

    with render.errors(as_json):
        event_flags = {
            "time": time_col,
            "event": event,
            "amount": amount,
            "quantity": quantity,
            "price": price,
            "category": category,
            "session": session,
            "rating": rating,
            "order_id": order_id,
            "event_id": event_id,
            "item": item,
        }
        mapping: EventMapping | UserMapping
        policy: RowPolicy | None = None
        source: Source | None = None
        if config is not None:
            cfg = with_flags(ctx, load_pipeline(config), {"database": ("db", str(db))}, str(config))
            db = Path(cfg.database)
            section = kind if kind != "auto" else ("events" if cfg.events else "users")
            if section == "events":
                source, mapping, policy = cfg.events, cfg.event_columns, cfg.event_policy
            elif section == "users":
                source, mapping, policy = cfg.users, cfg.user_columns, cfg.user_policy
            else:
                raise ConfigError(f"--kind must be events, users or auto; got {kind!r}.")
            kind = section
        else:
            if kind == "auto":
                kind = "events" if any(event_flags.values()) or map_event else "users"
            if kind == "events":
                mapping = EventMapping()
            elif kind == "users":
                mapping = UserMapping()
            else:
                raise ConfigError(f"--kind must be events, users or auto; got {kind!r}.")
        if map_event and kind != "events":
            raise ConfigError("--map-event applies to event logs; this import is --kind users.")
        # The flags given are laid over the file's mapping (or the defaults): one rule.
        if isinstance(mapping, EventMapping):
            mapping = with_flags(
                ctx,
                mapping,
                {
                    "user_id": ("user_id", user_id),
                    "time": ("time_col", time_col),
                    **{k: (k, v) for k, v in event_flags.items() if k != "time"},
                    "date_format": ("date_format", date_format),
                    "text": ("text", text),
                    "event_values": (
                        "map_event",
                        extra_event_names(map_event, mapping.event_values),
                    ),
                },
                "events.columns",
            )
        else:
            mapping = with_flags(
                ctx,
                mapping,
                {
                    "user_id": ("user_id", user_id),
                    "columns": ("columns", csv_list(columns)),
                    "exclude": ("exclude", csv_list(exclude) or []),
                    "categorical": ("categorical", csv_list(categorical)),
                    "date_format": ("date_format", date_format),
                    "text": ("text", text),
                },
                "users.columns",
            )
        if path is not None or query is not None or source is None:
            # a file (or query) named here is read as the flags say, not as the file's source
            if path is None and query is None:
                raise ConfigError("give a file to import (PATH), or --query.")
            source = Source(
                path=path,
                format=fmt or ("sql" if query and not path else None),
                delimiter=delimiter,
                header=header,
                names=csv_list(names),
                table=source_table,
                query=query,
            )
        else:
            source = with_flags(
                ctx,
                source,
                {
                    "format": ("fmt", fmt),
                    "delimiter": ("delimiter", delimiter),
                    "header": ("header", header),
                    "names": ("names", csv_list(names)),
                    "table": ("source_table", source_table),
                },
                kind,
            )
        policy = with_flags(
            ctx,
            policy or RowPolicy(on_bad_value="drop" if kind == "events" else "impute"),
            {
                "on_bad_value": ("on_bad", on_bad),
                "max_bad_fraction": ("max_bad_fraction", max_bad_fraction),
            },
            f"{kind}.policy",
        )
        if keep_duplicates:
            if kind != "events":
                raise ConfigError(
                    "--keep-duplicates applies to event logs; a user table merges repeated users."
                )
            policy = dataclasses.replace(policy, duplicates="keep")
        from userseg.io.private import PrivacyOptions

        privacy = PrivacyOptions.from_key_file(key_file, allow_pii or ())  # before any file
        with (
            open_db(db, create=True) as db_,
            render.rows_progress(f"importing {source.describe()}", not as_json) as bar,
        ):
            if memory_limit is not None:
                db_.set_memory_limit(memory_limit)
            rep = pipeline.ingest(
                db_,
                source,
                kind=kind,
                mapping=mapping,
                policy=policy,
                mode=mode,
                progress=bar,
                privacy=privacy,
            )
        if as_json:
            render.print_json(rep.to_dict())
            return
        render.console.print(
            f"{rep.table}: {rep.rows_loaded:,} of {rep.rows_read:,} rows loaded, "
            f"{rep.users:,} users ({rep.seconds:.1f} s) into {db}"
        )
        t = render.issues_table(rep, "data quality")
        if t is not None:
            render.console.print(t)
        for note in rep.notes:
            render.console.print(f"note: {note}")
        render.print_warnings(rep.warnings)


def extra_event_names(
    pairs: list[str] | None, base: dict[str, list[str]] | None = None
) -> dict[str, list[str]] | None:
    """``["cart=basket", …]`` → event_values adding each name to its kind's known names.

    A name means one kind: ``view=checkout`` also takes ``checkout`` from purchases.
    """
    if not pairs:
        return None
    names = {k: list((base or {}).get(k) or v) for k, v in CANONICAL_EVENTS.items()}
    changed: set[str] = set()
    for pair in pairs:
        kind, sep, name = pair.partition("=")
        kind, name = kind.strip().lower(), name.strip()
        if not sep or not name:
            raise ConfigError(f"--map-event expects KIND=NAME (e.g. cart=basket); got {pair!r}.")
        if kind not in CANONICAL_EVENTS:
            raise ConfigError(
                f"--map-event {pair!r}: unknown kind {kind!r}; expected one of "
                f"{', '.join(CANONICAL_EVENTS)}."
            )
        for other, known in names.items():
            if other != kind and name.lower() in {n.lower() for n in known}:
                names[other] = [n for n in known if n.lower() != name.lower()]
                changed.add(other)
        names[kind].append(name)
        changed.add(kind)
    return {k: names[k] for k in changed}


# -- features ---------------------------------------------------------------------------


def features(
    db: Db = DEFAULT_DB,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Date (YYYY-MM-DD) recency is measured at; default: the day after the last event.",
        ),
    ] = None,
    session_gap: Annotated[
        float, typer.Option("--session-gap", help="Minutes of inactivity that start a new session.")
    ] = 30.0,
    top_categories: Annotated[
        int,
        typer.Option("--top-categories", help="Category-share features for this many categories."),
    ] = 8,
    smoothing: Annotated[
        float,
        typer.Option(
            "--smoothing",
            help="Prior (in events) shrinking rates and shares toward the population.",
        ),
    ] = 5.0,
    include: Annotated[
        str | None, typer.Option("--include", help="Keep only these features.")
    ] = None,
    exclude: Annotated[
        str | None, typer.Option("--exclude", help="Leave out these features.")
    ] = None,
    text: Annotated[
        bool,
        typer.Option(
            "--text/--no-text",
            help="Text features (sentiment, topics, volume) from the texts `ingest --text` "
            "stored, when there are any.",
        ),
    ] = True,
    memory_limit: MemoryLimit = None,
    as_json: Json = False,
) -> None:
    """Compute per-user features (RFM, activity, funnel, categories, attributes, texts)."""
    from userseg.jobs import pipeline

    with render.errors(as_json):
        cfg = FeatureConfig(
            as_of=parse_date(as_of, "--as-of") if as_of else None,
            session_gap_minutes=session_gap,
            top_categories=top_categories,
            smoothing=smoothing,
            include=csv_list(include),
            exclude=csv_list(exclude) or [],
            text=text,
        )
        with open_db(db) as db_, render.rows_progress("building features", not as_json) as bar:
            if memory_limit is not None:
                db_.set_memory_limit(memory_limit)
            fs = pipeline.features(
                db_, cfg, progress=(lambda f, s: bar("reading events", f, None)) if bar else None
            )
        if as_json:
            out = fs.to_dict()
            if out.get("text"):  # the topic model's matrices are for the store, not a reader
                out["text"] = {k: v for k, v in out["text"].items() if k != "topics"}
            render.print_json(out)
            return
        rows = [[f.name, f.kind, f.unit, f.description] for f in fs.features]
        render.console.print(
            render.table(
                f"Feature set {fs.feature_set_id}: {fs.n_users:,} users"
                + (f", as of {fs.as_of}" if fs.as_of else " (user attributes, no as-of date)"),
                ["feature", "kind", "unit", "meaning"],
                rows,
            )
        )
        for note in fs.notes:
            render.console.print(f"note: {note}")


def register(app: typer.Typer) -> None:
    """Add these commands to the ``userseg`` app."""
    app.command()(ingest)
    app.command()(features)
