"""The fit parameters, each declared once: name, type and range, default, and the user's words.

A parameter has one canonical name, the Python one (``n_segments``), and is
typed differently on each surface: ``--k`` on the command line, ``k`` in a
pipeline file's ``fit`` section (``fit.k``), ``n_segments`` in Python. This
module declares them (:data:`FIT_PARAMETERS`), checks them in one function
(:func:`check_fit_params`, as scikit-learn's ``_parameter_constraints``), and
renders a bad value's message in the words of the surface it came from
(:func:`speaking`): the library raises a :class:`~userseg.errors.ParameterError`
naming ``n_segments``; the command line shows ``--k=31 should be <= the number
of users=30.``, a pipeline file ``fit.k=31 …``.

The command-line defaults, :class:`FitConfig`'s and the
:class:`~userseg.segment.segmenter.Segmenter`'s all come from here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

from userseg.errors import ConfigError, ParameterError
from userseg.segment.registry import algorithm_names, get_family

__all__ = [
    "FIT",
    "FIT_PARAMETERS",
    "FitConfig",
    "Param",
    "candidate_ks",
    "check_fit_params",
    "cli_words",
    "file_words",
    "speaking",
]


@dataclass(frozen=True)
class Param:
    """One fit parameter.

    Attributes
    ----------
    name : str
        Canonical (Python, :class:`Segmenter`) name; errors carry it in ``details``.
    key : str
        Its key in a pipeline file's ``fit`` section (and :class:`FitConfig` field).
    flag : str or None
        Its command-line flag (``fit``), if it has one.
    default : object
        The one default.
    minimum : int or None
        Smallest value allowed (integers only).
    help : str
        What it does, for the command line and the docs.
    """

    name: str
    key: str
    flag: str | None
    default: Any
    minimum: int | None = None
    help: str = ""
    why: str = ""

    @property
    def file_word(self) -> str:
        return f"fit.{self.key}"

    @property
    def cli_param(self) -> str | None:
        """The name of the command-line option's parameter (what Click records)."""
        return self.flag.lstrip("-").replace("-", "_") if self.flag else None

    def cli_help(self) -> str:
        """The option's help, with the default from this declaration."""
        if self.default is None or isinstance(self.default, dict):
            return self.help
        shown = str(self.default).lower() if isinstance(self.default, bool) else self.default
        return f"{self.help} [default: {shown}]"


FIT_PARAMETERS: tuple[Param, ...] = (
    Param(
        "algorithm",
        "algorithm",
        "--algorithm",
        "kmeans",
        help=", ".join(algorithm_names()[:-1]) + f" or {algorithm_names()[-1]}.",
    ),
    Param(
        "n_segments",
        "k",
        "--k",
        None,
        minimum=2,
        help="Force the number of segments.",
        why=": one segment is no segmentation",
    ),
    Param("k_min", "k_min", "--k-min", 2, minimum=2, help="Smallest k tried."),
    Param(
        "k_max",
        "k_max",
        "--k-max",
        10,
        minimum=2,
        help="Largest k tried (widen it when fit warns k is at it).",
    ),
    Param("random_state", "random_state", "--seed", 0, help="Random seed."),
    Param(
        "silhouette_sample",
        "silhouette_sample",
        None,
        20000,
        minimum=2,
        help="Above this many users the silhouette is estimated on a stratified sample.",
    ),
    Param(
        "algorithm_params",
        "params",
        "--param",
        None,
        help="Algorithm parameter key=value (repeatable).",
    ),
    Param("target", "target", "--target", None, help="A known outcome column."),
    Param(
        "stability_runs",
        "stability_runs",
        "--stability-runs",
        20,
        minimum=0,
        help="Subsample refits for stability (0: skip).",
    ),
    Param("check_structure", "structure", None, True, help="Check for structure."),
    Param("rules", "rules", None, True, help="Derive a rule per segment."),
)
#: canonical name → declaration
FIT: dict[str, Param] = {p.name: p for p in FIT_PARAMETERS}


def _error(p: Param, value: Any, expected: str) -> ParameterError:
    shown = repr(value).replace("{", "{{").replace("}", "}}")
    return ParameterError(f"{{name}}={shown} {expected}.", parameter=p.name, value=value)


def _check_int(p: Param, value: Any) -> None:
    ok = isinstance(value, Integral) and not isinstance(value, bool)
    if not ok or (p.minimum is not None and value < p.minimum):
        raise _error(p, value, f"should be an integer >= {p.minimum}{p.why}")


def check_fit_params(values: Mapping[str, Any], n_users: int | None = None) -> None:
    """Check the fit parameters ``values`` (canonical names) against their declarations.

    With ``n_users``, also what depends on the data (k below the number of users).
    Raises :class:`~userseg.errors.ParameterError` naming the canonical parameter.
    """
    family = get_family(values.get("algorithm", FIT["algorithm"].default))
    k = values.get("n_segments")
    if k is not None:
        if family.chooses_k:
            raise ParameterError(
                f"{family.name} finds the number of segments itself; do not pass {{name}}.",
                parameter="n_segments",
                value=k,
            )
        _check_int(FIT["n_segments"], k)
        if n_users is not None and k > n_users:
            raise _error(FIT["n_segments"], k, f"should be <= the number of users={n_users}")
    for name in ("k_min", "k_max", "silhouette_sample", "stability_runs"):
        if name in values:
            _check_int(FIT[name], values[name])
    k_min = values.get("k_min", FIT["k_min"].default)
    k_max = values.get("k_max", FIT["k_max"].default)
    if k_max < k_min:
        raise _error(FIT["k_max"], k_max, f"should be >= k_min={k_min} (need 2 <= k_min <= k_max)")
    family.check_params(values.get("algorithm_params"))


def candidate_ks(values: Mapping[str, Any], n_users: int) -> list[int]:
    """The k to try: the given one, none (a family choosing k), or ``k_min..k_max`` below n."""
    if get_family(values["algorithm"]).chooses_k:
        return []
    if values.get("n_segments") is not None:
        return [int(values["n_segments"])]
    if n_users < 3:
        raise ConfigError(f"need at least 3 users to choose a number of segments; got {n_users}.")
    return list(range(values["k_min"], min(values["k_max"], n_users - 1) + 1))


# -- the user's words -------------------------------------------------------------------


def file_words() -> dict[str, str]:
    """Canonical name → how a pipeline file names it (``fit.k``)."""
    return {p.name: p.file_word for p in FIT_PARAMETERS}


def cli_words(given: Mapping[str, bool], from_file: bool) -> dict[str, str]:
    """Canonical name → the flag (when given, or without a file) or the file's key.

    ``given`` maps a command-line parameter name (``k_min``) to whether the user gave it.
    """
    out = {}
    for p in FIT_PARAMETERS:
        flag_given = p.cli_param is not None and given.get(p.cli_param, False)
        if p.flag is not None and (flag_given or not from_file):
            out[p.name] = p.flag
        elif from_file:
            out[p.name] = p.file_word
    return out


@contextlib.contextmanager
def speaking(words: Mapping[str, str]) -> Iterator[None]:
    """Re-word a :class:`~userseg.errors.ParameterError` raised inside with ``words``."""
    try:
        yield
    except ParameterError as exc:
        word = words.get(exc.parameter)
        if word is None:
            raise
        raise exc.worded(word) from None


# -- the fit section of a pipeline file -----------------------------------------------


@dataclass
class FitConfig:
    """Segmentation step (a pipeline file's ``fit`` section); see :data:`FIT_PARAMETERS`.

    Attributes
    ----------
    algorithm : str
        A registered algorithm family (:func:`~userseg.segment.registry.algorithm_names`).
    k : int, optional
        Force the number of segments; otherwise chosen over ``k_min..k_max``.
    silhouette_sample : int
        Above this many users the silhouette is estimated on a stratified sample.
    params : dict
        Extra parameters for the algorithm (``eps``, ``min_samples``, …).
    target : str, optional
        A column holding a known outcome (campaign response, churn): the
        features are then selected by chi-square, mutual information and L1
        logistic regression (kept by a majority), and the target itself is
        never a clustering feature.
    stability_runs : int
        Subsample refits measuring each segment's stability (0 skips it).
    structure : bool
        Check that the data has more structure than structureless data.
    rules : bool
        Derive a readable rule (and an SQL WHERE clause) for each segment.
    """

    algorithm: str = FIT["algorithm"].default
    k: int | None = FIT["n_segments"].default
    k_min: int = FIT["k_min"].default
    k_max: int = FIT["k_max"].default
    random_state: int = FIT["random_state"].default
    silhouette_sample: int = FIT["silhouette_sample"].default
    params: dict[str, Any] = field(default_factory=dict)
    target: str | None = FIT["target"].default
    stability_runs: int = FIT["stability_runs"].default
    structure: bool = FIT["check_structure"].default
    rules: bool = FIT["rules"].default

    def segmenter_params(self) -> dict[str, Any]:
        """The section as :class:`Segmenter` parameters (canonical names)."""
        values = {p.name: getattr(self, p.key) for p in FIT_PARAMETERS}
        values["algorithm_params"] = values["algorithm_params"] or None
        return values

    def validate(self) -> None:
        """Check the section (what does not depend on the data), naming keys as ``fit.k``."""
        with speaking(file_words()):
            check_fit_params(self.segmenter_params())
