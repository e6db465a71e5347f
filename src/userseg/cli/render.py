"""What the command line shows: Rich tables for people, JSON for scripts, one error shape.

The CLI is a thin shell: commands parse flags, call the library, and hand the
result here. Errors userseg raises on purpose (:class:`~userseg.errors.UsersegError`)
become one line on stderr (or the JSON error shape on stdout with ``--json``)
and their exit code (2); anything else is a bug: exit 1, with the traceback
shown when ``USERSEG_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, is_dataclass
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from userseg.errors import SegmentationWarning, UsersegError
from userseg.json_safe import jsonable

__all__ = [
    "console",
    "errors",
    "print_json",
    "print_matching",
    "print_warnings",
    "progress",
    "rows_progress",
    "stale_warning",
    "table",
    "verdicts",
]

console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """One JSON document on stdout (the only thing on stdout with ``--json``)."""
    sys.stdout.write(json.dumps(jsonable(data, strict=True), indent=2) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def errors(as_json: bool = False) -> Iterator[None]:
    """Turn exceptions into a message and an exit code scripts can trust."""
    try:
        with warnings.catch_warnings():
            # a segmentation's warnings are printed with its result (``verdicts``)
            warnings.simplefilter("ignore", SegmentationWarning)
            yield
    except typer.Exit:
        raise
    except UsersegError as exc:
        if as_json:
            print_json(exc.to_dict())
        else:
            # Messages quote user text and hints like ``[serve]``: never read them as markup.
            err_console.print(
                f"[bold red]error:[/] {escape(exc.message)}", markup=True, soft_wrap=True
            )
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get("USERSEG_DEBUG"):
            traceback.print_exc()
        msg = f"internal error (a bug in userseg): {type(exc).__name__}: {exc}"
        if as_json:
            print_json({"error": {"code": "internal_error", "message": msg, "details": {}}})
        else:
            err_console.print(
                f"[bold red]{escape(msg)}[/]\n"
                "Please report it; set USERSEG_DEBUG=1 for the traceback.",
                markup=True,
                soft_wrap=True,
            )
        raise typer.Exit(1) from None


@contextlib.contextmanager
def progress(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback ``(step, done, total)`` drawing Rich bars on stderr."""
    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
        disable=not enabled or not err_console.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def update(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bars.add_task(step, total=total)
        bars.update(tasks[step], completed=done, total=total)

    with bars:
        yield update


@contextlib.contextmanager
def step(label: str, enabled: bool = True) -> Iterator[None]:
    """A spinner for one step of unknown length, ticked off when done."""
    if not enabled or not err_console.is_terminal:
        yield
        return
    with err_console.status(label):
        yield
    err_console.print(f"[green]✓[/] {label}", markup=True)


@contextlib.contextmanager
def rows_progress(
    label: str, enabled: bool = True
) -> Iterator[Callable[[str, float, float | None], None] | None]:
    """A bar for a pass over data: ``callback(stage, fraction, rows_per_second)``.

    Yields None (no callback, nothing drawn) when disabled or not on a terminal.
    """
    if not enabled or not err_console.is_terminal:
        yield None
        return
    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rate]:>16}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    with bars:
        task = bars.add_task(label, total=1.0, rate="")

        def update(stage: str, fraction: float, rate: float | None) -> None:
            text = (
                f"{rate / 1e6:.2f}M rows/s"
                if rate and rate >= 1e6
                else (f"{rate:,.0f} rows/s" if rate else "")
            )
            bars.update(task, completed=fraction, description=f"{label}: {stage}", rate=text)

        yield update
    err_console.print(f"[green]✓[/] {escape(label)}", markup=True)


def table(
    title: str | None, columns: list[str], rows: list[list[Any]], *, right: set[str] | None = None
) -> Table:
    right = right or set()
    t = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c, justify="right" if c in right else "left", overflow="fold")
    for r in rows:
        t.add_row(*[("" if v is None else str(v)) for v in r])
    return t


def outcome_cells(o: dict[str, Any] | None) -> list[str]:
    """A segment's target rate (or mean), its 95 % interval and its lift, as table cells."""
    if not o or o.get("value") is None:
        return ["–", "–", "–"]

    def num(v: float | None) -> str:
        if v is None:
            return "–"
        return f"{v:.1%}" if o["kind"] == "rate" else f"{v:.3g}"

    lift = "–" if o.get("lift") is None else f"{o['lift']:.2f}×"
    return [num(o["value"]), f"[{num(o.get('low'))}, {num(o.get('high'))}]", lift]


def outcome_columns(profiles: list[Any]) -> list[str]:
    """The headers of the target's columns ("response rate", "95% CI", "lift"), or none."""
    o = next((p.outcome for p in profiles if getattr(p, "outcome", None)), None)
    if not o:
        return []
    what = f"{o['target']} {o['kind']}"
    if o["kind"] == "rate" and o.get("positive") not in (None, "1", "True", "true"):
        what += f" ({o['positive']})"
    return [what, "95% CI", "lift"]


def outcome_line(o: dict[str, Any]) -> str:
    """One line on the target over all users, and how the table's columns were measured."""
    value = o["overall"]["value"]
    shown = f"{value:.1%}" if o["kind"] == "rate" else f"{value:.3g}"
    how = "Wilson score" if o["kind"] == "rate" else "Student t"
    return (
        f"Target {o['target']}: {o['kind']} {shown} over all {o['overall']['n']:,} users; per "
        f"segment with its 95% interval ({how}) and its lift over all users."
    )


def value_table(profiles: list[Any]) -> Table | None:
    """Churn risk and expected value per segment (see userseg.value.segments), or None."""
    if not any(getattr(p, "value", None) for p in profiles):
        return None
    rows = []
    for p in profiles:
        v = getattr(p, "value", None) or {}
        rows.append(
            [
                p.segment,
                p.name,
                "–" if v.get("customers") is None else f"{v['customers']:,}",
                "–" if v.get("churn_risk") is None else f"{v['churn_risk']:.0%}",
                "–" if v.get("value_mean") is None else f"{v['value_mean']:,.2f}",
            ]
        )
    first = next(p.value for p in profiles if getattr(p, "value", None))
    cols = ["#", "segment", "customers", "churn risk", "exp. value"]
    return table(
        f"Value per segment (next {first['horizon_days']:g} days, as of {first['as_of']}; "
        "churn risk = 1 - mean P(alive))",
        cols,
        rows,
        right={"#", "customers", "churn risk", "exp. value"},
    )


def segments_table(profiles: list[Any], title: str | None = None) -> Table:
    extra = outcome_columns(profiles)
    rows = [
        [
            p.segment,
            p.name,
            f"{p.size:,}" if isinstance(p.size, int) else str(p.size),  # "<10": a small group
            f"{p.share:.1%}" if isinstance(p.share, float) else str(p.share),
            *(outcome_cells(getattr(p, "outcome", None)) if extra else []),
            "; ".join(d.text for d in p.top_features) or "close to the average",
        ]
        for p in profiles
    ]
    return table(
        title,
        ["#", "segment", "users", "share", *extra, "what sets it apart"],
        rows,
        right={"#", "users", "share", *extra},
    )


def issues_table(report: Any, title: str) -> Table | None:
    issues = report.issues if hasattr(report, "issues") else report.get("issues", [])
    if not issues:
        return None
    rows = []
    for i in issues:
        d = asdict(i) if is_dataclass(i) else i
        first = ", ".join(
            f"row {e['row']} {e['value']!r}" for e in d["examples"][:2] if "value" in e
        )
        rows.append(
            [
                d["kind"].replace("_", " "),
                d["column"] or "",
                f"{d['count']:,}",
                d["action"] + (f" (e.g. {first})" if first else ""),
            ]
        )
    return table(title, ["problem", "column", "rows", "what was done"], rows, right={"rows"})


def print_warnings(lines: list[str]) -> None:
    """Print what the user must not miss, one ``warning:`` line each (user text, not markup)."""
    for line in lines:
        console.print(f"[bold yellow]warning:[/] {escape(line)}", markup=True)


def verdicts(metrics: dict[str, Any]) -> None:
    """Print a fit's answers to "is there any structure?" and "are the segments stable?",
    then what may mislead in it (its warnings)."""
    structure = metrics.get("structure")
    if structure is not None:
        label = "" if structure["has_structure"] else "[bold yellow]warning:[/] "
        text = structure["verdict"]
        console.print(f"{label}{escape(text[:1].upper() + text[1:])}", markup=True)
    if metrics.get("stability"):
        text = metrics["stability"]["summary"]
        console.print(escape(text[:1].upper() + text[1:]), markup=True)
    for w in metrics.get("warnings") or []:
        console.print(f"[bold yellow]warning:[/] {escape(w['message'])}", markup=True)


def stale_warning(stale: dict[str, Any] | None, what: str = "") -> None:
    """The warning line of features older than the data (``features_stale``), if any."""
    if stale:
        console.print(f"warning: {what}{escape(stale['message'])}")


def print_matching(m: dict[str, Any]) -> None:
    """How a run's segments match the previous run's, and the migration matrix, as tables."""
    rows = [
        [
            x["status"],
            "" if x["previous_segment"] is None else x["previous_segment"],
            "" if x["segment"] is None else x["segment"],
            x["name"],
            f"{x['jaccard']:.2f}" if x["jaccard"] else "",
            x["detail"],
        ]
        for x in m["matches"]
    ]
    console.print(
        table(
            f"Segments of run {m.get('previous_run_id')} → "
            f"{'this run' if m.get('run_id') is None else 'run ' + str(m['run_id'])} "
            f"({m['method']})",
            ["status", "was", "now", "name", "overlap", "detail"],
            rows,
        )
    )
    mig = m["migration"]
    console.print(
        table(
            "Migration matrix (users from each previous segment to each new one)",
            ["from \\ to", *mig["columns"]],
            [
                [r, *[f"{c:,}" for c in row]]
                for r, row in zip(mig["rows"], mig["counts"], strict=True)
            ],
            right=set(mig["columns"]),
        )
    )
