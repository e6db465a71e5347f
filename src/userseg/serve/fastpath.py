"""A compiled scorer for ``POST /v1/assign``: raw feature values → segment, in plain NumPy.

:meth:`userseg.segment.segmenter.Segmenter.predict_with_distance` goes through pandas
(a DataFrame, ``pd.to_numeric``, string casts per column), which costs about a
millisecond even for one user. :class:`FastScorer` reads the same fitted state
(:meth:`Segmenter.to_state`: the preparer's steps and the assigner's arrays)
once, flattens it into vectors, and then scores a request with a handful of
vectorised NumPy operations and no pandas at all.

It computes exactly what the Segmenter computes, in the same order of
floating-point operations (impute, log, clip, centre, scale, weight; one-hot
minus level shares; the assigner's own distance formula), so segments are
identical and distances agree to rounding (the only difference can come from
BLAS choosing another kernel for a one-row product).

Validation is stricter than the Segmenter's, because JSON carries types: a
numeric feature takes a number or null (missing), never text or a boolean;
a categorical feature takes a string (numbers and booleans are read as their
text, as pandas would) or null. Extra keys are ignored. A date feature (a
date column the Segmenter measures in days before the training's latest date)
takes ISO text (``"2024-05-01"``, with a time and an offset if wanted) or null.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
from sklearn.neighbors import KDTree

from userseg.config import MAX_ABS_VALUE
from userseg.errors import DataError
from userseg.segment.segmenter import Segmenter

__all__ = ["FastScorer"]

_OTHER = "(other)"  # the preparer's level for rare or unseen categories
_MISSING = "(missing)"  # the preparer's level for a missing category
_ABSENT = object()  # a feature key that is not in the request at all
_NUMERIC_OK = frozenset({float, int, type(None)})
_TEXT_OK = frozenset({str, type(None)})


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
        params, arrays = model.to_state()
        self.model = model
        self.run_id = run_id
        self.algorithm = str(params["params"].get("algorithm", "kmeans"))
        self._dates = {
            name: dt.datetime.fromisoformat(ref)
            for name, ref in (params.get("date_references") or {}).items()
        }
        self._compile_preparer(params["preparer"])
        self._compile_assigner(params["assigner"], arrays)
        ids = np.asarray(params["segment_ids"], dtype=np.int64)
        self._segment_ids = ids
        self._names = [model.name_of(int(s)) for s in ids]
        self._id_of = [*ids.tolist(), -1]  # by assigner index; -1 (noise) is the last entry
        self._name_of = [*self._names, "noise"]

    # -- compilation ---------------------------------------------------------------------
    def _compile_preparer(self, state: dict[str, Any]) -> None:
        steps = state["steps"]
        self.features = [s["name"] for s in steps]
        self.kinds = {s["name"]: "date" if s["name"] in self._dates else s["kind"] for s in steps}
        self.levels = {s["name"]: list(s["levels"]) for s in steps if s["kind"] == "categorical"}
        width = sum(len(s["out"]) for s in steps)
        self.n_out = width
        # Numeric features, as vectors over the numeric steps that produce any column.
        num: dict[str, list[Any]] = {
            k: [] for k in ("name", "fill", "lo", "hi", "center", "scale", "weight", "log")
        }
        value_pos, value_src, ind_pos, ind_src, ind_p, ind_scale = [], [], [], [], [], []
        cats: list[tuple[str, int, dict[str, int], int, np.ndarray]] = []
        pos = 0
        for step in steps:
            out = step["out"]
            if step["kind"] == "numeric":
                if not out:
                    continue
                j = len(num["name"])
                lo, hi = step["clip"]
                num["name"].append(step["name"])
                num["fill"].append(step["fill"])
                num["lo"].append(-np.inf if lo is None else lo)
                num["hi"].append(np.inf if hi is None else hi)
                num["center"].append(step["center"])
                num["scale"].append(step["scale"])
                num["weight"].append(step["weight"])
                num["log"].append(step["log"])
                for name in out:
                    if name == step["name"]:
                        value_pos.append(pos)
                        value_src.append(j)
                    else:  # the missing-value indicator
                        ind_pos.append(pos)
                        ind_src.append(j)
                        ind_p.append(step["indicator"]["p"])
                        ind_scale.append(step["indicator"]["scale"])
                    pos += 1
            elif out:
                levels = list(step["levels"])
                p = np.asarray(step["p"], dtype=np.float64)
                # Row i is what the preparer computes for level i; the last row is for a
                # value matching no level (all-zero one-hot) when there is no "(other)".
                onehot = np.vstack([np.eye(len(levels)), np.zeros((1, len(levels)))])
                rows = (onehot - p) * step["scale"] * step["weight"]
                lut: dict[str | None, int] = {lvl: i for i, lvl in enumerate(levels)}
                fallback = lut.get(_OTHER, len(levels))
                lut[None] = lut.get(_MISSING, fallback)  # missing: its own level, or "other"
                cats.append((step["name"], pos, lut, fallback, rows))
                pos += len(out)
        self._num_names: list[str] = num["name"]
        as_vec = lambda key: np.asarray(num[key], dtype=np.float64)  # noqa: E731
        self._fill, self._lo, self._hi = as_vec("fill"), as_vec("lo"), as_vec("hi")
        self._center, self._scale, self._weight = (
            as_vec("center"),
            as_vec("scale"),
            as_vec("weight"),
        )
        logs = np.asarray(num["log"], dtype=object)
        self._log1p = np.flatnonzero(logs == "log1p")
        self._slog1p = np.flatnonzero(logs == "signed_log1p")
        self._clip = bool(np.isfinite(self._lo).any() or np.isfinite(self._hi).any())
        self._value_pos, self._value_src = np.asarray(value_pos, int), np.asarray(value_src, int)
        self._v_center = self._center[self._value_src]
        self._v_scale = self._scale[self._value_src]
        self._v_weight = self._weight[self._value_src]
        self._ind_pos, self._ind_src = np.asarray(ind_pos, int), np.asarray(ind_src, int)
        self._ind_p = np.asarray(ind_p, dtype=np.float64)
        self._ind_scale = np.asarray(ind_scale, dtype=np.float64)
        self._cats = cats
        # Every numeric step's feature is read and validated, even one left out of the
        # distance: the library requires it too, and text there is a client bug worth naming.
        self._numeric_all = [s["name"] for s in steps if s["kind"] == "numeric"]
        cols = [self._numeric_all.index(name) for name in self._num_names]
        self._num_cols = None if cols == list(range(len(self._numeric_all))) else np.asarray(cols)
        names = tuple(self._numeric_all)
        self._get_numeric = (
            itemgetter(*names)
            if len(names) > 1
            else (lambda rec, _n=names: (rec[_n[0]],) if _n else ())
        )

    def _compile_assigner(self, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        a = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("assigner.")}
        self.kind = params["kind"]
        if self.kind == "centroid":
            self._centers = np.asarray(a["centers"], dtype=np.float64)
            self._centers_t = np.ascontiguousarray(self._centers.T)
            self._c_sq = np.einsum("ij,ij->i", self._centers, self._centers)
        elif self.kind == "gaussian":
            self._cov_type = params["covariance_type"]
            self._means = np.asarray(a["means"], dtype=np.float64)
            chol = np.asarray(a["precisions_cholesky"], dtype=np.float64)
            self._chol = chol
            n_features = self._means.shape[1]
            ct = self._cov_type
            # sklearn's _compute_log_det_cholesky, term for term.
            if ct == "full":
                log_det = np.sum(np.log(chol.reshape(len(chol), -1)[:, :: n_features + 1]), axis=1)
            elif ct == "tied":
                log_det = np.sum(np.log(np.diagonal(chol)))
            elif ct == "diag":
                log_det = np.sum(np.log(chol), axis=1)
            else:
                log_det = n_features * np.log(chol)
            self._log_det = log_det
            self._log_weights = np.log(np.asarray(a["weights"], dtype=np.float64))
            self._const = n_features * math.log(2 * math.pi)
            if ct == "full":
                self._mu_chol = [m @ c for m, c in zip(self._means, chol, strict=True)]
            elif ct == "tied":
                self._mu_chol = [m @ chol for m in self._means]
            else:
                self._precisions = chol**2
        elif self.kind == "core":
            self._points = np.asarray(a["points"], dtype=np.float64)
            self._core_labels = np.asarray(a["labels"], dtype=np.int64)
            self._radii = np.asarray(a["radii"], dtype=np.float64)
            # The same tree (same points, same leaf size) as CoreAssigner builds: same neighbour.
            self._tree = KDTree(self._points) if len(self._points) else None
        else:
            raise DataError(f"cannot serve an assigner of kind {self.kind!r}.")

    # -- preparing ----------------------------------------------------------------------
    def transform(
        self, records: Sequence[Mapping[str, Any]], *, where: str | None = "users"
    ) -> np.ndarray:
        """The prepared matrix of raw feature records (one mapping per user).

        ``where`` names the records in error messages (``users[3].features.age``);
        None for a single record (``features.age``).

        Raises
        ------
        DataError
            A required feature is absent (``details``: ``missing``, ``expected``,
            ``index``), or a value has the wrong type (``details``: ``feature``, ``index``).
        """
        n = len(records)
        if self._dates:
            records = self._dates_as_days(records, where)
        try:
            return self._transform(records, n, where)
        except (KeyError, TypeError):
            # A feature is absent (or a record is not a mapping): say which, for whom.
            self._check_present(records, where)
            raise

    def _dates_as_days(self, records: Sequence[Mapping[str, Any]], where: str | None) -> list[Any]:
        """Records with each date feature as days before its training reference."""
        out: list[Any] = []
        for i, rec in enumerate(records):
            if isinstance(rec, Mapping):
                rec = dict(rec)
                for name, ref in self._dates.items():
                    if rec.get(name) is not None:
                        rec[name] = _days_before(
                            rec[name], ref, f"{_at(where, i)}features.{name}", name, i
                        )
            out.append(rec)
        return out

    def _transform(
        self, records: Sequence[Mapping[str, Any]], n: int, where: str | None
    ) -> np.ndarray:
        Z = np.empty((n, self.n_out), dtype=np.float64)
        if self._numeric_all:
            V = self._numeric_matrix(records, where)
        if self._num_names:
            if self._num_cols is not None:
                V = V[:, self._num_cols]
            miss = np.isnan(V)
            t = np.where(miss, self._fill, V)
            if self._log1p.size:
                t[:, self._log1p] = np.log1p(np.maximum(t[:, self._log1p], 0.0))
            if self._slog1p.size:
                s = t[:, self._slog1p]
                t[:, self._slog1p] = np.sign(s) * np.log1p(np.abs(s))
            if self._clip:
                t = np.clip(t, self._lo, self._hi)
            if self._value_pos.size:
                Z[:, self._value_pos] = (
                    (t[:, self._value_src] - self._v_center) / self._v_scale * self._v_weight
                )
            if self._ind_pos.size:
                Z[:, self._ind_pos] = (
                    miss[:, self._ind_src].astype(np.float64) - self._ind_p
                ) * self._ind_scale
        for name, pos, lut, fallback, rows in self._cats:
            idx = self._category_index(records, name, lut, fallback, where)
            Z[:, pos : pos + rows.shape[1]] = rows[idx]
        if not np.isfinite(Z).all():
            bad = int(np.flatnonzero(~np.isfinite(Z).all(axis=1))[0])
            raise DataError(
                f"{_at(where, bad)}features: a value is too large to prepare (it overflows to "
                "infinity); send values in the range the model was fitted on.",
                details={"index": bad},
            )
        return Z

    def _numeric_matrix(
        self, records: Sequence[Mapping[str, Any]], where: str | None
    ) -> np.ndarray:
        """Every numeric feature of every record as float64 (NaN: missing), validated."""
        get = self._get_numeric
        rows = [get(rec) for rec in records]
        kinds = set(map(type, chain.from_iterable(rows)))
        if kinds <= _NUMERIC_OK:
            shape = (len(rows), len(self._numeric_all))
            try:
                if type(None) in kinds:  # np.array reads None as NaN; fromiter would refuse it
                    V = np.array(rows, dtype=np.float64).reshape(shape)
                else:
                    V = np.fromiter(
                        chain.from_iterable(rows), dtype=np.float64, count=shape[0] * shape[1]
                    ).reshape(shape)
            except OverflowError:  # an integer beyond float range: found and named below
                pass
            else:
                if not (np.abs(V) > MAX_ABS_VALUE).any():  # NaN (missing) compares False
                    return V
        # Something is wrong: find the first bad value and name it.
        for i, rec in enumerate(records):
            for name in self._numeric_all:
                _check_number(rec[name], f"{_at(where, i)}features.{name}", name, i)
        raise AssertionError("unreachable: a bad value was found above")  # pragma: no cover

    def _check_present(self, records: Sequence[Mapping[str, Any]], where: str | None) -> None:
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                raise DataError(f"{_at(where, i)}features must be an object.", details={"index": i})
            missing = [f for f in self.features if f not in rec]
            if missing:
                raise DataError(
                    f"{_at(where, i)}features: missing feature(s) {missing}; the model (run "
                    f"{self.run_id}) expects {self.features}.",
                    details={"index": i, "missing": missing, "expected": self.features},
                )

    @staticmethod
    def _category_index(
        records: Sequence[Mapping[str, Any]],
        name: str,
        lut: dict[str | None, int],
        fallback: int,
        where: str | None,
    ) -> np.ndarray:
        col = [rec[name] for rec in records]
        if not set(map(type, col)) <= _TEXT_OK:
            col = [
                _category_text(v, f"{_at(where, i)}features.{name}", name, i)
                for i, v in enumerate(col)
            ]
        return np.fromiter(map(lut.get, col, repeat(fallback)), dtype=np.intp, count=len(col))

    # -- assigning ----------------------------------------------------------------------
    def predict_prepared(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Assigner index (-1: noise) and distance of each prepared row."""
        if self.kind == "centroid":
            d2 = np.einsum("ij,ij->i", Z, Z)[:, None] - 2 * Z @ self._centers_t + self._c_sq
            lab = d2.argmin(axis=1)
            return lab, np.sqrt(np.maximum(d2[np.arange(len(Z)), lab], 0))
        if self.kind == "gaussian":
            lab = self._gaussian_log_prob(Z).argmax(axis=1)
            return lab, np.linalg.norm(Z - self._means[lab], axis=1)
        if self._tree is None:
            return np.full(len(Z), -1, dtype=np.int64), np.full(len(Z), np.inf)
        dist, idx = self._tree.query(Z, k=1)
        dist, idx = dist[:, 0], idx[:, 0]
        return np.where(dist <= self._radii[idx], self._core_labels[idx], -1), dist

    def _gaussian_log_prob(self, X: np.ndarray) -> np.ndarray:
        # sklearn's _estimate_log_gaussian_prob + log weights, in its order of operations.
        ct, means = self._cov_type, self._means
        if ct in ("full", "tied"):
            log_prob = np.empty((len(X), len(means)), dtype=np.float64)
            for k in range(len(means)):
                chol = self._chol[k] if ct == "full" else self._chol
                y = (X @ chol) - self._mu_chol[k]
                log_prob[:, k] = np.sum(np.square(y), axis=1)
        elif ct == "diag":
            prec = self._precisions
            log_prob = (
                np.sum((means**2 * prec), axis=1) - 2.0 * (X @ (means * prec).T) + (X**2 @ prec.T)
            )
        else:
            prec = self._precisions
            log_prob = (
                np.sum(means**2, axis=1) * prec
                - 2 * (X @ means.T * prec)
                + np.outer(np.einsum("ij,ij->i", X, X), prec)
            )
        return -0.5 * (self._const + log_prob) + self._log_det + self._log_weights

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


def _at(where: str | None, index: int) -> str:
    return f"{where}[{index}]." if where else ""


def _days_before(value: Any, ref: dt.datetime, where: str, name: str, index: int) -> float:
    """Days from an ISO date (text) to ``ref``, as ``features.prepare.dates_to_days`` counts."""
    when = None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            when = dt.datetime.fromisoformat(value.strip())
    if when is None:
        raise DataError(
            f"{where}: feature {name!r} is a date; expected ISO text such as '2024-05-01' "
            f"or null, got {value!r}."[:300],
            details={"feature": name, "index": index},
        )
    if when.tzinfo is not None:  # an instant: in UTC, as the training read zoned text
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return (ref - when).total_seconds() / 86400.0


def _check_number(value: Any, where: str, name: str, index: int) -> float:
    """Raise the DataError a bad numeric value deserves; return the float otherwise."""
    details = {"feature": name, "index": index}
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        got = f"text {value!r}" if isinstance(value, str) else f"{type(value).__name__} {value!r}"
        raise DataError(
            f"{where}: feature {name!r} is numeric; expected a number or null, got {got}."[:300],
            details=details,
        )
    try:
        x = float(value)
    except OverflowError:
        raise DataError(
            f"{where}: feature {name!r} is out of the range of a float.", details=details
        ) from None
    if math.isinf(x) or abs(x) > MAX_ABS_VALUE:
        # the limit of every way in (imports, events, data frames): no feature is that large
        raise DataError(
            f"{where}: feature {name!r} must be finite and within ±{MAX_ABS_VALUE:g}; "
            f"got {value!r}.",
            details=details,
        )
    return x


def _category_text(value: Any, where: str, name: str, index: int) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        if isinstance(value, float) and math.isnan(value):
            return None  # pandas reads NaN in a text column as missing
        return str(value)
    raise DataError(
        f"{where}: feature {name!r} is categorical; expected a string or null, got "
        f"{type(value).__name__}.",
        details={"feature": name, "index": index},
    )
