"""The segmentation component: the :class:`Segmenter` and what it is built from.

* :mod:`~userseg.segment.registry` — the one registry of algorithm families
  (``kmeans``, ``gmm``, ``dbscan``, ``hdbscan``; :mod:`~userseg.segment.families`,
  one a file), each answering ``fit_candidates(...) -> list[Candidate]``;
* :mod:`~userseg.segment.params` — the fit parameters declared once
  (name, range, default, the user's words) and :class:`FitConfig`;
* :mod:`~userseg.segment.segmenter` — the estimator, ``fit`` as named steps;
* :mod:`~userseg.segment.scoring`, :mod:`~userseg.segment.diagnostics`,
  :mod:`~userseg.segment.explaining`, :mod:`~userseg.segment.advice`,
  :mod:`~userseg.segment.state` — what the steps call;
* :mod:`~userseg.segment.rows` — a file of feature rows read against a model.

Names are resolved lazily: the command line reads :class:`FitConfig` and the
algorithm names without importing scikit-learn.
"""

from __future__ import annotations

from userseg._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "ALGORITHMS": "userseg.segment.segmenter",
    "Candidate": "userseg.segment.registry",
    "Family": "userseg.segment.registry",
    "FitConfig": "userseg.segment.params",
    "Segmenter": "userseg.segment.segmenter",
    "algorithm_names": "userseg.segment.registry",
    "get_family": "userseg.segment.registry",
    "read_feature_rows": "userseg.segment.rows",
    "register": "userseg.segment.registry",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, __all__)
