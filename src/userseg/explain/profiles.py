"""Segment profiles: size, share, feature means, z-scores and what sets each segment apart.

A z-score here is the segment's mean of a feature after the preparation
transforms (log for heavy tails, clipping), in population standard
deviations: on that scale one big spender does not make a whole segment look
rich. Means are also given in the feature's own units, with the ratio to the
population mean ("spends 3.2× the average").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Distinction", "SegmentProfile", "profile_segments"]

#: Differences smaller than this (in standard deviations) do not distinguish a segment.
MIN_DISTINCT_Z = 0.25
#: A user this many days into their tenure (or after signing up) is new.
NEW_DAYS = 90
#: Features whose "days since" makes a user new, and their absolute facts.
_TENURE = ("tenure_days", "signup_date_days")


@dataclass
class Distinction:
    """One way a segment differs from the population."""

    feature: str
    z: float
    direction: str  # "higher" or "lower"
    segment_value: float
    population_value: float
    level: str | None = None  # for a categorical feature: the level over/under-represented
    text: str = ""


@dataclass
class SegmentProfile:
    """Everything the report and the naming need to know about one segment."""

    segment: int
    size: int
    share: float
    means: dict[str, float]
    zscores: dict[str, float]
    categories: dict[str, dict[str, float]] = field(default_factory=dict)
    distinctions: list[Distinction] = field(default_factory=list)
    name: str = ""
    name_source: str = "generated"
    population: dict[str, float] = field(default_factory=dict)  # population means
    stability: float | None = None  # mean Jaccard of the segment across resampled refits
    stable: bool | None = None
    rule: dict[str, Any] | None = None  # surrogate rule: text, SQL where, precision, recall
    # Shares of the segment for which an absolute fact holds ("frequency==1": bought once,
    # "tenure_days<=90": new): a name says "one-time" or "new" only when most of it is.
    facts: dict[str, float] = field(default_factory=dict)
    # With a target: its rate (or mean) here, 95 % interval, lift (see explain.outcome).
    outcome: dict[str, Any] | None = None
    # Churn risk and expected value of its customers (see userseg.value.segments), when the
    # event log carries a value model.
    value: dict[str, Any] | None = None

    @property
    def top_features(self) -> list[Distinction]:
        """The three features that most set the segment apart."""
        return self.distinctions[:3]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["top_features"] = [asdict(x) for x in self.top_features]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentProfile:
        d = dict(d)
        d.pop("top_features", None)
        d["distinctions"] = [Distinction(**x) for x in d.get("distinctions", [])]
        return cls(**d)


def _fmt(value: float, unit: str) -> str:
    """A value for a sentence, with enough digits that two different values do not read
    the same ("1% vs 1%", "0.0 vs 0.2" came out of a trial on small shares and counts)."""
    if unit == "year":  # 1957, never "1,957"
        return f"{value:.0f}"
    if unit == "money":
        return f"{value:,.2f}"
    if unit == "share":
        if value == 0 or abs(value) >= 0.1:
            return f"{value:.0%}"
        return f"{value:.1%}" if abs(value) >= 0.001 else f"{value:.2%}"
    if unit == "ratio":
        return f"{value:.2f}" if value == 0 or abs(value) >= 0.01 else f"{value:.2g}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if value == 0 or abs(value) >= 1:
        return f"{value:.1f}"
    return f"{value:.2g}"


def _times(ratio: float) -> str:
    """How many times the average: 2 decimals, or 2 significant digits below 0.1."""
    return f"{ratio:.2f}" if ratio == 0 or ratio >= 0.1 else f"{ratio:.2g}"


def _describe(label: str, unit: str, seg: float, pop: float, z: float) -> str:
    if pop > 0 and seg >= 0 and unit in ("money", "count", "days", "value", "rating"):
        ratio = seg / pop
        if ratio >= 1.15:
            return f"{label} {ratio:.1f}× the average ({_fmt(seg, unit)} vs {_fmt(pop, unit)})"
        if ratio <= 0.87:
            return f"{label} {_times(ratio)}× the average ({_fmt(seg, unit)} vs {_fmt(pop, unit)})"
    word = "higher" if z > 0 else "lower"
    return f"{label} {word} than average ({_fmt(seg, unit)} vs {_fmt(pop, unit)})"


def profile_segments(
    raw: pd.DataFrame,
    labels: np.ndarray,
    zscores: pd.DataFrame,
    *,
    units: dict[str, str] | None = None,
    categorical: list[str] | None = None,
    feature_labels: dict[str, str] | None = None,
) -> list[SegmentProfile]:
    """Profile every segment (noise, label -1, is left out of the list but in the population).

    Parameters
    ----------
    raw : DataFrame
        The features in their own units, one row per user.
    labels : ndarray of shape (n,)
    zscores : DataFrame
        Numeric features after the preparation transforms, standardised (see
        :meth:`userseg.features.prepare.Preparer.numeric_zscores`).
    units : dict, optional
        Feature → unit (money, days, count, ratio, share, …) for wording.
    categorical : list of str, optional
        Categorical features (profiled by the share of each level).
    feature_labels : dict, optional
        Feature → the words the texts use for it (default: the name, "_" read as spaces).
    """
    units = units or {}
    words = feature_labels or {}

    def label(c: str) -> str:
        return words.get(c) or c.replace("_", " ")

    labels = np.asarray(labels)
    n = len(labels)
    numeric = list(zscores.columns)
    categorical = [c for c in (categorical or []) if c in raw.columns]
    raw_num = raw[numeric].apply(pd.to_numeric, errors="coerce") if numeric else raw[[]]
    pop_means = raw_num.mean()
    pop_z = zscores.mean()
    cat_pop = {
        c: raw[c].astype(object).where(raw[c].notna(), "(missing)").astype(str) for c in categorical
    }
    cat_pop_share = {c: v.value_counts(normalize=True) for c, v in cat_pop.items()}

    population = {c: float(v) for c, v in pop_means.items()}
    fact_rows = _facts(raw_num, units)
    profiles = []
    for seg in sorted(int(s) for s in np.unique(labels) if s >= 0):
        mask = labels == seg
        size = int(mask.sum())
        means = {c: float(v) for c, v in raw_num[mask].mean().items()}
        # The population mean of a standardised column is ~0 but not exactly (clipping).
        zs = {c: float(zscores[c].to_numpy()[mask].mean() - pop_z[c]) for c in numeric}
        dist = []
        for c in numeric:
            z = zs[c]
            if abs(z) >= MIN_DISTINCT_Z:
                unit = units.get(c, "value")
                dist.append(
                    Distinction(
                        c,
                        z,
                        "higher" if z > 0 else "lower",
                        means[c],
                        float(pop_means[c]),
                        text=_describe(label(c), unit, means[c], float(pop_means[c]), z),
                    )
                )
        cats: dict[str, dict[str, float]] = {}
        for c in categorical:
            seg_share = cat_pop[c][mask].value_counts(normalize=True)
            cats[c] = {str(k): float(v) for k, v in seg_share.items()}
            for level, p_pop in cat_pop_share[c].items():
                p_seg = float(seg_share.get(level, 0.0))
                sd = np.sqrt(p_pop * (1 - p_pop))
                if sd == 0:
                    continue
                z = (p_seg - p_pop) / sd
                if z >= MIN_DISTINCT_Z * 2:  # over-representation of a level is what names use
                    dist.append(
                        Distinction(
                            c,
                            float(z),
                            "higher",
                            p_seg,
                            float(p_pop),
                            level=str(level),
                            text=f"{label(c)} = {level}: {_fmt(p_seg, 'share')} vs "
                            f"{_fmt(p_pop, 'share')}",
                        )
                    )
        dist.sort(key=lambda d: -abs(d.z))
        facts = {key: float(np.mean(held[mask])) for key, held in fact_rows.items()}
        profiles.append(
            SegmentProfile(
                seg, size, size / n, means, zs, cats, dist, population=population, facts=facts
            )
        )
    return profiles


def _facts(raw_num: pd.DataFrame, units: dict[str, str]) -> dict[str, np.ndarray]:
    """Per user, whether each absolute fact a name may state holds (see ``facts``)."""
    out: dict[str, np.ndarray] = {}
    if "frequency" in raw_num.columns:
        f = raw_num["frequency"].to_numpy(dtype=np.float64)
        out["frequency==0"] = f == 0
        out["frequency==1"] = f == 1
    for c in raw_num.columns:
        if c in _TENURE or units.get(c) == "days":
            out[f"{c}<={NEW_DAYS}"] = raw_num[c].to_numpy(dtype=np.float64) <= NEW_DAYS
    return out
