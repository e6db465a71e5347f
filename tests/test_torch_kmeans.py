"""The torch k-means backend, tested on CPU torch against the Numba kernels.

On a GPU machine ``benchmarks/gpu_check.py`` runs the same code on CUDA; here the
tests skip (with the reason) only when PyTorch is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="the torch backend needs PyTorch: pip install -e '.[torch]' (CPU build)"
)

from userseg.cluster import KMeans, torch_kmeans  # noqa: E402


def _blobs(n: int = 6000, d: int = 6, k: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (k, d))
    return np.concatenate([rng.normal(c, 1.5, (n // k, d)) for c in centres])


def test_torch_lloyd_on_cpu_equals_the_numba_lloyd() -> None:
    """Same init: identical labels, inertia equal to 1e-9 relative, same centres (float64)."""
    X = _blobs()
    init = X[[0, 1300, 2500, 3700, 4900]].copy()
    ref = KMeans(5, init=init, n_init=1, algorithm="lloyd", tol=0.0).fit(X)
    run = torch_kmeans.lloyd(X, init, device="cpu")
    assert run.device == "cpu" and run.converged
    assert np.array_equal(run.labels, ref.labels_)
    assert run.inertia == pytest.approx(ref.inertia_, rel=1e-9)
    np.testing.assert_allclose(run.centers, ref.cluster_centers_, rtol=1e-9, atol=1e-12)


def test_torch_assign_equals_the_numba_predict() -> None:
    X = _blobs(seed=1)
    ref = KMeans(5, random_state=0).fit(X)
    labels, d2 = torch_kmeans.assign(X, ref.cluster_centers_, device="cpu")
    assert np.array_equal(labels, ref.predict(X))
    assert float(d2.sum()) == pytest.approx(ref.inertia_, rel=1e-9)


def test_weighted_torch_lloyd_equals_the_numba_lloyd() -> None:
    X = _blobs(seed=2)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    init = X[[10, 1310, 2510, 3710, 4910]].copy()
    ref = KMeans(5, init=init, n_init=1, algorithm="lloyd", tol=0.0).fit(X, sample_weight=w)
    run = torch_kmeans.lloyd(X, init, sample_weight=w, device="cpu")
    assert np.array_equal(run.labels, ref.labels_)
    assert run.inertia == pytest.approx(ref.inertia_, rel=1e-9)


def test_gpu_is_chosen_only_for_large_n_with_cuda(monkeypatch) -> None:
    monkeypatch.delenv("USERSEG_KMEANS_BACKEND", raising=False)
    assert not torch_kmeans.use_gpu(1000)  # small n: never
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not torch_kmeans.use_gpu(50_000_000)  # no GPU: never
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_kmeans.use_gpu(50_000_000)
    monkeypatch.setenv("USERSEG_KMEANS_BACKEND", "numba")
    assert not torch_kmeans.use_gpu(50_000_000)


def test_kmeans_hands_its_iterations_to_torch_and_gets_the_same_result(monkeypatch) -> None:
    """The embedded KMeans with the torch path forced (CPU torch here) fits what Numba fits."""
    X = _blobs(seed=3)
    ref = KMeans(5, random_state=0, n_init=2, algorithm="lloyd").fit(X)
    calls = []
    real = torch_kmeans.lloyd

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **{**kwargs, "device": "cpu"})

    monkeypatch.setattr(torch_kmeans, "use_gpu", lambda n: True)
    monkeypatch.setattr(torch_kmeans, "lloyd", spy)
    got = KMeans(5, random_state=0, n_init=2, algorithm="lloyd").fit(X)
    assert calls
    assert np.array_equal(got.labels_, ref.labels_)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)
