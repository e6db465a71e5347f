"""The scorer behind ``POST /v1/assign``: raw feature records → segment id, name and distance.

:meth:`userseg.segment.segmenter.Segmenter.predict_with_distance` reads a data frame
(pandas: ``pd.to_numeric``, string casts per column), which costs about a
millisecond even for one user. :class:`FastScorer` runs the same model with no
pandas: the model's own preparation compiled to vectors
(:class:`~userseg.features.compiled.CompiledPreparer`, which is also what
``Preparer.transform`` computes with) reads the JSON records, and the model's
own assigner scores them (:meth:`~userseg.cluster.assigners.Assigner.predict_unchecked`,
which its checked ``predict`` calls). Nothing is re-implemented here, so
segments are identical to the library's and distances agree to rounding (the
only difference can come from BLAS choosing another kernel for a one-row product).

Validation is stricter than the Segmenter's, because JSON carries types: see
:meth:`CompiledPreparer.transform_records`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from userseg.features.compiled import CompiledPreparer
from userseg.segment.segmenter import Segmenter

__all__ = ["FastScorer"]


class FastScorer:
    """Score raw feature records with a fitted :class:`Segmenter`, without pandas.

    Parameters
    ----------
    model : Segmenter
        A fitted (or stored and loaded) segmenter.
    run_id : int, optional
        The model version reported with each result.

    Attributes
    ----------
    features : list of str
        The features a record must hold (the fitted preparer's inputs), in order.
    kinds : dict
        Feature → ``"numeric"``, ``"categorical"`` or ``"date"`` (ISO text).
    levels : dict
        Categorical feature → its known levels.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from userseg import Segmenter
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"spend": np.r_[rng.gamma(2, 10, 200), rng.gamma(2, 500, 100)],
    ...                    "visits": np.r_[rng.poisson(2, 200), rng.poisson(30, 100)]})
    >>> fast = FastScorer(Segmenter(n_segments=2, random_state=0).fit(df))
    >>> labels, dist = fast.predict([{"spend": 15.0, "visits": 1}])
    >>> bool(labels[0] == fast.model.predict(pd.DataFrame({"spend": [15.0], "visits": [1]}))[0])
    True
    """

    def __init__(self, model: Segmenter, run_id: int | None = None) -> None:
        params, _ = model.to_state()
        self.model = model
        self.run_id = run_id
        self.algorithm = str(params["params"].get("algorithm", "kmeans"))
        dates = params.get("date_references") or None
        self.preparer: CompiledPreparer = model.preparer_.compile(dates)
        self.assigner = model.assigner_
        self.features = self.preparer.features
        self.kinds = self.preparer.kinds
        self.levels = self.preparer.levels
        ids = np.asarray(params["segment_ids"], dtype=np.int64)
        self._segment_ids = ids
        self._id_of = [*ids.tolist(), -1]  # by assigner index; -1 (noise) is the last entry
        self._name_of = [*(model.name_of(int(s)) for s in ids), "noise"]
        self._model_name = f"the model (run {run_id})"
        # A density model builds its search tree on first use: now, not in the first request.
        self.assigner.predict_unchecked(np.zeros((1, self.preparer.n_out)))

    def transform(
        self, records: Sequence[Mapping[str, Any]], *, where: str | None = "users"
    ) -> np.ndarray:
        """The prepared matrix of raw feature records (one mapping per user), checked.

        ``where`` names the records in error messages (``users[3].features.age``);
        None for a single record (``features.age``).

        Raises
        ------
        DataError
            A required feature is absent (``details``: ``missing``, ``expected``,
            ``index``), or a value has the wrong type (``details``: ``feature``, ``index``).
        """
        return self.preparer.transform_records(records, where=where, model=self._model_name)

    def predict_prepared(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Assigner index (-1: noise) and distance of each prepared row (from :meth:`transform`)."""
        return self.assigner.predict_unchecked(Z)

    def predict(
        self, records: Sequence[Mapping[str, Any]], *, where: str | None = "users"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Segment id (-1: noise) and distance of each raw feature record."""
        index, dist = self.predict_prepared(self.transform(records, where=where))
        ids = np.where(index >= 0, self._segment_ids[np.maximum(index, 0)], -1)
        return ids, dist

    def assign(
        self, records: Sequence[Mapping[str, Any]], *, where: str | None = "users"
    ) -> tuple[list[int], list[str], list[float | None]]:
        """Segment ids, names and distances of the records (distance None when infinite)."""
        index, dist = self.predict_prepared(self.transform(records, where=where))
        # Index -1 (noise) reads the last entry of these lookup lists.
        ids = [self._id_of[i] for i in index.tolist()]
        names = [self._name_of[i] for i in index.tolist()]
        if np.isfinite(dist).all():
            return ids, names, dist.tolist()
        return ids, names, [d if math.isfinite(d) else None for d in dist.tolist()]

    def describe(self) -> list[dict[str, Any]]:
        """The features a record needs: name, kind, and the known levels of categorical ones."""
        return [
            {"name": f, "kind": self.kinds[f], "levels": self.levels.get(f)} for f in self.features
        ]
