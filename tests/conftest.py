"""Shared fixtures: temporary databases, small demo data, and the real data folder."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Numba compiles into a cache beside the package; keep test runs from fighting over it.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def cli_reference() -> str:
    """The CLI reference as ``tools/docgen.py`` (a developer tool, not in the package) writes."""
    spec = importlib.util.spec_from_file_location("docgen", REPO / "tools" / "docgen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cli_reference()


def shared(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real data not available: {path} is absent (it lives outside the repo, "
            "in ../shared/data, and is never copied in)"
        )
    return path


@pytest.fixture
def db(tmp_path: Path) -> Iterator:
    from userseg.jobs.pipeline import open_db

    database = open_db(tmp_path / "test.duckdb")
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def write(tmp_path: Path):
    """write(name, text) -> path of a new file holding ``text``."""

    def _write(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small demo data set (3,000 users), generated once per test session."""
    from userseg.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo"), 3000, seed=7)
