"""Before launch: what a campaign can detect in each segment, and the holdout an effect needs.

The minimum detectable effect (MDE) of a two-sided test at level α with power
1 − β, comparing ``n_t`` treated and ``n_c`` held-out users:

* **revenue** (standard deviation σ, Welch's test):
  ``MDE = (z₁₋α/₂ + z₁₋β) · σ · √(1/n_t + 1/n_c)``;
* **conversion** (baseline rate p, the pooled two-proportion z test that
  :mod:`~userseg.activate.measure` reports): the δ that solves
  ``δ = z₁₋α/₂ · se₀(δ) + z₁₋β · se₁(δ)``, se₀ the pooled standard error the test
  uses and se₁ the true one under the effect (Fleiss' formula, solved by a few
  fixed-point steps). The one-variance shortcut σ² = p(1 − p) promises 80 %
  power but gives about 73 % with a 20 % holdout, because the pooled rate of
  unequal arms leans toward the treated rate.

CUPED's expected variance reduction r (≈ ρ², ρ the correlation of the metric
with its pre-period value) scales the standard errors by √(1 − r). Defaults:
80 % power, α = 0.05.

For a segment of n users and an effect δ, :func:`holdout_for_effect` finds
the smallest holdout share (at most ½) that detects δ, by bisection; when even
a 50/50 split cannot, the segment is too small for the effect and it says NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from userseg.activate.campaigns import check_share, control_size
from userseg.errors import ConfigError, SchemaError

__all__ = ["holdout_for_effect", "mde", "plan"]


def _zs(alpha: float, power: float) -> tuple[float, float]:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r} should be between 0 and 1 (e.g. 0.05).")
    if not 0 < power < 1:
        raise ConfigError(f"power={power!r} should be between 0 and 1 (e.g. 0.8).")
    return float(sps.norm.ppf(1 - alpha / 2)), float(sps.norm.ppf(power))


def _shrink(variance_reduction: float) -> float:
    if not 0 <= variance_reduction < 1:
        raise ConfigError(
            f"variance_reduction={variance_reduction!r} should be in [0, 1) (CUPED removes a "
            "share of the variance, never all of it)."
        )
    return float(np.sqrt(1 - variance_reduction))


def _rate(baseline_rate) -> np.ndarray:
    p = np.asarray(baseline_rate, dtype=float)
    if np.any(~((p > 0) & (p < 1))):
        raise ConfigError(f"baseline_rate={baseline_rate!r} should be between 0 and 1.")
    return p


def _sd(sd) -> np.ndarray:
    if sd is None:
        raise ConfigError("give baseline_rate or sd: the MDE needs the metric's spread.")
    sigma = np.asarray(sd, dtype=float)
    if np.any(~(sigma > 0)):
        raise ConfigError(f"sd={sd!r} should be a positive standard deviation.")
    return sigma


def mde(
    n_treatment,
    n_control,
    *,
    baseline_rate=None,
    sd=None,
    alpha: float = 0.05,
    power: float = 0.8,
    variance_reduction: float = 0.0,
) -> np.ndarray:
    """Minimum detectable absolute effect (array-friendly).

    Parameters
    ----------
    n_treatment, n_control : int or array
        Users in each arm (positive).
    baseline_rate : float or array, optional
        The control conversion rate (0 < p < 1); or
    sd : float or array, optional
        the metric's standard deviation (revenue per user).
    alpha, power : float
        Two-sided level and power.
    variance_reduction : float
        Share of the variance CUPED is expected to remove.
    """
    za, zb = _zs(alpha, power)
    shrink = _shrink(variance_reduction)
    nt, nc = np.asarray(n_treatment, dtype=float), np.asarray(n_control, dtype=float)
    if np.any(~(nt > 0)) or np.any(~(nc > 0)):
        raise ConfigError(
            f"n_treatment={n_treatment!r} and n_control={n_control!r} should be positive: "
            "an arm without users detects nothing."
        )
    if baseline_rate is None:
        return (za + zb) * _sd(sd) * shrink * np.sqrt(1 / nt + 1 / nc)
    p = _rate(baseline_rate)
    delta = (za + zb) * np.sqrt(p * (1 - p) * (1 / nt + 1 / nc)) * shrink
    for _ in range(30):  # fixed point; converges to 1e-12 in a handful of steps
        p1 = np.minimum(p + delta, 1 - 1e-9)
        pooled = (nt * p1 + nc * p) / (nt + nc)
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
        se1 = np.sqrt(p1 * (1 - p1) / nt + p * (1 - p) / nc)
        delta = (za * se0 + zb * se1) * shrink
    return delta


def holdout_for_effect(
    n,
    effect,
    *,
    baseline_rate=None,
    sd=None,
    alpha: float = 0.05,
    power: float = 0.8,
    variance_reduction: float = 0.0,
) -> np.ndarray:
    """Smallest holdout share (at most ½) that detects an absolute ``effect`` in ``n`` users.

    NaN where even a 50/50 split is not enough.
    """
    n = np.asarray(n, dtype=float)
    effect = np.abs(np.asarray(effect, dtype=float))
    if np.any(~(effect > 0)):
        raise ConfigError(f"effect={effect!r} should be a non-zero difference.")
    kw = {
        "baseline_rate": baseline_rate,
        "sd": sd,
        "alpha": alpha,
        "power": power,
        "variance_reduction": variance_reduction,
    }
    shape = np.broadcast(n, effect).shape
    lo, hi = np.full(shape, 1e-9), np.full(shape, 0.5)
    feasible = mde(n * 0.5, n * 0.5, **kw) <= effect
    for _ in range(60):  # the MDE falls as the holdout grows toward ½: bisect
        mid = (lo + hi) / 2
        ok = mde(n * (1 - mid), n * mid, **kw) <= effect
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return np.where(feasible, hi, np.nan)


def plan(
    segments: pd.DataFrame,
    holdout: float,
    *,
    effect: float | None = None,
    relative_effect: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    variance_reduction: float = 0.0,
) -> pd.DataFrame:
    """Per segment: the arms a holdout gives, the MDE, and the holdout an effect needs.

    Parameters
    ----------
    segments : DataFrame
        ``segment, n, baseline_rate`` and optionally ``revenue_sd``.
    holdout : float
        Planned control share, strictly between 0 and 1.
    effect, relative_effect : float, optional
        The conversion effect to plan for: absolute (0.01 = one point) or
        relative to each segment's baseline (0.1 = +10 %); not both.

    Returns
    -------
    DataFrame
        ``segment, n, n_treatment, n_control, baseline_rate, mde_abs, mde_rel``,
        ``revenue_mde`` (with ``revenue_sd``), and with an effect ``effect_abs,
        holdout_needed, note``.
    """
    check_share(holdout, holdout)
    missing = [c for c in ("segment", "n", "baseline_rate") if c not in segments.columns]
    if missing:
        raise SchemaError(
            f"the segments table lacks {', '.join(map(repr, missing))}; "
            f"available: {', '.join(map(str, segments.columns))}."
        )
    if effect is not None and relative_effect is not None:
        raise ConfigError("give either effect or relative_effect, not both.")
    n = segments["n"].to_numpy(dtype=np.int64)
    nc = control_size(n, holdout)
    nt = n - nc
    p = segments["baseline_rate"].to_numpy(dtype=float)
    out = pd.DataFrame({"segment": segments["segment"].to_numpy(), "n": n})
    out["n_treatment"], out["n_control"], out["baseline_rate"] = nt, nc, p
    kw = {"alpha": alpha, "power": power, "variance_reduction": variance_reduction}
    ok = (nt > 0) & (nc > 0)
    safe_t, safe_c = np.maximum(nt, 1), np.maximum(nc, 1)
    out["mde_abs"] = np.where(ok, mde(safe_t, safe_c, baseline_rate=p, **kw), np.nan)
    out["mde_rel"] = out["mde_abs"] / p
    if "revenue_sd" in segments.columns:
        sd = segments["revenue_sd"].to_numpy(dtype=float)
        out["revenue_mde"] = np.where(ok, mde(safe_t, safe_c, sd=sd, **kw), np.nan)
    if effect is None and relative_effect is None:
        return out
    delta = np.full(len(p), float(effect)) if effect is not None else relative_effect * p
    out["effect_abs"] = delta
    out["holdout_needed"] = holdout_for_effect(n, delta, baseline_rate=p, **kw)
    notes = []
    for i in range(len(out)):
        need = out["holdout_needed"].iloc[i]
        if np.isnan(need):
            at_least = _users_for_even_split(p[i], delta[i], kw)
            notes.append(
                f"cannot detect {delta[i]:+.4g} at any holdout: even 50/50 needs "
                f"{at_least:,} users, the segment has {n[i]:,}"
            )
        elif need > holdout:
            notes.append(f"{holdout:.0%} is too small for {delta[i]:+.4g}: hold out {need:.1%}")
        else:
            notes.append("")
    out["note"] = notes
    return out


def _users_for_even_split(p: float, delta: float, kw: dict) -> int:
    """Fewest users that detect ``delta`` with a 50/50 split (doubling, then bisection)."""
    hi = 4
    while mde(hi / 2, hi / 2, baseline_rate=p, **kw) > delta:
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if mde(mid / 2, mid / 2, baseline_rate=p, **kw) <= delta else (mid, hi)
    return hi
