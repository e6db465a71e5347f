"""Differentially private k-means and the privacy budget of a data set.

Why this implementation
-----------------------
* **diffprivlib** (IBM, 0.6.6, April 2025) has a DP k-means with declared
  bounds, but it does not import with the scikit-learn pinned here (1.9:
  ``cannot import name 'DOUBLE' from 'sklearn.tree._tree'`` when the package
  loads its forest models), and it starts from centres drawn uniformly in the
  bounds, which often merges two groups.
* **OpenDP** (Harvard, 0.16) has no k-means, but its measurements are proven
  and its noise samplers are exact (no floating-point leaks of the kind
  Mironov showed for naive Laplace noise); it installs as a wheel (about
  270 MB installed).

So the algorithm is a standard DP Lloyd written here (Su et al., "Differentially
private k-means clustering", CODASPY 2016: noisy counts and noisy sums per
cluster, a fixed number of iterations) with the noise of OpenDP's Laplace
measurement, and a private start instead of random centres: points are hashed
into 2^10 cells by random hyperplanes (as in Google's LSH-based private
clustering) placed around a noisy mean and spread of the data, each cell's
count and sum are released with noise (every user is in one cell: parallel
composition), and the noisy cell means, weighted by their noisy counts, are
clustered without further privacy cost.

Privacy: ε-differential privacy for adding or removing one user (one row),
by basic composition over the start and the iterations. Values are clipped to
the declared bounds first, which is what bounds each user's influence; bounds
must come from knowledge of the domain, never from the data.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(-5, 1, (3000, 2)), rng.normal(5, 1, (3000, 2))])
>>> budget = PrivacyBudget(2.0, dataset="demo")
>>> model = DPKMeans(2, epsilon=1.0, bounds=(-10, 10), budget=budget, random_state=0).fit(X)
>>> sorted(np.round(model.cluster_centers_[:, 0]).tolist())
[-5.0, 5.0]
>>> budget.remaining
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from userseg.cluster.nearest import nearest_centres
from userseg.errors import ConfigError, DataError, DependencyError, PrivacyBudgetError

__all__ = ["DPKMeans", "PrivacyBudget", "laplace_noise"]

_TOL = 1e-9


@dataclass
class PrivacyBudget:
    """The ε a data set may still spend; every spend is recorded (in memory for now).

    Parameters
    ----------
    total : float
        The whole budget, in ε.
    dataset : str
        What it belongs to (a table, an import), for messages and the record.
    """

    total: float
    dataset: str = "default"
    ledger: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (
            not (isinstance(self.total, int | float) and math.isfinite(self.total))
            or self.total <= 0
        ):
            raise ConfigError(f"total={self.total!r} should be a positive, finite epsilon.")

    @property
    def spent(self) -> float:
        return float(sum(e for _, e in self.ledger))

    @property
    def remaining(self) -> float:
        return max(0.0, self.total - self.spent)

    def spend(self, epsilon: float, what: str) -> None:
        """Record a spend, or raise :class:`~userseg.errors.PrivacyBudgetError` (nothing spent)."""
        if not (isinstance(epsilon, int | float) and math.isfinite(epsilon)) or epsilon <= 0:
            raise ConfigError(f"epsilon={epsilon!r} should be a positive, finite number.")
        if self.spent + epsilon > self.total + _TOL:
            raise PrivacyBudgetError(
                f"{what} needs epsilon={epsilon:g} but data set {self.dataset!r} has "
                f"{self.remaining:g} of its {self.total:g} left; nothing was computed.",
                details={"dataset": self.dataset, "needed": epsilon, "remaining": self.remaining},
            )
        self.ledger.append((what, float(epsilon)))

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "total": self.total, "ledger": list(self.ledger)}


def _opendp() -> Any:
    try:
        import opendp.prelude as dp
    except ImportError:
        raise DependencyError(
            "differentially private k-means needs OpenDP: pip install 'userseg[dp]'"
        ) from None
    dp.enable_features("contrib")
    return dp


def laplace_noise(values: np.ndarray, sensitivity: float, epsilon: float) -> np.ndarray:
    """``values`` plus Laplace noise for an L1 ``sensitivity`` at ``epsilon`` (OpenDP's sampler).

    The scale is ``sensitivity / epsilon``; OpenDP's privacy map confirms that
    the release costs at most ``epsilon``.
    """
    dp = _opendp()
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    scale = sensitivity / epsilon
    meas = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float), scale=scale
    )
    cost = meas.map(float(sensitivity))
    if cost > epsilon * (1 + 1e-9):  # pragma: no cover - a calibration bug, not bad input
        raise PrivacyBudgetError(f"noise calibration error: costs {cost} > {epsilon}.")
    return np.asarray(meas(flat.tolist()), dtype=np.float64).reshape(np.shape(values))


class DPKMeans:
    """k-means with ε-differential privacy (noisy Lloyd from a private start).

    Parameters
    ----------
    n_clusters : int, default 8
    epsilon : float, default 1.0
        The privacy cost of one ``fit``.
    bounds : (lower, upper)
        Declared range of every feature (scalars or one value per feature);
        values outside are clipped. Required: taken from the data they would leak.
    n_iter : int, default 3
        Noisy Lloyd iterations (a fixed number: stopping on convergence would leak;
        from a good start more iterations only add noise).
    init_share : float, default 0.3
        Share of ``epsilon`` spent on the private start.
    budget : PrivacyBudget, optional
        Charged ``epsilon`` before the data are read; ``fit`` fails when it is spent.
    random_state : int, optional
        Seeds the hyperplanes and the clustering of the start (not the noise,
        which comes from OpenDP's cryptographic generator).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
        Each row's nearest private centre.
    inertia_ : float
        Sum of squared distances to ``cluster_centers_`` (not private: for
        measuring the utility cost, not for release).
    n_iter_ : int
    epsilon_spent_ : float
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        epsilon: float = 1.0,
        bounds: tuple[Any, Any] | None = None,
        n_iter: int = 3,
        init_share: float = 0.3,
        budget: PrivacyBudget | None = None,
        random_state: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.epsilon = epsilon
        self.bounds = bounds
        self.n_iter = n_iter
        self.init_share = init_share
        self.budget = budget
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("n_clusters", "epsilon", "bounds", "n_iter", "init_share", "budget",
                      "random_state")
        }  # fmt: skip

    def set_params(self, **params: Any) -> DPKMeans:
        for k, v in params.items():
            if k not in self.get_params():
                raise ConfigError(f"DPKMeans has no parameter {k!r}.")
            setattr(self, k, v)
        return self

    # -- validation ----------------------------------------------------------------------
    def _validate(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = self.n_clusters
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ConfigError(f"n_clusters={k!r} should be an integer >= 2.")
        eps = self.epsilon
        if not (isinstance(eps, int | float) and math.isfinite(eps)) or eps <= 0:
            raise ConfigError(f"epsilon={eps!r} should be a positive, finite number.")
        if not isinstance(self.n_iter, int) or self.n_iter < 1:
            raise ConfigError(f"n_iter={self.n_iter!r} should be an integer >= 1.")
        if not 0 < self.init_share < 1:
            raise ConfigError(f"init_share={self.init_share!r} should be in (0, 1).")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataError(f"X should be a non-empty 2-D array; got shape {X.shape}.")
        if not np.isfinite(X).all():
            raise DataError("X holds NaN or infinite values; impute or drop them first.")
        if self.bounds is None:
            raise ConfigError(
                "bounds=None: declare the range of every feature up front (from knowledge "
                "of the domain, e.g. (-4, 4) for standardised features); bounds read from "
                "the data would leak it."
            )
        try:
            lo, hi = self.bounds
        except (TypeError, ValueError):
            raise ConfigError("bounds should be a pair (lower, upper).") from None
        d = X.shape[1]
        lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (d,)).copy()
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (d,)).copy()
        if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (hi > lo).all()):
            raise ConfigError("bounds should be finite with upper > lower for every feature.")
        return X, lo, hi

    # -- fit -------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> DPKMeans:
        X, lo, hi = self._validate(X)
        _opendp()  # fail on a missing dependency before spending anything
        if self.budget is not None:
            self.budget.spend(self.epsilon, f"DPKMeans(k={self.n_clusters})")
        mid, half = (hi + lo) / 2, (hi - lo) / 2
        Z = (np.clip(X, lo, hi) - mid) / half  # every coordinate in [-1, 1]
        d = Z.shape[1]
        k = self.n_clusters
        rng = np.random.default_rng(self.random_state)
        eps_init = self.epsilon * self.init_share
        eps_iter = (self.epsilon - eps_init) / self.n_iter

        centres = self._private_start(Z, k, eps_init, rng)
        for _ in range(self.n_iter):
            labels = nearest_centres(Z, centres)[0]
            counts = np.bincount(labels, minlength=k).astype(np.float64)
            sums = np.zeros((k, d))
            np.add.at(sums, labels, Z)
            # Half of the iteration's epsilon for the counts (sensitivity 1), half for the
            # sums (one user moves the sums by at most d in L1).
            noisy_counts = laplace_noise(counts, 1.0, eps_iter / 2)
            noisy_sums = laplace_noise(sums, float(d), eps_iter / 2)
            ok = noisy_counts > 1.0
            centres[ok] = np.clip(noisy_sums[ok] / noisy_counts[ok, None], -1.0, 1.0)

        self.cluster_centers_ = centres * half + mid
        self.labels_ = nearest_centres(Z, centres)[0]
        diff = X - self.cluster_centers_[self.labels_]
        self.inertia_ = float(np.einsum("ij,ij->", diff, diff))
        self.n_iter_ = self.n_iter
        self.n_features_in_ = d
        self.epsilon_spent_ = float(self.epsilon)
        return self

    def _private_start(self, Z: np.ndarray, k: int, eps: float, rng: np.random.Generator):
        """Centres from a noisy histogram over random-hyperplane cells (see the module doc)."""
        from sklearn.cluster import KMeans

        n, d = Z.shape
        # A tenth of the start's epsilon locates the data (noisy mean and spread), so that
        # the hyperplanes cut through it rather than through empty corners of the bounds.
        e_loc = eps / 10
        eps -= e_loc
        count = max(1.0, float(laplace_noise(np.array([float(n)]), 1.0, e_loc / 3)[0]))
        mean = laplace_noise(Z.sum(axis=0), float(d), e_loc / 3) / count
        square = laplace_noise(np.einsum("ij,ij->j", Z, Z), float(d), e_loc / 3) / count
        spread = np.sqrt(np.clip(square - mean**2, 1e-4, 1.0))
        bits = min(10, math.ceil(math.log2(k)) + 7)
        normals = rng.standard_normal((bits, d))
        anchors = np.clip(mean, -1, 1) + rng.standard_normal((bits, d)) * spread
        offsets = np.einsum("bd,bd->b", normals, anchors)
        codes = ((offsets < Z @ normals.T) * (1 << np.arange(bits))).sum(axis=1)
        cells = 1 << bits
        counts = np.bincount(codes, minlength=cells).astype(np.float64)
        sums = np.zeros((cells, d))
        np.add.at(sums, codes, Z)
        noisy_counts = laplace_noise(counts, 1.0, eps / 2)
        noisy_sums = laplace_noise(sums, float(d), eps / 2)
        # Keep cells whose mean is fairly reliable: the noise on a mean coordinate is about
        # scale / count, so ask for count >= 2 x the sums' noise scale; at least k cells.
        need = 2.0 * d / (eps / 2)
        order = np.argsort(-noisy_counts)
        keep = order[noisy_counts[order] >= need]
        if len(keep) < k:
            keep = order[:k]
        weights = np.maximum(noisy_counts[keep], 1.0)
        points = np.clip(noisy_sums[keep] / weights[:, None], -1.0, 1.0)
        model = KMeans(k, n_init=10, random_state=int(rng.integers(2**31)))
        model.fit(points, sample_weight=weights)
        return model.cluster_centers_.astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The nearest private centre of each row."""
        if not hasattr(self, "cluster_centers_"):
            from userseg.errors import NotFittedError

            raise NotFittedError("DPKMeans is not fitted yet; call fit first.")
        X = np.asarray(X, dtype=np.float64)
        return nearest_centres(X, self.cluster_centers_)[0]
