"""Lazy imports of the ``text`` extra (vaderSentiment, jieba, snownlp's model).

Each loader imports its package on first use and caches what it built, so
``import userseg.text`` costs nothing, and a missing package is a
:class:`~userseg.errors.DependencyError` that says what to install.
"""

from __future__ import annotations

import functools
import gzip
import importlib
import importlib.util
import logging
import marshal
from pathlib import Path
from typing import Any

from userseg.errors import DependencyError

__all__ = [
    "jieba_module",
    "load_snownlp_sentiment",
    "load_snownlp_stopwords",
    "snownlp_data_dir",
    "vader_analyzer",
]

_HINT = "install the text extra: pip install 'userseg[text]'"


def _require(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyError(
            f"text features need the package {package!r}, which is not installed; {_HINT}.",
            details={"package": package, "error": str(exc)},
        ) from None


@functools.cache
def vader_analyzer() -> Any:
    """One VADER ``SentimentIntensityAnalyzer`` (its lexicon ships in the wheel)."""
    module = _require("vaderSentiment.vaderSentiment", "vaderSentiment")
    return module.SentimentIntensityAnalyzer()


@functools.cache
def jieba_module() -> Any:
    """jieba, initialised once (its dictionary ships in the package), with its logging quiet."""
    jieba = _require("jieba", "jieba")
    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("jieba").setLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@functools.cache
def snownlp_data_dir() -> Path:
    """The folder of the installed snownlp package, found without importing it.

    Importing snownlp loads all its models (seconds); only its sentiment model
    and stop-word list are read, as data.
    """
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            f"Chinese sentiment needs the package 'snownlp' (for its model); {_HINT}.",
            details={"package": "snownlp"},
        )
    return Path(next(iter(spec.submodule_search_locations)))


def load_snownlp_sentiment() -> dict[str, Any]:
    """snownlp's naive Bayes sentiment model: word counts per class (``pos``, ``neg``).

    The file is a gzip of a ``marshal`` dump that ships inside the snownlp
    package (the same bytes snownlp itself loads); no code is executed.
    """
    path = snownlp_data_dir() / "sentiment" / "sentiment.marshal.3"
    try:
        with gzip.open(path, "rb") as fh:
            data = marshal.loads(fh.read())
        return {label: data["d"][label] for label in ("pos", "neg")}
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise DependencyError(
            f"snownlp's sentiment model {path} could not be read ({exc}); reinstall snownlp."
        ) from None


def load_snownlp_stopwords() -> frozenset[str]:
    path = snownlp_data_dir() / "normal" / "stopwords.txt"
    try:
        return frozenset(w.strip() for w in path.read_text("utf-8").splitlines() if w.strip())
    except OSError:
        return frozenset()
