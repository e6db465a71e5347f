"""The segmentation component: one registry of algorithm families, parameters declared once.

Issue 10 items 1 and 6: a family is added in one file (here: a toy family registered
in the test and used end to end through ``Segmenter``), the algorithm name is
dispatched in one place, and every surface's algorithm list and defaults come from
the one declaration.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from userseg.errors import ConfigError, ParameterError
from userseg.segment.params import FIT, FIT_PARAMETERS, FitConfig, check_fit_params
from userseg.segment.registry import (
    Candidate,
    Family,
    FitLabels,
    Progress,
    algorithm_names,
    get_family,
    register,
    unregister,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "userseg"


class SplitFamily(Family):
    """A toy family: k segments by the quantiles of the first prepared column."""

    name = "split"
    rank = 50

    def estimator(self) -> Any:
        from sklearn.preprocessing import KBinsDiscretizer

        return KBinsDiscretizer()  # its parameters are what algorithm_params may set

    def fit_candidates(
        self,
        Z: np.ndarray,
        S: np.ndarray,
        ks: list[int],
        *,
        seed: int,
        params: dict[str, Any],
        sample: int,
        progress: Progress | None = None,
    ) -> list[Candidate]:
        from userseg.cluster.assigners import CentroidAssigner
        from userseg.segment.scoring import score

        out = []
        for k in ks:
            labels = self._labels(Z, k)
            centers = np.vstack([Z[labels == j].mean(axis=0) for j in range(k)])
            row = score(S, labels, None, sample=sample, seed=seed) | {"k": k}
            out.append(Candidate(k, row, lambda c=centers, lab=labels: (CentroidAssigner(c), lab)))
        return out

    @staticmethod
    def _labels(X: np.ndarray, k: int) -> np.ndarray:
        edges = np.quantile(X[:, 0], np.linspace(0, 1, k + 1)[1:-1])
        return np.searchsorted(edges, X[:, 0]).astype(np.int64)

    def fit_labels(self, params: dict[str, Any]) -> FitLabels:
        return lambda X, k, seed: self._labels(X, k)


@pytest.fixture
def split_family():
    family = register(SplitFamily())
    try:
        yield family
    finally:
        unregister("split")


def _users(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    spend = np.r_[rng.normal(10, 1, n // 3), rng.normal(50, 1, n // 3), rng.normal(90, 1, n // 3)]
    return pd.DataFrame({"spend": spend, "visits": rng.poisson(5, len(spend)).astype(float)})


def test_a_family_registered_in_one_place_segments_end_to_end(split_family) -> None:
    from userseg import Segmenter

    assert "split" in algorithm_names() and get_family("split") is split_family
    df = _users()
    seg = Segmenter(algorithm="split", k_min=2, k_max=4, random_state=0, stability_runs=3)
    seg.fit(df)
    assert seg.k_choice_["algorithm"] == "split" and seg.n_segments_ == 3
    assert [r["k"] for r in seg.k_choice_["table"]] == [2, 3, 4]
    assert sorted(np.bincount(seg.labels_).tolist()) == [100, 100, 100]
    assert len(seg.names_) == 3 and "stability" in seg.metrics_
    # stored and loaded as any model, predicting as it did
    again = Segmenter.from_state(*seg.to_state())
    np.testing.assert_array_equal(again.predict(df), seg.predict(df))
    # its parameters are checked against its estimator, and FitConfig knows it too
    with pytest.raises(ConfigError, match=r"split has no parameter 'eps'; its parameters are"):
        Segmenter(algorithm="split", algorithm_params={"eps": 1}).fit(df)
    FitConfig(algorithm="split").validate()


def test_an_unknown_or_twice_registered_family_is_refused(split_family) -> None:
    with pytest.raises(ParameterError, match=r"^algorithm='magic' is not one of \['kmeans', 'gmm'"):
        get_family("magic")
    with pytest.raises(ConfigError, match="already registered"):
        register(SplitFamily())


def test_candidates_are_typed_and_kmeans_finishes_only_the_chosen_one() -> None:
    X = np.random.default_rng(1).normal(size=(200, 2))
    family = get_family("kmeans")
    cands = family.fit_candidates(X, X, [2, 3, 4], seed=0, params={}, sample=1000)
    assert [c.k for c in cands] == [2, 3, 4]
    assert all(isinstance(c, Candidate) and c.metrics["k"] == c.k for c in cands)
    assigner, labels = cands[1].finish()
    assert assigner.centers.shape == (3, 2) and labels.shape == (200,)
    (single,) = family.fit_candidates(X, X, [3], seed=0, params={}, sample=1000)
    assert single.k == 3 and single.finish()[0].centers.shape == (3, 2)
    (dense,) = get_family("dbscan").fit_candidates(X, X, [], seed=0, params={}, sample=1000)
    assert dense.k == dense.metrics["k"] and get_family("dbscan").chooses_k


def test_the_algorithm_list_is_declared_once() -> None:
    from typer.main import get_command

    from userseg.cli import app
    from userseg.segment import ALGORITHMS, Segmenter

    names = algorithm_names()
    assert names[:4] == ("kmeans", "gmm", "dbscan", "hdbscan")
    # the built-in families: the four clusterings, then the rule-based value tiers (issue 12),
    # then the differentially private k-means (issue 13, only through fit --dp-epsilon)
    assert (*names[:4], "value_tiers", "dp_kmeans") == ALGORITHMS
    assert all(f'"{a}"' in (Segmenter.__doc__ or "") for a in names)
    fit = get_command(app).commands["fit"]  # type: ignore[attr-defined]
    helps = {p.name: p.help or "" for p in fit.params}
    assert all(a in helps["algorithm"] for a in names)
    # no module outside the registry and the families dispatches on an algorithm's name
    # (cluster/ holds the estimators themselves, whose backends have names of their own)
    quoted = "|".join(names)
    pattern = re.compile(rf"(==|!=|\bin)\s*[(\[]?\s*[\"']({quoted})[\"']")
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).parts[0] in ("segment", "cluster"):
            continue
        text = path.read_text()
        assert not pattern.search(text), f"{path.relative_to(SRC)} dispatches on an algorithm name"
    # each family is one module of segment/families (a new file is found by itself)
    assert {get_family(a).__module__.rsplit(".", 1)[1] for a in names[:4]} == {
        "kmeans",
        "gmm",
        "density",
    }


def test_fit_defaults_are_declared_once() -> None:
    from typer.main import get_command

    from userseg.cli import app
    from userseg.segment import Segmenter

    signature = inspect.signature(Segmenter.__init__).parameters
    fields = {f.name: f for f in dataclasses.fields(FitConfig)}
    assert set(fields) == {p.key for p in FIT_PARAMETERS}
    for p in FIT_PARAMETERS:
        assert signature[p.name].default == p.default, p.name
        f = fields[p.key]
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
        assert default == (p.default if p.key != "params" else {}), p.key
    # the command line's fit options are "not given" by default; their help shows the default
    fit = get_command(app).commands["fit"]  # type: ignore[attr-defined]
    options = {p.opts[0]: p for p in fit.params if p.opts}
    for p in FIT_PARAMETERS:
        if p.flag is not None:
            assert options[p.flag].default is None, p.flag
            if p.default is not None and not isinstance(p.default, dict):
                assert f"[default: {p.default}]" in (options[p.flag].help or ""), p.flag


@pytest.mark.parametrize(
    ("values", "n_users", "message"),
    [
        ({"n_segments": 1}, None, r"^n_segments=1 should be an integer >= 2"),
        ({"n_segments": 2.5}, None, r"^n_segments=2.5 should be an integer >= 2"),
        ({"n_segments": 31}, 30, r"^n_segments=31 should be <= the number of users=30\.$"),
        ({"k_min": 5, "k_max": 3}, None, r"^k_max=3 should be >= k_min=5"),
        ({"stability_runs": -1}, None, r"^stability_runs=-1 should be an integer >= 0"),
        ({"algorithm": "hdbscan", "n_segments": 3}, None, "^hdbscan finds the number"),
    ],
)
def test_parameters_are_checked_once_with_the_canonical_name(values, n_users, message) -> None:
    with pytest.raises(ParameterError, match=message) as info:
        check_fit_params(values, n_users)
    name = info.value.details["parameter"]
    assert name in FIT
    # rendered in another surface's words, the same error names what the user typed there
    worded = info.value.worded(FIT[name].file_word)
    assert FIT[name].file_word in worded.message and worded.details["parameter"] == name
