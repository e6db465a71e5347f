"""Lazy public names for a package: ``from userseg.cluster import KMeans`` imports one module.

A package's ``__init__`` lists where each public name lives; the name is imported
on first use and kept, so importing the package (and ``userseg --help``) stays quick.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: dict[str, Any], exports: dict[str, str], listed: Iterable[str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose ``exports`` map name → module.

    ``namespace`` is the package's ``globals()``; ``__dir__`` lists ``listed`` (its
    ``__all__``) when given, else every name it holds or exports.
    """
    package = namespace["__name__"]
    shown = None if listed is None else list(listed)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return list(shown) if shown is not None else sorted([*namespace, *exports])

    return __getattr__, __dir__
