"""userseg.cluster.sweep_k: one model per k, shared work, every k scored."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from userseg.cluster import KMeans, SweepResult, sweep_k
from userseg.errors import ConfigError

KEYS = [
    "k",
    "inertia",
    "silhouette",
    "silhouette_low",
    "silhouette_high",
    "silhouette_exact",
    "calinski_harabasz",
    "davies_bouldin",
    "n_iter",
    "seconds",
]


@pytest.fixture(scope="module")
def four_blobs() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(1200, 5, centers=4, cluster_std=1.0, random_state=3)


def test_models_and_metrics_for_every_k(four_blobs):
    X, _ = four_blobs
    seen: list[int] = []
    res = sweep_k(X, [6, 2, 3, 4, 5, 3], random_state=0, progress=seen.append)
    assert isinstance(res, SweepResult)
    assert res.ks == [2, 3, 4, 5, 6] == seen
    assert [row["k"] for row in res.metrics] == res.ks
    for row in res.metrics:
        assert list(row) == KEYS
        model = res.models[row["k"]]
        assert isinstance(model, KMeans)
        assert model.n_clusters == row["k"]
        assert model.cluster_centers_.shape == (row["k"], 5)
        assert row["inertia"] == model.inertia_
        labels = model.labels_
        assert row["calinski_harabasz"] == pytest.approx(
            calinski_harabasz_score(X, labels), rel=1e-8
        )
        # Scatter is measured to the final centres, which equal the cluster means
        # once converged (tol stops a little before): scikit-learn uses the means.
        assert row["davies_bouldin"] == pytest.approx(davies_bouldin_score(X, labels), rel=1e-2)
        # 1,200 rows: the silhouette is exact
        assert row["silhouette_exact"]
        assert row["silhouette"] == pytest.approx(silhouette_score(X, labels), abs=1e-9)
        assert row["silhouette_low"] <= row["silhouette"] <= row["silhouette_high"]
        assert row["seconds"] > 0
    inertia = res.column("inertia")
    assert np.all(np.diff(inertia) < 0)


def test_best_k_is_the_true_one(four_blobs):
    X, y = four_blobs
    res = sweep_k(X, range(2, 9), random_state=1)
    assert res.best_by("silhouette") == 4
    assert res.best_by("calinski_harabasz") == 4
    assert res.best_by("davies_bouldin") == 4
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, res.models[4].labels_) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="inertia"):
        res.best_by("inertia")
    with pytest.raises(ConfigError, match="metric must be one of"):
        res.best_by("gap")


def test_shared_seeding_is_as_good_as_separate_fits():
    # Reading every k's seeds off one k-means++ ordering must not cost quality:
    # averaged over seeds and k, the sweep matches separate fits.
    X, _ = make_blobs(40_000, 8, centers=6, cluster_std=2.5, random_state=0)
    X = X.astype(np.float32)
    ks = range(2, 9)
    swept = np.zeros(len(ks))
    alone = np.zeros(len(ks))
    for seed in range(4):
        res = sweep_k(
            X, ks, random_state=seed, init_sample_size=4_000, silhouette_sample_size=2_000
        )
        swept += res.column("inertia")
        alone += [KMeans(k, random_state=seed, init_sample_size=4_000).fit(X).inertia_ for k in ks]
        assert res.models[5].cluster_centers_.dtype == np.float32
    assert np.mean(swept / alone) < 1.01, swept / alone
    row = res.metrics[0]
    assert not row["silhouette_exact"]
    assert row["silhouette_low"] < row["silhouette"] < row["silhouette_high"]


def test_sample_weight_is_used(four_blobs):
    X, _ = four_blobs
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    res = sweep_k(X, [3, 4], random_state=0, sample_weight=w)
    for k, model in res.models.items():
        d2 = np.sum((X - model.cluster_centers_[model.labels_]) ** 2, axis=1)
        assert model.inertia_ == pytest.approx(float(np.sum(w * d2)), rel=1e-9), k
        assert model.partition_stats_.n_samples == pytest.approx(w.sum())


def test_kmeans_params_pass_through(four_blobs):
    X, _ = four_blobs
    res = sweep_k(
        X, [3, 4], random_state=0, algorithm="lloyd", n_init=3, init="random", max_iter=50
    )
    assert res.models[4].get_params()["algorithm"] == "lloyd"
    assert res.models[4].get_params()["n_init"] == 3
    assert res.best_by("silhouette") == 4


def test_reproducible(four_blobs):
    X, _ = four_blobs
    a = sweep_k(X, [2, 5], random_state=7)
    b = sweep_k(X, [2, 5], random_state=7)
    for k in (2, 5):
        np.testing.assert_array_equal(a.models[k].labels_, b.models[k].labels_)
    assert a.metrics[1]["silhouette"] == b.metrics[1]["silhouette"]


def test_dataframe_feature_names_reach_every_model(four_blobs):
    pd = pytest.importorskip("pandas")
    X, _ = four_blobs
    df = pd.DataFrame(X, columns=list("abcde"))
    res = sweep_k(df, [2, 3], random_state=0)
    for model in res.models.values():
        assert list(model.feature_names_in_) == list("abcde")
        np.testing.assert_array_equal(model.predict(df), model.labels_)


def test_duplicates_give_undefined_indices_not_errors():
    X = np.repeat([[0.0, 0.0], [3.0, 3.0]], 30, axis=0)
    with pytest.warns(Warning):
        res = sweep_k(X, [2, 3], random_state=0)
    assert res.metrics[0]["silhouette"] == pytest.approx(1.0)
    assert math.isnan(res.metrics[1]["calinski_harabasz"]) or res.models[3].inertia_ == 0.0


@pytest.mark.parametrize(
    "ks, kwargs, match",
    [
        ([], {}, "at least one"),
        ([1, 2], {}, "int >= 2"),
        ([2, 2.5], {}, "int >= 2"),
        (5, {}, "iterable"),
        ([2, 50], {}, "n_samples=50 should be > every k"),
        ([2, 3], {"n_clusters": 3}, "'ks', not 'n_clusters'"),
        ([2, 3], {"init": np.zeros((3, 2))}, "init='k-means\\+\\+' or 'random'"),
        ([2, 3], {"algorithm": "elkan"}, "'algorithm'"),
    ],
)
def test_bad_arguments(ks, kwargs, match):
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ConfigError, match=match):
        sweep_k(X, ks, **kwargs)


def test_capped_candidates_are_finished_by_refine() -> None:
    from userseg.cluster import KMeans, sweep_k

    rng = np.random.default_rng(3)
    centres = rng.normal(0, 4, (6, 5))
    X = (centres[rng.integers(0, 6, 120_000)] + rng.normal(0, 2.5, (120_000, 5))).astype(np.float32)
    capped = sweep_k(X, [8, 9], random_state=0, candidate_max_iter=1, init_sample_size=5000)
    assert any(not m.converged_ for m in capped.models.values())
    full = sweep_k(X, [8, 9], random_state=0, candidate_max_iter=None, init_sample_size=5000)
    for k in (8, 9):
        done = capped.refine(k, X)
        assert done.converged_ and capped.models[k] is done
        assert done.inertia_ <= full.models[k].inertia_ * (1 + 1e-4)
        np.testing.assert_array_equal(done.predict(X[:100]), done.labels_[:100])
    assert isinstance(capped.refine(8, X), KMeans)
    with pytest.raises(ConfigError, match="k=3 was not in the sweep"):
        capped.refine(3, X)


def test_metrics_on_other_columns() -> None:
    from userseg.cluster import sweep_k
    from userseg.evaluate import calinski_harabasz

    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(0, 1, (300, 3)), rng.normal(6, 1, (300, 3))])
    S = X[:, :2]
    res = sweep_k(X, [2, 3], random_state=0, score_on=S)
    for row, k in zip(res.metrics, [2, 3], strict=True):
        assert row["calinski_harabasz"] == pytest.approx(
            calinski_harabasz(S, res.models[k].labels_)
        )


def test_default_candidates_make_at_most_two_full_passes() -> None:
    """By default a candidate stops after 2 passes over the full data, and the
    sweep still picks the k it picks with every candidate run to convergence."""
    from userseg.cluster import sweep_k
    from userseg.evaluate.choose import choose_k

    rng = np.random.default_rng(5)
    centres = rng.normal(0, 4, (5, 4))
    X = (centres[rng.integers(0, 5, 60_000)] + rng.normal(0, 1.5, (60_000, 4))).astype(np.float32)
    capped = sweep_k(X, range(2, 9), random_state=0, init_sample_size=5000)
    full = sweep_k(X, range(2, 9), random_state=0, init_sample_size=5000, candidate_max_iter=None)
    assert max(m.n_iter_ for m in capped.models.values()) <= 2
    assert max(m.n_iter_ for m in full.models.values()) > 2
    assert choose_k(capped.metrics)[0] == choose_k(full.metrics)[0]
    for a, b in zip(capped.metrics, full.metrics, strict=True):
        assert a["calinski_harabasz"] == pytest.approx(b["calinski_harabasz"], rel=0.01)


def _overlapping_twenty(seed: int = 3, sigma: float = 1.8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres: list[np.ndarray] = []
    while len(centres) < 20:
        c = rng.uniform(0, 50, 2)
        if all(np.hypot(*(c - d)) >= 5.0 for d in centres):
            centres.append(c)
    return np.vstack([rng.normal(c, sigma, (150, 2)) for c in centres])


def test_settled_close_calls_do_not_depend_on_the_range() -> None:
    # One seeding order serves every k, so which k starts badly depends on k_max: here the
    # k = 20 candidate had inertia 99.9 with ks up to 25 and 91.8 with ks up to 40.
    from userseg.cluster.sweep import settle_k
    from userseg.evaluate.choose import choose_k

    X = _overlapping_twenty()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    settled = {}
    for k_max in (25, 40):
        res = sweep_k(X, range(2, k_max + 1), random_state=0, n_init=4)
        before = {k: res.models[k].inertia_ for k in res.ks}
        rows = settle_k(res, choose_k)
        assert {19, 20, 21} <= res.reseeded
        assert all(r["k"] in res.reseeded for r in rows if r.get("reseeded"))
        assert res.models[20].inertia_ <= before[20] * 1.01
        settled[k_max] = (choose_k(rows)[0], {k: res.models[k].inertia_ for k in (19, 20, 21)})
    assert settled[25] == settled[40]
    assert settled[25][0] == 20


def test_reseed_refuses_a_k_that_was_not_swept(four_blobs) -> None:
    X, _ = four_blobs
    res = sweep_k(X, [2, 3, 4], random_state=0)
    with pytest.raises(ConfigError, match="k=9 was not in the sweep"):
        res.reseed([9])
