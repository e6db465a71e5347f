"""Is there any structure? A segmentation compared with data that has none.

A clustering always returns clusters, even on noise, so before segments are
presented the data must be shown to be more clustered than a null reference.
:func:`structure_check` fits the same algorithm, with the same ``k``, to the
data and to reference data sets with no clusters, all of the same size:

* **gap statistic** (Tibshirani, Walther & Hastie, 2001): references are drawn
  uniformly in the box of the data's principal components (``"pca"``, the
  default: it follows the data's orientation, so correlated features do not
  pass for clusters) or in the plain bounding box (``"uniform"``). With
  ``W_k`` the within-segment sum of squares, splitting into ``k`` segments
  lowers ``log W`` from ``log W_1``; the *excess* is how much more it falls
  on the data than on the references, ``Gap(k) - Gap(1)``. The data has
  structure when the excess exceeds ``min_z`` (2) standard errors of the
  references: stricter than the original one-s.e. rule, because presenting
  noise as segments is the worse mistake.
* **permuted features**: each feature shuffled independently keeps every
  marginal distribution but destroys the joint structure. Segments that only
  reflect one feature's bimodality come back on permuted data; segments that
  combine features do not. This is reported (``permuted_z``), not a veto:
  two groups that differ on one feature are real segments.

The verdict is a plain sentence for the report: ``"no clear segments: the
data is no more clustered than random data with the same spread"`` or
``"clear segments: …"``.

The layer rule holds: this module fits nothing itself; pass
``fit_labels(X, k, seed) -> labels`` or a scikit-learn estimator. At most
``sample`` users (20,000) are used, so the check stays fast at a million.

Example
-------
>>> import numpy as np
>>> from sklearn.cluster import KMeans
>>> rng = np.random.default_rng(0)
>>> blobs = np.r_[rng.normal(0, 1, (300, 2)), rng.normal(10, 1, (300, 2))]
>>> structure_check(blobs, 2, KMeans(n_init=1), n_references=5).has_structure
True
>>> structure_check(rng.uniform(size=(600, 2)), 2, KMeans(n_init=1), n_references=5).has_structure
False
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from userseg.errors import ConfigError
from userseg.evaluate.stability import FitLabels, as_fit_labels, check_matrix, labels_of

__all__ = ["REFERENCES", "StructureResult", "structure_check"]

REFERENCES = ("pca", "uniform")
_SILHOUETTE_SAMPLE = 2000


@dataclass
class StructureResult:
    """The verdict of :func:`structure_check`, with the numbers behind it.

    Attributes
    ----------
    has_structure : bool
    verdict : str
        One plain sentence for the report.
    k : int
    gap : float
        ``Gap(k)``: mean ``log W_k`` of the references minus that of the data.
    gap_1 : float
        ``Gap(1)``, the same without clustering (total sum of squares).
    excess : float
        ``gap - gap_1``: how much more clustering helps on the data than on
        the references.
    gap_se : float
        Standard error of the references' fall in ``log W``, ``sd · sqrt(1 + 1/B)``.
    z : float
        ``excess / gap_se``; ``has_structure`` is ``z >= min_z``.
    log_w, log_w_1 : float
        ``log W_k`` and ``log W_1`` of the data.
    reference_log_w : list of float
        ``log W_k`` of each reference.
    inertia, reference_inertia_mean
        ``W_k`` of the data and the references' mean.
    silhouette, reference_silhouette_mean, reference_silhouette_std : float
        Mean silhouette of the data's fit and of the reference fits (on up to
        2,000 users).
    permuted_silhouette_mean, permuted_silhouette_std, permuted_z : float
        The same on permuted-feature references, and the data's fall in
        ``log W`` against theirs, in their standard errors.
    reference, n_references, n_used, min_z, random_state
        The settings, and the number of users used.
    """

    has_structure: bool
    verdict: str
    k: int
    gap: float
    gap_1: float
    excess: float
    gap_se: float
    z: float
    log_w: float
    log_w_1: float
    reference_log_w: list[float]
    inertia: float
    reference_inertia_mean: float
    silhouette: float
    reference_silhouette_mean: float
    reference_silhouette_std: float
    permuted_silhouette_mean: float
    permuted_silhouette_std: float
    permuted_z: float
    reference: str
    n_references: int
    n_used: int
    min_z: float
    random_state: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (non-finite numbers as null), for the report and the run record."""
        return {k: _finite(v) for k, v in asdict(self).items()}


def structure_check(
    X: Any,
    k: int,
    fit_labels: FitLabels | Any,
    *,
    reference: str = "pca",
    n_references: int = 10,
    min_z: float = 2.0,
    sample: int | None = 20_000,
    random_state: int = 0,
) -> StructureResult:
    """Compare a ``k``-segment fit of ``X`` with fits of structureless reference data.

    Parameters
    ----------
    X : array-like of shape (n_users, n_features)
        The prepared matrix the segmentation is fitted on.
    k : int
        Number of segments (the chosen k).
    fit_labels : callable or estimator
        ``fit_labels(X, k, seed) -> labels``, or a scikit-learn estimator
        (cloned with ``n_clusters=k``; see
        :func:`~userseg.evaluate.stability.as_fit_labels`).
    reference : {"pca", "uniform"}
        Uniform in the box of the principal components, or in the bounding box.
    n_references : int
        Reference data sets of each kind (at least 2).
    min_z : float
        Standard errors by which the data must beat the references.
    sample : int or None
        Use at most this many users (a uniform random sample); None uses all.
    random_state : int

    Returns
    -------
    StructureResult
    """
    Xa = check_matrix(X).astype(np.float64, copy=False)
    if reference not in REFERENCES:
        raise ConfigError(f"reference={reference!r} should be one of {list(REFERENCES)}.")
    if not isinstance(n_references, int | np.integer) or n_references < 2:
        raise ConfigError(f"n_references={n_references!r} should be an integer >= 2.")
    if not isinstance(k, int | np.integer) or k < 2:
        raise ConfigError(f"k={k!r} should be an integer >= 2.")
    fit = as_fit_labels(fit_labels)
    rng = np.random.default_rng(random_state)
    if sample is not None and len(Xa) > sample:
        Xa = Xa[np.sort(rng.choice(len(Xa), size=sample, replace=False))]
    if len(Xa) <= k:
        raise ConfigError(f"k={k} should be < the number of users={len(Xa)}.")
    if np.ptp(Xa, axis=0).max() == 0:
        raise ConfigError("every feature is constant: there is no structure to check.")
    seeds = rng.integers(2**31 - 1, size=2 * n_references + 1)

    def measure(data: np.ndarray, seed: int) -> tuple[float, float, float]:
        labels = labels_of(fit, data, int(k), seed)
        return (
            _log_w(data, np.zeros(len(data), np.int64)),
            _log_w(data, labels),
            _sil(data, labels, seed),
        )

    d1, dk, sil = measure(Xa, int(seeds[0]))
    if reference == "pca":
        basis = _pca_basis(Xa)  # once: every reference is drawn in the same rotated box

        def draw(X: np.ndarray, gen: np.random.Generator) -> np.ndarray:
            return _pca_reference(X, gen, basis)
    else:
        draw = _box_reference
    refs = np.array([measure(draw(Xa, rng), int(s)) for s in seeds[1 : n_references + 1]])
    perm = np.array([measure(_permuted(Xa, rng), int(s)) for s in seeds[n_references + 1 :]])
    fall, ref_fall, perm_fall = d1 - dk, refs[:, 0] - refs[:, 1], perm[:, 0] - perm[:, 1]
    inflate = math.sqrt(1 + 1 / n_references)
    se = float(ref_fall.std(ddof=1)) * inflate
    excess = float(fall - ref_fall.mean())
    z = _ratio(excess, se)
    perm_z = _ratio(float(fall - perm_fall.mean()), float(perm_fall.std(ddof=1)) * inflate)
    has = bool(z >= min_z)
    return StructureResult(
        has_structure=has,
        verdict=_verdict(has, k, excess, z, perm_z, min_z),
        k=int(k),
        gap=float(refs[:, 1].mean() - dk),
        gap_1=float(refs[:, 0].mean() - d1),
        excess=excess,
        gap_se=se,
        z=z,
        log_w=float(dk),
        log_w_1=float(d1),
        reference_log_w=[float(v) for v in refs[:, 1]],
        inertia=float(np.exp(dk)),
        reference_inertia_mean=float(np.exp(refs[:, 1]).mean()),
        silhouette=float(sil),
        reference_silhouette_mean=float(np.nanmean(refs[:, 2])),
        reference_silhouette_std=float(np.nanstd(refs[:, 2])),
        permuted_silhouette_mean=float(np.nanmean(perm[:, 2])),
        permuted_silhouette_std=float(np.nanstd(perm[:, 2])),
        permuted_z=perm_z,
        reference=reference,
        n_references=int(n_references),
        n_used=len(Xa),
        min_z=float(min_z),
        random_state=int(random_state),
    )


# -- helpers (inputs already validated) -------------------------------------------------
def _log_w(X: np.ndarray, labels: np.ndarray) -> float:
    """log of the within-segment sum of squares around the segment means (noise left out)."""
    keep = labels >= 0
    X, labels = X[keep], labels[keep]
    _, inv = np.unique(labels, return_inverse=True)
    counts = np.bincount(inv).astype(np.float64)
    sums = np.zeros((len(counts), X.shape[1]))
    np.add.at(sums, inv, X)
    # W = Σ||x||² - Σ_j ||sum_j||² / n_j, in float64; tiny negatives are rounding.
    w = float(np.einsum("ij,ij->", X, X) - np.sum(np.einsum("ij,ij->i", sums, sums) / counts))
    return math.log(max(w, 1e-300))


def _sil(X: np.ndarray, labels: np.ndarray, seed: int) -> float:
    from userseg.evaluate.silhouette import silhouette

    keep = labels >= 0
    if len(np.unique(labels[keep])) < 2 or keep.sum() <= len(np.unique(labels[keep])):
        return float("nan")
    size = _SILHOUETTE_SAMPLE if keep.sum() > _SILHOUETTE_SAMPLE else None
    return float(silhouette(X, labels, sample_size=size, random_state=seed).value)


def _box_reference(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(X.min(axis=0), X.max(axis=0), size=X.shape)


def _pca_basis(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and principal axes (rows), from the d × d covariance: cheap for tall data."""
    mean = X.mean(axis=0)
    centred = X - mean
    _, vecs = np.linalg.eigh(centred.T @ centred)
    return mean, vecs[:, ::-1].T


def _pca_reference(
    X: np.ndarray, rng: np.random.Generator, basis: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Uniform in the box of the principal components, rotated back (Tibshirani's (b))."""
    mean, vt = basis
    scores = (X - mean) @ vt.T
    return rng.uniform(scores.min(axis=0), scores.max(axis=0), size=scores.shape) @ vt + mean


def _permuted(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.column_stack([rng.permutation(X[:, j]) for j in range(X.shape[1])])


def _ratio(value: float, se: float) -> float:
    if se > 0:
        return value / se
    return math.inf if value > 0 else (0.0 if value == 0 else -math.inf)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _verdict(has: bool, k: int, excess: float, z: float, perm_z: float, min_z: float) -> str:
    numbers = f"gap excess {excess:.3f}, {z:.1f} standard errors"
    if not has:
        return (
            "no clear segments: the data is no more clustered than random data with the "
            f"same spread ({numbers}; {min_z:g} needed)"
        )
    joint = (
        "and more than its features show one at a time"
        if perm_z >= min_z
        else "though much of it shows feature by feature"
    )
    # The margin in standard errors decides the adverb: 2.5 s.e. is real but not "far".
    margin = "far better" if z >= 10 else "clearly better" if z >= 5 else "better"
    return (
        f"clear segments: the {k} segments split the data {margin} than they split random "
        f"data with the same spread ({numbers}), {joint}"
    )
