"""Value tiers as a family: high value, potential high value, at risk, low value, by rule.

Not a clustering: each user's tier follows from three numbers of the value
model (spend so far, expected value, P(alive); :mod:`userseg.value.tiers`)
and thresholds that are stated and adjustable. As a family it goes through the
segmenter like any other, so the run it makes is stored, reported, assigned
and served like any other (``userseg fit --preset value`` builds those three
columns from the event log and fits this family on them, unscaled).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from userseg.errors import ConfigError
from userseg.segment.registry import Candidate, Family, FitLabels, Progress, register

__all__ = ["COLUMNS", "TierRules", "ValueTiersFamily"]

#: The three columns the rules read, in this order (names of ``userseg value --out``).
COLUMNS = ("spend_net", "value", "p_alive")


class TierRules:
    """The tier settings (see :func:`userseg.value.tiers.value_tiers`), as estimator parameters.

    Only ``get_params`` of the estimator contract: the registry reads from it what
    ``algorithm_params`` may set (scikit-learn stays unimported: ``--help`` lists the
    families).
    """

    def __init__(
        self,
        high_quantile: float = 0.8,
        p_alive_threshold: float = 0.5,
        past_value_min: float | None = None,
        predicted_value_min: float | None = None,
    ) -> None:
        self.high_quantile = high_quantile
        self.p_alive_threshold = p_alive_threshold
        self.past_value_min = past_value_min
        self.predicted_value_min = predicted_value_min

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings by name."""
        return dict(vars(self))


def tiers_of(Z: np.ndarray, params: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Each row's position in TIERS and the thresholds used (quantiles resolved on ``Z``)."""
    import pandas as pd

    from userseg.value.tiers import value_tiers

    if Z.ndim != 2 or Z.shape[1] != len(COLUMNS):
        raise ConfigError(
            f"value_tiers reads {len(COLUMNS)} columns ({', '.join(COLUMNS)}: spend so far, "
            f"expected value, P(alive)); got {Z.shape[1] if Z.ndim == 2 else Z.ndim} — "
            "use `userseg fit --preset value`, which builds them from the event log."
        )
    frame = pd.DataFrame(Z, columns=["spend_total", "value", "p_alive"])
    result = value_tiers(frame, **params)
    return result.labels.cat.codes.to_numpy().astype(np.int64), result.thresholds


class ValueTiersFamily(Family):
    """One candidate: the tiers by rule; the tiers found are the segments (empty ones dropped)."""

    name = "value_tiers"
    rank = 10
    chooses_k = True
    structure_check = False  # the gap statistic asks for compact groups; rules make none

    def estimator(self) -> Any:
        return TierRules()

    def fit_candidates(
        self,
        Z: np.ndarray,
        S: np.ndarray,
        ks: list[int],
        *,
        seed: int,
        params: dict[str, Any],
        sample: int,
        progress: Progress | None = None,
    ) -> list[Candidate]:
        from userseg.cluster.assigners import TierAssigner
        from userseg.segment.scoring import score

        codes, thresholds = tiers_of(Z, params)
        centers = np.array(
            [
                Z[codes == t].mean(axis=0) if (codes == t).any() else np.zeros(Z.shape[1])
                for t in range(4)
            ]
        )
        assigner = TierAssigner(thresholds, np.arange(4), centers)
        row = score(S, codes, None, sample=sample, seed=seed)
        row["thresholds"] = thresholds
        if progress:
            progress("fit", 1, 1)
        return [Candidate(int(row["k"]), row, lambda: (assigner, codes))]

    def fit_labels(self, params: dict[str, Any]) -> FitLabels:
        def fit(X: np.ndarray, k: int, seed: int) -> np.ndarray:
            return tiers_of(X, params)[0]  # deterministic: the quantiles of the resample

        return fit


register(ValueTiersFamily())
