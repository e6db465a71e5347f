"""Segment names from text features: "Unhappy …" first, and what a segment writes about."""

from __future__ import annotations

import pytest

from userseg.explain.naming import name_segments
from userseg.explain.profiles import Distinction, SegmentProfile


def _p(dists, means=None):
    ds = [Distinction(f, z, "higher" if z > 0 else "lower", v, pv) for f, z, v, pv in dists]
    population = {f: pv for f, _, _, pv in dists}
    return SegmentProfile(0, 10, 0.1, means or {}, {}, {}, ds, population=population)


LABELS = {"topic_0": "topic size / small / large", "topic_1": "topic strings / sound / tone"}


@pytest.mark.parametrize(
    ("dists", "name"),
    [
        # negative sentiment names the segment even when recency sets it apart more
        ([("recency_days", -1.9, 3, 40), ("sentiment_mean", -0.7, -0.3, 0.2),
          ("monetary", 1.2, 900, 200)], "Unhappy high spenders"),
        ([("negative_share", 1.4, 0.8, 0.3)], "Unhappy users"),
        ([("sentiment_mean", -1.1, -0.4, 0.2), ("negative_share", 1.3, 0.8, 0.3)],
         "Unhappy users"),
        # happier than average is not a name of its own: the behaviour names them
        ([("recency_days", -1.2, 3, 40), ("sentiment_mean", 0.9, 0.6, 0.2)], "Recent users"),
        ([("sentiment_mean", -0.9, -0.3, 0.2), ("topic_0", 1.5, 0.7, 0.2)],
         "Unhappy users who write about size"),
        ([("frequency", 1.2, 6, 2), ("topic_1", 0.8, 0.5, 0.2), ("topic_0", -0.9, 0.0, 0.2)],
         "Frequent buyers who write about strings"),
        ([("topic_1", 1.1, 0.6, 0.2)], "Users who write about strings"),
        # a segment without any text distinction keeps the name it had
        ([("recency_days", -1.2, 3, 40), ("monetary", 1.5, 900, 200)], "Recent high spenders"),
    ],
)
def test_text_features_name_segments(dists, name) -> None:
    assert name_segments([_p(dists)], feature_labels=LABELS) == [name]
