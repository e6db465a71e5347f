"""What may mislead in a fitted segmentation, each with what to do about it.

The :class:`~userseg.segment.segmenter.Segmenter` keeps these in
``warnings_`` (and ``metrics_["warnings"]``) and emits each as a
:class:`~userseg.errors.SegmentationWarning`.
"""

from __future__ import annotations

from typing import Any

from userseg.features.labels import outcome_like, outcome_like_campaign

__all__ = ["fit_warnings"]


def fit_warnings(
    *,
    at_edge: bool,
    k: int,
    ks: list[int],
    n_users: int,
    clustered: list[str],
    columns_in: list[str],
    has_target: bool,
) -> list[dict[str, Any]]:
    """The ``k_at_edge`` and ``outcome_columns`` warnings of one fit.

    ``clustered`` are the features clustered, ``columns_in`` the input's column
    order, in which outcome columns are named; ``has_target`` whether a target
    was given (the advice differs).
    """
    out: list[dict[str, Any]] = []
    if at_edge:
        wider = max(2 * k, k + 10)
        capped = k >= n_users - 1
        out.append(
            {
                "code": "k_at_edge",
                "k": int(k),
                "k_max": int(max(ks)),
                "message": (
                    f"k={k} is the largest k tried (k_max={max(ks)}): the data may hold "
                    "more segments than the range allows"
                    + (
                        " (k_max is capped at the number of users - 1)."
                        if capped
                        else f"; widen the range, e.g. `userseg fit --k-max {wider}` "
                        f"(k_max: {wider} in a pipeline file's fit section)."
                    )
                ),
            }
        )
    order = {c: i for i, c in enumerate(columns_in)}
    outcomes = sorted(outcome_like(clustered), key=lambda c: order.get(c, len(order)))
    if outcomes:
        many = len(outcomes) > 1
        names = ", ".join(outcomes)
        leave = f"`userseg features --exclude {','.join(outcomes)}`"
        if has_target:
            advice = (
                f"Leave {'them' if many else 'it'} out ({leave}): beside the target "
                f"{'they are' if many else 'it is'} another outcome, not a behaviour."
            )
        else:
            # a response or churn column before a campaign's acceptance flags
            main = next((c for c in outcomes if not outcome_like_campaign(c)), outcomes[0])
            advice = (
                f"Leave {'them' if many else 'it'} out ({leave}) or name the outcome as "
                f"the target (`userseg fit --target {main}`), which measures it per "
                "segment."
            )
        out.append(
            {
                "code": "outcome_columns",
                "columns": outcomes,
                "message": (
                    f"{names} {'look' if many else 'looks'} like "
                    f"{'outcomes' if many else 'an outcome'} (a response, a conversion, "
                    f"churn) but {'are' if many else 'is'} clustered as "
                    f"{'features' if many else 'a feature'}: the segments then describe "
                    f"the outcome instead of explaining it. {advice}"
                ),
            }
        )
    return out
