"""The activation package: its surface, its weight, and what it may import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import userseg.activate as activate

SRC = Path(__file__).resolve().parents[1] / "src" / "userseg" / "activate"


def test_every_public_name_resolves_and_is_documented() -> None:
    assert activate.__all__ == sorted(activate.__all__)
    for name in activate.__all__:
        assert getattr(activate, name).__doc__, name


def test_no_public_name_is_shadowed_by_a_submodule() -> None:
    # Importing ``userseg.activate.X`` binds X on the package; a function named
    # like its module would then resolve to the module ("'module' object is not
    # callable" depending on import order).
    import importlib
    import inspect

    for module in sorted(set(activate._EXPORTS.values())):
        importlib.import_module(module)
    for name in activate.__all__:
        assert not inspect.ismodule(getattr(activate, name)), name


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, userseg.activate; "
        "print(sorted(m for m in ('duckdb', 'numba', 'sklearn', 'scipy', 'matplotlib', 'pandas')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_activate_imports_only_the_layers_below_it_that_it_needs() -> None:
    """errors, privacy (platform hashes) and the version; never io, store, pipeline, cli, serve."""
    allowed = {"errors", "privacy", "_version", "activate"}
    for path in SRC.glob("*.py"):
        used = set(re.findall(r"^\s*(?:from|import) userseg\.(\w+)", path.read_text(), re.M))
        assert used <= allowed, (path.name, used - allowed)
