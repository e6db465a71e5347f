"""Fit k-means for a range of k at once, sharing the work, and score every k.

Choosing k needs one model per candidate; fitting them one by one repeats work
that does not depend on k. :func:`sweep_k` does it once:

* the data are validated and converted once (one dtype, no copies per k);
* the init sample is drawn once, and the feature variances that scale ``tol``
  are estimated once;
* k-means++ runs once, to the largest k, on the sample: with a fixed number of
  local trials its first j centres are a k-means++ seeding for j, so every k
  reads its seeds off that one ordering (``n_init`` orderings when asked);
* every fit ends with a statistics pass, so inertia, Calinski-Harabasz and
  Davies-Bouldin cost no further pass over the data; only the silhouette reads
  the data again, on a sample when the data are large.

Picking k from the metrics (a consensus of several) is done by
:mod:`userseg.evaluate.choose`; :func:`settle_k` makes that choice robust.
A candidate that lands in a worse local optimum (one seeding order shared by
every k, so which k gets a bad start depends on the range) dips in
silhouette, and the choice then depended on ``k_max``: on 20 overlapping
blobs the k = 20 candidate of one sweep had inertia 99.9 against 91.8 and
k = 19 won; with another ``k_max``, 20 won. :func:`settle_k` reseeds the
close calls (the shortlist, the best few k by silhouette, the neighbours of
the chosen k) with seedings of their own (drawn from the seed and k, never
the range), and chooses again until the choice holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from userseg.cluster.kmeans import (
    RANK_ITER,
    KMeans,
    check_weights,
    draw_sample,
    fit_from,
    fit_from_seeds,
    kmeans_plusplus,
    resolve_algorithm,
    seed_centers,
    seeding_sample_size,
    tolerance,
)
from userseg.errors import ConfigError
from userseg.evaluate.indices import (
    calinski_harabasz_from_stats,
    davies_bouldin_from_stats,
    partition_stats,
)

__all__ = ["SweepResult", "settle_k", "sweep_k"]

#: Above this many rows the sweep estimates the silhouette (unless a sample size is given) ...
SWEEP_EXACT_MAX = 10_000
#: ... on this many users: enough to compare k, and a small part of the sweep's time.
SWEEP_SILHOUETTE_SAMPLE = 5_000
#: ... against this many references a cluster.
SWEEP_SILHOUETTE_REFERENCE = 500
#: Metrics where a larger value is better; the others (inertia, davies_bouldin) are smaller-better.
HIGHER_IS_BETTER = frozenset({"silhouette", "calinski_harabasz"})
#: Seedings of its own a close-call k gets in :func:`settle_k`: 8 on data small enough to
#: be its own init sample (where each is cheap and where one bad start showed), 3 on a
#: sample of larger data (as many as ``KMeans`` ranks there; 8 cost a third of the
#: sweep's time at 1M x 16, 3 cost 12-15 %).
RESEED_SEEDINGS = 8
RESEED_SAMPLED_SEEDINGS = 3
#: Besides the shortlist and the chosen k's neighbours, this many best k by silhouette are
#: reseeded: a k in a bad local optimum is not on the shortlist, but rarely below the top few.
RESEED_TOP = 3
#: Rounds of reseeding and choosing again, at most (the choice settles in one or two).
SETTLE_ROUNDS = 5


@dataclass
class SweepResult:
    """Fitted models and their metrics, one per k.

    Attributes
    ----------
    ks : list of int
        The values of k, ascending.
    models : dict of int to KMeans
        The fitted model for each k.
    metrics : list of dict
        One dict per k, in the order of ``ks``, with keys ``k``, ``inertia``,
        ``silhouette``, ``silhouette_low``, ``silhouette_high``,
        ``silhouette_exact``, ``calinski_harabasz``, ``davies_bouldin``,
        ``n_iter`` and ``seconds`` (fit and scoring of that k); ``reseeded``
        (True) when :meth:`reseed` replaced the candidate.
    reseeded : set of int
        The ks :meth:`reseed` has given seedings of their own.
    """

    ks: list[int]
    models: dict[int, KMeans] = field(repr=False)
    metrics: list[dict[str, Any]]
    # what reseeding a candidate needs (data, sample, tolerance, scoring): see reseed()
    _context: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    reseeded: set[int] = field(default_factory=set, repr=False, compare=False)

    def reseed(self, ks: Iterable[int], n_seedings: int | None = None) -> list[int]:
        """Refit candidates ``ks`` from seedings of their own, which replace them.

        Each k gets ``n_seedings`` k-means++ seedings (default :data:`RESEED_SEEDINGS`,
        :data:`RESEED_SAMPLED_SEEDINGS` on sampled data) drawn from a seed of its own
        (the sweep's seed and k, not the range), chosen and run as :class:`KMeans`
        would; unless it is the candidate's own optimum (the same inertia), it
        replaces the candidate and its metrics are measured again (on the same
        silhouette sample). It replaces it even when the candidate had the lower
        inertia: keeping the better of the two would make the partition of k, and
        so the choice of k, depend on which seeding order the range gave it (on 20
        overlapping blobs, k = 19 had inertia 82.0 or 80.9 with different
        ``k_max``, and a higher silhouette at 82.0). A k is reseeded once. Returns
        the ks whose inertia fell.
        """
        ctx = self._context
        if ctx is None:
            raise ConfigError("this sweep cannot reseed its candidates (it was not run here).")
        if n_seedings is None:
            n_seedings = RESEED_SEEDINGS if ctx["Xs"] is ctx["X"] else RESEED_SAMPLED_SEEDINGS
        improved = []
        for k in sorted(set(ks) - self.reseeded):
            if k not in self.models:
                raise ConfigError(f"k={k} was not in the sweep; ks are {self.ks}.")
            self.reseeded.add(k)
            model = self.models[k]
            run = _reseeded_run(ctx, k, model, n_seedings)
            if run is None:  # the candidate is the optimum its own seedings find
                continue
            new = KMeans(**model.get_params())
            new.n_features_in_ = model.n_features_in_
            if hasattr(model, "feature_names_in_"):
                new.feature_names_in_ = model.feature_names_in_
            new._set_fitted(run, warn=False)
            self.models[k] = new
            i = self.ks.index(k)
            t0 = time.perf_counter()
            row = _score(
                ctx["X"], new, ctx["silhouette"], ctx["sample_size"], ctx["seed"], ctx["score_on"]
            )
            row["seconds"] = self.metrics[i].get("seconds", 0.0) + time.perf_counter() - t0
            row["reseeded"] = True
            self.metrics[i] = row
            if new.inertia_ < model.inertia_:
                improved.append(k)
        return improved

    def refine(self, k: int, X: Any, sample_weight: Any = None) -> KMeans:
        """The model of ``k`` run to convergence (from its candidate centres), and kept.

        A candidate whose passes were capped (``candidate_max_iter``) is
        continued from where it stopped; a converged one is returned as is.
        """
        if k not in self.models:
            raise ConfigError(f"k={k} was not in the sweep; ks are {self.ks}.")
        model = self.models[k]
        if getattr(model, "converged_", True):
            return model
        params = model.get_params() | {"init": model.cluster_centers_, "n_init": 1}
        refined = KMeans(**params).fit(X, sample_weight=sample_weight)
        self.models[k] = refined
        return refined

    def column(self, metric: str) -> np.ndarray:
        """The values of one metric across ``ks``."""
        if not self.metrics or metric not in self.metrics[0]:
            known = sorted(self.metrics[0]) if self.metrics else []
            raise ConfigError(f"metric must be one of {known}; got {metric!r}.")
        return np.array([row[metric] for row in self.metrics], dtype=float)

    def best_by(self, metric: str) -> int:
        """The k with the best value of one metric (ties: the smaller k).

        Larger is better for ``silhouette`` and ``calinski_harabasz``, smaller
        for ``davies_bouldin``. Inertia always falls with k, so it cannot pick
        k on its own and is refused.
        """
        if metric == "inertia":
            raise ConfigError(
                "inertia decreases with every added cluster and cannot choose k alone; "
                "use silhouette, calinski_harabasz or davies_bouldin."
            )
        values = self.column(metric)
        if metric not in HIGHER_IS_BETTER and metric != "davies_bouldin":
            raise ConfigError(
                f"metric must be one of ['calinski_harabasz', 'davies_bouldin', "
                f"'silhouette']; got {metric!r}."
            )
        if np.all(np.isnan(values)):
            raise ConfigError(f"metric {metric!r} is undefined for every k in {self.ks}.")
        score = values if metric in HIGHER_IS_BETTER else -values
        return self.ks[int(np.nanargmax(score))]


def _checked_template(
    X: Any, ks: Iterable[int], random_state: Any, kmeans_params: dict[str, Any]
) -> tuple[KMeans, np.ndarray, list[int]]:
    """The largest k's model, unfitted (the sweep's shared settings), ``X`` checked, ks sorted."""
    if "n_clusters" in kmeans_params:
        raise ConfigError("sweep_k takes the numbers of clusters in 'ks', not 'n_clusters'.")
    ks_sorted = _check_ks(ks)
    k_max = ks_sorted[-1]
    template = KMeans(n_clusters=k_max, random_state=random_state, **kmeans_params)
    template._check_params()
    if not isinstance(template.init, str):
        raise ConfigError(
            "sweep_k needs init='k-means++' or 'random' (one array of centres cannot serve "
            f"every k); got an array-like init of type {type(template.init).__name__}."
        )
    X = template._validate_X(X, reset=True)
    n = X.shape[0]
    if k_max >= n:
        raise ConfigError(f"n_samples={n} should be > every k in ks; got k={k_max}.")
    return template, X, ks_sorted


def sweep_k(
    X: Any,
    ks: Iterable[int],
    *,
    random_state: int | np.random.RandomState | None = None,
    sample_weight: Any = None,
    silhouette_sample_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    candidate_max_iter: int | None = 2,
    score_on: Any = None,
    **kmeans_params: Any,
) -> SweepResult:
    """Fit :class:`~userseg.cluster.KMeans` for every k in ``ks`` and score each.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    ks : iterable of int
        Candidate numbers of clusters, each in ``[2, n_samples)``; duplicates
        are dropped and the sweep runs in ascending order.
    random_state : int, RandomState instance or None
        Seed of the shared init sample, of the seeding and of the silhouette sample.
    sample_weight : array-like of shape (n_samples,), optional
        Row weights for the fits and for inertia, Calinski-Harabasz and
        Davies-Bouldin (the silhouette is unweighted).
    silhouette_sample_size : int, optional
        Passed to :func:`userseg.evaluate.silhouette.silhouette` as
        ``sample_size``. ``None``: exact up to 10,000 rows; above, a stratified
        estimate on 5,000 users against 500 references a cluster, with its
        confidence interval (comparing k needs less precision than reporting one).
    progress : callable, optional
        Called with each k when its model is fitted and scored.
    candidate_max_iter : int or None, default 2
        On data larger than the init sample, each candidate converges on the
        sample and then makes at most this many passes over the full data:
        enough for its metrics (measured at 1M x 16 on three blob sets: the
        same k chosen as with every candidate converged, Calinski-Harabasz
        within 0.15 %, Davies-Bouldin within 4 %, as close as with 8 passes),
        while a k that splits a natural group would otherwise crawl through
        up to 100 passes of a flat objective. :meth:`SweepResult.refine`
        finishes the chosen k. ``None`` runs every candidate to convergence.
    score_on : array-like of shape (n_samples, m), optional
        Compute silhouette, Calinski-Harabasz and Davies-Bouldin on these
        columns instead of ``X`` (e.g. the numeric features only, when one-hot
        columns would reward splitting by category); inertia stays on ``X``.
    **kmeans_params
        Other :class:`KMeans` parameters (``init``, ``n_init``, ``max_iter``,
        ``tol``, ``init_sample_size``, ``algorithm``); ``init`` must be
        ``"k-means++"`` or ``"random"``.

    Returns
    -------
    SweepResult

    Examples
    --------
    >>> import numpy as np
    >>> from userseg.cluster import sweep_k
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.5, (100, 2)) for c in (0, 5, 10)])
    >>> res = sweep_k(X, range(2, 6), random_state=0)
    >>> res.best_by("silhouette")
    3
    """
    from userseg.evaluate.silhouette import silhouette  # lazy: compiles its kernels

    template, X, ks_sorted = _checked_template(X, ks, random_state, kmeans_params)
    k_max, n = ks_sorted[-1], X.shape[0]
    w = check_weights(sample_weight, X)
    rs = check_random_state(random_state)
    silhouette_seed = int(rs.randint(np.iinfo(np.int32).max))
    algorithm = template.algorithm
    sample_size = seeding_sample_size(template.init_sample_size, k_max, n)
    n_init = template._resolve_n_init(False, sampled=sample_size < n)

    # Shared across k: tolerance, init sample, seeding order(s).
    Xs, ws = draw_sample(X, w, sample_size, rs)
    tol_abs = tolerance(Xs, template.tol, rs)
    orders = [_seed_order(Xs, ws, k_max, template.init, rs) for _ in range(n_init)]

    models: dict[int, KMeans] = {}
    metrics: list[dict[str, Any]] = []
    for k in ks_sorted:
        t0 = time.perf_counter()
        seeds = [np.ascontiguousarray(Xs[order[:k]]) for order in orders]
        alg = resolve_algorithm(algorithm, k)
        run = fit_from_seeds(
            X, w, Xs, ws, seeds, template.max_iter, tol_abs, alg, full_max_iter=candidate_max_iter
        )
        model = KMeans(n_clusters=k, random_state=random_state, **kmeans_params)
        model.n_features_in_ = template.n_features_in_
        if hasattr(template, "feature_names_in_"):
            model.feature_names_in_ = template.feature_names_in_
        model._set_fitted(run, warn=candidate_max_iter is None)
        models[k] = model
        metrics.append(
            _score(X, model, silhouette, silhouette_sample_size, silhouette_seed, score_on)
        )
        metrics[-1]["seconds"] = time.perf_counter() - t0
        if progress is not None:
            progress(k)
    context = {
        "X": X,
        "w": w,
        "Xs": Xs,
        "ws": ws,
        "tol": tol_abs,
        "init": template.init,
        "max_iter": template.max_iter,
        "full_max_iter": candidate_max_iter,
        "algorithm": algorithm,
        "seed": silhouette_seed,
        "silhouette": silhouette,
        "sample_size": silhouette_sample_size,
        "score_on": score_on,
    }
    return SweepResult(ks=ks_sorted, models=models, metrics=metrics, _context=context)


def settle_k(
    result: SweepResult,
    choose: Callable[[list[dict[str, Any]]], tuple[int, str, list[dict[str, Any]]]],
    *,
    n_seedings: int | None = None,
    rounds: int = SETTLE_ROUNDS,
) -> list[dict[str, Any]]:
    """Reseed the close calls of a sweep until the choice of k holds; returns the metrics.

    ``choose`` picks k from the metric rows (:func:`userseg.evaluate.choose.choose_k`).
    Each round reseeds (:meth:`SweepResult.reseed`) the k the choice hinges on: the
    silhouette shortlist, the :data:`RESEED_TOP` best k by silhouette and the chosen
    k with its neighbours. It stops when they have all been reseeded: the chosen
    k then stands against candidates that each had a fair chance at their best
    partition, whatever the range (``k_max``) was.
    """
    for _ in range(rounds):
        k, _reason, rows = choose(result.metrics)
        scored = [r for r in rows if math.isfinite(r.get("silhouette", math.nan))]
        top = [r["k"] for r in sorted(scored, key=lambda r: -r["silhouette"])[:RESEED_TOP]]
        close = {r["k"] for r in rows if r.get("shortlisted")} | set(top)
        close |= {kk for kk in (k - 1, k, k + 1) if kk in result.models}
        if close <= result.reseeded:
            break
        result.reseed(close, n_seedings)
    return result.metrics


def _reseeded_run(ctx: dict[str, Any], k: int, model: KMeans, n_seedings: int) -> Any:
    """The best of ``n_seedings`` seedings of ``k`` drawn from a seed of its own, or None
    when it is the candidate's own optimum (the same inertia, to 1e-5).

    Chosen as :class:`KMeans` chooses: the lowest inertia of full runs on small
    data; on large data, ranked and refined on the sweep's sample and compared with
    the candidate there, so that only a different optimum costs passes over the full
    data (at most the candidates' passes). It depends on the data, the seed and k
    only, never on the other k of the sweep.
    """
    X, w, Xs, ws = ctx["X"], ctx["w"], ctx["Xs"], ctx["ws"]
    tol, max_iter = ctx["tol"], ctx["max_iter"]
    alg = resolve_algorithm(ctx["algorithm"], k)
    state = np.random.SeedSequence([int(ctx["seed"]), int(k)]).generate_state(1)[0]
    rs = np.random.RandomState(state)
    seeds = [seed_centers(Xs, ws, k, ctx["init"], rs) for _ in range(n_seedings)]
    if Xs is X:  # small data: full runs, the lowest inertia wins
        run = fit_from_seeds(X, w, Xs, ws, seeds, max_iter, tol, alg)
        return None if _same(run.inertia, model.inertia_) else run
    best = None
    for seed in seeds:
        run = fit_from(Xs, ws, seed, min(max_iter, RANK_ITER), tol, alg)
        if best is None or run.inertia < best.inertia:
            best = run
    assert best is not None
    if not best.converged:
        best = fit_from(Xs, ws, best.centers, max_iter, tol, alg)
    centers = np.ascontiguousarray(model.cluster_centers_, dtype=Xs.dtype)
    incumbent = fit_from(Xs, ws, centers, max_iter, tol, alg).inertia
    if _same(best.inertia, incumbent):
        return None
    return fit_from(X, w, best.centers, ctx["full_max_iter"] or max_iter, tol, alg)


def _same(a: float, b: float) -> bool:
    """Two inertias of one local optimum (equal to a relative 1e-5: runs stop at `tol`)."""
    return abs(a - b) <= 1e-5 * max(abs(a), abs(b), 1e-300)


def _seed_order(
    Xs: np.ndarray, ws: np.ndarray, k_max: int, init: str, rs: np.random.RandomState
) -> np.ndarray:
    """Row indices of the sample in seeding order; any prefix of length k seeds k clusters."""
    if init == "random":
        p = None if ws.size == 0 else ws / ws.sum()
        return rs.choice(Xs.shape[0], size=k_max, replace=False, p=p)
    # A fixed number of local trials (that of k_max) keeps every prefix a
    # k-means++ seeding; per-k trials would make each k a separate run.
    trials = 2 + int(math.log(k_max))
    return kmeans_plusplus(Xs, ws, k_max, rs, n_local_trials=trials)


def _score(
    X: np.ndarray,
    model: KMeans,
    silhouette: Callable[..., Any],
    sample_size: int | None,
    seed: int,
    score_on: Any = None,
) -> dict[str, Any]:
    stats = model.partition_stats_
    if score_on is not None:  # one more pass, over the scoring columns only
        X = np.asarray(score_on)
        stats = partition_stats(X, model.labels_)
    row: dict[str, Any] = {"k": model.n_clusters, "inertia": float(model.inertia_)}
    if stats.n_clusters >= 2 and stats.n_samples > stats.n_clusters:
        extra: dict[str, Any] = {}
        if sample_size is None and len(X) > SWEEP_EXACT_MAX:
            # Comparing k needs less precision than reporting one k: a 5,000-user estimate
            # against 500 references a segment (its interval, wider, is reported with it).
            sample_size = SWEEP_SILHOUETTE_SAMPLE
            extra = {"reference_size": SWEEP_SILHOUETTE_REFERENCE}
        sil = silhouette(X, model.labels_, sample_size=sample_size, random_state=seed, **extra)
        row.update(
            silhouette=float(sil.value),
            silhouette_low=float(sil.low),
            silhouette_high=float(sil.high),
            silhouette_exact=bool(sil.exact),
            calinski_harabasz=float(calinski_harabasz_from_stats(stats)),
            davies_bouldin=float(davies_bouldin_from_stats(stats)),
        )
    else:  # every row in one cluster (duplicates): the indices are undefined
        row.update(
            silhouette=math.nan,
            silhouette_low=math.nan,
            silhouette_high=math.nan,
            silhouette_exact=False,
            calinski_harabasz=math.nan,
            davies_bouldin=math.nan,
        )
    row["n_iter"] = int(model.n_iter_)
    return row


def _check_ks(ks: Iterable[int]) -> list[int]:
    try:
        values = list(ks)
    except TypeError:
        raise ConfigError(f"ks must be an iterable of ints; got {ks!r}.") from None
    if not values:
        raise ConfigError("ks must hold at least one number of clusters; got none.")
    for k in values:
        if not isinstance(k, Integral) or isinstance(k, bool) or k < 2:
            raise ConfigError(f"every k in ks must be an int >= 2; got {k!r}.")
    return sorted({int(k) for k in values})
