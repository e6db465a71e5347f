"""The public surface: a curated, sorted ``__all__``, documented and kept in sync."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

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


def test_layers_never_import_a_later_layer() -> None:
    """io → features → cluster → evaluate(pure metrics) → explain → store → pipeline/cli."""
    order = [
        "errors",
        "config",
        "io",
        "features",
        "evaluate",
        "cluster",
        "explain",
        "segment",
        "monitor",
        "store",
        "activate",
        "jobs",
        "engine",
        "serve",
        "cli",
    ]
    src = REPO / "src" / "userseg"
    for layer_index, layer in enumerate(order):
        files = (
            [src / f"{layer}.py"]
            if (src / f"{layer}.py").exists()
            else list((src / layer).rglob("*.py"))
        )
        later = order[layer_index + 1 :]
        for f in files:
            text = f.read_text()
            for other in later:
                assert not re.search(rf"^\s*(from|import) userseg\.{other}\b", text, re.M), (
                    f"{f.relative_to(src)} imports the later layer userseg.{other}"
                )


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
