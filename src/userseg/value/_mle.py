"""What the two maximum-likelihood fits share: the optimiser, its start, the standard errors.

A likelihood is a class built as ``factory(*arrays, weights)`` with an
``objective(theta) -> (negative mean log-likelihood, gradient)`` over
log-parameters and a total weight ``W``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

__all__ = ["MLEFit", "fit_mle"]

# On large data the fit starts from a fit on WARM_SIZE rows drawn by weight (a
# step there costs a fiftieth of one on a million rows), whose Hessian then
# drives Newton steps on the full data.
WARM_SIZE = 20_000
# The Hessian behind the standard errors is the mean over the customers; above
# HESSIAN_SIZE rows it is estimated on that many drawn by weight (its relative
# error, about 1/sqrt(HESSIAN_SIZE) = 0.3 %, is far below what a standard error
# claims), sparing four passes over the full data.
HESSIAN_SIZE = 100_000

Bounds = list[tuple[float, float]]


@dataclass
class MLEFit:
    theta: np.ndarray  # log-parameters (in the rescaled units)
    fun: float  # negative mean log-likelihood at theta
    total_weight: float
    sd_log: np.ndarray  # standard errors of the log-parameters (NaN where undefined)
    n_iter: int
    converged: bool
    message: str


def _minimise(objective: Callable, x0: np.ndarray, bounds: Bounds, max_iter: int, tol: float):
    return minimize(
        objective,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": int(max_iter), "ftol": tol, "gtol": tol},
    )


def _draw(factory: Callable, arrays: Sequence[np.ndarray], w: np.ndarray, size: int, seed: int):
    """A likelihood over ``size`` rows drawn by weight, with a fixed seed (so, data alone)."""
    rng = np.random.default_rng(seed)
    if np.all(w == w[0]):  # unweighted: a plain draw, without the cumulative weights
        idx = rng.integers(0, len(w), size)
    else:
        idx = rng.choice(len(w), size, replace=True, p=w / w.sum())
    return factory(*(a[idx] for a in arrays), np.ones(size))


def fit_mle(
    factory: Callable[..., Any],
    arrays: Sequence[np.ndarray],
    w: np.ndarray,
    x0: np.ndarray,
    bounds: Bounds,
    max_iter: int,
    tol: float,
) -> MLEFit:
    """Maximise the likelihood; standard errors too.

    Up to ``2 * HESSIAN_SIZE`` rows: L-BFGS-B with the analytic gradient. On
    more, the start comes from a subsample fit (one that ends on a bound, as
    with too few repeat buyers, is not trusted) and Newton steps on the full
    data use that subsample's Hessian: being within a few percent of the full
    one, each step cuts the error tenfold or more. On a million simulated
    customers a fit took 5 passes over the full data in all, where L-BFGS-B
    (which crawls along the ridge of a and b, or of p and γ) and a full-data
    Hessian took 25 (BG/NBD) and 21 (Gamma-Gamma). Should a Newton step fail to improve
    the fit, L-BFGS-B takes over from there.

    Standard errors are the square roots of the diagonal of the inverse Hessian
    of the total log-likelihood, in log-parameters (the delta method gives
    sd(θ) = θ · sd(ln θ), whatever the time or money unit).
    """
    problem = factory(*arrays, w)
    n = len(w)
    if n <= 2 * HESSIAN_SIZE:
        res = _minimise(problem.objective, x0, bounds, max_iter, tol)
        return MLEFit(
            theta=res.x.copy(),
            fun=float(res.fun),
            total_weight=problem.W,
            sd_log=_sd_log(_hessian(problem.objective, res.x), problem.W),
            n_iter=int(res.nit),
            converged=bool(res.success),
            message=str(res.message),
        )
    sub = _draw(factory, arrays, w, WARM_SIZE, 0).objective
    warm = _minimise(sub, x0, bounds, max_iter, 1e-8)
    inside = all(lo + 1 < v < hi - 1 for v, (lo, hi) in zip(warm.x, bounds, strict=True))
    start = warm.x if inside and np.all(np.isfinite(warm.x)) else x0
    theta, fun, n_iter, ok = _newton(
        problem.objective, _hessian(sub, start), start, bounds, max_iter, tol
    )
    message = "Newton steps with a subsample Hessian converged"
    if not ok:
        res = _minimise(problem.objective, theta, bounds, max(1, max_iter - n_iter), tol)
        theta, fun, ok, message = res.x.copy(), float(res.fun), bool(res.success), str(res.message)
        n_iter += int(res.nit)
    return MLEFit(
        theta=theta,
        fun=fun,
        total_weight=problem.W,
        sd_log=_sd_log(
            _hessian(_draw(factory, arrays, w, HESSIAN_SIZE, 1).objective, theta), problem.W
        ),
        n_iter=n_iter,
        converged=ok,
        message=message,
    )


def _newton(
    objective: Callable, H: np.ndarray, theta: np.ndarray, bounds: Bounds, max_iter: int, tol: float
) -> tuple[np.ndarray, float, int, bool]:
    """Damped Newton steps with a fixed approximate Hessian; (theta, f, steps, converged).

    Converged: the gradient below ``tol``, a step below 1e-8 (log-parameters, so
    relative), or a relative gain below ``tol`` (as L-BFGS-B's ``ftol``) from a
    step below 1e-5.
    """
    lo, hi = np.array(bounds, dtype=float).T
    try:
        np.linalg.cholesky(H)
        H_inv = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return theta, float("nan"), 0, False
    f, g = objective(theta)
    for it in range(1, max_iter + 1):
        step = -H_inv @ g
        t = 1.0
        while True:
            cand = np.clip(theta + t * step, lo, hi)
            fc, gc = objective(cand)
            if fc <= f + 1e-4 * t * float(g @ step) or t < 1e-3:
                break
            t /= 2
        moved = float(np.max(np.abs(cand - theta)))
        if not fc <= f:
            # no lower point along a step this short: the objective's rounding noise
            # (sums over a million customers) has been reached
            return theta, float(f), it, moved < 1e-6
        gain = (f - fc) / max(abs(f), abs(fc), 1.0)
        theta, f, g = cand, fc, gc
        if moved < 1e-8 or float(np.max(np.abs(g))) < tol or (gain <= tol and moved < 1e-5):
            return theta, float(f), it, True
    return theta, float(f), max_iter, False


def _hessian(objective: Callable, theta: np.ndarray) -> np.ndarray:
    """Hessian of the objective: forward differences of its analytic gradient."""
    h = 1e-5
    k = len(theta)
    g0 = objective(theta)[1]
    H = np.empty((k, k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = h
        H[j] = (objective(theta + step)[1] - g0) / h
    return (H + H.T) / 2


def _sd_log(H: np.ndarray, total_weight: float) -> np.ndarray:
    """Standard errors of the log-parameters from the Hessian of the mean objective."""
    try:
        var = np.diag(np.linalg.inv(H * total_weight))
    except np.linalg.LinAlgError:
        var = np.full(len(H), np.nan)
    return np.sqrt(np.where(var > 0, var, np.nan))
