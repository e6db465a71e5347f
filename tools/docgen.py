"""Generate the CLI reference (``docs/cli.md``) from the Typer app itself.

``make docs`` writes it; a test fails when the committed file and the app
disagree, so the reference cannot drift from the code.
"""

from __future__ import annotations

import typer


def _commands(group, ctx):  # type: ignore[no-untyped-def]
    """Every command, sub-commands of a group (``keys create``) included, in help order."""
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        sub = typer.Context(cmd, info_name=name, parent=ctx)
        if hasattr(cmd, "list_commands"):
            for child, child_cmd, child_ctx in _commands(cmd, sub):
                yield f"{name} {child}", child_cmd, child_ctx
        else:
            yield name, cmd, sub


def cli_reference() -> str:
    """The Markdown reference of every ``userseg`` command (the same text as ``--help``)."""
    from userseg.cli import app
    from userseg.cli.options import CONFIG_RULE
    from userseg.store.lineage import STALE_RULE

    group = typer.main.get_command(app)
    ctx = typer.Context(group, info_name="userseg")
    lines = [
        "# `userseg` command reference",
        "",
        "Generated from the application by `make docs` (`python tools/docgen.py`); "
        "a test keeps it in sync.",
        "",
        "Every command takes `--db PATH` (or `$USERSEG_DB`; default `userseg.duckdb`) and "
        "`--json`. Exit status: 0 success, 2 bad input or configuration, 1 a bug.",
        "",
        CONFIG_RULE,
        "",
        STALE_RULE,
        "",
    ]
    for name, cmd, sub_ctx in _commands(group, ctx):
        sub = sub_ctx
        lines += [
            f"## `userseg {name}`",
            "",
            (cmd.help or "").strip(),
            "",
            "```",
            cmd.get_usage(sub).strip(),
            "```",
            "",
            "| option | meaning |",
            "| --- | --- |",
        ]
        for param in cmd.params:
            if param.name == "help":
                continue
            record = param.get_help_record(sub)
            if record is None:  # an argument: its help lives on the parameter
                record = (param.name.upper(), getattr(param, "help", "") or "")
            opts, text = record
            text = " ".join(text.split()).replace("|", "\\|")
            lines.append(f"| `{opts}` | {text} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(cli_reference(), end="")
