"""The one registry of algorithm families: each declares itself once, here it is looked up.

A family is everything the :class:`~userseg.segment.segmenter.Segmenter` needs
to know of one clustering algorithm: its name, the estimator whose parameters
``algorithm_params`` may set, the defaults the segmenter gives them, whether it
chooses the number of segments itself, how to fit the candidates of a choice
of k (:meth:`Family.fit_candidates`) and how to refit labels on resamples for
the stability and structure checks (:meth:`Family.fit_labels`).

The built-in families are the modules of :mod:`userseg.segment.families`, one
a file, registered on first use; another is added with :func:`register` (a new
module in that package is found by itself). The algorithm name is dispatched
here, in :func:`get_family`, and nowhere else.

Examples
--------
>>> from userseg.segment.registry import algorithm_names, get_family
>>> algorithm_names()
('kmeans', 'gmm', 'dbscan', 'hdbscan', 'value_tiers', 'dp_kmeans')
>>> get_family("dbscan").chooses_k
True
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from userseg.errors import ConfigError, ParameterError

if TYPE_CHECKING:
    from userseg.cluster.assigners import Assigner

__all__ = [
    "Candidate",
    "Family",
    "FitLabels",
    "Progress",
    "algorithm_names",
    "builtin_names",
    "get_family",
    "register",
    "unregister",
]

#: ``fit_labels(X, k, seed) -> labels``: the family's refit, for resamples (k ignored
#: by a family that chooses k itself).
FitLabels = Callable[[np.ndarray, int, int], np.ndarray]
#: ``progress(step, done, total)``
Progress = Callable[[str, int, int], None]

#: Parameters the segmenter itself sets (from ``n_segments`` and ``random_state``).
RESERVED = frozenset({"n_clusters", "n_components", "random_state"})


@dataclass
class Candidate:
    """One fitted candidate of the choice of k.

    ``metrics`` is its row of the k-choice table (``k``, silhouette,
    Calinski-Harabasz, Davies-Bouldin…). :meth:`finish` returns the assigner
    that scores new users and the training labels; a family may defer that work
    to it (the k-means sweep refines only the chosen candidate).
    """

    k: int
    metrics: dict[str, Any]
    finisher: Callable[[], tuple[Assigner, np.ndarray]] = field(repr=False)

    def finish(self) -> tuple[Assigner, np.ndarray]:
        """The candidate's assigner and labels (segment indices, -1 for noise)."""
        return self.finisher()


class Family:
    """One algorithm family; subclass it, set the class attributes, and :func:`register` it.

    Attributes
    ----------
    name : str
        What ``algorithm=`` (``--algorithm``, ``fit.algorithm``) names it by.
    chooses_k : bool
        Finds the number of segments itself (then ``n_segments`` is refused).
    structure_check : bool
        Whether the gap-statistic structure check is fair to it (it measures
        compact groups, not the shapes density methods find).
    defaults : dict
        The segmenter's defaults for the estimator's parameters.
    rank : int
        Where it is listed (built-in families first).
    centroid : bool
        Its model is a set of centres refined by Lloyd passes, which the Spark engine
        runs distributed (``engine: spark`` takes only such families).
    private : bool
        It spends a differential-privacy budget: the plain fit refuses it, only
        ``fit --dp-epsilon`` (:mod:`userseg.jobs.dp_fit`) runs it, charged to the budget.
    """

    name: ClassVar[str]
    rank: ClassVar[int] = 100
    chooses_k: ClassVar[bool] = False
    structure_check: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {}
    centroid: ClassVar[bool] = False
    private: ClassVar[bool] = False

    def estimator(self) -> Any:
        """An unfitted estimator, whose ``get_params()`` lists what ``algorithm_params`` may set."""
        raise NotImplementedError

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
        """Fit one candidate per k of ``ks`` (or the family's own choice when ``chooses_k``).

        ``Z`` is the prepared matrix that is clustered, ``S`` the one scored
        (its numeric columns, or ``Z``); ``params`` the user's algorithm
        parameters (checked against :meth:`estimator`); ``sample`` the size above
        which the silhouette is estimated on a sample.
        """
        raise NotImplementedError

    def fit_labels(self, params: dict[str, Any]) -> FitLabels:
        """The same algorithm and settings as ``fit_labels(X, k, seed) -> labels``."""
        raise NotImplementedError

    def known_params(self) -> list[str]:
        """The parameters ``algorithm_params`` may set (sorted; the reserved ones left out)."""
        return sorted(set(self.estimator().get_params()) - RESERVED)

    def check_params(self, params: dict[str, Any] | None) -> None:
        """Refuse a parameter the algorithm does not take, naming those it does."""
        if not params:
            return
        known = None
        for name in params:
            if name in RESERVED:
                raise ConfigError(
                    f"parameter {name!r} is set by the segmenter (n_segments / random_state), "
                    "not through the algorithm's parameters.",
                    details={"parameter": name},
                )
            known = known if known is not None else self.known_params()
            if name not in known:
                raise ConfigError(
                    f"{self.name} has no parameter {name!r}; its parameters are {known}.",
                    details={"parameter": name, "known": known},
                )


_FAMILIES: dict[str, Family] = {}
_loaded = False


def _load_builtins() -> None:
    """Import every module of :mod:`userseg.segment.families` (each registers its family)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from userseg.segment import families

    for info in sorted(pkgutil.iter_modules(families.__path__), key=lambda m: m.name):
        importlib.import_module(f"{families.__name__}.{info.name}")


def register(family: Family, *, replace: bool = False) -> Family:
    """Add ``family`` to the registry (its ``name`` must be new unless ``replace``)."""
    name = getattr(family, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a family needs a non-empty str name; got {name!r}.")
    if name in _FAMILIES and not replace and _FAMILIES[name] is not family:
        raise ConfigError(f"an algorithm family named {name!r} is already registered.")
    _FAMILIES[name] = family
    return family


def unregister(name: str) -> None:
    """Remove a family (tests register toy families and take them out again)."""
    _FAMILIES.pop(name, None)


def algorithm_names() -> tuple[str, ...]:
    """The registered algorithm names, built-in ones first, in the order they rank."""
    _load_builtins()
    ranked = sorted(_FAMILIES.values(), key=lambda f: f.rank)
    return tuple(f.name for f in ranked)


def builtin_names() -> tuple[str, ...]:
    """The algorithm names of the families shipped in :mod:`userseg.segment.families`."""
    package = f"{__name__.rsplit('.', 1)[0]}.families."
    return tuple(n for n in algorithm_names() if type(_FAMILIES[n]).__module__.startswith(package))


def get_family(name: str) -> Family:
    """The family called ``name``: the one place an algorithm name is dispatched."""
    _load_builtins()
    family = _FAMILIES.get(name) if isinstance(name, str) else None
    if family is None:
        shown = repr(name).replace("{", "{{").replace("}", "}}")
        raise ParameterError(
            f"{{name}}={shown} is not one of {list(algorithm_names())}.",
            parameter="algorithm",
            value=name,
        )
    return family
