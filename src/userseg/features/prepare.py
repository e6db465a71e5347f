"""Prepare per-user features for distance-based clustering, and remember how.

:class:`Preparer` is a scikit-learn transformer whose learnt state is plain
JSON (:meth:`Preparer.to_dict`), so a stored model scores new users exactly
as it prepared the training users, without pickle.

The steps, per numeric feature: impute (median by default) and add a missing
indicator; log1p when the right tail is heavy; clip to quantiles; scale.
Per categorical feature: one-hot encode the frequent levels and weight the
block so that the whole attribute carries ``categorical_weight`` of the
variance of one numeric feature. Why weight: a one-hot column splits users
into perfectly separated groups, and unweighted one-hot blocks let region or
gender alone decide the segments (a known failure of peer tools' defaults).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from userseg._sklearn import EstimatorNotFittedError
from userseg.config import MAX_ABS_VALUE, PrepareConfig, from_dict
from userseg.errors import ConfigError, DataError
from userseg.features.compiled import MISSING as _MISSING
from userseg.features.compiled import OTHER as _OTHER
from userseg.features.compiled import CompiledPreparer, apply_log
from userseg.features.pruning import correlated_to_drop, near_constant
from userseg.io.dates import days_before

__all__ = ["FORMAT_VERSION", "Preparer", "as_frame", "dates_to_days", "find_date_columns"]

FORMAT_VERSION = 1


def as_frame(X: Any, feature_names: list[str] | None = None) -> pd.DataFrame:
    """A DataFrame view of ``X`` (DataFrame, mapping or 2-D array); ``X`` is never changed."""
    if isinstance(X, pd.DataFrame):
        # feature names are strings everywhere (JSON state, SQL): 0 and "0" are one column
        df = X if all(isinstance(c, str) for c in X.columns) else X.rename(columns=str)
        return _checked_columns(df)
    if isinstance(X, dict):
        return _checked_columns(pd.DataFrame(X))
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        raise DataError("X holds complex numbers; expected real numbers (or text categories).")
    if arr.ndim != 2:
        raise DataError(f"X must be 2-dimensional (users × features); got shape {arr.shape}.")
    names = feature_names or [f"x{i}" for i in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise DataError(f"X has {arr.shape[1]} columns but {len(names)} feature names are known.")
    return pd.DataFrame(arr, columns=names)


def _checked_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Refuse what no feature can be made of: repeated column names, complex numbers."""
    if df.columns.has_duplicates:
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise DataError(
            f"column name(s) {dup} appear more than once; each feature needs its own name.",
            details={"columns": dup},
        )
    cplx = [str(c) for c, t in df.dtypes.items() if t.kind == "c"]
    if cplx:
        raise DataError(
            f"column(s) {cplx} hold complex numbers; expected real numbers or text categories.",
            details={"columns": cplx},
        )
    return df


_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"


def _as_dates(series: pd.Series) -> pd.Series | None:
    """The column as timestamps when it holds dates (datetime dtype, or ≥ 90 % ISO text)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        # zoned times in UTC, as ISO text with an offset is read: one instant, one number
        return series.dt.tz_convert(None) if series.dt.tz is not None else series
    if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return None
    present = series.dropna()
    if present.empty:
        return None
    text = present.astype(str)
    if text.str.match(_ISO_DATE).mean() < 0.9:
        return None
    return _parse_iso(series)


def _parse_iso(series: pd.Series) -> pd.Series:
    # utc=True: offsets may differ row to row; naive times are taken as they are
    parsed = pd.to_datetime(
        series.astype("string").str.strip(), errors="coerce", format="ISO8601", utc=True
    )
    return parsed.dt.tz_convert(None)


def find_date_columns(df: pd.DataFrame, exclude: list[str] | None = None) -> dict[str, str]:
    """Date columns of ``df`` and the reference each is measured from (its latest date).

    A date is not a category (every day a level) nor an identifier: as "days
    before the latest date" it is a number the clustering can use, like the
    ``recency_days`` the feature step builds from events.
    """
    refs: dict[str, str] = {}
    for name in df.columns:
        if name in set(exclude or []):
            continue
        dates = _as_dates(df[name])
        if dates is not None and dates.notna().any():
            refs[str(name)] = dates.max().isoformat()
    return refs


def dates_to_days(
    df: pd.DataFrame, references: dict[str, str], *, notes: list[str] | None = None
) -> pd.DataFrame:
    """``df`` with each date column replaced by days before its reference (a new frame).

    A value that is not a date is an error naming the column; with ``notes``
    (a list, at fit time) it is left missing instead and a note says so.
    """
    if not references:
        return df
    out = df.copy()
    for name, ref in references.items():
        if name not in out.columns:
            continue
        col = out[name]
        if col.isna().all():  # nothing to parse (an all-missing column reads as float)
            out[name] = np.full(len(col), np.nan)
            continue
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            # 20240101 or an epoch time would silently become millions of days ago
            raise DataError(
                f"column {name!r} should hold dates (YYYY-MM-DD text or datetimes), as in "
                f"training; found numbers such as {col.dropna().iloc[0]}.",
                details={"column": name},
            )
        dates = _as_dates(col)
        if dates is None:  # mostly not dates: parse anyway, so the bad values are named
            dates = _parse_iso(col)
        bad = dates.isna() & col.notna()
        if bad.any():
            first, count = col[bad].iloc[0], int(bad.sum())
            if notes is None:
                raise DataError(
                    f"column {name!r} should hold dates (YYYY-MM-DD); found {first!r} in "
                    f"{count} rows.",
                    details={"column": name, "count": count},
                )
            notes.append(f"{name}: {count} values are not dates (such as {first!r}): missing")
        out[name] = days_before(pd.Timestamp(ref), dates)
    return out


def _refuse_numbers_with_stray_text(series: pd.Series, name: str) -> None:
    """A text column that is numbers but for a few values is a dirty numeric column.

    As text it would become a category per value and be left out as identifier-like:
    one "forty" among 400 browsing times silently removed the whole feature (a
    trial). Declared categorical columns (codes, zips) are not checked.
    """
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return
    present = series.dropna()
    present = present[present.astype(str).str.strip() != ""]
    if len(present) < 20:
        return
    parsed = pd.to_numeric(present, errors="coerce")
    bad = present[parsed.isna()]
    if 0 < len(bad) <= 0.05 * len(present):
        raise DataError(
            f"column {name!r} holds numbers except for {len(bad)} value(s) such as "
            f"{str(bad.iloc[0])!r}; clean or blank those values, or declare the column "
            "categorical if it is a code.",
            details={
                "column": name,
                "count": len(bad),
                "examples": bad.astype(str).head(3).tolist(),
            },
        )


def _is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _numeric_values(series: pd.Series, name: str) -> np.ndarray:
    try:
        values = pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError):
        bad = series[pd.to_numeric(series, errors="coerce").isna() & series.notna()]
        raise DataError(
            f"column {name!r} should be numeric; found text such as {bad.iloc[0]!r} "
            f"in {len(bad)} rows.",
            details={"column": name, "count": len(bad)},
        ) from None
    if np.isinf(values).any():
        n = int(np.isinf(values).sum())
        raise DataError(
            f"column {name!r} has {n} infinite values; expected finite numbers.",
            details={"column": name, "count": n},
        )
    huge = np.abs(values) > MAX_ABS_VALUE  # NaN compares False: missing values pass
    if huge.any():
        n = int(huge.sum())
        raise DataError(
            f"column {name!r} has {n} value{'s' if n != 1 else ''} beyond ±{MAX_ABS_VALUE:g} "
            f"(such as {values[huge][0]:g}); expected realistic magnitudes (an import counts "
            "them as bad values).",
            details={"column": name, "count": n},
        )
    return values


def _skew(v: np.ndarray) -> float:
    sd = v.std()
    return 0.0 if sd == 0 else float(np.mean(((v - v.mean()) / sd) ** 3))


class Preparer(TransformerMixin, BaseEstimator):
    """Impute, transform, clip, scale and weight user features (see the module docstring).

    Parameters
    ----------
    config : PrepareConfig or dict, optional
        The preparation settings; defaults are sensible for behavioural data.
    categorical : list of str, optional
        Columns to treat as categorical (otherwise: non-numeric dtypes).
    weights : dict, optional
        Extra multiplier per input feature (applied after scaling).

    Attributes
    ----------
    steps_ : list of dict
        The learnt per-feature preparation, JSON-serialisable.
    feature_names_in_ : ndarray of str
    notes_ : list of str
        What was decided and why (logged columns, dropped constant columns…).
    left_out_ : dict
        Input feature → why its values are not in the distance (empty, constant,
        near-constant, identifier-like, repeats an earlier feature). This is the
        one record of what the model leaves out: the feature selection shown in
        the report takes it from here (a feature it said was dropped was once
        clustered with full weight).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"spend": [1.0, 10.0, 100.0, 1000.0], "region": list("aabb")})
    >>> Preparer().fit_transform(df).shape
    (4, 3)
    """

    def __init__(
        self,
        config: PrepareConfig | dict | None = None,
        *,
        categorical: list[str] | None = None,
        weights: dict[str, float] | None = None,
    ) -> None:
        self.config = config
        self.categorical = categorical
        self.weights = weights

    # -- fitting ---------------------------------------------------------------------
    def _config(self) -> PrepareConfig:
        return (
            from_dict(PrepareConfig, self.config, "prepare")
            if not isinstance(self.config, PrepareConfig)
            else self.config
        )

    def fit(self, X: Any, y: Any = None) -> Preparer:
        cfg = self._config()
        cfg.validate()
        if cfg.categorical_weight < 0 or cfg.indicator_weight < 0:
            raise ConfigError("categorical_weight and indicator_weight must be >= 0.")
        df = as_frame(X)
        if df.shape[0] < 2:
            raise DataError(f"need at least 2 users to prepare features; got {df.shape[0]}.")
        forced = set(self.categorical or [])
        unknown = forced - set(df.columns)
        if unknown:
            raise ConfigError(f"categorical names unknown columns {sorted(unknown)}.")
        weights = dict(self.weights or {})
        steps: list[dict[str, Any]] = []
        notes: list[str] = []
        left_out: dict[str, str] = {}  # features with no step at all, and why
        for name in df.columns:
            series = df[name]
            w = float(weights.get(str(name), 1.0))
            # A near-constant feature is still prepared (its profile is still shown), but
            # left out of the distance; what preparing it would note is moot then.
            rare = near_constant(df[[name]], cfg.max_mode_share).get(str(name))
            if rare and rare.startswith("constant"):
                rare = None  # constant (or empty): said so by the steps below
            said = [] if rare else notes
            if name in forced or _is_categorical(series):
                if name not in forced:
                    _refuse_numbers_with_stray_text(series, str(name))
                step = self._fit_categorical(str(name), series, cfg, w, said)
                if step is None:
                    left_out[str(name)] = (
                        f"identifier-like or free text: {series.nunique(dropna=False)} distinct "
                        f"values (> max_cardinality={cfg.max_cardinality})"
                    )
            else:
                step = self._fit_numeric(
                    str(name), _numeric_values(series, str(name)), cfg, w, said
                )
                if step is None:
                    left_out[str(name)] = "no values: every user's is missing"
            if step is not None and rare and step.get("out"):
                _leave_out(step, rare)
                notes.append(f"{name}: {rare}, left out of the distance")
            if step is not None:
                steps.append(step)
        if cfg.max_correlation is not None and cfg.max_correlation < 1.0:
            self._prune_correlated(df, steps, cfg.max_correlation, notes)
        if not any(s.get("out") for s in steps):
            raise DataError(
                "every feature is constant, near-constant or empty: there is nothing to tell "
                "users apart by.",
                details={"notes": notes},
            )
        self.steps_ = steps
        self.notes_ = notes
        self.feature_names_in_ = np.asarray([str(c) for c in df.columns], dtype=object)
        self.n_features_in_ = len(df.columns)
        self.left_out_ = _left_out(self.feature_names_in_, steps, left_out)
        return self

    def _prune_correlated(
        self, df: pd.DataFrame, steps: list[dict[str, Any]], threshold: float, notes: list[str]
    ) -> None:
        numeric = [s for s in steps if s["kind"] == "numeric" and s["name"] in s["out"]]
        if len(numeric) < 2:
            return
        V = np.column_stack([_numeric_values(df[s["name"]], s["name"]) for s in numeric])
        values = pd.DataFrame(
            CompiledPreparer(numeric).standardised(V, range(len(numeric))),
            columns=[s["name"] for s in numeric],
        )
        for name, (kept, r) in correlated_to_drop(values, threshold).items():
            step = next(s for s in numeric if s["name"] == name)
            step["out"] = [o for o in step["out"] if o != name]
            step["dropped"] = {"repeats": kept, "correlation": r}
            step["reason"] = (
                f"repeats {kept} (correlation {r:.2f} > max_correlation {threshold}), "
                "which comes first"
                + ("; its missing-value indicator is still used" if step["out"] else "")
            )
            notes.append(
                f"{name}: left out of the distance, it repeats {kept} "
                f"(correlation {r:.2f} > max_correlation {threshold})"
            )

    def _fit_numeric(
        self, name: str, v: np.ndarray, cfg: PrepareConfig, w: float, notes: list[str]
    ) -> dict[str, Any] | None:
        missing = np.isnan(v)
        if missing.all():
            notes.append(f"{name}: no values at all, left out")
            return None
        present = v[~missing]
        fill = {"median": np.median, "mean": np.mean}.get(cfg.impute, lambda a: 0.0)(present)
        filled = np.where(missing, fill, v)
        log = "none"
        if cfg.log == "all" or (cfg.log == "auto" and _skew(present) > cfg.skew_threshold):
            log = "log1p" if present.min() >= 0 else "signed_log1p"
        t = apply_log(filled, log)
        lo = hi = None
        if cfg.clip_quantiles is not None:
            lo, hi = (float(q) for q in np.quantile(t, cfg.clip_quantiles))
            t = np.clip(t, lo, hi)
        if cfg.scale == "standard":
            center, scale = float(t.mean()), float(t.std())
        elif cfg.scale == "robust":
            q1, med, q3 = np.quantile(t, [0.25, 0.5, 0.75])
            center, scale = float(med), float(q3 - q1)
            if scale == 0.0:  # a mostly-zero feature: IQR 0, fall back to the std
                scale = float(t.std())
        else:
            center, scale = 0.0, 1.0
        step: dict[str, Any] = {
            "name": name,
            "kind": "numeric",
            "fill": float(fill),
            "log": log,
            "clip": [lo, hi],
            "center": center,
            "scale": scale,
            "weight": w,
            "out": [name],
        }
        if scale == 0.0 or t.max() == t.min():
            notes.append(f"{name}: constant, left out of the distance")
            step["out"] = []
            step["reason"] = (
                f"constant: every user has the value {_shown(present[0])}"
                if present.min() == present.max()
                else "constant once clipped to the quantiles "
                f"{list(cfg.clip_quantiles or ())} (a few outliers aside)"
            )
        if log != "none":
            notes.append(f"{name}: heavy right tail (skew {_skew(present):.1f}), {log} applied")
        if missing.any() and cfg.indicators:
            p = float(missing.mean())
            step["indicator"] = {
                "name": f"{name}_missing",
                "p": p,
                "scale": float(np.sqrt(cfg.indicator_weight / (p * (1 - p)))),
            }
            step["out"] = [*step["out"], f"{name}_missing"]
            notes.append(
                f"{name}: {missing.sum()} missing values ({p:.1%}) imputed with the "
                f"{cfg.impute}, indicator {name}_missing added"
            )
        return step

    def _fit_categorical(
        self, name: str, series: pd.Series, cfg: PrepareConfig, w: float, notes: list[str]
    ) -> dict[str, Any] | None:
        values = _texts(series)
        counts = values.value_counts()
        if len(counts) > cfg.max_cardinality:
            notes.append(
                f"{name}: {len(counts)} distinct values (> max_cardinality="
                f"{cfg.max_cardinality}), left out; it is identifier-like or free text"
            )
            return None
        shares = counts / counts.sum()
        keep = [str(v) for v, s in shares.items() if s >= cfg.min_category_share]
        keep = keep[: cfg.max_categories]
        levels = sorted(keep)
        mapped = values.where(values.isin(levels), _OTHER)
        if (mapped == _OTHER).any():
            levels.append(_OTHER)
        p = mapped.value_counts(normalize=True).reindex(levels, fill_value=0.0).to_numpy()
        spread = 1.0 - float(np.sum(p**2))  # total variance of the one-hot block
        step: dict[str, Any] = {
            "name": name,
            "kind": "categorical",
            "levels": levels,
            "p": p.tolist(),
            "weight": w,
            "out": [],
        }
        if spread <= 0.0:
            notes.append(f"{name}: a single level, left out of the distance")
            step["reason"] = f"constant: every user has the value {levels[0]!r}"
            return step
        # Scale the block so its total variance is categorical_weight × one standardised feature.
        step["scale"] = (
            float(np.sqrt(cfg.categorical_weight / spread)) if cfg.categorical_weight else 0.0
        )
        if step["scale"] > 0:
            step["out"] = [f"{name}={lvl}" for lvl in levels]
        else:
            step["reason"] = "categorical_weight is 0: categories are not clustered"
        return step

    # -- applying ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "steps_"):
            raise EstimatorNotFittedError("this Preparer is not fitted yet; call fit first.")

    def compile(self, date_references: dict[str, str] | None = None) -> CompiledPreparer:
        """The fitted steps as vectors: what :meth:`transform` (and the service) compute with.

        ``date_references`` (date feature → ISO date) lets the compiled
        preparer read dates in JSON records as days before them.
        """
        self._check_fitted()
        return CompiledPreparer(self.steps_, date_references)

    def transform(self, X: Any) -> np.ndarray:
        """The prepared matrix (float64, users × ``get_feature_names_out()``)."""
        compiled = self.compile()
        df = as_frame(X, list(self.feature_names_in_))
        missing = [s["name"] for s in self.steps_ if s["name"] not in df.columns]
        if missing:
            raise DataError(
                f"missing feature column(s) {missing}; the model was fitted on "
                f"{list(self.feature_names_in_)}.",
                details={"missing": missing, "available": [str(c) for c in df.columns]},
            )
        # Only the features in the distance are read (and checked); the rest stay missing.
        n = len(df)
        V = np.full((n, len(compiled.numeric)), np.nan)
        codes = np.empty((n, len(compiled.categorical)), dtype=np.intp)
        for step in self.steps_:
            if not step["out"]:
                continue
            name, series = step["name"], df[step["name"]]
            if step["kind"] == "numeric":
                V[:, compiled.numeric.index(name)] = _numeric_values(series, name)
            else:
                c = compiled.categorical.index(name)
                codes[:, c] = compiled.codes(c, _texts(series).to_numpy(), n)
        return compiled.transform_arrays(V, codes)

    def output_kinds(self) -> list[str]:
        """Kind of each output column: ``numeric``, ``indicator`` or ``categorical``."""
        self._check_fitted()
        kinds = []
        for s in self.steps_:
            for name in s["out"]:
                if s["kind"] == "categorical":
                    kinds.append("categorical")
                else:
                    kinds.append("numeric" if name == s["name"] else "indicator")
        return kinds

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        return np.asarray([n for s in self.steps_ for n in s["out"]], dtype=object)

    def numeric_zscores(self, X: Any) -> pd.DataFrame:
        """Each numeric feature after log/clip, in population standard deviations (for profiles)."""
        compiled = self.compile()
        df = as_frame(X, list(self.feature_names_in_))
        numeric = [s for s in self.steps_ if s["kind"] == "numeric"]
        cols = [j for j, s in enumerate(numeric) if s["scale"] != 0]
        V = np.full((len(df), len(numeric)), np.nan)
        for j in cols:
            V[:, j] = _numeric_values(df[numeric[j]["name"]], numeric[j]["name"])
        return pd.DataFrame(
            compiled.standardised(V, cols, weighted=False),
            columns=[numeric[j]["name"] for j in cols],
            index=df.index,
        )

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON (format-versioned)."""
        self._check_fitted()
        cfg = self._config()
        return {
            "format_version": FORMAT_VERSION,
            "kind": "preparer",
            "config": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()
            },
            "categorical": self.categorical,
            "weights": self.weights,
            "steps": self.steps_,
            "notes": self.notes_,
            "left_out": self.left_out_,
            "feature_names_in": [str(c) for c in self.feature_names_in_],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Preparer:
        if state.get("kind") != "preparer" or state.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"not a userseg preparer of format {FORMAT_VERSION}: kind={state.get('kind')!r}, "
                f"format_version={state.get('format_version')!r}."
            )
        obj = cls(
            state["config"], categorical=state.get("categorical"), weights=state.get("weights")
        )
        obj.steps_ = state["steps"]
        obj.notes_ = state.get("notes", [])
        obj.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        obj.n_features_in_ = len(obj.feature_names_in_)
        obj.left_out_ = dict(state.get("left_out") or _left_out(obj.feature_names_in_, obj.steps_))
        return obj


def _shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _leave_out(step: dict[str, Any], reason: str) -> None:
    """Keep a feature's step (for its profile) but take all its columns out of the distance."""
    step["out"] = []
    step.pop("indicator", None)
    step["reason"] = reason


def _left_out(
    names: Any, steps: list[dict[str, Any]], stepless: dict[str, str] | None = None
) -> dict[str, str]:
    """Input feature → why its own values are not clustered (see ``Preparer.left_out_``).

    ``stepless`` holds the reasons of the features that got no step at all (no
    values, too many levels); a model stored before it was kept has none.
    """
    by_name = {s["name"]: s for s in steps}
    out: dict[str, str] = {}
    for name in (str(n) for n in names):
        step = by_name.get(name)
        if step is None:
            out[name] = (stepless or {}).get(name, "left out of the distance")
        elif name not in step["out"] and not any(o.startswith(f"{name}=") for o in step["out"]):
            out[name] = step.get("reason", "left out of the distance")
    return out


def _texts(series: pd.Series) -> pd.Series:
    """A categorical column as text, missing values as the level "(missing)"."""
    return series.astype(object).where(series.notna(), _MISSING).astype(str)
