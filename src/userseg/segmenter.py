"""``Segmenter``: prepared features → segments → metrics → profiles and names, in one estimator.

This is the Python face of ``userseg fit``: scikit-learn shaped (``fit``,
``predict``, ``labels_``), it prepares the features (:class:`~userseg.features.prepare.Preparer`),
chooses the number of segments by a consensus of metrics
(:func:`~userseg.evaluate.choose.choose_k`), clusters, numbers the segments in
a documented order (by size, largest first; ties by centre), profiles and names
them. Its fitted state is JSON plus NumPy arrays (:meth:`Segmenter.to_state`),
never a pickle.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin

from userseg._sklearn import EstimatorNotFittedError
from userseg._version import __version__
from userseg.cluster.assigners import (
    assigner_from_state,
)
from userseg.config import PrepareConfig
from userseg.diagnostics import (
    Diagnostics,
    check_algorithm_params,
    diagnose,
    make_fit_labels,
    stability_for_k,
    user_map,
)
from userseg.errors import ConfigError, DataError, NotFoundError, SegmentationWarning
from userseg.evaluate.choose import choose_k
from userseg.evaluate.drift import baseline as population_baseline
from userseg.explain.naming import check_segment_name, name_segments
from userseg.explain.outcome import outcome_by_segment
from userseg.explain.profiles import SegmentProfile, profile_segments
from userseg.features.labels import (
    feature_label,
    is_year,
    match_column,
    outcome_like,
    outcome_like_campaign,
)
from userseg.features.prepare import Preparer, as_frame, dates_to_days, find_date_columns
from userseg.features.select import select_features
from userseg.fitting import fit_density, fit_gmm, fit_kmeans, score

__all__ = ["ALGORITHMS", "Segmenter"]

ALGORITHMS = ("kmeans", "gmm", "dbscan", "hdbscan")
FORMAT_VERSION = 1
Progress = Callable[[str, int, int], None]


class Segmenter(ClusterMixin, BaseEstimator):
    """Segment users from their features, choose the number of segments, explain them.

    Parameters
    ----------
    n_segments : int, optional
        Force the number of segments; otherwise chosen in ``k_min..k_max``.
    k_min, k_max : int
        The range searched when ``n_segments`` is None (capped below the number of users).
    algorithm : {"kmeans", "gmm", "dbscan", "hdbscan"}
        k-means (userseg's fast core), Gaussian mixture, or a density method
        (which finds the number of segments itself and may call users noise, -1).
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
        n_segments: int | None = None,
        *,
        k_min: int = 2,
        k_max: int = 10,
        algorithm: str = "kmeans",
        prepare: PrepareConfig | dict | None = None,
        categorical: list[str] | None = None,
        weights: dict[str, float] | None = None,
        units: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        algorithm_params: dict[str, Any] | None = None,
        silhouette_sample: int = 20000,
        random_state: int = 0,
        target: str | None = None,
        select_methods: tuple[str, ...] = ("chi2", "mutual_info", "l1"),
        select_combine: str = "vote",
        stability_runs: int = 20,
        check_structure: bool = True,
        rules: bool = True,
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

    # -- validation before any work --------------------------------------------------
    def _candidate_ks(self, n: int) -> list[int]:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm={self.algorithm!r} is not one of {list(ALGORITHMS)}.")
        if self.algorithm in ("dbscan", "hdbscan"):
            if self.n_segments is not None:
                raise ConfigError(
                    f"{self.algorithm} finds the number of segments itself; "
                    "do not pass n_segments (k)."
                )
            return []
        if self.n_segments is not None:
            k = self.n_segments
            if not isinstance(k, int | np.integer) or k < 2:
                raise ConfigError(f"n_segments={k!r} should be an integer >= 2.")
            if k > n:
                raise ConfigError(f"n_segments={k} should be <= the number of users={n}.")
            return [int(k)]
        if self.k_min < 2 or self.k_max < self.k_min:
            raise ConfigError(
                f"need 2 <= k_min <= k_max; got k_min={self.k_min}, k_max={self.k_max}."
            )
        if n < 3:
            raise ConfigError(f"need at least 3 users to choose a number of segments; got {n}.")
        return list(range(self.k_min, min(self.k_max, n - 1) + 1))

    # -- fitting --------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, progress: Progress | None = None) -> Segmenter:
        """Prepare ``X``, choose k, cluster, order, profile and name the segments.

        ``X`` is a DataFrame (one row per user; numeric and categorical
        columns) or a numeric array; it is never modified.
        ``progress(step, done, total)`` is called as candidates are fitted.
        """
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        check_algorithm_params(self.algorithm, self.algorithm_params)
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
        columns_in = [str(c) for c in df.columns]
        ks = self._candidate_ks(len(df))
        if len(df) < 2:
            raise DataError(f"need at least 2 users; got {len(df)}.")
        seed = int(self.random_state)
        self.selection_ = None
        self.outcome_ = None
        sel = None
        target = None
        if self.target is not None:
            # Supervised selection: keep the features that tell the target apart; the
            # target itself (a campaign response, churn) is never a clustering feature.
            # Names are lower-cased at import: "Response" means the column response.
            target = match_column(str(self.target), list(df.columns), "target")
            y = df[target]
            sel = select_features(
                df.drop(columns=[target]),
                y,
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
            df = df[sel.kept]
            timings["select"] = time.perf_counter() - t0
        # after a supervised selection some declared categorical columns are gone
        categorical = [c for c in self.categorical or [] if c in df.columns] or None
        self.preparer_ = Preparer(self.prepare, categorical=categorical, weights=self.weights).fit(
            df
        )
        Z = self.preparer_.transform(df)
        timings["prepare"] = time.perf_counter() - t0
        if sel is not None:
            # what the preparation left out (a repeat, a near-constant feature) is not
            # clustered either: the selection shown says so
            for feature, why in self.preparer_.left_out_.items():
                if feature in sel.kept:
                    sel.leave_out(feature, why)
            self.selection_ = sel.to_dict()
        t1 = time.perf_counter()
        notes = [
            f"{name}: dates, used as days before {ref[:10]} (the latest)"
            for name, ref in self.date_references_.items()
        ]
        notes += date_notes + list(self.preparer_.notes_)
        if self.selection_ is not None:
            notes.append(
                f"supervised selection on {target!r} kept "
                f"{len(self.selection_['kept'])} features: "
                f"{', '.join(self.selection_['kept'])}"
            )
        # Quality is measured on the numeric (behavioural) columns: one-hot and
        # missing-indicator columns split users into perfectly separated groups, and a
        # silhouette over them rewards splitting every segment by region or gender.
        kinds = self.preparer_.output_kinds()
        numeric = np.array([k == "numeric" for k in kinds])
        S = Z if numeric.all() or not numeric.any() else np.ascontiguousarray(Z[:, numeric])
        self.scored_on_ = "all features" if S is Z else "numeric features"
        if (
            self.n_segments is None
            and self.algorithm in ("kmeans", "gmm")
            and self.k_max > len(df) - 1
        ):
            notes.append(f"k_max lowered to {len(df) - 1} (number of users - 1)")
        opts = {"params": self.algorithm_params, "sample": self.silhouette_sample}
        if self.algorithm == "kmeans":
            assigner, labels, table = fit_kmeans(Z, S, ks, seed, progress, **opts)
        elif self.algorithm == "gmm":
            assigner, labels, table = fit_gmm(Z, S, ks, seed, progress, **opts)
        else:
            assigner, labels, table = fit_density(self.algorithm, Z, S, seed, progress, **opts)
        timings["cluster"] = time.perf_counter() - t1

        fit_labels = make_fit_labels(self.algorithm, self.algorithm_params)
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
            k = int(table[0]["k"]) if table else 0
            reason = (
                f"k={k} was given."
                if self.n_segments is not None
                else f"{self.algorithm} found {k} segments and "
                f"{table[0].get('noise_share', 0):.1%} noise."
                if table
                else ""
            )
            table = [dict(r, mean_rank=1.0) for r in table]
        if self.algorithm == "kmeans" and len(ks) > 1:
            assigner, labels = assigner[k]  # the chosen candidate, finished
        elif self.algorithm == "gmm" and len(ks) > 1:
            assigner, labels = assigner[k], labels[k]
        self.k_choice_ = {
            "table": table,
            "chosen": k,
            "reason": reason,
            "candidates": ks,
            "algorithm": self.algorithm,
            # the largest k tried won: more segments may be there, past the range
            "at_edge": len(ks) > 1 and k == max(ks),
        }

        # Number segments by size (largest first), ties by the centre's coordinates.
        labels = np.asarray(labels, dtype=np.int64)
        present = np.unique(labels[labels >= 0])
        sizes = np.bincount(labels[labels >= 0], minlength=len(assigner.centers))
        centers = assigner.centers
        order = np.array(sorted(present, key=lambda j: (-sizes[j], *np.round(centers[j], 9))))
        if len(order) < len(centers):  # empty segments are dropped, not kept as ghosts
            notes.append(f"{len(centers) - len(order)} empty segment(s) dropped")
        assigner.permute(order)  # keeps only the present segments, in the new order
        relabel = np.full(max(len(centers), 1), -1, dtype=np.int64)
        relabel[order] = np.arange(len(order))
        labels = np.where(labels >= 0, relabel[np.maximum(labels, 0)], -1)
        self.assigner_ = assigner
        self.labels_ = labels
        self.n_segments_ = len(order)
        self.segment_ids_ = np.arange(len(order), dtype=np.int64)
        _, self.distances_ = assigner.predict(Z)

        t2 = time.perf_counter()
        self.metrics_ = score(S, labels, None, sample=self.silhouette_sample, seed=seed)
        self.metrics_["scored_on"] = self.scored_on_
        timings["evaluate"] = time.perf_counter() - t2
        categorical = [s["name"] for s in self.preparer_.steps_ if s["kind"] == "categorical"]
        kept = labels >= 0
        self.baseline_ = {
            # what the training users looked like, for drift checks later
            "features": population_baseline(df, categorical),
            "segment_shares": {
                int(s): float(c) / len(labels)
                for s, c in zip(*np.unique(labels[kept], return_counts=True), strict=True)
            },
            "distance_p99": float(np.quantile(self.distances_[kept], 0.99)) if kept.any() else 0.0,
            "n_users": len(labels),
        }
        t3 = time.perf_counter()
        self._explain(df, labels)
        if target is not None:
            self._measure_outcome(y, labels, target)
        timings["explain"] = time.perf_counter() - t3
        t4 = time.perf_counter()
        diag = diagnose(
            df,
            Z,
            labels,
            fit_labels,
            categorical=categorical,
            seed=seed,
            stability_runs=self.stability_runs,
            # The gap statistic measures compact groups; density methods are chosen for
            # shapes it cannot see (a spiral fails it), and they find "clusters" in uniform
            # reference data too, so no null reference is fair to them: their stability and
            # noise share speak instead.
            check_structure=self.check_structure and self.algorithm in ("kmeans", "gmm"),
            rules=self.rules,
            structure_X=S,  # numeric columns when there are categorical ones, like the scores
        )
        if self.check_structure and self.algorithm not in ("kmeans", "gmm"):
            notes.append(
                f"structure check not run for {self.algorithm}: the gap statistic tests compact "
                "groups, not the shapes density methods find; see the stability and the noise "
                "share instead"
            )
        if diag.structure is not None and S is not Z:
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
        self._attach(diag)
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
        timings["diagnose"] = time.perf_counter() - t4
        timings["total"] = time.perf_counter() - t0
        self.timings_ = timings
        self.notes_ = notes
        self.warnings_ = self._warnings(df, ks, k, columns_in)
        self.metrics_["warnings"] = self.warnings_
        for w in self.warnings_:
            warnings.warn(w["message"], SegmentationWarning, stacklevel=2)
        self.feature_names_in_ = np.asarray([str(c) for c in df.columns], dtype=object)
        self.n_features_in_ = len(df.columns)
        return self

    def _warnings(
        self, df: pd.DataFrame, ks: list[int], k: int, columns_in: list[str]
    ) -> list[dict[str, Any]]:
        """What may mislead in this segmentation, each with what to do about it.

        ``columns_in`` is the input's column order, in which outcome columns are named.
        """
        out: list[dict[str, Any]] = []
        if self.k_choice_.get("at_edge"):
            wider = max(2 * k, k + 10)
            capped = k >= len(df) - 1
            out.append(
                {
                    "code": "k_at_edge",
                    "k": int(k),
                    "k_max": int(max(ks)),
                    "message": (
                        f"k={k} is the largest k tried (k_max={max(ks)}): the data may hold "
                        "more segments than the range allows"
                        + (
                            " (k_max is capped at the number of users - 1)."
                            if capped
                            else f"; widen the range, e.g. `userseg fit --k-max {wider}` "
                            f"(k_max: {wider} in a pipeline file's fit section)."
                        )
                    ),
                }
            )
        clustered = [c for c in map(str, df.columns) if c not in self.preparer_.left_out_]
        order = {c: i for i, c in enumerate(columns_in)}
        outcomes = sorted(outcome_like(clustered), key=lambda c: order.get(c, len(order)))
        if outcomes:
            many = len(outcomes) > 1
            names = ", ".join(outcomes)
            leave = f"`userseg features --exclude {','.join(outcomes)}`"
            if self.target is not None:
                advice = (
                    f"Leave {'them' if many else 'it'} out ({leave}): beside the target "
                    f"{'they are' if many else 'it is'} another outcome, not a behaviour."
                )
            else:
                # a response or churn column before a campaign's acceptance flags
                main = next((c for c in outcomes if not outcome_like_campaign(c)), outcomes[0])
                advice = (
                    f"Leave {'them' if many else 'it'} out ({leave}) or name the outcome as "
                    f"the target (`userseg fit --target {main}`), which measures it per "
                    "segment."
                )
            out.append(
                {
                    "code": "outcome_columns",
                    "columns": outcomes,
                    "message": (
                        f"{names} {'look' if many else 'looks'} like "
                        f"{'outcomes' if many else 'an outcome'} (a response, a conversion, "
                        f"churn) but {'are' if many else 'is'} clustered as "
                        f"{'features' if many else 'a feature'}: the segments then describe "
                        f"the outcome instead of explaining it. {advice}"
                    ),
                }
            )
        return out

    def _measure_outcome(self, y: pd.Series, labels: np.ndarray, target: str) -> None:
        """The target's rate (or mean), interval and lift in each segment, on its profile."""
        result = outcome_by_segment(y, labels, name=target)
        rows = result.pop("segments")
        self.outcome_ = result
        head = {k: result[k] for k in ("target", "kind", "positive", "confidence")}
        for p in self.profiles_:
            p.outcome = head | rows[p.segment] | {"overall": result["overall"]["value"]}

    def _explain(self, df: pd.DataFrame, labels: np.ndarray) -> None:
        categorical = [s["name"] for s in self.preparer_.steps_ if s["kind"] == "categorical"]
        zscores = self.preparer_.numeric_zscores(df)
        dates = list(getattr(self, "date_references_", {}))
        units = {name: "days" for name in dates} | dict(self.units or {})
        for name in zscores.columns:  # calendar years print as 1957, not 1,957
            if units.get(name, "value") == "value" and is_year(name, df[name]):
                units[name] = "year"
        # the words of each feature: the given ones, else its name in words; a date is
        # read as the days since it
        words = {
            str(c): (f"days since {feature_label(str(c))}" if c in dates else feature_label(str(c)))
            for c in df.columns
        } | dict(self.labels or {})
        self.profiles_ = profile_segments(
            df, labels, zscores, units=units, categorical=categorical, feature_labels=words
        )
        names = name_segments(self.profiles_, date_features=dates, feature_labels=words)
        for p, name in zip(self.profiles_, names, strict=True):
            p.name = name
        self.names_ = [p.name for p in self.profiles_]

    def _attach(self, diag: Diagnostics) -> None:
        """Put the diagnostics where they are read: the metrics and each segment's profile."""
        if diag.structure is not None:
            self.metrics_["structure"] = diag.structure.to_dict()
        if diag.stability is not None:
            st = diag.stability
            self.metrics_["stability"] = {
                "ari_mean": st.ari_mean,
                "ari_std": st.ari_std,
                "ari_min": st.ari_min,
                "unstable": list(st.unstable),
                "summary": st.summary,
                "n_runs": st.n_runs,
                "method": st.method,
                "threshold": st.threshold,
            }
        for p in self.profiles_:
            if diag.stability is not None:
                s = diag.stability.segment(p.segment)
                p.stability, p.stable = float(s.jaccard_mean), bool(s.stable)
            if diag.rules is not None:
                r = diag.rules[p.segment]
                p.rule = {
                    "text": r.text,
                    "where": r.where,
                    "precision": r.precision,
                    "recall": r.recall,
                }

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
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted model as (JSON-able params, named NumPy arrays); no pickle."""
        self._check_fitted()
        assigner_params, arrays = self.assigner_.to_state()
        params = {
            "format_version": FORMAT_VERSION,
            "kind": "segmenter",
            "userseg_version": __version__,
            "params": {
                k: v
                for k, v in self.get_params().items()
                if k != "prepare" or not isinstance(v, PrepareConfig)
            },
            "preparer": self.preparer_.to_dict(),
            "assigner": assigner_params,
            "n_segments": self.n_segments_,
            "segment_ids": [int(i) for i in self.segment_ids_],
            "names": self.names_,
            "metrics": self.metrics_,
            "k_choice": self.k_choice_,
            "baseline": getattr(self, "baseline_", None),
            "selection": getattr(self, "selection_", None),
            "date_references": getattr(self, "date_references_", {}),
            "warnings": getattr(self, "warnings_", []),
            "outcome": getattr(self, "outcome_", None),
        }
        out = {f"assigner.{k}": v for k, v in arrays.items()}
        m = getattr(self, "map_", None)
        if m is not None:
            params["map"] = {"method": m["method"], "explained": m["explained"]}
            out.update({"map.x": m["x"], "map.y": m["y"], "map.index": m["index"]})
        return params, out

    @classmethod
    def from_state(
        cls,
        params: dict[str, Any],
        arrays: dict[str, np.ndarray],
        profiles: list[SegmentProfile] | None = None,
    ) -> Segmenter:
        """Rebuild a fitted segmenter from :meth:`to_state`'s output (predict-ready)."""
        if params.get("kind") != "segmenter" or params.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"not a userseg model of format {FORMAT_VERSION}: "
                f"kind={params.get('kind')!r}, "
                f"format_version={params.get('format_version')!r}."
            )
        obj = cls(**params["params"])
        obj.preparer_ = Preparer.from_dict(params["preparer"])
        obj.assigner_ = assigner_from_state(
            params["assigner"],
            {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("assigner.")},
        )
        obj.n_segments_ = int(params["n_segments"])
        obj.segment_ids_ = np.asarray(
            params.get("segment_ids", range(obj.n_segments_)), dtype=np.int64
        )
        obj.names_ = list(params["names"])
        obj.metrics_ = params.get("metrics", {})
        obj.k_choice_ = params.get("k_choice", {})
        if params.get("baseline") is not None:
            obj.baseline_ = params["baseline"]
        obj.selection_ = params.get("selection")
        obj.date_references_ = dict(params.get("date_references") or {})
        obj.warnings_ = list(params.get("warnings") or [])
        obj.outcome_ = params.get("outcome")
        if "map.x" in arrays:
            obj.map_ = dict(
                params.get("map", {}),
                x=arrays["map.x"],
                y=arrays["map.y"],
                index=arrays["map.index"],
            )
        # Profiles come from the store ordered by segment id; the model's arrays (and
        # names_) follow its positions, whose ids need not be ascending after a refit
        # kept the ids of the previous version (e.g. [0, 1, 2, 4, 3, 5]).
        position = {int(s): i for i, s in enumerate(obj.segment_ids_)}
        obj.profiles_ = sorted(profiles or [], key=lambda p: position.get(p.segment, len(position)))
        if obj.profiles_:
            by_id = {p.segment: p.name for p in obj.profiles_}
            pairs = zip(obj.segment_ids_, obj.names_, strict=True)
            obj.names_ = [by_id.get(int(s), name) for s, name in pairs]
        obj.feature_names_in_ = obj.preparer_.feature_names_in_
        obj.n_features_in_ = len(obj.feature_names_in_)
        return obj
