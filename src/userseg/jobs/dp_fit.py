"""``userseg fit --dp-epsilon``: a differentially private k-means run, charged to a budget.

The run is an ordinary run (assign, serve and report read it as any other)
made by the ``dp_kmeans`` family at a fixed k, with:

* bounds declared up front, in the preparer's scaled space (standardised
  features by default: every value clipped to ``DEFAULT_BOUNDS``, ±4 standard
  deviations), recorded in the run's config;
* ε split: :data:`COUNT_SHARE` of it for the segment sizes in the profiles
  (Laplace noise, sensitivity 1: each user is in one segment), the rest for the
  centres (:class:`~userseg.privacy.dp.DPKMeans`);
* no sweep over k, no stability runs, no structure check (each would read
  the data again outside the budget);
* the data set's budget (:mod:`userseg.store.dp_budget`) checked before the
  data are read and charged in the same transaction as the run: a refused fit
  stores nothing, a failed one spends nothing.

What stays non-private (for the analyst who holds the database, never for
release): the preparer's statistics (means, spreads, clip quantiles), the
quality scores and the per-segment means and quantiles of the profiles, and the
utility figures (inertia of the DP centres and of a plain k-means).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from userseg.config import PrepareConfig
from userseg.errors import ConfigError, PrivacyBudgetError
from userseg.features.build import load_features
from userseg.io.database import Database
from userseg.segment.segmenter import Segmenter
from userseg.store import feature_set_config, get_feature_set, latest_feature_set, save_run
from userseg.store.audit import record_action
from userseg.store.dp_budget import BudgetState, budget_state, dataset_key, spend
from userseg.store.runs import set_run_timings

__all__ = ["COUNT_SHARE", "DEFAULT_BOUNDS", "DPFit", "fit_dp", "parse_bounds"]

#: The declared range of every prepared (standardised) feature: ±4 standard deviations.
DEFAULT_BOUNDS = (-4.0, 4.0)
#: The share of ε spent on the noisy segment sizes of the profiles.
COUNT_SHARE = 0.1


@dataclass
class DPFit:
    """What a DP fit made: the run, its segmenter, the budget after it and the utility cost."""

    run_id: int
    segmenter: Segmenter
    budget: BudgetState
    utility: dict[str, float]


def parse_bounds(text: str | None) -> tuple[float, float]:
    """``"lo,hi"`` as two finite numbers with lo < hi (``None``: :data:`DEFAULT_BOUNDS`)."""
    if text is None:
        return DEFAULT_BOUNDS
    parts = str(text).split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(
            f"--dp-bounds {text!r} should be two numbers 'lo,hi' (the range of every prepared "
            "feature, e.g. -4,4)."
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ConfigError(f"--dp-bounds {text!r} should be finite with lo < hi.")
    return lo, hi


def check_epsilon(epsilon: Any) -> float:
    """A positive, finite ε, or a :class:`~userseg.errors.ConfigError`."""
    ok = isinstance(epsilon, int | float) and not isinstance(epsilon, bool)
    if not ok or not math.isfinite(epsilon) or epsilon <= 0:
        raise ConfigError(f"--dp-epsilon {epsilon!r} should be a positive, finite number.")
    return float(epsilon)


def fit_dp(
    db: Database,
    *,
    k: int | None,
    epsilon: float,
    bounds: tuple[float, float] = DEFAULT_BOUNDS,
    total: float | None = None,
    feature_set_id: int | None = None,
    random_state: int = 0,
) -> DPFit:
    """Fit DP k-means on a feature set (the latest by default) and store it as a run."""
    epsilon = check_epsilon(epsilon)
    if k is None:
        raise ConfigError("--dp-epsilon needs a fixed --k: choosing k would spend more epsilon.")
    fs = get_feature_set(db, feature_set_id) if feature_set_id else latest_feature_set(db)
    dataset = dataset_key(feature_set_config(db, fs.feature_set_id).get("sources", {}))
    what = f"dp_kmeans k={k} feature set {fs.feature_set_id}"
    state = budget_state(db, dataset, total)
    if epsilon > state.remaining + 1e-9:
        record_action(
            db,
            action="dp.fit",
            outcome="refused",
            target=dataset,
            detail={"epsilon": epsilon, **state.to_dict()},
        )
        spend(db, dataset, epsilon, what, total=total)  # raises, naming what is left
        raise PrivacyBudgetError("unreachable")  # pragma: no cover
    with db.transaction(step="fit"):
        run_id, seg = _fit_and_store(db, fs, k, epsilon, bounds, dataset, random_state)
        after = spend(db, dataset, epsilon, what, total=total, run_id=run_id)
        record_action(
            db,
            action="dp.fit",
            outcome="ok",
            target=f"run {run_id}",
            detail={"epsilon": epsilon, "bounds": list(bounds), **after.to_dict()},
        )
    row = seg.k_choice_["table"][0]
    utility = {n: float(row[n]) for n in ("dp_inertia", "plain_inertia", "utility_ratio")}
    return DPFit(run_id, seg, after, utility)


def _fit_and_store(
    db: Database,
    fs: Any,
    k: int,
    epsilon: float,
    bounds: tuple[float, float],
    dataset: str,
    seed: int,
) -> tuple[int, Segmenter]:
    """The segmenter at k with the dp_kmeans family, sizes made private, stored as a run."""
    df = load_features(db, fs)
    seg = Segmenter(
        n_segments=k,
        algorithm="dp_kmeans",
        prepare=PrepareConfig(),
        categorical=[f.name for f in fs.features if f.kind == "categorical"],
        units={f.name: f.unit for f in fs.features},
        algorithm_params={"epsilon": epsilon * (1 - COUNT_SHARE), "bounds": bounds},
        random_state=seed,
        stability_runs=0,
        check_structure=False,
    )
    seg.fit(df)
    noisy_sizes(seg, epsilon * COUNT_SHARE)
    seg.notes_.append(
        f"differentially private run: epsilon={epsilon:g} (centres {1 - COUNT_SHARE:.0%}, "
        f"segment sizes {COUNT_SHARE:.0%}), prepared features clipped to "
        f"[{bounds[0]:g}, {bounds[1]:g}]; means and scores of the profiles are not private"
    )
    run_id = save_run(
        db,
        seg,
        df.index,
        feature_set=fs,
        config={
            "fit": {"algorithm": "dp_kmeans", "k": k, "random_state": seed},
            "dp": {
                "epsilon": epsilon,
                "bounds": list(bounds),
                "bounds_space": "prepared (standardised) features",
                "count_share": COUNT_SHARE,
                "dataset": dataset,
            },
            "feature_set_id": fs.feature_set_id,
            "as_of": fs.as_of,
        },
        timings=dict(seg.timings_),
    )
    set_run_timings(db, run_id, dict(seg.timings_))
    return run_id, seg


def noisy_sizes(seg: Segmenter, epsilon: float) -> None:
    """Replace each profile's size and share by a Laplace-noised count (sensitivity 1)."""
    from userseg.privacy.dp import laplace_noise

    sizes = np.array([float(p.size) for p in seg.profiles_])
    noisy = np.maximum(np.rint(laplace_noise(sizes, 1.0, epsilon)), 0.0)
    total = max(float(noisy.sum()), 1.0)
    for p, n in zip(seg.profiles_, noisy, strict=True):
        p.size, p.share = int(n), float(n) / total
