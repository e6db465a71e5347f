"""Stability of a segmentation: do refits on resampled users find the same segments?

A clustering always returns clusters, even on noise; what noise does not give
is the *same* clusters twice. :func:`stability` refits the segmentation on
``n_runs`` resamples of the users (subsamples of 80 % by default, or
bootstrap samples), then, for each refit:

* matches its segments to the reference segments one to one with the
  Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`) on the
  Jaccard matrix (members shared / members in either), so a refit that
  numbers the same segments differently is not penalised;
* measures the overall agreement on the users both contain with the
  adjusted Rand index (ARI: 1 identical, about 0 no better than chance);
* records, per reference segment, the Jaccard similarity with its match
  (0 when it has none).

A segment whose mean Jaccard is under ``threshold`` (0.6) is flagged
unstable: below it, a refit keeps fewer than about three quarters of the
segment's members together. Hennig (2007) advises not to trust a cluster
below 0.6, reads 0.6–0.75 as a pattern with doubtful members, and 0.75 and
above as stable.

The layer rule holds: this module fits nothing itself. The caller passes
``fit_labels(X, k, seed) -> labels`` or a scikit-learn estimator, which
:func:`as_fit_labels` clones for each refit. Large inputs are sampled first
(``sample``, 20,000 users by default, stratified by segment), so twenty refits
stay fast at a million users.

Example
-------
>>> import numpy as np
>>> from sklearn.cluster import KMeans
>>> rng = np.random.default_rng(0)
>>> X = np.r_[rng.normal(0, 1, (200, 2)), rng.normal(8, 1, (200, 2))]
>>> labels = np.repeat([0, 1], 200)
>>> result = stability(X, labels, KMeans(n_init=1), n_runs=5)
>>> round(result.ari_mean, 2), result.unstable
(1.0, [])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from userseg.errors import ConfigError, DataError

__all__ = [
    "FitLabels",
    "SegmentStability",
    "StabilityResult",
    "as_fit_labels",
    "check_matrix",
    "labels_of",
    "stability",
    "stability_by_k",
]

#: ``fit_labels(X, k, seed)`` returns one integer label per row of ``X`` (negative: noise).
FitLabels = Callable[[np.ndarray, int, int], np.ndarray]
_METHODS = ("subsample", "bootstrap")
_MIN_PER_SEGMENT = 50


def as_fit_labels(model: Any) -> FitLabels:
    """A ``fit_labels(X, k, seed)`` function from an estimator or a callable.

    A scikit-learn estimator is cloned for every fit, with ``n_clusters`` (or
    ``n_components``) set to ``k`` and ``random_state`` to ``seed`` where it
    has those parameters; its ``fit_predict`` (or ``fit`` then ``labels_``)
    gives the labels. A plain callable is returned unchanged.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> fit = as_fit_labels(KMeans(n_init=1))
    >>> fit(np.array([[0.0], [0.1], [5.0], [5.1]]), 2, 0).tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """
    if hasattr(model, "fit") and hasattr(model, "get_params"):

        def fit_labels(X: np.ndarray, k: int, seed: int) -> np.ndarray:
            est = clone(model)
            params = est.get_params()
            update: dict[str, Any] = {}
            for name in ("n_clusters", "n_components"):
                if name in params:
                    update[name] = int(k)
                    break
            if "random_state" in params:
                update["random_state"] = int(seed)
            est.set_params(**update)
            if hasattr(est, "fit_predict"):
                return np.asarray(est.fit_predict(X))
            return np.asarray(est.fit(X).labels_)

        return fit_labels
    if callable(model):
        return model
    raise ConfigError(
        "fit_labels should be a callable fit_labels(X, k, seed) -> labels or a "
        f"scikit-learn estimator; got {type(model).__name__}."
    )


@dataclass
class SegmentStability:
    """How well one reference segment survives the refits."""

    segment: int
    size: int
    jaccard_mean: float
    jaccard_std: float
    jaccard_min: float
    stable: bool


@dataclass
class StabilityResult:
    """Overall and per-segment stability of a segmentation under resampling.

    Attributes
    ----------
    ari_mean, ari_std, ari_min : float
        Adjusted Rand index of each refit with the reference, on the users the
        refit saw: mean, standard deviation and worst.
    ari : list of float
        Per refit, in run order.
    segments : list of SegmentStability
        Per reference segment, in label order.
    unstable : list of int
        Segments whose mean Jaccard is under ``threshold``.
    n_runs, method, fraction, threshold, n_used, random_state
        The settings, and the number of users resampled from.
    summary : str
        One plain sentence for the report.
    """

    ari_mean: float
    ari_std: float
    ari_min: float
    ari: list[float]
    segments: list[SegmentStability]
    unstable: list[int]
    n_runs: int
    method: str
    fraction: float
    threshold: float
    n_used: int
    random_state: int
    summary: str

    def segment(self, label: int) -> SegmentStability:
        """The stability of one segment, by its label."""
        for s in self.segments:
            if s.segment == label:
                return s
        raise KeyError(label)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, for the report and the run record."""
        return {
            "ari_mean": self.ari_mean,
            "ari_std": self.ari_std,
            "ari_min": self.ari_min,
            "ari": list(self.ari),
            "segments": [vars(s).copy() for s in self.segments],
            "unstable": list(self.unstable),
            "n_runs": self.n_runs,
            "method": self.method,
            "fraction": self.fraction,
            "threshold": self.threshold,
            "n_used": self.n_used,
            "random_state": self.random_state,
            "summary": self.summary,
        }


def stability(
    X: Any,
    labels: Any,
    fit_labels: FitLabels | Any,
    *,
    n_runs: int = 20,
    method: str = "subsample",
    fraction: float = 0.8,
    threshold: float = 0.6,
    sample: int | None = 20_000,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> StabilityResult:
    """Refit on resamples and measure how much of the segmentation comes back.

    Parameters
    ----------
    X : array-like of shape (n_users, n_features)
        The prepared matrix the segmentation was fitted on.
    labels : array-like of int of shape (n_users,)
        The reference segments (negative labels: noise, in no segment).
    fit_labels : callable or estimator
        ``fit_labels(X, k, seed) -> labels``, or a scikit-learn estimator (see
        :func:`as_fit_labels`); ``k`` is the number of reference segments.
    n_runs : int
        Number of refits (at least 2).
    method : {"subsample", "bootstrap"}
        Refit on ``fraction`` of the users drawn without replacement, or on as
        many users as there are drawn with replacement (compared on the
        distinct users drawn). Subsampling does not repeat users, which
        k-means would count as heavier.
    fraction : float
        Share of users in each subsample, in (0, 1).
    threshold : float
        Segments with a mean Jaccard below it are unstable.
    sample : int or None
        Resample from at most this many users (stratified by segment, at least
        50 of each), or from all with None.
    random_state : int
        The same seed gives the same result, whatever ``n_jobs``.
    n_jobs : int, optional
        Refits run in that many threads (joblib); ``None`` runs them in turn. The
        fits must be thread-safe (scikit-learn's are).

    Returns
    -------
    StabilityResult
    """
    Xa, lab = _check(X, labels)
    if method not in _METHODS:
        raise ConfigError(f"method={method!r} should be one of {list(_METHODS)}.")
    if not isinstance(n_runs, int | np.integer) or n_runs < 2:
        raise ConfigError(f"n_runs={n_runs!r} should be an integer >= 2.")
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"fraction={fraction} should be in (0, 1).")
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold={threshold} should be in [0, 1].")
    fit = as_fit_labels(fit_labels)
    segs, sizes = np.unique(lab[lab >= 0], return_counts=True)
    if len(segs) < 2:
        raise ConfigError(f"stability needs at least 2 segments; got {len(segs)}.")
    rng = np.random.default_rng(random_state)
    rows = _sample_rows(lab, sample, rng)
    Xs, ref = Xa[rows], lab[rows]
    seeds = np.random.SeedSequence(random_state).spawn(n_runs)

    def one(seed: np.random.SeedSequence) -> tuple[float, np.ndarray]:
        r = np.random.default_rng(seed)
        n = len(ref)
        if method == "subsample":
            idx = np.sort(r.choice(n, size=max(len(segs) + 1, round(fraction * n)), replace=False))
        else:
            idx = np.sort(r.integers(0, n, size=n))
        got = labels_of(fit, Xs[idx], len(segs), int(r.integers(2**31 - 1)))
        shared, first = np.unique(idx, return_index=True)  # bootstrap repeats users
        return _compare(ref[shared], got[first], segs)

    if n_jobs is None or n_jobs == 1:
        runs = [one(s) for s in seeds]
    else:
        from joblib import Parallel, delayed

        runs = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(s) for s in seeds)
    ari = np.array([a for a, _ in runs])
    jac = np.array([j for _, j in runs])  # runs × segments
    per = [
        SegmentStability(
            segment=int(s),
            size=int(sizes[i]),
            jaccard_mean=float(jac[:, i].mean()),
            jaccard_std=float(jac[:, i].std()),
            jaccard_min=float(jac[:, i].min()),
            stable=bool(jac[:, i].mean() >= threshold),
        )
        for i, s in enumerate(segs)
    ]
    unstable = [p.segment for p in per if not p.stable]
    return StabilityResult(
        ari_mean=float(ari.mean()),
        ari_std=float(ari.std()),
        ari_min=float(ari.min()),
        ari=[float(a) for a in ari],
        segments=per,
        unstable=unstable,
        n_runs=int(n_runs),
        method=method,
        fraction=float(fraction),
        threshold=float(threshold),
        n_used=len(ref),
        random_state=int(random_state),
        summary=_summary(ari, per, unstable, n_runs, method, fraction, threshold),
    )


def stability_by_k(
    X: Any,
    ks: Sequence[int],
    fit_labels: FitLabels | Any,
    *,
    n_runs: int = 5,
    fraction: float = 0.8,
    sample: int = 5000,
    random_state: int = 0,
) -> list[dict[str, Any]]:
    """Mean agreement of subsample refits with a full fit, for each candidate k (cheap).

    For each k: one fit on a sample of at most ``sample`` users, then
    ``n_runs`` refits on ``fraction`` of it, each compared with the first by
    the ARI on the users they share. Meant as a tie-breaker in the choice of k:
    among k that the quality metrics cannot tell apart, prefer the stable one.

    Returns
    -------
    list of dict
        One row per k, in the order given: ``k``, ``stability`` (mean ARI),
        ``stability_std``, ``stability_min``; merge them into the k-choice table.
    """
    Xa = check_matrix(X)
    fit = as_fit_labels(fit_labels)
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 2:
        raise ConfigError(f"ks should be integers >= 2; got {ks}.")
    if not isinstance(n_runs, int | np.integer) or n_runs < 2:
        raise ConfigError(f"n_runs={n_runs!r} should be an integer >= 2.")
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"fraction={fraction} should be in (0, 1).")
    rng = np.random.default_rng(random_state)
    if len(Xa) > sample:
        Xa = Xa[np.sort(rng.choice(len(Xa), size=sample, replace=False))]
    n = len(Xa)
    if max(ks) >= n:
        raise ConfigError(f"every k should be < the number of users used={n}; got {max(ks)}.")
    subsets = [
        np.sort(rng.choice(n, size=round(fraction * n), replace=False)) for _ in range(n_runs)
    ]
    seeds = rng.integers(2**31 - 1, size=n_runs + 1)
    rows = []
    for k in ks:
        ref = labels_of(fit, Xa, k, int(seeds[0]))
        ari = np.array(
            [
                adjusted_rand_score(ref[idx], labels_of(fit, Xa[idx], k, int(seeds[i + 1])))
                for i, idx in enumerate(subsets)
            ]
        )
        rows.append(
            {
                "k": k,
                "stability": float(ari.mean()),
                "stability_std": float(ari.std()),
                "stability_min": float(ari.min()),
            }
        )
    return rows


# -- helpers (inputs already validated) -------------------------------------------------
def check_matrix(X: Any) -> np.ndarray:
    """``X`` as a finite 2-D float matrix, or a clear error saying what it is instead."""
    Xa = np.asarray(X)
    if Xa.ndim != 2:
        raise DataError(f"X must be 2-dimensional (users × features); got shape {Xa.shape}.")
    if Xa.dtype.kind not in "fiub":
        raise DataError(f"X must be numeric (the prepared matrix); got dtype {Xa.dtype}.")
    if Xa.dtype.kind == "f" and not np.isfinite(Xa).all():
        raise DataError("X contains NaN or infinity; pass the prepared (imputed) matrix.")
    return Xa


def _check(X: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    Xa = check_matrix(X)
    lab = np.asarray(labels)
    if lab.shape != (len(Xa),):
        raise DataError(f"labels must have shape ({len(Xa)},) to match X; got {lab.shape}.")
    if not np.issubdtype(lab.dtype, np.integer):
        raise DataError(f"labels must be integers; got dtype {lab.dtype}.")
    return Xa, lab.astype(np.int64)


def _sample_rows(lab: np.ndarray, sample: int | None, rng: np.random.Generator) -> np.ndarray:
    """All rows, or a sample stratified by segment (noise included in proportion)."""
    n = len(lab)
    if sample is None or n <= sample:
        return np.arange(n)
    rows = []
    for s in np.unique(lab):
        idx = np.flatnonzero(lab == s)
        take = max(round(sample * len(idx) / n), min(len(idx), _MIN_PER_SEGMENT))
        rows.append(rng.choice(idx, size=min(take, len(idx)), replace=False))
    return np.sort(np.concatenate(rows))


def labels_of(fit: FitLabels, X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The labels ``fit`` gives ``X`` for ``k`` and ``seed``, checked: one integer per row."""
    got = np.asarray(fit(X, k, seed))
    if got.shape != (len(X),) or not np.issubdtype(got.dtype, np.integer):
        raise DataError(
            f"fit_labels returned {got.shape} values of dtype {got.dtype}; expected "
            f"{len(X)} integer labels."
        )
    return got.astype(np.int64)


def _compare(ref: np.ndarray, got: np.ndarray, segs: np.ndarray) -> tuple[float, np.ndarray]:
    """ARI, and each reference segment's Jaccard with its Hungarian match (0 if none)."""
    ari = float(adjusted_rand_score(ref, got))
    clusters = np.unique(got[got >= 0])
    jac = np.zeros(len(segs))
    if len(clusters) == 0:
        return ari, jac
    a = np.searchsorted(segs, ref)
    in_seg = (ref >= 0) & (a < len(segs))
    b = np.searchsorted(clusters, got)
    both = in_seg & (got >= 0)
    inter = np.zeros((len(segs), len(clusters)))
    np.add.at(inter, (a[both], b[both]), 1.0)
    size_a = np.bincount(a[in_seg], minlength=len(segs)).astype(np.float64)
    size_b = np.bincount(b[got >= 0], minlength=len(clusters)).astype(np.float64)
    union = size_a[:, None] + size_b[None, :] - inter
    J = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    rows, cols = linear_sum_assignment(J, maximize=True)
    jac[rows] = J[rows, cols]
    return ari, jac


def _summary(
    ari: np.ndarray,
    per: list[SegmentStability],
    unstable: list[int],
    n_runs: int,
    method: str,
    fraction: float,
    threshold: float,
) -> str:
    how = f"{n_runs} {method}s" + (f" of {fraction:.0%}" if method == "subsample" else "")
    head = f"mean ARI {ari.mean():.2f} ± {ari.std():.2f} over {how}"
    if not unstable:
        return (
            f"stable segments: {head}; every segment's mean Jaccard with its refits is at "
            f"least {threshold}."
        )
    worst = ", ".join(
        f"{p.segment} ({p.jaccard_mean:.2f})" for p in per if p.segment in set(unstable)
    )
    return (
        f"{len(unstable)} of {len(per)} segments unstable (mean Jaccard < {threshold}): "
        f"{worst}; {head}."
    )
