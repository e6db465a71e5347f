"""Gamma-Gamma: what a customer spends per transaction.

Fader & Hardie's spend model ("The Gamma-Gamma model of monetary value", 2013,
after Colombo & Jiang 1999): each transaction's spend is Gamma(p, ν) (shape p,
rate ν), and ν varies across customers as Gamma(q, γ). A customer's mean spend
over x transactions, m, then has the density used for fitting (lifetimes'
value)::

    ll = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln γ + (px−1) ln m + px ln x − (px+q) ln(xm+γ)

and the expected spend per transaction given (x, m) is a weighted mean of the
customer's own mean and the population mean pγ/(q−1)::

    E[M | x, m] = p (γ + x m) / (px + q − 1)

It is fitted on repeat buyers (x > 0; m is the mean spend of their repeat
transactions), and it assumes spend per transaction does not depend on how
often a customer buys: the fit reports the correlation of x and m and warns
(:class:`~userseg.errors.ModelAssumptionWarning`) when its absolute value is
above ``independence_threshold``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln
from sklearn.base import BaseEstimator

from userseg._sklearn import require_fitted
from userseg.errors import ConfigError, ConvergenceWarning, DataError, ModelAssumptionWarning
from userseg.value._checks import check_frequency, columns, first_rows, per_frequency
from userseg.value._checks import positive_weights as _weights
from userseg.value._kernels import chunks, gamma_gamma_sums, threads_for
from userseg.value._mle import fit_mle

__all__ = ["GammaGamma"]

PARAMS = ("p", "q", "gamma")
COLUMNS = ("frequency", "monetary")
FORMAT_VERSION = 1
_BOUND = 30.0
# q > 1 keeps the population mean spend pγ/(q−1) finite; the fit is bounded just above.
_Q_MIN = 1.0 + 1e-6


class GammaGamma(BaseEstimator):
    """Expected spend per transaction (Gamma-Gamma), fitted by maximum likelihood.

    Parameters
    ----------
    independence_threshold : float, default=0.3
        The model assumes spend does not depend on frequency; when the absolute
        Pearson correlation of frequency and mean spend among repeat buyers is
        above this, ``fit`` warns. 0.3 is the usual bound of a "weak"
        correlation; CDNOW's is 0.11.
    max_iter : int, default=200
    tol : float, default=1e-9

    Attributes
    ----------
    params_ : dict
        ``{"p", "q", "gamma"}`` (gamma in the data's money unit).
    standard_errors_ : dict
    log_likelihood_ : float
    population_mean_ : float
        pγ/(q−1): the expected spend per transaction of a customer with no repeat purchase.
    independence_ : dict
        ``correlation``, ``threshold``, ``passed`` (None when it cannot be
        computed: fewer than 3 repeat buyers or a constant column) and ``n``.
    n_customers_ : int
        Repeat buyers fitted (rows with frequency 0 are ignored).
    n_iter_ : int
    converged_ : bool
    """

    def __init__(
        self, *, independence_threshold: float = 0.3, max_iter: int = 200, tol: float = 1e-9
    ) -> None:
        self.independence_threshold = independence_threshold
        self.max_iter = max_iter
        self.tol = tol

    @staticmethod
    def _validated(X: Any, where: str) -> tuple[np.ndarray, np.ndarray, Any]:
        (x, m), index = columns(X, COLUMNS, where)
        bad = ~np.isfinite(x)
        if bad.any():
            raise DataError(
                f"{where}: {int(bad.sum())} missing or infinite frequency value(s), first rows "
                f"{first_rows(index, bad)}.",
                details={"count": int(bad.sum())},
            )
        check_frequency(x, index, where)
        rep = x > 0
        bad = rep & ~np.isfinite(m)
        if bad.any():
            raise DataError(
                f"{where}: {int(bad.sum())} repeat buyer(s) without a finite mean spend "
                f"(monetary), first rows {first_rows(index, bad)}.",
                details={"count": int(bad.sum())},
            )
        neg = rep & (m < 0)
        if neg.any():
            raise DataError(
                f"{where}: negative spend: {int(neg.sum())} repeat buyer(s) have a negative mean "
                f"spend per transaction, first rows {first_rows(index, neg)}; returns belong in "
                "refunds, not in purchases.",
                details={"count": int(neg.sum()), "rows": first_rows(index, neg)},
            )
        return x, m, index

    def fit(self, X: Any, y: None = None, sample_weight: Any = None) -> GammaGamma:
        """Fit p, q and γ to the repeat buyers of a summary.

        Parameters
        ----------
        X : DataFrame with columns ``frequency`` and ``monetary``, or array of shape (n, 2)
            ``monetary`` is the mean spend of the repeat transactions; rows with
            frequency 0 are ignored.
        y : ignored
        sample_weight : array of shape (n,), optional

        Returns
        -------
        self

        Raises
        ------
        DataError
            Negative or missing spend of a repeat buyer, a zero mean spend (the
            model is for positive amounts), or no repeat buyer at all.
        """
        where = "GammaGamma.fit"
        if not isinstance(self.max_iter, int | np.integer) or self.max_iter < 1:
            raise ConfigError(f"max_iter={self.max_iter!r} should be an integer >= 1.")
        thr = self.independence_threshold
        if not (isinstance(thr, int | float) and 0 <= thr <= 1):
            raise ConfigError(f"independence_threshold={thr!r} should be in [0, 1].")
        x, m, index = self._validated(X, where)
        w = _weights(sample_weight, len(x), where)
        rep = (x > 0) & (w > 0)
        if not rep.any():
            raise DataError(
                f"{where}: no customer has a repeat purchase: spend per transaction is fitted "
                "on repeat buyers.",
                details={"n_customers": len(x)},
            )
        zero = rep & (m == 0)
        if zero.any():
            raise DataError(
                f"{where}: {int(zero.sum())} repeat buyer(s) spent 0 per transaction, first rows "
                f"{first_rows(index, zero)}; the Gamma-Gamma model needs positive amounts "
                "(leave them out of the fit).",
                details={"count": int(zero.sum())},
            )
        x, m, w = x[rep], m[rep], w[rep]
        scale = 1.0 / float(np.average(m, weights=w))  # money rescaled to a mean of 1
        fit = fit_mle(
            _Likelihood,
            (x, m * scale),
            w,
            np.array([0.0, np.log(2.0), 0.0]),
            [(-_BOUND, _BOUND), (np.log(_Q_MIN), _BOUND), (-_BOUND, _BOUND)],
            self.max_iter,
            self.tol,
        )
        theta = fit.theta.copy()
        theta[2] -= np.log(scale)
        self.params_ = dict(zip(PARAMS, np.exp(theta).tolist(), strict=True))
        self.standard_errors_ = {
            k: float(v * sd) for (k, v), sd in zip(self.params_.items(), fit.sd_log, strict=True)
        }
        p, q, g = (self.params_[k] for k in PARAMS)
        self.population_mean_ = p * g / (q - 1)
        self.n_customers_ = round(float(w.sum()))
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged
        # rescaling money by s lowers each customer's log-likelihood by ln s
        self.log_likelihood_ = float((np.log(scale) - fit.fun) * fit.total_weight)
        self.independence_ = _independence(x, m, w, float(thr))
        if not fit.converged:
            warnings.warn(
                f"Gamma-Gamma fit stopped after {fit.n_iter} iterations without converging "
                f"({fit.message}).",
                ConvergenceWarning,
                stacklevel=2,
            )
        if fit.theta[1] <= np.log(_Q_MIN) + 1e-9:
            warnings.warn(
                "Gamma-Gamma: q reached its lower bound 1, so spend per transaction is too "
                "heavy-tailed for a finite population mean; expected spend is unreliable.",
                ModelAssumptionWarning,
                stacklevel=2,
            )
        if self.independence_["passed"] is False:
            warnings.warn(
                f"Gamma-Gamma assumes spend per transaction is independent of frequency, but "
                f"their correlation among repeat buyers is "
                f"{self.independence_['correlation']:.2f} (|r| > {thr}); expected spend "
                "and value may be biased.",
                ModelAssumptionWarning,
                stacklevel=2,
            )
        return self

    def _ll(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        p, q, g = (self.params_[k] for k in PARAMS)
        px = p * x
        return (
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(g)
            + (px - 1) * np.log(m)
            + px * np.log(x)
            - (px + q) * np.log(x * m + g)
        )

    def log_likelihood(self, X: Any) -> np.ndarray:
        """Log-likelihood of each repeat buyer's mean spend (rows with frequency 0 dropped)."""
        require_fitted(self, "params_")
        x, m, _ = self._validated(X, "GammaGamma.log_likelihood")
        rep = x > 0
        return self._ll(x[rep], m[rep])

    def predict(self, X: Any) -> np.ndarray:
        """Expected spend per future transaction: p(γ + x·m) / (px + q − 1).

        Customers with frequency 0 get the population mean pγ/(q−1) (their
        ``monetary`` is ignored and may be missing).
        """
        require_fitted(self, "params_")
        x, m, _ = self._validated(X, "GammaGamma.predict")
        p, q, g = (self.params_[k] for k in PARAMS)
        xm = np.where(x > 0, x * np.nan_to_num(m), 0.0)
        return p * (g + xm) / (p * x + q - 1)

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as JSON-able data (no pickle)."""
        require_fitted(self, "params_")
        return {
            "model": "gamma_gamma",
            "format_version": FORMAT_VERSION,
            "params": dict(self.params_),
            "settings": self.get_params(),
            "fit": {
                k: getattr(self, f"{k}_")
                for k in (
                    "standard_errors",
                    "log_likelihood",
                    "population_mean",
                    "independence",
                    "n_customers",
                    "n_iter",
                    "converged",
                )
                if hasattr(self, f"{k}_")
            },
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> GammaGamma:
        """Rebuild a model from :meth:`to_dict` (or from ``{"params": {...}}`` alone)."""
        if (
            state.get("model", "gamma_gamma") != "gamma_gamma"
            or state.get("format_version", 1) != 1
        ):
            raise DataError(
                f"not a Gamma-Gamma model of format 1: model={state.get('model')!r}, "
                f"format_version={state.get('format_version')!r}."
            )
        params = state.get("params") or {}
        if set(params) != set(PARAMS) or not all(
            math.isfinite(float(v)) and float(v) > 0 for v in params.values()
        ):
            raise DataError(f"Gamma-Gamma parameters should be positive {PARAMS}; got {params!r}.")
        model = cls(**state.get("settings", {}))
        model.params_ = {k: float(params[k]) for k in PARAMS}
        p, q, g = (model.params_[k] for k in PARAMS)
        model.population_mean_ = p * g / (q - 1) if q > 1 else math.inf
        for k, v in state.get("fit", {}).items():
            setattr(model, f"{k}_", v)
        return model


def _independence(x: np.ndarray, m: np.ndarray, w: np.ndarray, threshold: float) -> dict:
    """Weighted Pearson correlation of frequency and mean spend among repeat buyers."""
    n = round(float(w.sum()))
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(m) == 0:
        return {"correlation": None, "threshold": threshold, "passed": None, "n": n}
    dx = x - np.average(x, weights=w)
    dm = m - np.average(m, weights=w)
    r = float((w * dx) @ dm / np.sqrt(((w * dx) @ dx) * ((w * dm) @ dm)))
    return {"correlation": r, "threshold": threshold, "passed": bool(abs(r) <= threshold), "n": n}


class _Likelihood:
    """Negative mean log-likelihood and gradient over log(p, q, γ); private, clean input.

    Every term but ``(px+q) ln(xm+γ)`` is a constant of the data or a function
    of x alone, so a step is one fused pass of one logarithm per customer
    (:func:`~userseg.value._kernels.gamma_gamma_sums`).
    """

    def __init__(self, x: np.ndarray, m: np.ndarray, w: np.ndarray) -> None:
        self.x = np.ascontiguousarray(x, dtype=np.float64)
        self.w = np.ascontiguousarray(w, dtype=np.float64)
        self.xm = self.x * m
        self.W = float(w.sum())
        self.ux, self.Wx, _ = per_frequency(x, w)
        lm, lx = np.log(m), np.log(x)
        self.s_xlm = float(w @ (x * lm))
        self.s_lm = float(w @ lm)
        self.s_xlx = float(w @ (x * lx))
        self.bounds = chunks(len(x))

    def objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, g = np.exp(theta)
        ux, Wx = self.ux, self.Wx
        pu = p * ux
        with threads_for(len(self.x)):
            sums = gamma_gamma_sums(self.x, self.xm, self.w, g, self.bounds)
        s_xl, s_l, s_xi, s_i = sums.sum(axis=0)
        ll = (
            float(Wx @ (gammaln(pu + q) - gammaln(pu)))
            - self.W * (gammaln(q) - q * np.log(g))
            + p * (self.s_xlm + self.s_xlx - s_xl)
            - self.s_lm
            - q * s_l
        )
        g_p = float((Wx * ux) @ (digamma(pu + q) - digamma(pu))) + self.s_xlm + self.s_xlx - s_xl
        g_q = float(Wx @ digamma(pu + q)) - self.W * (digamma(q) - np.log(g)) - s_l
        g_g = self.W * q / g - p * s_xi - q * s_i
        grad = np.array([g_p * p, g_q * q, g_g * g])
        return -ll / self.W, -grad / self.W
