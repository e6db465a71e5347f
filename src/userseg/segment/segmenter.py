"""``Segmenter``: prepared features → segments → metrics → profiles and names, in one estimator.

This is the Python face of ``userseg fit``: scikit-learn shaped (``fit``,
``predict``, ``labels_``), it prepares the features (:class:`~userseg.features.prepare.Preparer`),
chooses the number of segments by a consensus of metrics
(:func:`~userseg.evaluate.choose.choose_k`), clusters with a registered
algorithm family (:mod:`userseg.segment.registry`), numbers the segments in
a documented order (by size, largest first; ties by centre), profiles and names
them. ``fit`` is a list of named steps, each a method below. Its fitted state
is JSON plus NumPy arrays (:meth:`Segmenter.to_state`), never a pickle.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin

from userseg._sklearn import EstimatorNotFittedError
from userseg.cluster.assigners import Assigner
from userseg.config import PrepareConfig
from userseg.errors import ConfigError, DataError, NotFoundError, SegmentationWarning
from userseg.evaluate.choose import choose_k
from userseg.evaluate.psi import baseline as population_baseline
from userseg.explain.naming import check_segment_name
from userseg.explain.profiles import SegmentProfile
from userseg.features.labels import match_column
from userseg.features.prepare import Preparer, as_frame, dates_to_days, find_date_columns
from userseg.features.select import SelectionResult, select_features
from userseg.segment import state
from userseg.segment.advice import fit_warnings
from userseg.segment.diagnostics import Diagnostics, diagnose, stability_for_k, user_map
from userseg.segment.explaining import attach, explain, measure_outcome
from userseg.segment.params import FIT, candidate_ks, check_fit_params
from userseg.segment.registry import (
    Candidate,
    Family,
    FitLabels,
    Progress,
    builtin_names,
    get_family,
)
from userseg.segment.scoring import score

__all__ = ["ALGORITHMS", "Segmenter"]

#: The built-in algorithm families (:func:`~userseg.segment.registry.algorithm_names`
#: lists every registered one).
ALGORITHMS = builtin_names()


class Segmenter(ClusterMixin, BaseEstimator):
    """Segment users from their features, choose the number of segments, explain them.

    Parameters
    ----------
    n_segments : int, optional
        Force the number of segments; otherwise chosen in ``k_min..k_max``.
    k_min, k_max : int
        The range searched when ``n_segments`` is None (capped below the number of users).
    algorithm : str
        A registered algorithm family, one of {algorithms}: k-means
        (userseg's fast core), Gaussian mixture, or a density method (which finds
        the number of segments itself and may call users noise, -1); see
        :mod:`userseg.segment.registry`.
    prepare : PrepareConfig or dict, optional
        Feature preparation (impute, log, clip, scale, categorical weight).
    categorical : list of str, optional
        Columns to treat as categorical (others are inferred from dtypes).
    weights : dict, optional
        Extra weight per feature.
    units : dict, optional
        Feature → unit ("money", "days", "count", "year", …), for wording profiles.
        A column of calendar years (``Year_Birth``) is found by itself.
    labels : dict, optional
        Feature → the words profiles and names use for it ("wine spend" for
        ``mntwines``); by default the column name in words
        (:func:`~userseg.features.labels.feature_label`: ``MntWines`` → "wines spend").
    algorithm_params : dict, optional
        Passed to the algorithm (``eps``, ``min_samples``, ``covariance_type``…).
    silhouette_sample : int
        Above this many users, the silhouette is estimated on a stratified sample.
    random_state : int
        Seed; the same data, parameters and seed give the same segment numbers.
    target : str, optional
        A known outcome column (a campaign response, churn), matched whatever its
        case (``"Response"`` finds ``response``): the features are selected by how
        well they tell it apart, it is never clustered, and each segment's rate
        (or mean) of it is measured (``profiles_[i].outcome``).

    Attributes
    ----------
    labels_ : ndarray of shape (n_users,)
        Segment of each training user (0 is the largest segment; -1 noise).
    distances_ : ndarray of shape (n_users,)
        Distance of each user to its segment (centre, mean or core point).
    n_segments_ : int
    profiles_ : list of SegmentProfile
    names_ : list of str
    metrics_ : dict
        Silhouette (with its interval), Calinski-Harabasz, Davies-Bouldin of the
        result, measured on the numeric features when there are categorical ones
        (``metrics_["scored_on"]`` says which): one-hot columns would reward
        splitting every segment by region.
    k_choice_ : dict
        The per-k metrics table, the chosen k and the reason; ``at_edge`` says
        whether it is the largest k tried (the data may hold more segments).
    warnings_ : list of dict
        What may mislead in this segmentation (``code``, ``message``): the chosen k
        at the top of its range (``k_at_edge``), columns named like an outcome
        clustered as features (``outcome_columns``). Also in ``metrics_["warnings"]``
        and emitted as :class:`~userseg.errors.SegmentationWarning`.
    outcome_ : dict or None
        With a target: its name, kind ("rate" or "mean"), the class counted and its
        overall value; each profile's ``outcome`` holds the segment's value, 95 %
        interval and lift (see :func:`userseg.explain.outcome.outcome_by_segment`).
    preparer_ : Preparer
    assigner_ : Assigner
    timings_ : dict

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"spend": np.r_[rng.gamma(2, 10, 300), rng.gamma(2, 500, 100)],
    ...                    "visits": np.r_[rng.poisson(2, 300), rng.poisson(30, 100)]})
    >>> seg = Segmenter(random_state=0).fit(df)
    >>> seg.n_segments_
    2
    >>> seg.predict(df.head(3)).tolist()
    [0, 0, 0]
    """

    def __init__(
        self,
        n_segments: int | None = FIT["n_segments"].default,
        *,
        k_min: int = FIT["k_min"].default,
        k_max: int = FIT["k_max"].default,
        algorithm: str = FIT["algorithm"].default,
        prepare: PrepareConfig | dict | None = None,
        categorical: list[str] | None = None,
        weights: dict[str, float] | None = None,
        units: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        algorithm_params: dict[str, Any] | None = FIT["algorithm_params"].default,
        silhouette_sample: int = FIT["silhouette_sample"].default,
        random_state: int = FIT["random_state"].default,
        target: str | None = FIT["target"].default,
        select_methods: tuple[str, ...] = ("chi2", "mutual_info", "l1"),
        select_combine: str = "vote",
        stability_runs: int = FIT["stability_runs"].default,
        check_structure: bool = FIT["check_structure"].default,
        rules: bool = FIT["rules"].default,
        map_sample: int = 5000,
    ) -> None:
        self.n_segments = n_segments
        self.k_min = k_min
        self.k_max = k_max
        self.algorithm = algorithm
        self.prepare = prepare
        self.categorical = categorical
        self.weights = weights
        self.units = units
        self.labels = labels
        self.algorithm_params = algorithm_params
        self.silhouette_sample = silhouette_sample
        self.random_state = random_state
        self.target = target
        self.select_methods = select_methods
        self.select_combine = select_combine
        self.stability_runs = stability_runs
        self.check_structure = check_structure
        self.rules = rules
        self.map_sample = map_sample

    # -- fitting: a list of named steps -----------------------------------------------
    def fit(self, X: Any, y: Any = None, *, progress: Progress | None = None) -> Segmenter:
        """Prepare ``X``, choose k, cluster, order, profile and name the segments.

        ``X`` is a DataFrame (one row per user; numeric and categorical
        columns) or a numeric array; it is never modified.
        ``progress(step, done, total)`` is called as candidates are fitted.
        """
        t0 = time.perf_counter()
        self.timings_: dict[str, float] = {}
        self.notes_: list[str] = []
        family = self._check_params()
        df, columns_in = self._read(X)
        ks = self._candidate_ks(family, len(df))
        seed = int(self.random_state)
        df, target, y_target, sel = self._select(df, seed, t0)
        Z, S = self._prepare(df, target, sel, t0)
        t1 = time.perf_counter()
        candidates = self._cluster(family, Z, S, ks, seed, progress)
        self.timings_["cluster"] = time.perf_counter() - t1
        fit_labels = family.fit_labels(dict(self.algorithm_params or {}))
        chosen = self._choose_k(family, candidates, Z, ks, fit_labels, seed)
        self._order(*chosen.finish(), Z)
        self._evaluate(df, S, seed)
        self._explain(df, target, y_target)
        self._diagnose(family, df, Z, S, fit_labels, seed)
        self.timings_["total"] = time.perf_counter() - t0
        self._warn(df, ks, chosen.k, columns_in)
        self.feature_names_in_ = np.asarray([str(c) for c in df.columns], dtype=object)
        self.n_features_in_ = len(df.columns)
        return self

    def _fit_params(self) -> dict[str, Any]:
        """The declared fit parameters (:data:`~userseg.segment.params.FIT`) as set here."""
        return {name: getattr(self, name) for name in FIT}

    def _check_params(self) -> Family:
        """Check the parameters before any work (those that need the data come in ``_read``)."""
        check_fit_params(self._fit_params())
        return get_family(self.algorithm)

    def _read(self, X: Any) -> tuple[pd.DataFrame, list[str]]:
        """``X`` as a frame, its date columns as days before the latest date."""
        df = as_frame(X)
        # Dates (a signup day) become days before the latest one, as numbers: as text
        # they would be dropped as identifier-like, one level per day.
        self.date_references_ = find_date_columns(df, self.categorical)
        date_notes: list[str] = []
        if df.index.has_duplicates and not isinstance(df.index, pd.RangeIndex):
            n_rep = int(df.index.duplicated().sum())
            date_notes.append(
                f"{n_rep} rows repeat the user id (index) of an earlier row; each row is "
                "segmented as a user of its own (merge them first if they are one user)"
            )
        df = dates_to_days(df, self.date_references_, notes=date_notes)
        self.notes_ += [
            f"{name}: dates, used as days before {ref[:10]} (the latest)"
            for name, ref in self.date_references_.items()
        ] + date_notes
        return df, [str(c) for c in df.columns]

    def _candidate_ks(self, family: Family, n_users: int) -> list[int]:
        """The k to try, once the number of users is known (checked against it)."""
        check_fit_params(self._fit_params(), n_users=n_users)
        ks = candidate_ks(self._fit_params(), n_users)
        if n_users < 2:
            raise DataError(f"need at least 2 users; got {n_users}.")
        return ks

    def _select(
        self, df: pd.DataFrame, seed: int, t0: float
    ) -> tuple[pd.DataFrame, str | None, pd.Series | None, SelectionResult | None]:
        """With a target: keep the features that tell it apart (the target is never clustered)."""
        self.selection_ = None
        self.outcome_ = None
        if self.target is None:
            return df, None, None, None
        # Names are lower-cased at import: "Response" means the column response.
        target = match_column(str(self.target), list(df.columns), "target")
        sel = select_features(
            df.drop(columns=[target]),
            df[target],
            methods=self.select_methods,
            combine=self.select_combine,
            random_state=seed,
        )
        if not sel.kept:
            raise DataError(
                f"no feature tells the target {target!r} apart: every candidate was "
                f"dropped by the {self.select_combine} of {', '.join(self.select_methods)} "
                "(`userseg select --target` shows why); segment without a target, or "
                "choose another one.",
                details={"target": target, "dropped": list(df.columns.drop(target))},
            )
        self.timings_["select"] = time.perf_counter() - t0
        return df[sel.kept], target, df[target], sel

    def _prepare(
        self, df: pd.DataFrame, target: str | None, sel: SelectionResult | None, t0: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fit the preparer; the matrix clustered (Z) and the one scored (S, numeric columns)."""
        # after a supervised selection some declared categorical columns are gone
        categorical = [c for c in self.categorical or [] if c in df.columns] or None
        self.preparer_ = Preparer(self.prepare, categorical=categorical, weights=self.weights)
        Z = self.preparer_.fit(df).transform(df)
        self.timings_["prepare"] = time.perf_counter() - t0
        if sel is not None:
            # what the preparation left out (a repeat, a near-constant feature) is not
            # clustered either: the selection shown says so
            for feature, why in self.preparer_.left_out_.items():
                if feature in sel.kept:
                    sel.leave_out(feature, why)
            self.selection_ = sel.to_dict()
        self.notes_ += list(self.preparer_.notes_)
        if self.selection_ is not None:
            kept = self.selection_["kept"]
            self.notes_.append(
                f"supervised selection on {target!r} kept {len(kept)} features: {', '.join(kept)}"
            )
        # Quality is measured on the numeric (behavioural) columns: one-hot and
        # missing-indicator columns split users into perfectly separated groups, and a
        # silhouette over them rewards splitting every segment by region or gender.
        numeric = np.array([k == "numeric" for k in self.preparer_.output_kinds()])
        S = Z if numeric.all() or not numeric.any() else np.ascontiguousarray(Z[:, numeric])
        self.scored_on_ = "all features" if S is Z else "numeric features"
        return Z, S

    def _cluster(
        self,
        family: Family,
        Z: np.ndarray,
        S: np.ndarray,
        ks: list[int],
        seed: int,
        progress: Progress | None,
    ) -> list[Candidate]:
        """The family's candidates, one per k tried (one when it chooses k itself)."""
        n = len(Z)
        if self.n_segments is None and not family.chooses_k and self.k_max > n - 1:
            self.notes_.append(f"k_max lowered to {n - 1} (number of users - 1)")
        params = dict(self.algorithm_params or {})
        sample = self.silhouette_sample
        return family.fit_candidates(
            Z, S, ks, seed=seed, params=params, sample=sample, progress=progress
        )

    def _choose_k(
        self,
        family: Family,
        candidates: list[Candidate],
        Z: np.ndarray,
        ks: list[int],
        fit_labels: FitLabels,
        seed: int,
    ) -> Candidate:
        """The chosen candidate: a consensus of metrics, stability breaking a tie."""
        table = [c.metrics for c in candidates]
        if len(table) > 1:
            k, reason, table = choose_k(table)
            tied = [r["k"] for r in table if r.get("shortlisted")]
            if len(tied) > 1 and self.stability_runs:
                # the k the silhouette cannot tell apart: stability breaks the tie
                stab = stability_for_k(Z, tied, fit_labels, seed)
                for r in table:
                    if r["k"] in stab:
                        r["stability"] = stab[r["k"]]
                k, reason, table = choose_k(table)
        else:
            k = int(table[0]["k"])
            noise = table[0].get("noise_share", 0)
            given = self.n_segments is not None
            reason = (
                f"k={k} was given."
                if given
                else f"{family.name} found {k} segments and {noise:.1%} noise."
            )
            table = [dict(r, mean_rank=1.0) for r in table]
        self.k_choice_ = {
            "table": table,
            "chosen": k,
            "reason": reason,
            "candidates": ks,
            "algorithm": self.algorithm,
            # the largest k tried won: more segments may be there, past the range
            "at_edge": len(ks) > 1 and k == max(ks),
        }
        return next(c for c in candidates if c.k == k)

    def _order(self, assigner: Assigner, labels: np.ndarray, Z: np.ndarray) -> None:
        """Number the segments by size (largest first), ties by the centre's coordinates."""
        labels = np.asarray(labels, dtype=np.int64)
        present = np.unique(labels[labels >= 0])
        centers = assigner.centers
        sizes = np.bincount(labels[labels >= 0], minlength=len(centers))
        order = np.array(sorted(present, key=lambda j: (-sizes[j], *np.round(centers[j], 9))))
        if len(order) < len(centers):  # empty segments are dropped, not kept as ghosts
            self.notes_.append(f"{len(centers) - len(order)} empty segment(s) dropped")
        assigner.permute(order)  # keeps only the present segments, in the new order
        relabel = np.full(max(len(centers), 1), -1, dtype=np.int64)
        relabel[order] = np.arange(len(order))
        self.assigner_ = assigner
        self.labels_ = np.where(labels >= 0, relabel[np.maximum(labels, 0)], -1)
        self.n_segments_ = len(order)
        self.segment_ids_ = np.arange(len(order), dtype=np.int64)
        _, self.distances_ = assigner.predict(Z)

    def _evaluate(self, df: pd.DataFrame, S: np.ndarray, seed: int) -> None:
        """The result's metrics, and the training population's baseline for drift checks."""
        t2 = time.perf_counter()
        labels = self.labels_
        self.metrics_ = score(S, labels, None, sample=self.silhouette_sample, seed=seed)
        self.metrics_["scored_on"] = self.scored_on_
        self.timings_["evaluate"] = time.perf_counter() - t2
        kept = labels >= 0
        self.baseline_ = {
            # what the training users looked like, for drift checks later
            "features": population_baseline(df, self._categorical()),
            "segment_shares": {
                int(s): float(c) / len(labels)
                for s, c in zip(*np.unique(labels[kept], return_counts=True), strict=True)
            },
            "distance_p99": float(np.quantile(self.distances_[kept], 0.99)) if kept.any() else 0.0,
            "n_users": len(labels),
        }

    def _categorical(self) -> list[str]:
        return [s["name"] for s in self.preparer_.steps_ if s["kind"] == "categorical"]

    def _explain(self, df: pd.DataFrame, target: str | None, y: pd.Series | None) -> None:
        """Profile and name the segments; with a target, its value in each."""
        t3 = time.perf_counter()
        dates = list(getattr(self, "date_references_", {}))
        self.profiles_ = explain(
            self.preparer_, df, self.labels_, dates=dates, units=self.units, words=self.labels
        )
        self.names_ = [p.name for p in self.profiles_]
        if target is not None and y is not None:
            self.outcome_ = measure_outcome(self.profiles_, y, self.labels_, target)
        self.timings_["explain"] = time.perf_counter() - t3

    def _diagnose(
        self,
        family: Family,
        df: pd.DataFrame,
        Z: np.ndarray,
        S: np.ndarray,
        fit_labels: FitLabels,
        seed: int,
    ) -> None:
        """Structure, stability, rules, the features' roles and the map of the users."""
        t4 = time.perf_counter()
        labels = self.labels_
        diag = diagnose(
            df,
            Z,
            labels,
            fit_labels,
            categorical=self._categorical(),
            seed=seed,
            stability_runs=self.stability_runs,
            check_structure=self.check_structure and family.structure_check,
            rules=self.rules,
            structure_X=S,  # numeric columns when there are categorical ones, like the scores
        )
        self._explain_structure(family, diag, numeric_only=S is not Z)
        attach(self.metrics_, self.profiles_, diag)
        if self.target is None and self.n_segments_ >= 2:
            prepared = pd.DataFrame(Z, columns=list(self.preparer_.get_feature_names_out()))
            # the features dropped are those the preparation left out of the distance,
            # for the reasons it gave: the report states what the model did
            self.selection_ = select_features(
                df,
                None,
                prepared=prepared,
                labels=labels,
                random_state=seed,
                pruned=self.preparer_.left_out_,
            ).to_dict()
        self.map_ = user_map(Z, labels, sample=self.map_sample, seed=seed)
        self.timings_["diagnose"] = time.perf_counter() - t4

    def _explain_structure(self, family: Family, diag: Diagnostics, *, numeric_only: bool) -> None:
        """Say why the structure check was not run, or on which columns it was."""
        if self.check_structure and not family.structure_check:
            self.notes_.append(
                f"structure check not run for {self.algorithm}: the gap statistic tests compact "
                "groups, not the shapes density methods find; see the stability and the noise "
                "share instead"
            )
        if diag.structure is not None and numeric_only:
            kinds = self.preparer_.output_kinds()
            left_out = " and ".join(
                label
                for kind, label in (
                    ("categorical", "one-hot"),
                    ("indicator", "missing-value indicator"),
                )
                if kind in kinds
            )
            diag.structure.verdict += (
                f" (checked on the numeric features: {left_out} columns are clustered by "
                "construction)"
            )

    def _warn(self, df: pd.DataFrame, ks: list[int], k: int, columns_in: list[str]) -> None:
        """What may mislead, kept in ``warnings_`` and emitted as SegmentationWarning."""
        self.warnings_ = fit_warnings(
            at_edge=bool(self.k_choice_.get("at_edge")),
            k=k,
            ks=ks,
            n_users=len(df),
            clustered=[c for c in map(str, df.columns) if c not in self.preparer_.left_out_],
            columns_in=columns_in,
            has_target=self.target is not None,
        )
        self.metrics_["warnings"] = self.warnings_
        for w in self.warnings_:
            warnings.warn(w["message"], SegmentationWarning, stacklevel=3)

    # -- using ----------------------------------------------------------------------
    @property
    def has_structure(self) -> bool | None:
        """Whether the structure check found real segments (None when not checked)."""
        s = getattr(self, "metrics_", {}).get("structure")
        return None if s is None else bool(s["has_structure"])

    # -- using ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "assigner_"):
            raise EstimatorNotFittedError("this Segmenter is not fitted yet; call fit first.")

    def predict_with_distance(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Segment id and distance to it for each user of ``X`` (raw features, as in fit)."""
        self._check_fitted()
        index, dist = self.assigner_.predict(self.preparer_.transform(self.to_numbers(X)))
        return self._ids(index), dist

    def to_numbers(self, X: Any) -> Any:
        """``X`` as the preparer reads it: date columns as days before the training's dates.

        Anything that hands raw user rows to ``preparer_`` (drift checks, online
        updates) goes through here; ``X`` itself is returned when there are no dates.
        """
        refs = getattr(self, "date_references_", None)
        return dates_to_days(as_frame(X, list(self.feature_names_in_)), refs) if refs else X

    def _ids(self, index: np.ndarray) -> np.ndarray:
        """Segment ids of assigner indices (noise, -1, stays -1)."""
        ids = np.asarray(self.segment_ids_, dtype=np.int64)
        return np.where(index >= 0, ids[np.maximum(index, 0)], -1)

    def name_of(self, segment: int) -> str:
        """The name of segment id ``segment`` ("noise" for -1)."""
        self._check_fitted()
        if segment < 0:
            return "noise"
        where = np.flatnonzero(self.segment_ids_ == segment)
        if not len(where):
            raise NotFoundError(
                f"segment {segment} is not a segment of this model; its "
                f"segments are {sorted(self.segment_ids_.tolist())}."
            )
        return self.names_[int(where[0])]

    def renumber(self, ids: Any, names: dict[int, str] | None = None) -> None:
        """Give the segments stable ids (and optionally inherited names).

        Parameters
        ----------
        ids : sequence of int
            The id of each segment, in the current order (``ids[i]`` replaces
            ``segment_ids_[i]``); distinct, non-negative.
        names : dict, optional
            id → name kept from a previous model version (marked as inherited).
        """
        self._check_fitted()
        ids = np.asarray(ids, dtype=np.int64)
        if (
            ids.shape != (self.n_segments_,)
            or len(set(ids.tolist())) != len(ids)
            or (ids < 0).any()
        ):
            raise ConfigError(
                f"ids must be {self.n_segments_} distinct non-negative integers; "
                f"got {ids.tolist()}."
            )
        old = np.asarray(self.segment_ids_)
        position = {int(o): i for i, o in enumerate(old)}
        if hasattr(self, "labels_"):  # a model loaded from the store has no training labels
            lut = np.full(int(old.max()) + 1, -1, dtype=np.int64)
            lut[old] = ids
            self.labels_ = np.where(self.labels_ >= 0, lut[np.maximum(self.labels_, 0)], -1)
        for p in self.profiles_:
            p.segment = int(ids[position[p.segment]])
            if names and p.segment in names:
                p.name, p.name_source = names[p.segment][0], names[p.segment][1]
        if getattr(self, "baseline_", None):
            shares = self.baseline_["segment_shares"]
            self.baseline_["segment_shares"] = {
                int(ids[position[int(s)]]): v for s, v in shares.items() if int(s) in position
            }
        self.segment_ids_ = ids
        self.names_ = [p.name for p in self.profiles_]

    def predict(self, X: Any) -> np.ndarray:
        """Segment of each user of ``X`` (-1: noise, for density models)."""
        return self.predict_with_distance(X)[0]

    def profiles_frame(self) -> pd.DataFrame:
        """One row per segment: name, size, share, top features and every feature mean."""
        self._check_fitted()
        rows = []
        for p in self.profiles_:
            row = {
                "segment": p.segment,
                "name": p.name,
                "size": p.size,
                "share": p.share,
                "top_features": "; ".join(d.text for d in p.top_features),
            }
            row.update({f"mean_{k}": v for k, v in p.means.items()})
            rows.append(row)
        return pd.DataFrame(rows).set_index("segment")

    def rename(self, segment: int, name: str) -> None:
        """Replace a segment's generated name (kept when the model is stored)."""
        self._check_fitted()
        name = check_segment_name(name)
        for p in self.profiles_:
            if p.segment == segment:
                p.name, p.name_source = name, "user"
                self.names_ = [q.name for q in self.profiles_]
                return
        raise ConfigError(
            f"segment {segment} does not exist; segments are {sorted(self.segment_ids_.tolist())}."
        )

    # -- persistence ----------------------------------------------------------------

    # -- persistence ----------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted model as (JSON-able params, named NumPy arrays); no pickle."""
        self._check_fitted()
        return state.to_state(self)

    @classmethod
    def from_state(
        cls,
        params: dict[str, Any],
        arrays: dict[str, np.ndarray],
        profiles: list[SegmentProfile] | None = None,
    ) -> Segmenter:
        """Rebuild a fitted segmenter from :meth:`to_state`'s output (predict-ready)."""
        return state.from_state(cls, params, arrays, profiles)


Segmenter.__doc__ = (Segmenter.__doc__ or "").replace(
    "{algorithms}", ", ".join(f'"{a}"' for a in ALGORITHMS)
)
