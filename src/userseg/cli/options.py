"""Options and small helpers shared by the ``userseg`` commands."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from userseg.config import from_dict
from userseg.errors import ConfigError

__all__ = [
    "CONFIG_RULE",
    "DEFAULT_DB",
    "DateFormat",
    "Db",
    "Json",
    "KeyFile",
    "MinGroup",
    "RunArg",
    "RunOpt",
    "config_help",
    "csv_list",
    "given",
    "open_db",
    "pairs",
    "pick_run",
    "with_flags",
]

Db = Annotated[
    Path, typer.Option("--db", envvar="USERSEG_DB", help="The userseg database file (DuckDB).")
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON, for scripts.")]
DateFormat = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="strptime format of INPUT's date columns, e.g. '%d-%m-%Y' (default: the format "
        "the user table's import used; without one, ISO text, and a day/month order the "
        "column does not settle is an error).",
    ),
]
DEFAULT_DB = Path("userseg.duckdb")
MinGroup = Annotated[
    int,
    typer.Option(
        "--min-group",
        min=1,
        help="Segments and category cells of fewer users are not described (shown as "
        "'<k'); 1 hides nothing.",
    ),
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="Secret key file (mode 0600; `userseg secret-key PATH` makes one) for the "
        "pseudonyms of personal data. Default: the key in $USERSEG_SECRET_KEY, if set.",
    ),
]
RunArg = Annotated[int | None, typer.Argument(help="Run id (default: the latest).")]
RunOpt = Annotated[
    int | None, typer.Option("--run", help="Run id, as in assign and drift (same as RUN).")
]


def pick_run(positional: int | None, option: int | None) -> int | None:
    """The run named by RUN or ``--run`` (both accepted: other commands use ``--run``)."""
    if positional is not None and option is not None and positional != option:
        raise ConfigError(f"two different runs given: RUN {positional} and --run {option}.")
    return positional if positional is not None else option


def csv_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def pairs(values: list[str] | None, what: str) -> dict[str, Any]:
    """``key=value`` options; values parsed as numbers or booleans where they look like one."""
    out: dict[str, Any] = {}
    for item in values or []:
        if "=" not in item:
            raise ConfigError(f"{what} expects key=value; got {item!r}.")
        key, raw = item.split("=", 1)
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        out[key.strip()] = value
    return out


def open_db(db: Path, *, create: bool = False):
    """The userseg database at ``db``; with ``create=False`` a missing file is an error.

    Only the commands that bring data in create a database: a mistyped ``--db`` given
    to ``report``, ``runs`` or ``fit`` used to leave an empty database file behind and
    then say "no runs in this database".
    """
    from userseg.jobs.pipeline import open_db

    check_db_exists(db, create=create)
    return open_db(db)


def check_db_exists(db: Path, *, create: bool = False) -> None:
    if create or str(db) == ":memory:" or Path(db).exists():
        return
    from userseg.errors import NotFoundError

    raise NotFoundError(
        f"database {db} not found: check --db, or bring data in first with `userseg ingest` "
        "(or try `userseg demo`)."
    )


# -- a pipeline file beside flags ---------------------------------------------------------

#: The one rule of every command that takes ``--config`` (docs/cli.md shows this text).
CONFIG_RULE = (
    "Pipeline file and flags: `ingest`, `fit` and `refresh` take `--config FILE`. A flag "
    "given on the command line (or through its environment variable, `$USERSEG_DB`) "
    "overrides the file's value of that setting, even when it equals the flag's default; a "
    "flag not given leaves the file's value; a setting in neither takes its default. "
    "`--param` and `--prepare` override key by key. The file's `database` is used unless "
    "`--db` is given. `ingest` PATH or `--query` replaces the file's source, with the "
    "reading flags (`--delimiter`, `--format`, …) given beside it. Settings that do not "
    "hold together once combined (`--k-min 6` with the file's `k_max: 4`) are refused, "
    "with exit status 2."
)

T = TypeVar("T")


def config_help(what: str) -> str:
    """The help of a ``--config`` option: what it takes from the file, and the rule."""
    return (
        f"Pipeline file (YAML/TOML) whose {what}; a flag given beside it overrides the "
        "file's setting (see 'Pipeline file and flags' in docs/cli.md)."
    )


def given(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave parameter ``name`` (on the command line or in its environment
    variable), as Click records it: a value equal to the default still counts as given."""
    source = ctx.get_parameter_source(name)
    # by name: Typer may bring its own copy of Click's enum
    return getattr(source, "name", None) in ("COMMANDLINE", "ENVIRONMENT")


def with_flags(ctx: typer.Context, section: T, flags: dict[str, tuple[str, Any]], where: str) -> T:
    """``section`` (a configuration dataclass) with the flags the user gave laid over it.

    The one function behind :data:`CONFIG_RULE`, used by every command that takes
    ``--config``, with the command's context ``ctx``. ``flags`` maps a field of
    ``section`` to ``(parameter name, value)``; a field whose parameter was not given
    keeps the section's value, a mapping (``params``) is updated key by key. The result
    is validated as a pipeline file is, so combined settings that do not hold together
    are a :class:`ConfigError`.
    """
    values = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}  # type: ignore[arg-type]
    for name, (param, value) in flags.items():
        if not given(ctx, param):
            continue
        old = values.get(name)
        values[name] = (
            {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return from_dict(type(section), values, where)
