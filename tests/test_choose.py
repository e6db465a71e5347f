"""Choice of k: silhouette shortlist, then a consensus of three metrics."""

from __future__ import annotations

import pytest

from userseg.errors import ConfigError
from userseg.evaluate.choose import choose_k


def _row(k, sil, ch, db, low=None, high=None):
    r = {"k": k, "silhouette": sil, "calinski_harabasz": ch, "davies_bouldin": db}
    if low is not None:
        r.update(silhouette_low=low, silhouette_high=high)
    return r


def test_a_clear_silhouette_winner_is_chosen_even_if_ch_prefers_two() -> None:
    rows = [_row(2, 0.18, 1000, 1.6), _row(3, 0.17, 900, 2.0), _row(6, 0.25, 700, 1.7)]
    k, reason, table = choose_k(rows)
    assert k == 6
    assert "clearly highest silhouette" in reason
    assert "calinski-harabasz alone: k=2" in reason and "davies-bouldin alone: k=2" in reason
    assert [r["shortlisted"] for r in table] == [False, False, True]


def test_ties_within_the_interval_go_to_the_consensus() -> None:
    rows = [
        _row(3, 0.300, 500, 1.2, 0.29, 0.31),
        _row(4, 0.302, 800, 0.9, 0.292, 0.312),
        _row(5, 0.25, 900, 0.8, 0.24, 0.26),
    ]
    k, reason, table = choose_k(rows)
    assert k == 4  # 3 and 4 are indistinguishable by silhouette; 4 wins on CH and DB
    assert "among the k the silhouette cannot tell apart (3, 4)" in reason
    assert table[1]["mean_rank"] == 1.0 and table[2]["shortlisted"] is False


def test_exact_ties_prefer_the_smaller_k() -> None:
    rows = [_row(2, 0.3, 100, 1.0), _row(3, 0.3, 100, 1.0)]
    assert choose_k(rows)[0] == 2


def test_single_and_empty() -> None:
    assert choose_k([_row(4, 0.2, 1, 1)])[:2] == (4, "k=4 was given.")
    with pytest.raises(ConfigError):
        choose_k([])
    with pytest.raises(ConfigError, match="finite silhouette"):
        choose_k([_row(2, float("nan"), 1, 1), _row(3, float("nan"), 1, 1)])


def test_stability_filters_and_breaks_ties() -> None:
    rows = [_row(2, 0.300, 900, 1.0), _row(4, 0.299, 800, 1.1), _row(5, 0.298, 700, 1.2)]
    rows[0]["stability"], rows[1]["stability"], rows[2]["stability"] = 0.5, 0.95, 0.9
    k, reason, table = choose_k(rows)
    assert k == 4  # 2 is unstable; 4 beats 5 on every metric
    assert "k=2 left out as unstable" in reason and "and stability" in reason
    assert table[0]["shortlisted"] is False
    for r in rows:
        r["stability"] = 0.3  # all unstable: the filter does not empty the shortlist
    assert choose_k(rows)[0] == 2
