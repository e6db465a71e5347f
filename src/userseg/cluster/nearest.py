"""The nearest centre of each user: the one implementation (k-means, DP k-means, the service).

NumPy only, so that importing it stays light (the privacy package uses it).
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_centres"]

_CHUNK = 65536  # rows per pass: never an n × k matrix at once


def nearest_centres(X: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre of each row of ``X``, and the Euclidean distance to it.

    Assumes ``X`` and ``centres`` are finite float64 matrices of one width;
    works in chunks of rows, so memory stays bounded whatever the number of users.

    Examples
    --------
    >>> labels, dist = nearest_centres(np.array([[0.0, 1.0], [9.0, 9.0]]),
    ...                                np.array([[0.0, 0.0], [10.0, 10.0]]))
    >>> labels.tolist(), dist.round(3).tolist()
    ([0, 1], [1.0, 1.414])
    """
    labels = np.empty(len(X), dtype=np.int64)
    dist = np.empty(len(X), dtype=np.float64)
    c_sq = np.einsum("ij,ij->i", centres, centres)
    for start in range(0, len(X), _CHUNK):
        chunk = X[start : start + _CHUNK]
        d2 = np.einsum("ij,ij->i", chunk, chunk)[:, None] - 2 * chunk @ centres.T + c_sq
        lab = d2.argmin(axis=1)
        labels[start : start + len(chunk)] = lab
        dist[start : start + len(chunk)] = np.sqrt(np.maximum(d2[np.arange(len(chunk)), lab], 0))
    return labels, dist
