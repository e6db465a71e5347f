"""Differentially private k-means and the privacy budget."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from userseg.errors import ConfigError, DataError, NotFittedError, PrivacyBudgetError
from userseg.privacy.dp import DPKMeans, PrivacyBudget, laplace_noise

pytest.importorskip("opendp", reason="DP k-means needs OpenDP (dp extra)")


def _blobs(n: int = 20_000, d: int = 4, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-6, 6, size=(k, d))
    labels = rng.integers(0, k, n)
    return centres[labels] + rng.normal(0, 1, (n, d)), labels


def test_budget_is_recorded_and_refused_when_spent() -> None:
    budget = PrivacyBudget(1.0, dataset="shop.users")
    budget.spend(0.4, "fit 1")
    budget.spend(0.6, "fit 2")  # exactly the whole budget is allowed
    assert budget.remaining == pytest.approx(0.0) and budget.spent == pytest.approx(1.0)
    with pytest.raises(PrivacyBudgetError, match=r"fit 3 needs epsilon=0\.1 .*'shop.users' has 0"):
        budget.spend(0.1, "fit 3")
    assert [w for w, _ in budget.ledger] == ["fit 1", "fit 2"]  # a refusal spends nothing
    assert budget.to_dict()["ledger"] == [("fit 1", 0.4), ("fit 2", 0.6)]
    with pytest.raises(ConfigError):
        PrivacyBudget(0)
    with pytest.raises(ConfigError):
        budget.spend(float("nan"), "x")


def test_fit_charges_the_budget_before_reading_and_refuses_when_spent() -> None:
    X, _ = _blobs(5000)
    budget = PrivacyBudget(1.5, dataset="d")
    DPKMeans(4, epsilon=1.0, bounds=(-10, 10), budget=budget, random_state=0).fit(X)
    assert budget.remaining == pytest.approx(0.5)
    model = DPKMeans(4, epsilon=1.0, bounds=(-10, 10), budget=budget, random_state=0)
    with pytest.raises(PrivacyBudgetError, match="DPKMeans"):
        model.fit(X)
    assert not hasattr(model, "cluster_centers_")
    assert budget.remaining == pytest.approx(0.5)


def test_utility_close_to_plain_kmeans_on_separated_groups() -> None:
    from sklearn.cluster import KMeans

    X, _ = _blobs(20_000)
    plain = KMeans(4, n_init=1, random_state=0).fit(X)
    model = DPKMeans(4, epsilon=1.0, bounds=(-10, 10), random_state=0).fit(X)
    assert model.cluster_centers_.shape == (4, 4) and model.labels_.shape == (20_000,)
    assert model.inertia_ / plain.inertia_ <= 1.5
    assert model.epsilon_spent_ == 1.0 and model.n_iter_ == 3
    assert (model.predict(X[:10]) == model.labels_[:10]).all()
    # centres stay inside the declared bounds
    assert (np.abs(model.cluster_centers_) <= 10).all()


def test_bounds_must_be_declared_and_inputs_valid() -> None:
    X, _ = _blobs(100)
    with pytest.raises(ConfigError, match="declare the range"):
        DPKMeans(2).fit(X)
    with pytest.raises(ConfigError, match="upper > lower"):
        DPKMeans(2, bounds=(5, 5)).fit(X)
    with pytest.raises(ConfigError, match="n_clusters=1"):
        DPKMeans(1, bounds=(-1, 1)).fit(X)
    with pytest.raises(ConfigError, match="epsilon=0"):
        DPKMeans(2, epsilon=0, bounds=(-1, 1)).fit(X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        DPKMeans(2, bounds=(-1, 1)).fit(bad)
    with pytest.raises(NotFittedError):
        DPKMeans(2, bounds=(-1, 1)).predict(X)
    assert DPKMeans(3).set_params(epsilon=2.0).get_params()["epsilon"] == 2.0


def test_laplace_noise_has_the_calibrated_scale() -> None:
    noise = laplace_noise(np.zeros(4000), sensitivity=2.0, epsilon=0.5)  # scale 4
    assert abs(noise.mean()) < 0.5
    assert np.mean(np.abs(noise)) == pytest.approx(4.0, rel=0.1)  # E|Laplace(b)| = b


def test_doctest() -> None:
    from userseg.privacy import dp

    assert doctest.testmod(dp).failed == 0
