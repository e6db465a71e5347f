"""BG/NBD and Gamma-Gamma: recovery on simulated data, the published CDNOW fit, lifetimes parity."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from userseg.errors import (
    ConfigError,
    DataError,
    ModelAssumptionWarning,
    NotFittedError,
    UsersegError,
)
from userseg.value import BGNBD, GammaGamma, ValueModel
from userseg.value.simulate import simulate_bgnbd, simulate_gamma_gamma

TRUE_BG = {"r": 0.75, "alpha": 20.0, "a": 0.8, "b": 2.5}  # days; about one purchase a month
TRUE_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}  # the CDNOW spend fit


def _lifetimes():
    try:
        import lifetimes
    except Exception as exc:  # ImportError, or a numpy/pandas incompatibility at import
        pytest.skip(f"lifetimes is not installed or does not import here ({exc!r})")
    import lifetimes

    return lifetimes


def _cdnow() -> pd.DataFrame:
    """The CDNOW 2,357-customer summary (39-week calibration) shipped inside lifetimes."""
    _lifetimes()
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    return load_cdnow_summary_data_with_monetary_value().rename(
        columns={"monetary_value": "monetary"}
    )


# -- recovery on data simulated from the models -------------------------------------------


def test_bgnbd_recovers_known_parameters_within_5_percent() -> None:
    X = simulate_bgnbd(200_000, TRUE_BG, T=(180.0, 720.0), seed=1)
    model = BGNBD().fit(X)
    assert model.converged_
    for name, truth in TRUE_BG.items():
        assert model.params_[name] == pytest.approx(truth, rel=0.05), name


def test_gamma_gamma_recovers_known_parameters_within_5_percent() -> None:
    X = simulate_gamma_gamma(200_000, TRUE_GG, frequency=(1, 12), seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelAssumptionWarning)  # independent by construction
        model = GammaGamma().fit(X)
    assert model.converged_
    for name, truth in TRUE_GG.items():
        assert model.params_[name] == pytest.approx(truth, rel=0.05), name
    assert abs(model.independence_["correlation"]) < 0.05
    assert model.independence_["passed"] is True


def test_simulation_is_reproducible() -> None:
    a = simulate_bgnbd(1000, TRUE_BG, seed=3)
    b = simulate_bgnbd(1000, TRUE_BG, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert (a["recency"] <= a["T"]).all() and (a.loc[a["frequency"] == 0, "recency"] == 0).all()


# -- the published CDNOW reference fit ----------------------------------------------------


def test_cdnow_reference_fit() -> None:
    """Fader, Hardie & Lee (2005): r 0.243, alpha 4.414, a 0.793, b 2.426 (weeks);
    Fader & Hardie's Gamma-Gamma note: p 6.25, q 3.74, gamma 15.44."""
    d = _cdnow()
    bg = BGNBD().fit(d)
    got = bg.params_
    assert round(got["r"], 3) == 0.243
    assert round(got["alpha"], 3) == 4.414
    assert round(got["a"], 3) == 0.793
    assert round(got["b"], 3) == 2.426
    assert bg.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)  # the paper's LL
    gg = GammaGamma().fit(d)
    assert gg.n_customers_ == 946  # repeat buyers only
    assert round(gg.params_["p"], 2) == 6.25
    assert round(gg.params_["q"], 2) == 3.74
    assert gg.params_["gamma"] == pytest.approx(15.44, abs=0.01)
    assert gg.independence_["correlation"] == pytest.approx(0.1139, abs=1e-3)
    assert gg.independence_["passed"] is True


# -- parity with lifetimes ------------------------------------------------------------------


def test_bgnbd_log_likelihood_equals_lifetimes() -> None:
    lifetimes = _lifetimes()
    d = _cdnow()
    f, rec, T = (d[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    nll = lifetimes.BetaGeoFitter._negative_log_likelihood
    for params in ({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, TRUE_BG):
        ours = BGNBD.from_dict({"params": params}).log_likelihood(d)
        logp = np.log([params[k] for k in ("r", "alpha", "a", "b")])
        for i in range(0, len(d), 97):  # per customer
            theirs = -nll(logp, f[i : i + 1], rec[i : i + 1], T[i : i + 1], np.ones(1), 0.0)
            assert ours[i] == pytest.approx(theirs, abs=1e-6)
        total = -nll(logp, f, rec, T, np.ones(len(f)), 0.0) * len(f)
        assert ours.sum() == pytest.approx(total, abs=1e-6)


def test_gamma_gamma_log_likelihood_equals_lifetimes() -> None:
    lifetimes = _lifetimes()
    d = _cdnow()
    rep = d[d["frequency"] > 0]
    f, m = rep["frequency"].to_numpy(float), rep["monetary"].to_numpy(float)
    nll = lifetimes.GammaGammaFitter._negative_log_likelihood
    for params in (TRUE_GG, {"p": 2.0, "q": 1.5, "gamma": 40.0}):
        ours = GammaGamma.from_dict({"params": params}).log_likelihood(rep)
        assert ours.shape == (len(rep),)
        logp = np.log([params["p"], params["q"], params["gamma"]])
        for i in range(0, len(rep), 31):
            theirs = -nll(logp, f[i : i + 1], m[i : i + 1], np.ones(1), 0.0)
            assert ours[i] == pytest.approx(theirs, abs=1e-6)
        total = -nll(logp, f, m, np.ones(len(f)), 0.0) * len(f)
        assert ours.sum() == pytest.approx(total, abs=1e-6)


def test_predictions_equal_lifetimes() -> None:
    lifetimes = _lifetimes()
    d = _cdnow()
    f, rec, T, m = (d[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary"))
    lbg = lifetimes.BetaGeoFitter().fit(f, rec, T)
    lgg = lifetimes.GammaGammaFitter().fit(f[f > 0], m[f > 0])
    bg = BGNBD.from_dict({"params": dict(zip(["r", "alpha", "a", "b"], lbg.params_, strict=True))})
    gg = GammaGamma.from_dict({"params": dict(zip(["p", "q", "gamma"], lgg.params_, strict=True))})
    for t in (1.0, 10.0, 39.0):
        np.testing.assert_allclose(
            bg.predict(d, t),
            lbg.conditional_expected_number_of_purchases_up_to_time(t, f, rec, T),
            rtol=1e-9,
        )
    np.testing.assert_allclose(
        bg.p_alive(d), lbg.conditional_probability_alive(f, rec, T), rtol=1e-12
    )
    np.testing.assert_allclose(
        gg.predict(d), lgg.conditional_expected_average_profit(f, m), rtol=1e-12
    )
    # Discounted value: 12 periods of 4 weeks at 1 % a period, as lifetimes' freq="W" does
    # with its 4.345-week months; our periods are whole time units, so compare 12 x 4.345.
    s = pd.Series
    theirs = lgg.customer_lifetime_value(
        lbg, s(f), s(rec), s(T), s(m), time=12, discount_rate=0.01, freq="W"
    ).to_numpy()
    vm = ValueModel(horizon=12 * 4.345, period=4.345, discount_rate=0.01, rate_period=4.345)
    vm.transactions_, vm.spend_ = bg, gg
    np.testing.assert_allclose(vm.predict(d)["value"].to_numpy(), theirs, rtol=1e-9)


# -- the estimator contract ---------------------------------------------------------------


def test_params_round_trip_through_json() -> None:
    X = simulate_bgnbd(5000, TRUE_BG, seed=4)
    bg = BGNBD().fit(X)
    state = json.loads(json.dumps(bg.to_dict()))
    again = BGNBD.from_dict(state)
    np.testing.assert_array_equal(again.predict(X, 30.0), bg.predict(X, 30.0))
    assert state["model"] == "bgnbd" and state["format_version"] == 1
    gg = GammaGamma().fit(simulate_gamma_gamma(3000, TRUE_GG, seed=5))
    assert GammaGamma.from_dict(json.loads(json.dumps(gg.to_dict()))).params_ == gg.params_


def test_fit_returns_self_and_leaves_the_input_alone() -> None:
    X = simulate_bgnbd(2000, TRUE_BG, seed=6)
    before = X.copy()
    bg = BGNBD()
    assert bg.fit(X) is bg
    pd.testing.assert_frame_equal(X, before)
    assert bg.get_params() == {"max_iter": 200, "tol": 1e-9}
    assert set(bg.params_) == {"r", "alpha", "a", "b"}
    assert bg.n_customers_ == 2000
    # an (n, 3) array in the order frequency, recency, T works as well as a frame
    np.testing.assert_allclose(BGNBD().fit(X.to_numpy()).params_["r"], bg.params_["r"], rtol=1e-12)


def test_sample_weight_equals_repeated_rows() -> None:
    X = simulate_bgnbd(3000, TRUE_BG, seed=7)
    w = np.random.default_rng(0).integers(1, 4, len(X))
    weighted = BGNBD().fit(X, sample_weight=w)
    repeated = BGNBD().fit(X.loc[X.index.repeat(w)].reset_index(drop=True))
    for k in TRUE_BG:
        assert weighted.params_[k] == pytest.approx(repeated.params_[k], rel=1e-5)


def test_not_fitted() -> None:
    for est, call in (
        (BGNBD(), lambda e: e.predict(pd.DataFrame({"frequency": [1], "recency": [1], "T": [2]}))),
        (GammaGamma(), lambda e: e.predict(pd.DataFrame({"frequency": [1], "monetary": [5.0]}))),
    ):
        with pytest.raises(NotFittedError):
            call(est)


def test_independence_check_warns_when_spend_follows_frequency() -> None:
    X = simulate_gamma_gamma(5000, TRUE_GG, frequency=(1, 20), seed=8)
    X["monetary"] = X["monetary"] * (1 + X["frequency"])  # frequent buyers spend more
    with pytest.warns(ModelAssumptionWarning, match="independen"):
        gg = GammaGamma(independence_threshold=0.3).fit(X)
    assert gg.independence_["passed"] is False
    assert gg.independence_["correlation"] > 0.3
    assert gg.independence_["threshold"] == 0.3


# -- bad input ----------------------------------------------------------------------------


def _frame(**cols) -> pd.DataFrame:
    base = {"frequency": [2, 0, 1], "recency": [5.0, 0.0, 3.0], "T": [10.0, 8.0, 4.0]}
    base.update(cols)
    return pd.DataFrame(base)


@pytest.mark.parametrize(
    ("cols", "match"),
    [
        ({"frequency": [0, 0, 0], "recency": [0.0, 0.0, 0.0]}, "no customer has a repeat"),
        ({"recency": [12.0, 0.0, 3.0]}, "recency .* after T"),
        ({"frequency": [2.5, 0, 1]}, "whole number"),
        ({"frequency": [-1, 0, 1]}, "frequency .* negative"),
        ({"T": [10.0, np.nan, 4.0]}, "missing or infinite"),
        ({"recency": [5.0, 2.0, 3.0]}, "recency .* without a repeat"),
        ({"T": [10.0, 8.0, -1.0]}, "negative"),
    ],
)
def test_bgnbd_bad_summaries_get_clear_errors(cols, match) -> None:
    with pytest.raises(DataError, match=match):
        BGNBD().fit(_frame(**cols))


def test_missing_columns_are_named() -> None:
    with pytest.raises(DataError, match="T") as err:
        BGNBD().fit(pd.DataFrame({"frequency": [1], "recency": [1.0]}))
    assert "available" in str(err.value)
    with pytest.raises(DataError, match="3 columns"):
        BGNBD().fit(np.zeros((4, 2)))


def test_gamma_gamma_refuses_negative_spend_and_no_repeat_buyers() -> None:
    X = pd.DataFrame({"frequency": [1, 2, 3], "monetary": [10.0, -4.0, 7.0]})
    with pytest.raises(DataError, match="negative spend") as err:
        GammaGamma().fit(X)
    assert err.value.details["count"] == 1
    with pytest.raises(DataError, match="no customer has a repeat"):
        GammaGamma().fit(pd.DataFrame({"frequency": [0, 0], "monetary": [0.0, 0.0]}))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": 0}, "horizon=0 should be > 0"),
        ({"horizon": -30}, "horizon=-30 should be > 0"),
        ({"discount_rate": -0.1}, "discount_rate"),
        ({"period": 0}, "period"),
    ],
)
def test_value_model_bad_settings(kwargs, match) -> None:
    X = simulate_bgnbd(500, TRUE_BG, seed=9)
    X["monetary"] = 20.0
    with pytest.raises(ConfigError, match=match):
        ValueModel(**kwargs).fit(X)


def test_estimator_errors_are_userseg_errors() -> None:
    with pytest.raises(UsersegError):
        BGNBD(max_iter=0).fit(simulate_bgnbd(100, TRUE_BG, seed=10))


def test_log_likelihood_attribute_is_the_sum_in_the_data_units() -> None:
    X = simulate_bgnbd(3000, TRUE_BG, seed=12)
    bg = BGNBD().fit(X)
    assert bg.log_likelihood_ == pytest.approx(bg.log_likelihood(X).sum(), rel=1e-10)
    G = simulate_gamma_gamma(3000, TRUE_GG, seed=12)
    gg = GammaGamma().fit(G)
    assert gg.log_likelihood_ == pytest.approx(gg.log_likelihood(G).sum(), rel=1e-10)


def test_merging_identical_rows_keeps_the_likelihood() -> None:
    """Day-level summaries repeat patterns; the fit merges them, which must change nothing."""
    from userseg.value._checks import compress
    from userseg.value.bgnbd import _Likelihood

    X = simulate_bgnbd(40_000, TRUE_BG, T=(20.0, 60.0), seed=13).round({"recency": 0, "T": 0})
    x, tx, T = (X[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    w = np.ones(len(x))
    xc, txc, Tc, wc = compress(x, tx, T, w)
    assert len(xc) < len(x) / 2 and wc.sum() == len(x)
    full = _Likelihood(x, tx / T.max(), T / T.max(), w)
    merged = _Likelihood(xc, txc / T.max(), Tc / T.max(), wc)
    for theta in (np.zeros(4), np.array([-0.3, 1.2, -0.2, 0.9])):
        f1, g1 = full.objective(theta)
        f2, g2 = merged.objective(theta)
        assert f2 == pytest.approx(f1, rel=1e-12)
        np.testing.assert_allclose(g2, g1, rtol=1e-10)


def test_large_data_newton_path_finds_the_same_optimum(monkeypatch) -> None:
    """Above 200,000 rows the fit starts on a subsample and takes Newton steps with its
    Hessian; it must land where plain L-BFGS-B on all rows does."""
    from userseg.value import _mle

    X = simulate_bgnbd(250_000, TRUE_BG, T=(30.0, 365.0), seed=14)
    G = simulate_gamma_gamma(250_000, TRUE_GG, seed=14)
    newton_bg, newton_gg = BGNBD().fit(X), GammaGamma().fit(G)
    assert newton_bg.converged_ and newton_gg.converged_
    monkeypatch.setattr(_mle, "HESSIAN_SIZE", 10**9)  # every size takes the plain path
    plain_bg, plain_gg = BGNBD().fit(X), GammaGamma().fit(G)
    for new, old in ((newton_bg, plain_bg), (newton_gg, plain_gg)):
        for k, v in old.params_.items():
            assert new.params_[k] == pytest.approx(v, rel=1e-4), k
            assert new.standard_errors_[k] == pytest.approx(old.standard_errors_[k], rel=0.05)
        assert new.log_likelihood_ >= old.log_likelihood_ - 1e-6 * abs(old.log_likelihood_)


@pytest.mark.parametrize(
    "module", ["userseg.value", "userseg.value.bgnbd", "userseg.value.summary"]
)
def test_docstring_examples_run(module) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
