"""Online k-means (cluster/online.py) and the assigner it hands its centres to (issue 10 R4)."""

from __future__ import annotations

import numpy as np
import pytest

from userseg.cluster.assigners import CentroidAssigner
from userseg.cluster.online import OnlineKMeans


def test_a_batch_pulls_each_centre_by_decay_of_the_way_toward_its_members() -> None:
    start = np.array([[0.0, 0.0], [10.0, 10.0]])
    online = OnlineKMeans(start, decay=0.5)
    online.partial_fit(np.array([[2.0, 0.0], [2.0, 2.0]]))  # both nearest the first centre
    assert online.cluster_centers_.tolist() == [[1.0, 0.5], [10.0, 10.0]]
    assert start.tolist() == [[0.0, 0.0], [10.0, 10.0]], "the caller's array is never written"
    shifts = online.shifts(np.array([7, 9]))
    assert shifts[7] == pytest.approx(np.hypot(1.0, 0.5)) and shifts[9] == 0.0


def test_decay_one_puts_a_centre_on_the_mean_of_its_batch() -> None:
    online = OnlineKMeans(np.array([[0.0], [100.0]]), decay=1.0)
    online.partial_fit(np.array([[1.0], [3.0], [99.0]]))
    assert online.cluster_centers_.ravel().tolist() == [2.0, 99.0]


def test_the_assigner_scores_with_centres_it_is_given_not_through_its_property() -> None:
    assigner = CentroidAssigner(np.array([[0.0, 0.0], [10.0, 10.0]]))
    X = np.array([[6.0, 6.0]])
    assert assigner.predict(X)[0].tolist() == [1]
    new = np.array([[6.0, 6.0], [10.0, 10.0]])
    assigner.move_centres(new)
    new[0] = 100.0  # copied: the caller keeps its array
    assert assigner.predict(X)[0].tolist() == [0]
    assert assigner.centers.tolist() == [[6.0, 6.0], [10.0, 10.0]]
    with pytest.raises(ValueError, match="shape"):
        assigner.move_centres(np.zeros((3, 2)))
