"""userseg.cluster.KMeans: scikit-learn's results and contract, edge cases, clear errors."""

from __future__ import annotations

import tracemalloc
import warnings

import numba
import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils.estimator_checks import parametrize_with_checks

from userseg.cluster import KMeans
from userseg.errors import ConfigError, ConvergenceWarning, DataError, NotFittedError
from userseg.evaluate.indices import (
    PartitionStats,
    calinski_harabasz_from_stats,
    davies_bouldin_from_stats,
)

DTYPES = [np.float32, np.float64]


def blobs(n: int = 600, d: int = 4, k: int = 5, std: float = 1.5, seed: int = 0) -> np.ndarray:
    X, _ = make_blobs(n, d, centers=k, cluster_std=std, random_state=seed)
    return X


# ----------------------------------------------------------- same as scikit-learn
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algorithm", ["lloyd", "hamerly"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_result_as_sklearn_from_same_centres(dtype, algorithm, seed):
    X = blobs(seed=seed, std=2.5).astype(dtype)
    init = X[np.random.default_rng(seed).choice(len(X), 5, replace=False)]
    ours = KMeans(5, init=init, algorithm=algorithm).fit(X)
    ref = SkKMeans(5, init=init, n_init=1, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.n_iter_ == ref.n_iter_
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=rtol, atol=rtol)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=rtol)
    assert ours.cluster_centers_.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_same_as_sklearn(dtype):
    X = blobs(std=2.5).astype(dtype)
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(X)).astype(dtype)
    init = X[:5]
    ours = KMeans(5, init=init, algorithm="lloyd").fit(X, sample_weight=w)
    ref = SkKMeans(5, init=init, n_init=1).fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-5)


def test_kmeans_plusplus_picks_sklearns_seeds_on_small_data():
    # Below the init sample size no sample is drawn and the random draws are scikit-learn's.
    X = blobs(n=800, k=6, std=2.0)
    ours = KMeans(6, random_state=3, algorithm="lloyd").fit(X)
    ref = SkKMeans(6, random_state=3, n_init=1).fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)


def test_hamerly_equals_lloyd():
    X = blobs(n=20_000, d=8, k=12, std=3.0).astype(np.float32)
    init = X[:12]
    a = KMeans(12, init=init, algorithm="lloyd", max_iter=500).fit(X)
    b = KMeans(12, init=init, algorithm="hamerly", max_iter=500).fit(X)
    assert a.n_iter_ == b.n_iter_
    assert np.mean(a.labels_ == b.labels_) > 0.9999
    assert b.inertia_ == pytest.approx(a.inertia_, rel=1e-6)


# ------------------------------------------------------------ large-data path
def test_sampled_init_finds_the_blobs():
    X, y = make_blobs(60_000, 6, centers=7, cluster_std=1.0, random_state=4)
    km = KMeans(7, random_state=0, init_sample_size=3_000).fit(X)
    ref = SkKMeans(7, random_state=0, n_init=3).fit(X)
    assert km.inertia_ <= ref.inertia_ * (1 + 1e-6)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, km.labels_) > 0.99


def test_n_init_on_the_sample_keeps_the_best():
    X = blobs(n=30_000, d=5, k=10, std=2.0)
    one = KMeans(10, random_state=0, init_sample_size=2_000, n_init=1).fit(X)
    many = KMeans(10, random_state=0, init_sample_size=2_000, n_init=8).fit(X)
    assert many.inertia_ <= one.inertia_ * (1 + 1e-9)


def test_deterministic_whatever_the_thread_count():
    X = blobs(n=50_000, d=8, k=9, std=3.0).astype(np.float32)
    a = KMeans(9, random_state=1).fit(X)
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        b = KMeans(9, random_state=1).fit(X)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.inertia_ == b.inertia_


def test_float32_is_not_copied_to_float64():
    X = blobs(n=1_000_000, d=16, k=8).astype(np.float32)
    KMeans(8, random_state=0).fit(X[:1000])  # compile outside the measurement
    tracemalloc.start()
    try:
        km = KMeans(8, random_state=0).fit(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # labels + two float32 bounds are 12 bytes a row and the init sample a fixed
    # ~10 MB, the data 64 bytes a row: any copy of X breaks the bound.
    assert peak < 0.5 * X.nbytes
    assert km.cluster_centers_.dtype == np.float32
    assert km.transform(X[:10]).dtype == np.float32


# ------------------------------------------------------------------ edge cases
@pytest.mark.parametrize("algorithm", ["lloyd", "hamerly"])
def test_sample_weight_equals_repeated_rows(algorithm):
    X = blobs(n=300, std=2.0)
    w = np.random.default_rng(1).integers(1, 4, len(X))
    init = X[:5]
    weighted = KMeans(5, init=init, algorithm=algorithm).fit(X, sample_weight=w)
    repeated = KMeans(5, init=init, algorithm=algorithm).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, rtol=1e-10)
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-10)
    np.testing.assert_array_equal(np.repeat(weighted.labels_, w), repeated.labels_)
    np.testing.assert_allclose(weighted.partition_stats_.counts, repeated.partition_stats_.counts)


def test_zero_weight_rows_do_not_count():
    X = blobs(n=300, std=2.0)
    w = np.ones(len(X))
    w[::3] = 0.0
    init = X[1:6]
    a = KMeans(5, init=init).fit(X, sample_weight=w)
    b = KMeans(5, init=init).fit(X[w > 0])
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-10)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-10)


@pytest.mark.parametrize("algorithm", ["lloyd", "hamerly"])
def test_empty_cluster_is_moved_to_the_farthest_point(algorithm):
    X = blobs(n=400, k=3, std=1.0)
    init = np.vstack([X[:3], [[1e4] * X.shape[1]]])  # the 4th centre attracts nobody
    km = KMeans(4, init=init, algorithm=algorithm).fit(X)
    assert np.all(np.isfinite(km.cluster_centers_))
    assert np.bincount(km.labels_, minlength=4).min() > 0
    if algorithm == "lloyd":  # one empty cluster: scikit-learn's choice is unique
        ref = SkKMeans(4, init=init, n_init=1).fit(X)
        np.testing.assert_array_equal(km.labels_, ref.labels_)
        np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-10)


def test_duplicate_points_and_too_few_distinct_points():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 20, axis=0)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        km = KMeans(4, random_state=0).fit(X)
    assert np.all(np.isfinite(km.cluster_centers_))
    assert km.inertia_ == 0.0
    assert len(np.unique(km.labels_)) == 3
    km3 = KMeans(3, random_state=0).fit(X)
    assert km3.inertia_ == 0.0
    assert sorted(np.bincount(km3.labels_).tolist()) == [20, 20, 20]


@pytest.mark.parametrize("dtype", DTYPES)
def test_single_cluster_is_the_weighted_mean(dtype):
    X = blobs(n=50).astype(dtype)
    w = np.arange(1, 51, dtype=dtype)
    km = KMeans(1, random_state=0).fit(X, sample_weight=w)
    mean = np.average(X.astype(np.float64), axis=0, weights=w)
    np.testing.assert_allclose(km.cluster_centers_[0], mean, rtol=1e-5)
    assert np.all(km.labels_ == 0)
    expected = float(np.sum(w * np.sum((X - mean) ** 2, axis=1)))
    assert km.inertia_ == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("algorithm", ["lloyd", "hamerly"])
def test_as_many_clusters_as_points(algorithm):
    X = np.random.default_rng(0).normal(size=(12, 3))
    km = KMeans(12, random_state=0, algorithm=algorithm).fit(X)
    assert km.inertia_ == pytest.approx(0.0, abs=1e-20)
    assert sorted(km.labels_.tolist()) == list(range(12))


def test_max_iter_reached_warns():
    X = blobs(n=2000, std=4.0)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        km = KMeans(5, random_state=0, max_iter=1, tol=0).fit(X)
    assert km.n_iter_ == 1


# ------------------------------------------------------------ fitted attributes
def test_partition_stats_give_the_indices_without_a_pass():
    X = blobs(n=800, std=2.0)
    km = KMeans(5, random_state=0, tol=0).fit(X)  # converged: centres are the means
    stats = km.partition_stats_
    assert isinstance(stats, PartitionStats)
    assert stats.n_samples == len(X)
    assert km.inertia_ == pytest.approx(stats.sq_dist_sums.sum(), rel=1e-12)
    assert calinski_harabasz_from_stats(stats) == pytest.approx(
        calinski_harabasz_score(X, km.labels_), rel=1e-8
    )
    assert davies_bouldin_from_stats(stats) == pytest.approx(
        davies_bouldin_score(X, km.labels_), rel=1e-6
    )


def test_predict_transform_score():
    X = blobs(n=500, std=2.0).astype(np.float32)
    km = KMeans(5, random_state=0).fit(X)
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    assert km.predict(X).dtype == np.int32
    np.testing.assert_allclose(
        km.transform(X), euclidean_distances(X, km.cluster_centers_), rtol=1e-4, atol=1e-4
    )
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-6)
    np.testing.assert_array_equal(KMeans(5, random_state=0).fit_predict(X), km.labels_)
    # float64 rows against float32 centres: computed in float64
    assert km.predict(X[:7].astype(np.float64)).tolist() == km.labels_[:7].tolist()


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X = blobs(n=200, d=3)
    df = pd.DataFrame(X, columns=["recency", "frequency", "monetary"])
    km = KMeans(3, random_state=0).fit(df)
    assert list(km.feature_names_in_) == ["recency", "frequency", "monetary"]
    assert km.n_features_in_ == 3
    assert list(km.get_feature_names_out()) == ["kmeans0", "kmeans1", "kmeans2"]
    np.testing.assert_array_equal(km.predict(df), km.labels_)


def test_readonly_input():
    X = blobs(n=300)
    X.setflags(write=False)
    km = KMeans(5, random_state=0).fit(X)
    assert km.predict(X).shape == (300,)


def test_caller_data_unchanged():
    X = blobs(n=300)
    before = X.copy()
    KMeans(5, random_state=0).fit(X, sample_weight=np.ones(300))
    np.testing.assert_array_equal(X, before)


# ---------------------------------------------------------------------- errors
def test_more_clusters_than_samples():
    with pytest.raises(ConfigError, match=r"^n_samples=5 should be >= n_clusters=8\.$"):
        KMeans(8).fit(np.ones((5, 2)))


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "inf")])
def test_nan_and_inf_are_refused(bad, word):
    X = blobs(n=50)
    X[7, 1] = bad
    with pytest.raises(DataError, match=word) as info:
        KMeans(3).fit(X)
    assert isinstance(info.value, ValueError)  # scikit-learn callers catch ValueError


@pytest.mark.parametrize("X", [np.ones(10), np.ones((2, 3, 4)), np.ones((0, 3)), [[1, "a"]]])
def test_wrong_shapes_and_types_are_refused(X):
    with pytest.raises(DataError):
        KMeans(1).fit(X)


def test_predict_checks_features_and_fit():
    with pytest.raises(NotFittedError, match="not fitted"):
        KMeans(2).predict(np.ones((3, 2)))
    km = KMeans(2, random_state=0).fit(blobs(n=40, d=3))
    with pytest.raises(DataError, match="3 features"):
        km.predict(np.ones((4, 2)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_clusters": 0}, "'n_clusters' parameter of KMeans must be an int in the range"),
        ({"n_clusters": 2.5}, "'n_clusters'"),
        ({"n_init": 0}, "'n_init'"),
        ({"max_iter": 0}, "'max_iter'"),
        ({"tol": -1.0}, "'tol'"),
        ({"init": "kmeans||"}, "'init'"),
        ({"algorithm": "elkan"}, "'algorithm'"),
        ({"init_sample_size": 1}, "'init_sample_size'"),
        ({"init": np.ones((3, 4))}, r"initial centers \(3, 4\) does not match"),
    ],
)
def test_bad_parameters(params, match):
    kwargs = {"n_clusters": 2} | params
    with pytest.raises(ConfigError, match=match):
        KMeans(**kwargs).fit(blobs(n=40, d=3))


@pytest.mark.parametrize("w", [-np.ones(40), np.zeros(40), np.ones(39), np.full(40, np.nan)])
def test_bad_sample_weight(w):
    with pytest.raises(DataError):
        KMeans(2).fit(blobs(n=40, d=3), sample_weight=w)


def test_explicit_init_with_n_init_warns_like_sklearn():
    X = blobs(n=40, d=3)
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        KMeans(2, init=X[:2], n_init=3).fit(X)


# ------------------------------------------------------- scikit-learn's checks
# Each check we do not pass, and why.
EXPECTED_FAILED_CHECKS = {
    # As scikit-learn's own KMeans: with k-means++ seeding, weights are not
    # equivalent to removed/repeated rows, because the rows drawn differ.
    # (With a fixed init they are: test_sample_weight_equals_repeated_rows.)
    "check_sample_weight_equivalence_on_dense_data": (
        "sample_weight is not equivalent to removing/repeating samples under random seeding."
    ),
}


@parametrize_with_checks(
    [KMeans(n_clusters=2, max_iter=5, n_init=2, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
