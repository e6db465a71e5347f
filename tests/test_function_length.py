"""No function in ``src/`` is over 120 lines, but the known ones below, each with its reason.

Issue 10: long functions hide steps that deserve names. The exceptions are the
functions that were long before the renovation and belong to parts renovated
elsewhere (the ingest rewrite, the kernels); shorten one, and take it off the list
(the test also fails when a listed function got short, so the list stays true).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "userseg"
LIMIT = 120

KNOWN: dict[str, str] = {
    "cli/data_cmds.py:ingest": "Typer command: most of it is the ingest options",
    "cluster/_kmeans_kernels.py:_bounded_chunk": "one Numba kernel: splitting it costs calls",
    "demo.py:generate": "the synthetic shop, persona by persona",
    "evaluate/silhouette.py:_estimate": "one estimator loop with its confidence interval",
    "features/events.py:event_feature_sql": "one SQL statement built feature by feature",
    "io/ingest.py:run": (
        "the streaming import, pass by pass; edited in parallel during R4: split after that merges"
    ),
    "io/users.py:run": (
        "the user-table import, pass by pass; edited in parallel during R4: split after that merges"
    ),
    "cli/model_cmds.py:fit": (
        "Typer command: most of it is the fit and engine options (edited in parallel during R4)"
    ),
    "engine/spark/fit.py:fit_spark": (
        "the Spark job's stages in order; not split in R4 (its parity tests need Java): next"
    ),
}


def _lengths() -> dict[str, int]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{path.relative_to(SRC).as_posix()}:{node.name}"
                out[name] = max(out.get(name, 0), node.end_lineno - node.lineno + 1)  # type: ignore[operator]
    return out


def test_no_function_is_over_120_lines_but_the_known_ones() -> None:
    lengths = _lengths()
    long = {name: n for name, n in lengths.items() if n > LIMIT}
    unexpected = {name: n for name, n in long.items() if name not in KNOWN}
    assert not unexpected, f"functions over {LIMIT} lines: {unexpected}"
    fixed = [name for name in KNOWN if lengths.get(name, 0) <= LIMIT]
    assert not fixed, f"no longer over {LIMIT} lines (or gone): take them off KNOWN: {fixed}"


def test_the_segment_component_keeps_its_functions_short() -> None:
    """The segmenter's fit is a list of named steps, each short (issue 10 item 1)."""
    lengths = _lengths()
    steps = {n: v for n, v in lengths.items() if n.startswith("segment/segmenter.py:")}
    assert steps and max(steps.values()) <= 45, sorted(steps.items(), key=lambda kv: -kv[1])[:3]
    assert lengths["segment/segmenter.py:fit"] <= 30
    rest = {n: v for n, v in lengths.items() if n.startswith("segment/")}
    assert max(rest.values()) <= 80, sorted(rest.items(), key=lambda kv: -kv[1])[:3]
