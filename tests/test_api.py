"""The public surface: a curated, sorted ``__all__``, documented and kept in sync."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import userseg

REPO = Path(__file__).resolve().parents[1]

PUBLIC = [
    "ConfigError",
    "DBSCAN",
    "DataError",
    "DatabaseError",
    "DatabaseLockedError",
    "DependencyError",
    "EventMapping",
    "FeatureConfig",
    "FitConfig",
    "HDBSCAN",
    "KMeans",
    "KPrototypes",
    "NotFittedError",
    "NotFoundError",
    "PipelineConfig",
    "PrepareConfig",
    "Preparer",
    "RowPolicy",
    "SchemaError",
    "Segmenter",
    "Source",
    "UserMapping",
    "UsersegError",
    "__version__",
    "choose_k",
    "load_pipeline",
    "open_db",
    "run_pipeline",
    "silhouette",
    "sweep_k",
]


def test_all_is_pinned_and_sorted() -> None:
    assert userseg.__all__ == sorted(userseg.__all__)
    assert userseg.__all__ == sorted(PUBLIC)


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in userseg.__all__:
        obj = getattr(userseg, name)
        if name != "__version__":
            assert obj.__doc__, f"{name} has no docstring"


def test_errors_share_one_tree_and_shape() -> None:
    from userseg import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        if name.endswith("Error"):
            assert issubclass(cls, errors.UsersegError)
            e = cls("what went wrong")
            assert e.to_dict() == {
                "error": {"code": cls.code, "message": "what went wrong", "details": {}}
            }
            assert e.exit_code == 2
        else:
            assert issubclass(cls, errors.UsersegWarning)


#: The layers, earliest first: a module may import its own layer and earlier ones only.
#: An entry is a root module or a package (``serve.auth`` is a module of its own here:
#: the web app, mounted by the service, checks API keys with it). Every module of
#: ``src/userseg`` belongs to one (the most specific entry naming it).
LAYERS = [
    "_lazy",
    "_version",
    "errors",
    "crash",
    "json_safe",
    "_sklearn",
    "config",
    "demo",  # the simulated shop: files from config only (the demo command runs the jobs)
    "scenarios",  # the seed's other industries: generated files and playbooks, like demo
    "text",  # sentiment, language, topics over strings (io stores texts, features use them)
    "privacy",  # detection, keys, pseudonyms: over strings and bytes (io applies them)
    "io",
    "features",
    "value",  # BG/NBD and Gamma-Gamma over the event log; the tier rules cluster replays
    "evaluate",  # pure metrics, below cluster
    "cluster",
    "privacy.dp",  # DP k-means: runs the cluster layer's k-means under noise
    "explain",
    "segment",
    "monitor",
    "store",
    "recommend",  # items per segment: reads the event log and a stored run
    "activate",
    "jobs",
    "userseg",  # the package's lazy public names, which resolve into the jobs and below
    "engine",
    "serve.auth",
    "web",
    "serve",
    "cli",
    "__main__",
]


def _modules() -> dict[str, Path]:
    src = REPO / "src" / "userseg"
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(
    name: str, path: Path, modules: dict[str, Path], *, typing_only: bool
) -> set[str]:
    """The userseg modules ``name`` imports anywhere: module level and inside functions.

    ``from a import b`` counts as importing ``a.b`` when that is a module, else ``a``.
    With ``typing_only=False`` the imports under ``if TYPE_CHECKING:`` (never run) are left out.
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if not typing_only and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(here[: len(here) - child.level + 1] + ([base] if base else []))
                for a in child.names:
                    found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in modules and m != name}


def _layer(module: str) -> int:
    rel = module.split(".", 1)[1] if "." in module else "userseg"
    best = [i for i, e in enumerate(LAYERS) if rel == e or rel.startswith(e + ".")]
    assert best, f"{module} belongs to no layer: add it to LAYERS"
    return max(best, key=lambda i: len(LAYERS[i]))


def test_layers_never_import_a_later_layer() -> None:
    """Every module of src/userseg, every import (functions' too) goes to its layer or earlier."""
    modules = _modules()
    assert len(modules) > 150  # the walk found the package
    later = []
    for name, path in modules.items():
        for other in _imports(name, path, modules, typing_only=True):
            if _layer(other) > _layer(name):
                later.append(f"{name} imports {other} ({LAYERS[_layer(other)]})")
    assert not later, later


def test_no_import_cycles() -> None:
    """No module reaches itself through imports, function-level ones included.

    A function-level import that breaks a cycle at run time is still a cycle in the
    design (features.prepare and select, io.users and validate, serve.app and routes
    were three); only ``if TYPE_CHECKING:`` imports, never run, are left out.
    """
    modules = _modules()
    graph = {n: _imports(n, p, modules, typing_only=False) for n, p in modules.items()}
    cycles = []
    for start in graph:
        seen, stack = set(), [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    assert not cycles, cycles[:5]


def test_cli_reference_is_in_sync() -> None:
    from conftest import cli_reference

    committed = (REPO / "docs" / "cli.md").read_text()
    assert committed == cli_reference(), "docs/cli.md is stale: run `make docs`"


def test_readme_shows_the_two_commands_and_every_cli_command() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    cli = importlib.import_module("userseg.cli")
    import typer

    group = typer.main.get_command(cli.app)
    for name in group.list_commands(typer.Context(group)):
        assert f"userseg {name}" in readme, f"README does not mention `userseg {name}`"


def test_the_command_starts_without_importing_the_heavy_libraries() -> None:
    """`userseg --help` must be quick: no scikit-learn, Numba or DuckDB at start-up."""
    import subprocess
    import sys

    code = (
        "import sys, userseg, userseg.cli, userseg.errors, userseg.config; "
        "print(sorted(m for m in ('sklearn', 'numba', 'duckdb', 'matplotlib') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_not_fitted_is_one_error_for_userseg_and_scikit_learn() -> None:
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    from userseg import NotFittedError, Segmenter, UsersegError
    from userseg.cluster import DBSCAN

    for estimator in (Segmenter(), DBSCAN()):
        try:
            estimator.predict([[0.0, 1.0]])
        except Exception as exc:
            assert isinstance(exc, NotFittedError | SklearnNotFitted)
            assert isinstance(exc, UsersegError) and isinstance(exc, SklearnNotFitted)
        else:  # pragma: no cover
            raise AssertionError("predict before fit must fail")


def test_one_json_encoder_for_the_cli_the_service_the_store_and_selection() -> None:
    """userseg.json_safe.jsonable is the one encoder (four existed: issue 10 item 5)."""
    import dataclasses
    import datetime as dt
    import decimal
    import json
    import math

    import numpy as np

    from userseg.json_safe import jsonable

    @dataclasses.dataclass
    class Point:
        at: dt.datetime
        value: float

    value = {
        "n": np.int64(3),
        "x": [np.float32(0.5), float("nan"), np.float64("inf")],
        "day": dt.date(2024, 5, 1),
        "point": Point(dt.datetime(2024, 5, 1, 12), float("nan")),
        "money": decimal.Decimal("12.50"),
        "where": Path("a/b.csv"),
        "arr": np.array([[1, 2]]),
        True: None,
        7: "seven",
    }
    out = jsonable(value)
    assert json.loads(json.dumps(out, allow_nan=False)) == {
        "n": 3,
        "x": [0.5, None, None],
        "day": "2024-05-01",
        "point": {"at": "2024-05-01T12:00:00", "value": None},
        "money": "12.50",
        "where": "a/b.csv",
        "arr": [[1, 2]],
        "true": None,
        "7": "seven",
    }
    kept = jsonable({"x": np.float64("nan")}, nan_as_null=False)
    assert math.isnan(kept["x"]) and type(kept["x"]) is float
    with pytest.raises(TypeError, match="set"):
        jsonable({1, 2}, strict=True)
    assert jsonable(object.__new__(object)).startswith("<object")
    src = REPO / "src" / "userseg"
    encoders = [
        f"{p.relative_to(src)}:{n.name}"
        for p in src.rglob("*.py")
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.FunctionDef) and n.name.lstrip("_") in ("jsonable", "default")
    ]
    assert encoders == ["json_safe.py:jsonable"], encoders
