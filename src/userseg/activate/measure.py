"""Measured lift of a campaign per segment and overall, with honest intervals.

For each segment (and all users together) the treatment and control groups are
compared on two metrics per user:

* **conversion** (converted or not): the difference of rates with the
  Newcombe hybrid score interval (Newcombe 1998, method 10: Wilson intervals
  of each rate combined), which keeps its coverage near 0 % and 100 % where the
  Wald interval fails; the relative lift (rate ratio − 1) with the Katz log
  interval; the p-value of the pooled two-proportion z (score) test.
* **revenue per user**: the difference of means with Welch's t interval and
  p-value (unequal variances); the relative lift with Fieller's interval,
  which excludes zero exactly when the difference's does (a delta-method
  interval need not: on heavy-tailed revenue it claimed a relative lift the
  difference did not support). With
  each user's pre-period value, **CUPED** (Deng et al. 2013): the revenue is
  adjusted by θ·(pre − mean pre), θ the within-arm pooled regression slope of
  revenue on pre within the segment, which removes the part of the variance
  the pre-period predicts (a share ρ², ρ the pre/post correlation) without
  biasing the difference, since randomisation balances pre-period values. The
  variance reduction achieved is reported per segment.

**Multiple segments, multiple tests.** Each metric's p-values are corrected
across the segments (the overall row is the primary comparison and is not in
the family): by default with **Holm**'s step-down method, which bounds the
chance of *any* false "significant" segment by α and is uniformly more
powerful than Bonferroni. Benjamini–Hochberg (``correction="bh"``, which
bounds the expected share of false discoveries instead) suits many segments
screened for follow-up. The 95 % intervals are per segment, not adjusted.

A segment with fewer than ``min_per_arm`` users (default 30) in either arm
gets no lift, no interval and no p-value: its status says "too few users".

Everything is computed from per-(segment, arm) sufficient statistics
(counts, means, centred second moments), accumulated in chunks and merged with
Chan's formulas, so 10 million users need memory for one chunk, not copies of
the data, and many simulated campaigns are computed at once
(:func:`arm_stats`, :func:`compare_arms`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from userseg.errors import ConfigError, DataError, SchemaError

__all__ = [
    "CORRECTIONS",
    "ArmStats",
    "LiftResult",
    "adjust_pvalues",
    "arm_stats",
    "compare_arms",
    "lift",
    "newcombe_interval",
    "pool_strata",
    "wilson_interval",
]

CORRECTIONS = ("holm", "bh", "none")
METRICS = ("conversion", "revenue")
_CHUNK = 1 << 20


# -- interval formulas -------------------------------------------------------------------------
def wilson_interval(x: np.ndarray, n: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, ...]:
    """Wilson score interval of the rate ``x / n`` (NaN where ``n`` is 0)."""
    x, n = np.asarray(x, float), np.asarray(n, float)
    z = sps.norm.ppf(1 - alpha / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def newcombe_interval(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``x1/n1 − x2/n2`` (his method 10)."""
    x1, n1, x2, n2 = (np.asarray(a, float) for a in (x1, n1, x2, n2))
    l1, u1 = wilson_interval(x1, n1, alpha)
    l2, u2 = wilson_interval(x2, n2, alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def adjust_pvalues(p: np.ndarray, method: str = "holm") -> np.ndarray:
    """Correct p-values for multiple testing along the last axis (each row one family).

    NaN entries (segments without a test) are left out of the family and stay NaN.

    Parameters
    ----------
    p : array
    method : {"holm", "bh", "none"}
        Holm's step-down (family-wise error), Benjamini–Hochberg (false
        discovery rate), or no correction.
    """
    if method not in CORRECTIONS:
        raise ConfigError(f"correction={method!r} should be one of {', '.join(CORRECTIONS)}.")
    p = np.asarray(p, dtype=float)
    if method == "none":
        return p.copy()
    flat = p.reshape(-1, p.shape[-1]) if p.ndim else p.reshape(1, 1)
    out = np.full_like(flat, np.nan)
    for i, row in enumerate(flat):
        ok = np.flatnonzero(~np.isnan(row))
        m = len(ok)
        if m == 0:
            continue
        order = ok[np.argsort(row[ok], kind="stable")]
        ps = row[order]
        rank = np.arange(1, m + 1)
        if method == "holm":
            adj = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1) * ps))
        else:
            adj = np.minimum.accumulate(np.minimum(1.0, m * ps / rank)[::-1])[::-1]
        out[i, order] = adj
    return out.reshape(p.shape)


# -- sufficient statistics ---------------------------------------------------------------------
@dataclass
class ArmStats:
    """Per stratum (rows) and arm (column 0 control, 1 treatment): counts and moments.

    ``m2_y`` and ``m2_x`` are centred sums of squares, ``cxy`` the centred sum of
    cross products of revenue and the pre-period value (zero without one).
    """

    n: np.ndarray
    conversions: np.ndarray
    mean_y: np.ndarray
    m2_y: np.ndarray
    mean_x: np.ndarray
    m2_x: np.ndarray
    cxy: np.ndarray
    has_pre: bool


def arm_stats(
    strata: np.ndarray,
    treated: np.ndarray,
    converted: np.ndarray,
    revenue: np.ndarray,
    pre: np.ndarray | None = None,
    *,
    n_strata: int | None = None,
    chunk: int = _CHUNK,
) -> ArmStats:
    """Accumulate each (stratum, arm)'s statistics over the users, ``chunk`` users at a time.

    Private-grade speed, public contract: the arrays are assumed valid (same
    length, ``strata`` non-negative integers, finite values); :func:`lift`
    checks a user's frame before calling it.
    """
    strata = np.asarray(strata)
    n_strata = int(strata.max()) + 1 if n_strata is None else int(n_strata)
    g_count = 2 * n_strata
    acc = [np.zeros(g_count) for _ in range(7)]  # n, conv, mean_y, m2_y, mean_x, m2_x, cxy
    for start in range(0, len(strata), chunk):
        sl = slice(start, start + chunk)
        g = strata[sl].astype(np.int64) * 2 + np.asarray(treated[sl], dtype=np.int64)
        y = np.asarray(revenue[sl], dtype=float)
        n = np.bincount(g, minlength=g_count).astype(float)
        conv = np.bincount(g, weights=np.asarray(converted[sl], dtype=float), minlength=g_count)
        safe = np.maximum(n, 1)
        my = np.bincount(g, weights=y, minlength=g_count) / safe
        dy = y - my[g]
        m2y = np.bincount(g, weights=dy * dy, minlength=g_count)
        if pre is not None:
            x = np.asarray(pre[sl], dtype=float)
            mx = np.bincount(g, weights=x, minlength=g_count) / safe
            dx = x - mx[g]
            m2x = np.bincount(g, weights=dx * dx, minlength=g_count)
            cxy = np.bincount(g, weights=dx * dy, minlength=g_count)
        else:
            mx = m2x = cxy = np.zeros(g_count)
        _merge(acc, [n, conv, my, m2y, mx, m2x, cxy])
    shaped = [a.reshape(n_strata, 2) for a in acc]
    return ArmStats(*shaped, has_pre=pre is not None)


def _merge(acc: list[np.ndarray], new: list[np.ndarray]) -> None:
    """Chan et al.'s pairwise update of counts, means and centred (co)moments, in place."""
    na, nb = acc[0], new[0]
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(n > 0, na * nb / n, 0.0)
        f = np.where(n > 0, nb / n, 0.0)
    dy = new[2] - acc[2]
    dx = new[4] - acc[4]
    acc[3] += new[3] + dy * dy * w
    acc[5] += new[5] + dx * dx * w
    acc[6] += new[6] + dx * dy * w
    acc[2] += dy * f
    acc[4] += dx * f
    acc[1] += new[1]
    acc[0] = n


def pool_strata(s: ArmStats) -> ArmStats:
    """All strata merged into one (per arm), as if the statistics had been taken over everyone."""
    acc = [np.zeros(2) for _ in range(7)]
    for i in range(s.n.shape[0]):
        _merge(
            acc,
            [s.n[i], s.conversions[i], s.mean_y[i], s.m2_y[i], s.mean_x[i], s.m2_x[i], s.cxy[i]],
        )
    return ArmStats(*[a.reshape(1, 2) for a in acc], has_pre=s.has_pre)


# -- comparisons -------------------------------------------------------------------------------
def compare_arms(s: ArmStats, *, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Lift, intervals and p-values per stratum from :func:`arm_stats`.

    Returns arrays keyed ``n_treatment``, ``n_control``, and for each metric
    (``conversion_``, ``revenue_``) ``treatment, control, abs, abs_low, abs_high,
    rel, rel_low, rel_high, p``; revenue also ``plain_low, plain_high, plain_p``
    (Welch without CUPED), ``variance_reduction``, ``rho`` and ``theta``.
    """
    out: dict[str, np.ndarray] = {"n_treatment": s.n[:, 1], "n_control": s.n[:, 0]}
    out.update(_conversion(s, alpha))
    out.update(_revenue(s, alpha))
    return out


def _conversion(s: ArmStats, alpha: float) -> dict[str, np.ndarray]:
    xt, xc, nt, nc = s.conversions[:, 1], s.conversions[:, 0], s.n[:, 1], s.n[:, 0]
    z = sps.norm.ppf(1 - alpha / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        pt, pc = xt / nt, xc / nc
        low, high = newcombe_interval(xt, nt, xc, nc, alpha)
        pooled = (xt + xc) / (nt + nc)
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
        zstat = (pt - pc) / se0
        p = np.where(se0 > 0, 2 * sps.norm.sf(np.abs(zstat)), np.where(pt == pc, 1.0, 0.0))
        # Katz: log rate ratio ± z·se; undefined when either arm has no conversion
        se_log = np.sqrt(1 / xt - 1 / nt + 1 / xc - 1 / nc)
        defined = (xt > 0) & (xc > 0)
        rr = pt / pc
        rel_low = np.where(defined, rr * np.exp(-z * se_log) - 1, np.nan)
        rel_high = np.where(defined, rr * np.exp(z * se_log) - 1, np.nan)
    return {
        "conversion_treatment": pt,
        "conversion_control": pc,
        "conversion_abs": pt - pc,
        "conversion_abs_low": low,
        "conversion_abs_high": high,
        "conversion_rel": np.where(xc > 0, rr - 1, np.nan),
        "conversion_rel_low": rel_low,
        "conversion_rel_high": rel_high,
        "conversion_p": p,
    }


def _welch(d, vt, nt, vc, nc, alpha):
    """Welch's interval and p-value for a difference ``d`` of two means."""
    with np.errstate(invalid="ignore", divide="ignore"):
        at, ac = vt / nt, vc / nc
        se = np.sqrt(at + ac)
        df = (at + ac) ** 2 / (at * at / (nt - 1) + ac * ac / (nc - 1))
        q = sps.t.ppf(1 - alpha / 2, df)
        p = np.where(se > 0, 2 * sps.t.sf(np.abs(d / se), df), np.where(d == 0, 1.0, 0.0))
    half = np.where(se > 0, q * se, 0.0)
    return d - half, d + half, p, se, q


def _fieller(mt, st2, mc, sc2, q):
    """Fieller's interval for ``mt / mc − 1``: the r with (mt − r·mc)² ≤ q²(st² + r²·sc²).

    With q the Welch quantile it excludes 0 exactly when the Welch interval of the
    difference does, which a delta-method interval need not (it can be wildly
    asymmetric in truth when the control mean is uncertain). NaN when the
    interval is unbounded: the control mean is not clearly away from zero.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        a = mc * mc - q * q * sc2
        b = mt * mc
        disc = b * b - a * (mt * mt - q * q * st2)
        bounded = (a > 0) & (disc >= 0)
        root = np.sqrt(np.where(bounded, disc, 0.0))
        return np.where(bounded, (b - root) / a - 1, np.nan), np.where(
            bounded, (b + root) / a - 1, np.nan
        )


def _revenue(s: ArmStats, alpha: float) -> dict[str, np.ndarray]:
    nt, nc = s.n[:, 1], s.n[:, 0]
    mt, mc = s.mean_y[:, 1], s.mean_y[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        vt, vc = s.m2_y[:, 1] / (nt - 1), s.m2_y[:, 0] / (nc - 1)
    plain_low, plain_high, plain_p, plain_se, _ = _welch(mt - mc, vt, nt, vc, nc, alpha)
    sxx, syy, sxy = s.m2_x.sum(axis=1), s.m2_y.sum(axis=1), s.cxy.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = np.where(sxx > 0, sxy / sxx, 0.0) if s.has_pre else np.zeros(len(nt))
        rho = np.where((sxx > 0) & (syy > 0), sxy / np.sqrt(sxx * syy), np.nan)
        x_all = (s.mean_x * s.n).sum(axis=1) / s.n.sum(axis=1)
        th = theta[:, None]
        adj_mean = s.mean_y - th * (s.mean_x - x_all[:, None])
        adj_m2 = s.m2_y - 2 * th * s.cxy + th * th * s.m2_x
        at_, ac_ = adj_m2[:, 1] / (nt - 1), adj_m2[:, 0] / (nc - 1)
    amt, amc = adj_mean[:, 1], adj_mean[:, 0]
    low, high, p, se, q = _welch(amt - amc, at_, nt, ac_, nc, alpha)
    rel_low, rel_high = _fieller(amt, at_ / nt, amc, ac_ / nc, q)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = amt / amc - 1
        reduction = np.where(plain_se > 0, 1 - (se / plain_se) ** 2, np.nan)
    return {
        "revenue_treatment": mt,
        "revenue_control": mc,
        "revenue_abs": amt - amc,
        "revenue_abs_low": low,
        "revenue_abs_high": high,
        "revenue_rel": rel,
        "revenue_rel_low": rel_low,
        "revenue_rel_high": rel_high,
        "revenue_p": p,
        "revenue_plain_low": plain_low,
        "revenue_plain_high": plain_high,
        "revenue_plain_p": plain_p,
        "revenue_variance_reduction": reduction if s.has_pre else np.full(len(nt), np.nan),
        "revenue_rho": rho if s.has_pre else np.full(len(nt), np.nan),
        "revenue_theta": theta,
    }


def _pct(share: float) -> str:
    return f"{round(share * 100) + 0.0:.0f} %"  # + 0.0: no "-0 %"


# -- the user-facing table ---------------------------------------------------------------------
@dataclass
class LiftResult:
    """The lift table and how it was computed.

    Attributes
    ----------
    table : DataFrame
        One row per segment and metric, then the overall rows (segment ``"all"``):
        ``segment, metric, n_treatment, n_control, treatment, control, abs_lift,
        abs_low, abs_high, rel_lift, rel_low, rel_high, p_value, p_adjusted,
        significant, variance_reduction, rho, method, status, note``.
    correction, alpha, min_per_arm, cuped
        The settings used; ``cuped`` is whether pre-period values were used.
    """

    table: pd.DataFrame
    correction: str
    alpha: float
    min_per_arm: int
    cuped: bool
    notes: list[str] = field(default_factory=list)

    def row(self, segment: Any, metric: str) -> dict[str, Any]:
        """One row of the table as a dict."""
        t = self.table
        hit = t[(t["segment"].astype(str) == str(segment)) & (t["metric"] == metric)]
        if hit.empty:
            raise KeyError(f"no row for segment {segment!r}, metric {metric!r}")
        return hit.iloc[0].to_dict()

    def summary_lines(self) -> list[str]:
        """Plain sentences for a report: CUPED achieved, the correction, segments left out."""
        lines = []
        rev = self.table[self.table["metric"] == "revenue"]
        if self.cuped:
            overall = rev[rev["segment"].astype(str) == "all"].iloc[0]
            per = rev[(rev["segment"].astype(str) != "all") & rev["variance_reduction"].notna()]
            span = (
                f"; per segment {_pct(per['variance_reduction'].min())} to "
                f"{_pct(per['variance_reduction'].max())}"
                if len(per)
                else ""
            )
            lines.append(
                f"CUPED with pre-period values reduced the variance of the revenue lift by "
                f"{_pct(overall['variance_reduction'])} overall (pre/post correlation "
                f"{overall['rho']:.2f}){span}."
            )
        else:
            lines.append("CUPED not applied: no pre-period values were given.")
        name = {
            "holm": "Holm's method (chance of any false positive ≤ α)",
            "bh": "Benjamini–Hochberg (expected share of false positives ≤ α)",
            "none": "no correction",
        }[self.correction]
        lines.append(
            f"p-values of each metric corrected across segments with {name}, α = {self.alpha:g};"
            f" the {1 - self.alpha:.0%} intervals are per segment, not adjusted."
        )
        lines.extend(self.notes)
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: settings and rows (NaN as None)."""
        rows = self.table.astype(object).where(self.table.notna(), None).to_dict("records")
        for r in rows:
            for k, v in r.items():
                if isinstance(v, np.generic):
                    r[k] = v.item()
        return {
            "correction": self.correction,
            "alpha": self.alpha,
            "min_per_arm": self.min_per_arm,
            "cuped": self.cuped,
            "summary": self.summary_lines(),
            "rows": rows,
        }


def lift(
    frame: pd.DataFrame,
    *,
    segment: str = "segment",
    arm: str = "arm",
    converted: str = "converted",
    revenue: str = "revenue",
    pre: str | None = "pre_revenue",
    treatment: str = "treatment",
    control: str = "control",
    correction: str = "holm",
    alpha: float = 0.05,
    min_per_arm: int = 30,
) -> LiftResult:
    """Lift per segment and overall from one row per user of a campaign.

    Parameters
    ----------
    frame : DataFrame
        One row per user: segment, arm, converted (0/1 or bool), revenue and,
        for CUPED, the pre-period value.
    segment, arm, converted, revenue : str
        Column names.
    pre : str or None
        The pre-period column for CUPED. The default ``"pre_revenue"`` is used
        when present (a summary line says when it is not); ``None`` turns CUPED off.
    treatment, control : str
        The labels in ``arm``.
    correction : {"holm", "bh", "none"}
        Multiple-testing correction across segments (default Holm).
    alpha : float
        Significance level; intervals are ``1 − alpha``.
    min_per_arm : int
        Fewer users than this in either arm: the segment says so instead of a number.

    Returns
    -------
    LiftResult

    Raises
    ------
    SchemaError
        A named column is missing.
    DataError
        Unknown arm labels, an arm with no user at all, non-0/1 conversions,
        missing or infinite revenue or pre-period values.
    ConfigError
        ``alpha``, ``correction`` or ``min_per_arm`` out of range.
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r} should be between 0 and 1 (e.g. 0.05).")
    if correction not in CORRECTIONS:
        raise ConfigError(f"correction={correction!r} should be one of {', '.join(CORRECTIONS)}.")
    if int(min_per_arm) < 2:
        raise ConfigError(f"min_per_arm={min_per_arm!r} should be >= 2 (a variance needs two).")
    notes: list[str] = []
    if pre is not None and pre not in frame.columns and pre == "pre_revenue":
        pre = None  # the default, absent: said in the summary
    cols = [c for c in (segment, arm, converted, revenue, pre) if c is not None]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"the outcome table lacks {', '.join(map(repr, missing))}; "
            f"available: {', '.join(map(str, frame.columns))}.",
            details={"missing": missing, "available": [str(c) for c in frame.columns]},
        )
    treated, conv, rev, x = _checked_arrays(frame, arm, converted, revenue, pre, treatment, control)
    if frame[segment].isna().any():
        raise DataError(f"{segment}: {int(frame[segment].isna().sum())} users without a segment.")
    codes, labels = _segment_codes(frame[segment])

    stats = arm_stats(codes, treated, conv, rev, x, n_strata=len(labels))
    per = compare_arms(stats, alpha=alpha)
    overall = compare_arms(pool_strata(stats), alpha=alpha)
    enough = (per["n_treatment"] >= min_per_arm) & (per["n_control"] >= min_per_arm)
    table = _table(
        list(labels), per, overall, enough, min_per_arm, correction, alpha, x is not None
    )
    skipped = [str(labels[i]) for i in np.flatnonzero(~enough)]
    if skipped:
        notes.append(
            f"{len(skipped)} segment(s) with fewer than {min_per_arm} users in an arm have no "
            f"lift: {', '.join(skipped[:10])}."
        )
    return LiftResult(table, correction, float(alpha), int(min_per_arm), x is not None, notes)


def _checked_arrays(frame, arm, converted, revenue, pre, treatment, control):
    col = frame[arm]
    # the distinct labels first: cheap on a categorical or 10M-row column, unlike astype(str)
    unknown = sorted({str(v) for v in pd.unique(col)} - {treatment, control})
    if unknown:
        raise DataError(
            f"{arm} holds {', '.join(map(repr, unknown[:5]))}; expected only "
            f"{treatment!r} and {control!r}."
        )
    treated = (col == treatment).to_numpy(dtype=bool)
    if treated.all() or not treated.any():
        which = "control" if treated.all() else "treatment"
        raise DataError(f"no {which} users at all: a lift needs both arms.")
    conv = _flags(frame[converted], converted)
    arrays = [treated, conv]
    for col in (revenue, pre):
        if col is None:
            arrays.append(None)
            continue
        series = frame[col]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype
        ):
            values = series.to_numpy(dtype=float)  # no copy when already float64
        else:
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        nonfinite = ~np.isfinite(values)
        if nonfinite.any():
            rows = list(frame.index[nonfinite][:5])
            raise DataError(
                f"{col}: {int(nonfinite.sum())} missing or infinite value(s) (first rows: {rows});"
                " every user needs a number (0 when nothing was spent).",
                details={"column": col, "count": int(nonfinite.sum())},
            )
        arrays.append(values)
    return tuple(arrays)


def _flags(col: pd.Series, name: str) -> np.ndarray:
    """0/1 or true/false as a bool array; anything else is an error naming the first."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(col.dtype):
        values = col.to_numpy()
        bad = ~((values == 0) | (values == 1))
    else:
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        bad = ~((values == 0) | (values == 1))
    if bad.any():
        raise DataError(
            f"{name}: {int(bad.sum())} value(s) other than 0/1 or true/false "
            f"(first: {col[bad].iloc[0]!r})."
        )
    return values == 1


def _segment_codes(col: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Each user's segment as a small code, and the segments in order.

    Integer segments (the usual case) are coded through a lookup table a chunk
    at a time: ``pd.factorize`` would hash 10M values and hold 8-byte codes.
    """
    values = col.to_numpy()
    if pd.api.types.is_integer_dtype(values.dtype) and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 1 << 16:
            counts = np.zeros(hi - lo + 1, dtype=np.int64)
            for start in range(0, len(values), _CHUNK):
                chunk = values[start : start + _CHUNK].astype(np.intp) - lo  # no int8 overflow
                counts += np.bincount(chunk, minlength=len(counts))
            present = np.flatnonzero(counts)
            lut = np.zeros(len(counts), dtype=np.min_scalar_type(max(len(present) - 1, 0)))
            lut[present] = np.arange(len(present))
            codes = np.empty(len(values), dtype=lut.dtype)
            for start in range(0, len(values), _CHUNK):
                codes[start : start + _CHUNK] = lut[
                    values[start : start + _CHUNK].astype(np.intp) - lo
                ]
            return codes, [values.dtype.type(v + lo) for v in present]
    codes, labels = pd.factorize(col, sort=True)
    return codes.astype(np.min_scalar_type(max(len(labels) - 1, 0))), list(labels)


def _table(labels, per, overall, enough, min_per_arm, correction, alpha, cuped) -> pd.DataFrame:
    rows = []
    for metric in METRICS:
        p = np.where(enough, per[f"{metric}_p"], np.nan)
        p_adj = adjust_pvalues(p, correction)
        method = (
            "Newcombe hybrid score; Katz log ratio; pooled z test"
            if metric == "conversion"
            else ("Welch t on CUPED-adjusted revenue" if cuped else "Welch t") + "; Fieller ratio"
        )
        for i, label in enumerate(labels):
            rows.append(_row(label, metric, per, i, enough[i], p_adj[i], alpha, method))
            if not enough[i]:
                short = "control" if per["n_control"][i] < min_per_arm else "treatment"
                n_short = int(per[f"n_{short}"][i])
                rows[-1]["status"] = "too few users"
                rows[-1]["note"] = (
                    f"{n_short} user{'' if n_short == 1 else 's'} in {short}; at least "
                    f"{min_per_arm} per arm are needed "
                    "for a lift"
                )
            elif np.isnan(rows[-1]["rel_low"]) and np.isfinite(rows[-1]["abs_lift"]):
                rows[-1]["note"] = (
                    "no relative interval: the control's mean is not clearly above zero"
                )
    for metric in METRICS:
        method = rows[0]["method"] if metric == "conversion" else rows[-1]["method"]
        row = _row("all", metric, overall, 0, True, np.nan, alpha, method)
        row["significant"] = bool(row["p_value"] < alpha)
        rows.append(row)
    table = pd.DataFrame(rows)
    order = {m: k for k, m in enumerate(METRICS)}
    table["_o"] = table["metric"].map(order)
    is_all = (table["segment"].astype(str) == "all").astype(int)
    table["_s"] = is_all
    table["_i"] = np.arange(len(table)) % (len(labels) if len(labels) else 1)
    table.loc[is_all == 1, "_i"] = 0
    table = table.sort_values(["_s", "_i", "_o"], kind="stable").drop(columns=["_o", "_s", "_i"])
    return table.reset_index(drop=True)


def _row(label, metric, r, i, enough, p_adj, alpha, method) -> dict[str, Any]:
    def v(key: str) -> float:
        return float(r[f"{metric}_{key}"][i]) if enough else np.nan

    return {
        "segment": label,
        "metric": metric,
        "n_treatment": int(r["n_treatment"][i]),
        "n_control": int(r["n_control"][i]),
        "treatment": float(r[f"{metric}_treatment"][i]),
        "control": float(r[f"{metric}_control"][i]),
        "abs_lift": v("abs"),
        "abs_low": v("abs_low"),
        "abs_high": v("abs_high"),
        "rel_lift": v("rel"),
        "rel_low": v("rel_low"),
        "rel_high": v("rel_high"),
        "p_value": v("p"),
        "p_adjusted": float(p_adj),
        "significant": bool(p_adj < alpha) if enough else False,
        "variance_reduction": v("variance_reduction") if metric == "revenue" else np.nan,
        "rho": v("rho") if metric == "revenue" else np.nan,
        "method": method,
        "status": "ok",
        "note": "",
    }
