"""A fitted preparation compiled to vectors: the one definition of what preparing computes.

:class:`~userseg.features.prepare.Preparer` learns a step per feature
(``steps_``, plain JSON). :class:`CompiledPreparer` turns those steps into a
few vectors once and applies them to a whole matrix at a time: impute, log,
clip, centre, scale and weight each numeric feature, add its missing-value
indicator, and put the weighted one-hot row of each categorical level.

There are two ways in, and one arithmetic:

* :meth:`Preparer.transform` reads a data frame (pandas checks, column by
  column) into a numeric matrix and level codes, and calls
  :meth:`CompiledPreparer.transform_arrays`;
* the REST service reads JSON records (one mapping per user) with
  :meth:`CompiledPreparer.transform_records`, which checks JSON types (a
  numeric feature takes a number or null, never text or a boolean; a
  categorical one a string, numbers and booleans read as their text, or null;
  a date feature ISO text or null), names the first bad value, and calls the
  same :meth:`~CompiledPreparer.transform_arrays`. No pandas: a request of one
  user costs tens of microseconds instead of a millisecond.

So the library and the service cannot drift apart: the same steps, the same
floating-point operations in the same order, the same matrix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np

from userseg.config import MAX_ABS_VALUE
from userseg.errors import DataError
from userseg.io.dates import days_before

__all__ = ["MISSING", "OTHER", "CompiledPreparer", "apply_log"]

OTHER = "(other)"  # the level of rare or unseen categories (when the fit kept one)
MISSING = "(missing)"  # the level of a missing category (when frequent enough to keep)
_NUMERIC_OK = frozenset({float, int, type(None)})
_TEXT_OK = frozenset({str, type(None)})
_CHUNK = 65536  # rows per pass: the temporaries stay small whatever the number of users


class CompiledPreparer:
    """The fitted steps of a :class:`~userseg.features.prepare.Preparer`, as vectors.

    Parameters
    ----------
    steps : list of dict
        ``Preparer.steps_`` (or the ``steps`` of its stored state).
    date_references : dict, optional
        Date feature → the ISO date it is measured from (days before it); only
        :meth:`transform_records` reads dates (a data frame's dates are turned
        into days before it reaches the preparer).

    Attributes
    ----------
    features : list of str
        Every feature with a step, in order (what a record must hold).
    numeric : list of str
        The numeric features: the columns of the matrix ``V`` of
        :meth:`transform_arrays`.
    categorical : list of str
        The categorical features with columns in the output: the columns of ``codes``.
    kinds : dict
        Feature → ``"numeric"``, ``"categorical"`` or ``"date"``.
    levels : dict
        Categorical feature → its levels.
    n_out : int
        Width of the prepared matrix.

    Examples
    --------
    >>> steps = [{"name": "spend", "kind": "numeric", "fill": 2.0, "log": "log1p",
    ...           "clip": [None, None], "center": 1.0, "scale": 0.5, "weight": 1.0,
    ...           "out": ["spend"]}]
    >>> CompiledPreparer(steps).transform_records([{"spend": None}], where=None).round(3)
    array([[0.197]])
    """

    def __init__(
        self, steps: Sequence[Mapping[str, Any]], date_references: Mapping[str, str] | None = None
    ) -> None:
        self._dates = {
            name: dt.datetime.fromisoformat(ref) for name, ref in (date_references or {}).items()
        }
        self.features = [str(s["name"]) for s in steps]
        self.kinds = {s["name"]: "date" if s["name"] in self._dates else s["kind"] for s in steps}
        self.levels = {s["name"]: list(s["levels"]) for s in steps if s["kind"] == "categorical"}
        self.numeric = [s["name"] for s in steps if s["kind"] == "numeric"]
        self.categorical = [s["name"] for s in steps if s["kind"] != "numeric" and s["out"]]
        self.n_out = sum(len(s["out"]) for s in steps)
        self._compile(steps)
        names = tuple(self.numeric)
        self._get_numeric = (
            itemgetter(*names)
            if len(names) > 1
            else (lambda rec, _n=names: (rec[_n[0]],) if _n else ())
        )

    def _compile(self, steps: Sequence[Mapping[str, Any]]) -> None:
        numeric = [s for s in steps if s["kind"] == "numeric"]
        vec = lambda key: np.asarray([s[key] for s in numeric], dtype=np.float64)  # noqa: E731
        self._fill = vec("fill")
        clip = [s["clip"] for s in numeric]
        self._lo = np.asarray([-np.inf if c[0] is None else c[0] for c in clip], dtype=np.float64)
        self._hi = np.asarray([np.inf if c[1] is None else c[1] for c in clip], dtype=np.float64)
        self._clip = bool(np.isfinite(self._lo).any() or np.isfinite(self._hi).any())
        logs = np.asarray([s["log"] for s in numeric], dtype=object)
        self._log1p = np.flatnonzero(logs == "log1p")
        self._slog1p = np.flatnonzero(logs == "signed_log1p")
        self._center, self._scale, self._weight = vec("center"), vec("scale"), vec("weight")
        # Where each output column comes from: a numeric value, an indicator, a one-hot block.
        value_pos, value_src, ind_pos, ind_src, ind_p, ind_scale = [], [], [], [], [], []
        self._blocks: list[tuple[int, np.ndarray]] = []
        self._luts: list[tuple[dict[str | None, int], int]] = []
        pos = 0
        for step in steps:
            out = step["out"]
            if step["kind"] == "numeric":
                j = self.numeric.index(step["name"])
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
                # Row i is the prepared block of level i; the last row is that of a value
                # matching no level (an all-zero one-hot) when the fit kept no "(other)".
                onehot = np.vstack([np.eye(len(levels)), np.zeros((1, len(levels)))])
                rows = (onehot - np.asarray(step["p"], dtype=np.float64)) * step["scale"]
                self._blocks.append((pos, rows * step["weight"]))
                lut: dict[str | None, int] = {lvl: i for i, lvl in enumerate(levels)}
                fallback = lut.get(OTHER, len(levels))
                lut[None] = lut.get(MISSING, fallback)  # missing: its own level, or "other"
                self._luts.append((lut, fallback))
                pos += len(out)
        self._value_pos, self._value_src = np.asarray(value_pos, int), np.asarray(value_src, int)
        self._ind_pos, self._ind_src = np.asarray(ind_pos, int), np.asarray(ind_src, int)
        self._ind_p = np.asarray(ind_p, dtype=np.float64)
        self._ind_scale = np.asarray(ind_scale, dtype=np.float64)

    # -- the arithmetic ----------------------------------------------------------------
    def clipped(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each numeric feature imputed, logged and clipped, and where it was missing.

        ``V`` is float64, users × :attr:`numeric`, NaN where a value is missing.
        """
        miss = np.isnan(V)
        t = np.where(miss, self._fill, V)
        if self._log1p.size:
            t[:, self._log1p] = apply_log(t[:, self._log1p], "log1p")
        if self._slog1p.size:
            t[:, self._slog1p] = apply_log(t[:, self._slog1p], "signed_log1p")
        if self._clip:
            t = np.clip(t, self._lo, self._hi)
        return t, miss

    def standardised(
        self, V: np.ndarray, columns: Sequence[int], *, weighted: bool = True
    ) -> np.ndarray:
        """Numeric features ``columns`` of ``V`` imputed, logged, clipped, centred and scaled.

        Weighted (as in the prepared matrix) by default; unweighted, the values
        are in the training population's standard deviations (for profiles).
        """
        t, _ = self.clipped(V)
        return self._scaled(t, np.asarray(columns, dtype=int), weighted=weighted)

    def _scaled(self, t: np.ndarray, cols: np.ndarray, *, weighted: bool = True) -> np.ndarray:
        z = (t[:, cols] - self._center[cols]) / self._scale[cols]
        return z * self._weight[cols] if weighted else z

    def transform_arrays(self, V: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """The prepared matrix of numeric values ``V`` and level codes ``codes``.

        ``V``: float64, users × :attr:`numeric`, NaN for missing, finite
        otherwise. ``codes``: integers, users × :attr:`categorical`, from
        :meth:`codes`. Assumes both are so (the readers check): the one
        arithmetic of every way in.
        """
        Z = np.empty((len(V), self.n_out), dtype=np.float64)
        for start in range(0, len(V), _CHUNK):
            rows = slice(start, start + _CHUNK)
            self._transform_chunk(V[rows], codes[rows], Z[rows])
        return Z

    def _transform_chunk(self, V: np.ndarray, codes: np.ndarray, Z: np.ndarray) -> None:
        if self._value_pos.size or self._ind_pos.size:
            t, miss = self.clipped(V)
            if self._value_pos.size:
                Z[:, self._value_pos] = self._scaled(t, self._value_src)
            if self._ind_pos.size:
                Z[:, self._ind_pos] = (
                    miss[:, self._ind_src].astype(np.float64) - self._ind_p
                ) * self._ind_scale
        for c, (pos, rows) in enumerate(self._blocks):
            Z[:, pos : pos + rows.shape[1]] = rows[codes[:, c]]

    def codes(self, c: int, values: Iterable[str | None], n: int) -> np.ndarray:
        """Level codes of ``n`` values of categorical feature ``c`` (text, or None: missing).

        A value that is no level is "(other)" when the fit kept that level, else no level.
        """
        lut, fallback = self._luts[c]
        return np.fromiter(map(lut.get, values, repeat(fallback)), dtype=np.intp, count=n)

    # -- JSON records ------------------------------------------------------------------
    def transform_records(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        where: str | None = "users",
        model: str = "the model",
    ) -> np.ndarray:
        """The prepared matrix of raw feature records (one mapping per user), checked.

        ``where`` names the records in error messages (``users[3].features.age``);
        None for a single record (``features.age``). ``model`` names the model
        in the message about missing features. Extra keys are ignored.

        Raises
        ------
        DataError
            A required feature is absent (``details``: ``missing``, ``expected``,
            ``index``), a value has the wrong type or size (``details``:
            ``feature``, ``index``), or a prepared value overflows (``index``).
        """
        n = len(records)
        if self._dates:
            records = self._dates_as_days(records, where)
        try:
            V = self._numeric_matrix(records, where)
            codes = np.empty((n, len(self.categorical)), dtype=np.intp)
            for c, name in enumerate(self.categorical):
                codes[:, c] = self.codes(c, self._texts(records, name, where), n)
        except (KeyError, TypeError):
            # A feature is absent (or a record is not a mapping): say which, for whom.
            self._check_present(records, where, model)
            raise
        Z = self.transform_arrays(V, codes)
        if not np.isfinite(Z).all():
            bad = int(np.flatnonzero(~np.isfinite(Z).all(axis=1))[0])
            raise DataError(
                f"{_at(where, bad)}features: a value is too large to prepare (it overflows to "
                "infinity); send values in the range the model was fitted on.",
                details={"index": bad},
            )
        return Z

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

    def _numeric_matrix(
        self, records: Sequence[Mapping[str, Any]], where: str | None
    ) -> np.ndarray:
        """Every numeric feature of every record as float64 (NaN: missing), checked.

        Every numeric feature is read, even one left out of the distance: the
        library requires it too, and text there is a client bug worth naming.
        """
        get = self._get_numeric
        rows = [get(rec) for rec in records]
        kinds = set(map(type, chain.from_iterable(rows)))
        shape = (len(rows), len(self.numeric))
        if kinds <= _NUMERIC_OK:
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
            for name in self.numeric:
                _check_number(rec[name], f"{_at(where, i)}features.{name}", name, i)
        raise AssertionError("unreachable: a bad value was found above")  # pragma: no cover

    @staticmethod
    def _texts(
        records: Sequence[Mapping[str, Any]], name: str, where: str | None
    ) -> list[str | None]:
        col = [rec[name] for rec in records]
        if set(map(type, col)) <= _TEXT_OK:
            return col
        return [
            _category_text(v, f"{_at(where, i)}features.{name}", name, i) for i, v in enumerate(col)
        ]

    def _check_present(
        self, records: Sequence[Mapping[str, Any]], where: str | None, model: str
    ) -> None:
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                raise DataError(f"{_at(where, i)}features must be an object.", details={"index": i})
            missing = [f for f in self.features if f not in rec]
            if missing:
                raise DataError(
                    f"{_at(where, i)}features: missing feature(s) {missing}; {model} "
                    f"expects {self.features}.",
                    details={"index": i, "missing": missing, "expected": self.features},
                )


def apply_log(v: np.ndarray, how: str) -> np.ndarray:
    """A step's log transform (``"log1p"``, ``"signed_log1p"`` or ``"none"``) of ``v``."""
    if how == "log1p":
        return np.log1p(np.maximum(v, 0.0))
    if how == "signed_log1p":
        return np.sign(v) * np.log1p(np.abs(v))
    return v


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
    return days_before(ref, when)


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
