"""BG/NBD: how many purchases a customer will make, and whether they are still a customer.

The beta-geometric / negative binomial distribution model of Fader, Hardie & Lee
(2005), "Counting your customers the easy way", *Marketing Science* 24(2):

* while active, a customer buys as a Poisson process with rate λ, and λ varies
  across customers as Gamma(r, α) (shape r, rate α);
* after each repeat purchase the customer drops out with probability p, and p
  varies as Beta(a, b).

Per customer it needs ``frequency`` x (repeat purchases: purchase days after the
first), ``recency`` t_x (time from the first purchase to the last) and ``T``
(time from the first purchase to the end of observation), all in one time unit
(days when they come from :func:`~userseg.value.summary.transaction_summary`).
λ and α are per that unit.

The log-likelihood of one customer (the paper's equation 6, as in lifetimes)::

    ll = lnΓ(r+x) − lnΓ(r) + r ln α
       + lnB(a, b+x) − lnB(a, b)
       + ln[ (α+T)^−(r+x) + 1{x>0} · a/(b+x−1) · (α+t_x)^−(r+x) ]

Fitting maximises its sum over log-parameters with L-BFGS-B and the analytic
gradient. Terms that depend on x alone are summed once per distinct x, and time
is rescaled so that the largest T is 1 (α is scaled back), which keeps the
problem well conditioned whatever the unit.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1
from sklearn.base import BaseEstimator

from userseg._sklearn import require_fitted
from userseg.errors import ConfigError, ConvergenceWarning, DataError
from userseg.value._checks import (
    check_finite,
    check_frequency,
    columns,
    compress,
    first_rows,
    per_frequency,
)
from userseg.value._checks import positive_weights as _weights
from userseg.value._kernels import bgnbd_sums, chunks, threads_for
from userseg.value._mle import fit_mle

__all__ = ["BGNBD"]

PARAMS = ("r", "alpha", "a", "b")
COLUMNS = ("frequency", "recency", "T")
FORMAT_VERSION = 1
# Log-parameters stay within e^±30: beyond that a fit has run away (a degenerate
# sample), and exp() of the bound still leaves every term finite.
_BOUND = 30.0


class BGNBD(BaseEstimator):
    """Repeat purchases and P(alive) per customer (BG/NBD), fitted by maximum likelihood.

    Parameters
    ----------
    max_iter : int, default=200
        Iterations of L-BFGS-B at most; a fit that stops there warns with
        :class:`~userseg.errors.ConvergenceWarning`.
    tol : float, default=1e-9
        Convergence tolerance on the mean log-likelihood and its gradient.

    Attributes
    ----------
    params_ : dict
        ``{"r", "alpha", "a", "b"}`` in the data's time unit.
    standard_errors_ : dict
        Asymptotic standard errors of ``params_`` (inverse Hessian of the
        log-likelihood; NaN where it is not positive definite).
    log_likelihood_ : float
        Total log-likelihood at ``params_`` (in the data's time unit, as the
        paper reports it: -9582.4 on CDNOW).
    n_customers_ : int
        Customers fitted (the sum of ``sample_weight``).
    n_iter_ : int
    converged_ : bool

    Examples
    --------
    >>> from userseg.value.simulate import simulate_bgnbd
    >>> X = simulate_bgnbd(20_000, {"r": 0.75, "alpha": 20.0, "a": 0.8, "b": 2.5}, seed=0)
    >>> bg = BGNBD().fit(X)
    >>> {k: round(v, 2) for k, v in bg.params_.items()}
    {'r': 0.76, 'alpha': 19.98, 'a': 0.83, 'b': 2.6}
    >>> bg.predict(X.head(2), t=30).round(3).tolist()  # purchases in the next 30 days
    [0.011, 0.089]
    >>> bg.p_alive(X.head(2)).round(3).tolist()
    [0.055, 0.251]
    """

    def __init__(self, *, max_iter: int = 200, tol: float = 1e-9) -> None:
        self.max_iter = max_iter
        self.tol = tol

    # -- input ----------------------------------------------------------------------------
    @staticmethod
    def _validated(X: Any, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
        (x, tx, T), index = columns(X, COLUMNS, where)
        check_finite({"frequency": x, "recency": tx, "T": T}, index, where)
        check_frequency(x, index, where)
        for name, v in (("recency", tx), ("T", T)):
            neg = v < 0
            if neg.any():
                raise DataError(
                    f"{where}: {name} is negative in {int(neg.sum())} row(s), first rows "
                    f"{first_rows(index, neg)}; times count from the first purchase.",
                    details={"column": name, "count": int(neg.sum())},
                )
        late = tx > T
        if late.any():
            raise DataError(
                f"{where}: recency (last purchase) after T (end of observation) in "
                f"{int(late.sum())} row(s), first rows {first_rows(index, late)}.",
                details={"count": int(late.sum())},
            )
        stray = (x == 0) & (tx != 0)
        if stray.any():
            raise DataError(
                f"{where}: recency must be 0 without a repeat purchase (frequency 0); "
                f"{int(stray.sum())} row(s) are not, first rows {first_rows(index, stray)}.",
                details={"count": int(stray.sum())},
            )
        return x, tx, T, index

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X: Any, y: None = None, sample_weight: Any = None) -> BGNBD:
        """Fit the four parameters to a per-customer summary.

        Parameters
        ----------
        X : DataFrame with columns ``frequency``, ``recency``, ``T``, or array of shape (n, 3)
        y : ignored
        sample_weight : array of shape (n,), optional
            How many customers each row stands for (a summary compressed to its
            distinct rows fits exactly as the full one).

        Returns
        -------
        self

        Raises
        ------
        DataError
            Bad summaries (negative, fractional or missing values, recency after
            T), or no customer with a repeat purchase: without one the dropout
            process cannot be estimated.
        ConfigError
            ``max_iter`` or ``tol`` out of range.
        """
        where = "BGNBD.fit"
        if not isinstance(self.max_iter, int | np.integer) or self.max_iter < 1:
            raise ConfigError(f"max_iter={self.max_iter!r} should be an integer >= 1.")
        if not (isinstance(self.tol, int | float) and 0 < self.tol < 1):
            raise ConfigError(f"tol={self.tol!r} should be in (0, 1).")
        x, tx, T, _ = self._validated(X, where)
        w = _weights(sample_weight, len(x), where)
        if not ((x > 0) & (w > 0)).any():
            raise DataError(
                f"{where}: no customer has a repeat purchase (every frequency is 0): the "
                "dropout process cannot be estimated. Use a longer history, or a later as-of "
                "date.",
                details={"n_customers": len(x)},
            )
        scale = 1.0 / float(T.max())  # > 0: some customer has a repeat purchase, so T > 0
        xc, txc, Tc, wc = compress(x, tx, T, w)
        # r = alpha = a = b = 1 in the rescaled time (lifetimes starts near there)
        fit = fit_mle(
            _Likelihood,
            (xc, txc * scale, Tc * scale),
            wc,
            np.zeros(4),
            [(-_BOUND, _BOUND)] * 4,
            self.max_iter,
            self.tol,
        )
        theta = fit.theta.copy()
        theta[1] -= np.log(scale)  # alpha back to the data's unit
        self.params_ = dict(zip(PARAMS, np.exp(theta).tolist(), strict=True))
        self.standard_errors_ = {
            k: float(v * sd) for (k, v), sd in zip(self.params_.items(), fit.sd_log, strict=True)
        }
        self.n_customers_ = round(float(w.sum()))
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged
        # rescaling time by s lowers each customer's log-likelihood by x ln s
        self.log_likelihood_ = float(-fit.fun * fit.total_weight + np.log(scale) * (w @ x))
        if not fit.converged:
            warnings.warn(
                f"BG/NBD fit stopped after {fit.n_iter} iterations without converging "
                f"({fit.message}); raise max_iter or check the summary.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    # -- per customer ---------------------------------------------------------------------
    def log_likelihood(self, X: Any) -> np.ndarray:
        """Log-likelihood of each customer's (x, t_x, T) at ``params_`` (lifetimes' value)."""
        require_fitted(self, "params_")
        x, tx, T, _ = self._validated(X, "BGNBD.log_likelihood")
        r, alpha, a, b = (self.params_[k] for k in PARAMS)
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
        return (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            + betaln(a, b + x)
            - betaln(a, b)
            + np.logaddexp(a3, a4)
        )

    def p_alive(self, X: Any) -> np.ndarray:
        """P(the customer has not dropped out) at T; 1 without a repeat purchase.

        ``1 / (1 + 1{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))`` (Fader, Hardie & Lee's
        note "Computing P(alive) using the BG/NBD model"). By the model's
        assumptions a customer can only drop out after a repeat purchase, so
        one-time buyers are certainly "alive": use expected purchases to rank them.
        """
        require_fitted(self, "params_")
        x, tx, T, _ = self._validated(X, "BGNBD.p_alive")
        r, alpha, a, b = (self.params_[k] for k in PARAMS)
        log_odds = (r + x) * np.log((alpha + T) / (alpha + tx)) + np.log(
            a / (b + np.maximum(x, 1) - 1)
        )
        return np.where(x == 0, 1.0, expit(-log_odds))

    def predict(self, X: Any, t: float = 1.0) -> np.ndarray:
        """Expected purchases in the next ``t`` time units, given each customer's history.

        The paper's equation 10::

            E[X(t) | x, t_x, T] = (a+b+x−1)/(a−1)
                · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
                / (1 + 1{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
        """
        require_fitted(self, "params_")
        x, tx, T, _ = self._validated(X, "BGNBD.predict")
        if not (np.isfinite(t) and t >= 0):
            raise ConfigError(f"t={t!r} should be a finite number >= 0.")
        return self._discounted(x, tx, T, np.array([float(t)]), np.ones(1))

    def _discounted(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, times: np.ndarray, coef: np.ndarray
    ) -> np.ndarray:
        """Σ_k coef_k · (E[X(times_k)] − E[X(times_{k−1})]) per customer (times_0 = 0).

        Private: inputs are validated. The hypergeometric part depends on (x, T)
        only, so it is computed once per distinct pair (on day-level data a few
        thousand pairs stand for millions of customers).
        """
        r, alpha, a, b = (self.params_[k] for k in PARAMS)
        codes, pairs = pd.factorize(x + 1j * T)
        ux, uT = pairs.real, pairs.imag
        total = np.zeros(len(pairs))
        prev = np.zeros(len(pairs))
        for t, c in zip(times, coef, strict=True):
            cur = _unconditional_part(ux, uT, float(t), r, alpha, a, b)
            total += c * (cur - prev)
            prev = cur
        denom = 1.0 + (x > 0) * (a / (b + np.maximum(x, 1) - 1)) * np.exp(
            (r + x) * np.log((alpha + T) / (alpha + tx))
        )
        return total[codes] / denom

    # -- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fitted model as JSON-able data (no pickle): parameters, settings, fit facts."""
        require_fitted(self, "params_")
        return {
            "model": "bgnbd",
            "format_version": FORMAT_VERSION,
            "params": dict(self.params_),
            "settings": self.get_params(),
            "fit": {
                k: getattr(self, f"{k}_")
                for k in ("standard_errors", "log_likelihood", "n_customers", "n_iter", "converged")
                if hasattr(self, f"{k}_")
            },
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> BGNBD:
        """Rebuild a model from :meth:`to_dict` (or from ``{"params": {...}}`` alone)."""
        if state.get("model", "bgnbd") != "bgnbd" or state.get("format_version", 1) != 1:
            raise DataError(
                f"not a BG/NBD model of format 1: model={state.get('model')!r}, "
                f"format_version={state.get('format_version')!r}."
            )
        params = state.get("params") or {}
        if set(params) != set(PARAMS) or not all(
            np.isfinite(float(v)) and float(v) > 0 for v in params.values()
        ):
            raise DataError(f"BG/NBD parameters should be positive {PARAMS}; got {params!r}.")
        model = cls(**state.get("settings", {}))
        model.params_ = {k: float(params[k]) for k in PARAMS}
        for k, v in state.get("fit", {}).items():
            setattr(model, f"{k}_", v)
        return model


def _unconditional_part(
    x: np.ndarray, T: np.ndarray, t: float, r: float, alpha: float, a: float, b: float
) -> np.ndarray:
    """The numerator of equation 10 for distinct (x, T): expected purchases if alive-weighted."""
    if t == 0:
        return np.zeros_like(x)
    z = t / (alpha + T + t)
    c = a + b + x - 1
    with np.errstate(all="ignore"):
        hyp = hyp2f1(r + x, b + x, c, z) * np.exp((r + x) * np.log1p(-z))
        # Euler's transformation, ₂F₁(A,B;C;z) = (1−z)^(C−A−B) ₂F₁(C−A,C−B;C;z), when the
        # direct series overflows for large x (lifetimes does the same).
        bad = ~np.isfinite(hyp)
        if bad.any():
            hyp[bad] = hyp2f1(a + b - 1 - r, a - 1, c[bad], z[bad]) * np.exp(
                (a - 1) * np.log1p(-z[bad])
            )
    return (a + b + x - 1) / (a - 1) * (1.0 - hyp)


class _Likelihood:
    """The negative mean log-likelihood and its gradient over log-parameters.

    Private: the arrays are validated and time is rescaled. The terms of x alone
    are summed once per distinct x; the rest is one fused pass
    (:func:`~userseg.value._kernels.bgnbd_sums`).
    """

    def __init__(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        keep = w > 0
        self.x, self.tx, self.T, self.w = (
            np.ascontiguousarray(v[keep], dtype=np.float64) for v in (x, tx, T, w)
        )
        self.W = float(self.w.sum())
        self.ux, self.Wx, self.xidx = per_frequency(self.x, self.w)
        self.bounds = chunks(len(self.x))

    def objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(theta)
        ux, Wx = self.ux, self.Wx
        ll = float(
            Wx
            @ (
                gammaln(r + ux)
                - gammaln(r)
                + gammaln(a + b)
                + gammaln(b + ux)
                - gammaln(b)
                - gammaln(a + b + ux)
            )
        ) + self.W * r * np.log(alpha)
        g_r = float(Wx @ (digamma(r + ux) - digamma(r))) + self.W * np.log(alpha)
        g_alpha = self.W * r / alpha
        g_a = float(Wx @ (digamma(a + b) - digamma(a + b + ux)))
        g_b = float(Wx @ (digamma(a + b) + digamma(b + ux) - digamma(b) - digamma(a + b + ux)))
        bx1 = np.where(ux > 0, b + ux - 1.0, 1.0)  # b + x − 1, used for repeat buyers only
        with threads_for(len(self.x)):
            sums = bgnbd_sums(
                self.x,
                self.tx,
                self.T,
                self.w,
                self.xidx,
                np.log(bx1),
                1.0 / bx1,
                r,
                alpha,
                a,
                self.bounds,
            ).sum(axis=0)
        ll += sums[0]
        g_r += sums[1]
        g_alpha += sums[2]
        g_a += sums[3] / a
        g_b -= sums[4]
        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        return -ll / self.W, -grad / self.W
