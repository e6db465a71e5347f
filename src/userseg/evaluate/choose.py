"""Choose the number of segments from several metrics, never from one alone.

The rule, in two steps:

1. **Silhouette shortlist.** The silhouette (how much closer users are to their
   own segment than to the next one) is the most direct measure of a
   partition's quality, and it comes with a confidence interval when sampled.
   Every k whose silhouette is within ``tolerance`` (0.005) of the best, or
   whose interval overlaps the best's, is shortlisted: those k cannot be told
   apart by the silhouette.
2. **Stability filter.** When the rows carry a ``stability`` (the agreement
   of refits on resamples, see :mod:`userseg.evaluate.stability`), shortlisted
   k below 0.6 are dropped (unless all are): a partition that does not come
   back on a resample is not a segmentation to act on.
3. **Consensus on the shortlist.** The shortlisted k are ranked by silhouette
   (higher is better), Calinski-Harabasz (higher), Davies-Bouldin (lower) and
   stability (higher, when known); the best mean rank wins, then the higher
   silhouette, then the smaller k.

Why not a plain vote over all k: Calinski-Harabasz falls steadily with k on
overlapping data with one dominant split (buyers vs non-buyers) and
Davies-Bouldin often follows, so a plain vote drifts to k=2 whatever the
structure; and why not the silhouette alone: a peer's users were told the
unscaled model "won" on silhouette while it matched the true groups far worse.
Every metric's own pick is stated in the reason, so disagreement is visible.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from userseg.errors import ConfigError

__all__ = ["METRICS", "choose_k"]

#: metric → True when higher is better.
METRICS: dict[str, bool] = {"silhouette": True, "calinski_harabasz": True, "davies_bouldin": False}
#: below this stability a k is filtered out of the shortlist
MIN_STABILITY = 0.6


def _ranks(values: list[float], higher_better: bool) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isfinite(v), v, -np.inf if higher_better else np.inf)
    key = -v if higher_better else v
    # Rank 1 is the best; equal values share the best rank among them.
    return np.array([1 + int(np.sum(key < x)) for x in key], dtype=np.float64)


def choose_k(
    table: list[dict[str, Any]], *, tolerance: float = 0.005
) -> tuple[int, str, list[dict[str, Any]]]:
    """Pick k from per-k rows of ``k, silhouette, calinski_harabasz, davies_bouldin``.

    Rows may carry ``silhouette_low``/``silhouette_high`` (an interval); rows
    without them are treated as exact.

    Returns
    -------
    k : int
        The chosen number of segments.
    reason : str
        Why, naming the shortlist and each metric's own best k.
    table : list of dict
        The rows with ``shortlisted``, per-metric ranks and ``mean_rank`` added.
    """
    if not table:
        raise ConfigError("no candidate k to choose from.")
    rows = [dict(r) for r in table]
    if len(rows) == 1:
        rows[0].update(mean_rank=1.0, shortlisted=True)
        return int(rows[0]["k"]), f"k={rows[0]['k']} was given.", rows
    ks = np.array([int(r["k"]) for r in rows])
    sil = np.array([r.get("silhouette", np.nan) for r in rows], dtype=np.float64)
    if not np.isfinite(sil).any():
        raise ConfigError("no candidate k has a finite silhouette.")
    low = np.array([r.get("silhouette_low", r.get("silhouette", np.nan)) for r in rows])
    high = np.array([r.get("silhouette_high", r.get("silhouette", np.nan)) for r in rows])
    best = int(np.nanargmax(sil))
    short = np.isfinite(sil) & ((sil >= sil[best] - tolerance) | (high >= low[best]))
    metrics = dict(METRICS)
    unstable: list[int] = []
    if any("stability" in rows[i] for i in np.flatnonzero(short)):
        metrics["stability"] = True
        stab = np.array([rows[i].get("stability", np.nan) for i in range(len(rows))])
        steady = short & (stab >= MIN_STABILITY)
        if steady.any():
            unstable = [int(ks[i]) for i in np.flatnonzero(short & ~steady)]
            short = steady

    sub = [i for i in range(len(rows)) if short[i]]
    total = np.zeros(len(sub))
    for metric, higher in metrics.items():
        ranks = _ranks([rows[i].get(metric, np.nan) for i in sub], higher)
        for i, rank in zip(sub, ranks, strict=True):
            rows[i][f"rank_{metric}"] = int(rank)
        total += ranks
    for j, i in enumerate(sub):
        rows[i]["mean_rank"] = float(total[j] / len(metrics))
    for i, r in enumerate(rows):
        r["shortlisted"] = bool(short[i])
        r.setdefault("mean_rank", float("nan"))
    chosen = min(sub, key=lambda i: (rows[i]["mean_rank"], -sil[i], ks[i]))
    k = int(ks[chosen])

    own = []
    for metric, higher in METRICS.items():
        vals = np.array([r.get(metric, np.nan) for r in rows], dtype=np.float64)
        if np.isfinite(vals).any():
            idx = int(np.nanargmax(vals) if higher else np.nanargmin(vals))
            own.append(f"{metric.replace('_', '-')} alone: k={ks[idx]}")
    shortlist = ", ".join(str(ks[i]) for i in sub)
    over = "silhouette, Calinski-Harabasz, Davies-Bouldin" + (
        " and stability" if "stability" in metrics else ""
    )
    if len(sub) == 1 and not unstable:
        why = (
            f"k={k} has the clearly highest silhouette ({sil[chosen]:.3f}; no other k "
            f"within {tolerance} or within its interval)"
        )
    elif len(sub) == 1:
        why = f"k={k} is the only stable k among those the silhouette cannot tell apart"
    else:
        why = (
            f"k={k} has the best mean rank over {over} among the k the silhouette cannot "
            f"tell apart ({shortlist})"
        )
    if unstable:
        why += (
            f"; k={', '.join(map(str, unstable))} left out as unstable (refits on resamples "
            f"agree below {MIN_STABILITY})"
        )
    return k, f"{why}; {'; '.join(own)}.", rows
