"""Options and small helpers shared by the ``userseg`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from userseg.errors import ConfigError

__all__ = [
    "DEFAULT_DB",
    "DateFormat",
    "Db",
    "Json",
    "RunArg",
    "RunOpt",
    "csv_list",
    "open_db",
    "pairs",
    "pick_run",
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
    from userseg.pipeline import open_db

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
