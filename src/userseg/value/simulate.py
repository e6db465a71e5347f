"""Customers simulated from the BG/NBD and Gamma-Gamma models, for tests, benchmarks and demos.

All three functions are vectorised and reproducible with ``seed``; times are in
days unless said otherwise.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from userseg.errors import ConfigError

__all__ = ["simulate_bgnbd", "simulate_events", "simulate_gamma_gamma"]


def _span(value: float | tuple[float, float], n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(value, tuple):
        lo, hi = value
        return rng.uniform(lo, hi, n)
    return np.full(n, float(value))


def _check(params: dict[str, float], names: tuple[str, ...]) -> tuple[float, ...]:
    if set(params) != set(names) or not all(float(params[k]) > 0 for k in names):
        raise ConfigError(f"parameters should be positive {names}; got {params!r}.")
    return tuple(float(params[k]) for k in names)


def _repeat_counts(
    lam: np.ndarray, p: np.ndarray, window: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson arrivals in the window, and how many of them happen before dropout.

    Dropout comes after the K-th repeat purchase, K ~ Geometric(p) on 1, 2, …;
    the customer is seen making min(K, N) of the N arrivals.
    """
    n_arrivals = rng.poisson(lam * window)
    k = rng.geometric(p)
    return n_arrivals, np.minimum(k, n_arrivals)


def simulate_bgnbd(
    n: int,
    params: dict[str, float],
    *,
    T: float | tuple[float, float] = (30.0, 365.0),
    seed: int | None = None,
) -> pd.DataFrame:
    """Per-customer ``frequency, recency, T`` drawn from the BG/NBD model.

    Parameters
    ----------
    n : int
        Customers.
    params : dict
        ``r, alpha, a, b`` (alpha per time unit).
    T : float or (low, high)
        Each customer's observation time after the first purchase: fixed, or uniform.
    seed : int, optional

    Notes
    -----
    Given N arrivals in (0, T], the arrival times are sorted uniforms, so the
    x-th of them (the last one seen) is T·Beta(x, N−x+1).
    """
    r, alpha, a, b = _check(params, ("r", "alpha", "a", "b"))
    rng = np.random.default_rng(seed)
    t_obs = _span(T, n, rng)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    n_arr, x = _repeat_counts(lam, p, t_obs, rng)
    rec = np.zeros(n)
    seen = x > 0
    rec[seen] = t_obs[seen] * rng.beta(x[seen], n_arr[seen] - x[seen] + 1)
    return pd.DataFrame({"frequency": x.astype(np.int64), "recency": rec, "T": t_obs})


def simulate_gamma_gamma(
    n: int,
    params: dict[str, float],
    *,
    frequency: int | tuple[int, int] = (1, 10),
    seed: int | None = None,
) -> pd.DataFrame:
    """Repeat buyers' ``frequency, monetary`` (mean spend per transaction) from Gamma-Gamma.

    ``frequency`` is fixed or drawn uniformly from the inclusive range; each
    customer's ν ~ Gamma(q, γ) and the mean of x Gamma(p, ν) spends is Gamma(px, νx).
    """
    p, q, g = _check(params, ("p", "q", "gamma"))
    rng = np.random.default_rng(seed)
    if isinstance(frequency, tuple):
        x = rng.integers(frequency[0], frequency[1] + 1, n)
    else:
        x = np.full(n, int(frequency))
    nu = rng.gamma(q, 1.0 / g, n)
    m = rng.gamma(p * x, 1.0 / (nu * x))
    return pd.DataFrame({"frequency": x.astype(np.int64), "monetary": m})


def simulate_events(
    n: int,
    transactions: dict[str, float],
    spend: dict[str, float],
    *,
    start: dt.date,
    end: dt.date,
    seed: int | None = None,
) -> pd.DataFrame:
    """A purchase log ``user_id, ts, amount`` of ``n`` customers living by both models.

    Each customer's first purchase falls uniformly in [start, end); later
    purchases follow the BG/NBD process (days) until dropout or ``end``, and
    every purchase's amount (rounded to cents) is drawn from the customer's
    Gamma(p, ν).
    """
    r, alpha, a, b = _check(transactions, ("r", "alpha", "a", "b"))
    p_, q, g = _check(spend, ("p", "q", "gamma"))
    rng = np.random.default_rng(seed)
    span = float((end - start).days)
    birth = rng.uniform(0.0, span, n)
    window = span - birth
    lam = rng.gamma(r, 1.0 / alpha, n)
    drop = rng.beta(a, b, n)
    n_arr, seen = _repeat_counts(lam, drop, window, rng)
    # all N arrivals as sorted uniforms in each customer's window; the first `seen` are kept
    owner = np.repeat(np.arange(n), n_arr)
    u = rng.uniform(0.0, 1.0, len(owner)) * window[owner]
    order = np.lexsort((u, owner))
    owner, u = owner[order], u[order]
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(n_arr) - n_arr, n_arr)
    keep = rank < seen[owner]
    who = np.concatenate([np.arange(n), owner[keep]])
    when = np.concatenate([birth, birth[owner[keep]] + u[keep]])
    nu = rng.gamma(q, 1.0 / g, n)
    amount = np.round(rng.gamma(p_, 1.0 / nu[who]), 2)
    amount = np.maximum(amount, 0.01)  # a purchase costs something
    ts = pd.Timestamp(start) + pd.to_timedelta(np.floor(when * 86400.0), unit="s")
    log = pd.DataFrame({"user_id": [f"u{i:06d}" for i in who], "ts": ts, "amount": amount})
    return log.sort_values(["ts", "user_id"], kind="stable").reset_index(drop=True)
