"""No module of the segmentation part reaches into another module's underscore names.

Issue 10 item 5: ``cluster/sweep.py`` called seven private functions of
``kmeans.py``; the shared pieces now have names without an underscore. This test
covers ``cluster/`` and ``segment/`` (the final pass of the renovation extends it to
all of ``src/``). A package's own ``_kernels`` modules are its implementation and
may be imported by it.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "userseg"


def _is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:
        return False


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("userseg"):
            for a in node.names:
                if _is_module(f"{node.module}.{a.name}"):
                    aliases.add(a.asname or a.name)  # a module: its attributes are checked below
                elif _private(a.name):
                    found.append(f"from {node.module} import {a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("userseg") and a.asname:
                    aliases.add(a.asname)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _private(node.attr)
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_underscore_names_of_other_modules_in_cluster_and_segment() -> None:
    offenders = {}
    for part in ("cluster", "segment"):
        for path in sorted((SRC / part).rglob("*.py")):
            uses = _private_uses(path)
            if uses:
                offenders[str(path.relative_to(SRC))] = uses
    assert not offenders, offenders
