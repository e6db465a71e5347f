"""Customer value: userseg's BG/NBD and Gamma-Gamma against lifetimes', side by side in one run.

Data: ``n`` customers simulated from BG/NBD (r 0.75, α 20 per day, a 0.8, b 2.5;
observed 30-365 days after their first purchase, times continuous: no two rows
alike) and ``n`` repeat buyers from Gamma-Gamma (p 6.25, q 3.74, γ 15.44, 1-10
repeat purchases). Both libraries fit the same arrays as a user would call them
(lifetimes' ``fit`` also computes its standard errors; so does userseg's).
Printed: time, memory beyond the data, the ratio, and the largest relative
difference between the two sets of parameters.

Also: the same BG/NBD data at day resolution (recency and T rounded to whole
days, as lifetimes' ``summary_data_from_transaction_data`` gives them), and the
per-customer scoring of a fitted model: expected purchases over 360 days,
P(alive), expected spend and the value over 12 periods of 30 days at 1 % a period
(lifetimes' ``customer_lifetime_value(..., time=12, freq="D")``).

    python benchmarks/bench_value.py [--quick] [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Measurement, measure, ratio_line

BG = {"r": 0.75, "alpha": 20.0, "a": 0.8, "b": 2.5}
GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _max_rel(ours: dict, theirs: dict) -> float:
    return max(abs(ours[k] / theirs[k] - 1) for k in ours)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20k customers, a smoke run")
    ap.add_argument("--sizes", default="100000,1000000")
    args = ap.parse_args(argv)
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]

    from userseg.value import BGNBD, GammaGamma, ValueModel
    from userseg.value.simulate import simulate_bgnbd, simulate_gamma_gamma

    try:
        warnings.filterwarnings("ignore", module="lifetimes")
        warnings.filterwarnings("ignore", message=".*chained_assignment.*")
        from lifetimes import BetaGeoFitter, GammaGammaFitter
    except Exception as exc:  # not installed, or broken by a newer numpy/pandas
        print(f"lifetimes is not available ({exc!r}): pip install -e '.[dev]'; userseg only")
        BetaGeoFitter = GammaGammaFitter = None
    # compile the Numba kernels before timing anything
    BGNBD().fit(simulate_bgnbd(2000, BG, seed=1))
    GammaGamma().fit(simulate_gamma_gamma(2000, GG, seed=1))

    for n in sizes:
        X = simulate_bgnbd(n, BG, T=(30.0, 365.0), seed=0)
        f, rec, T = (X[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        days = X.round({"recency": 0, "T": 0})
        fd, rd, Td = (days[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        G = simulate_gamma_gamma(n, GG, frequency=(1, 10), seed=0)
        gf, gm = G["frequency"].to_numpy(float), G["monetary"].to_numpy(float)
        cases = [
            (
                f"BG/NBD fit n={n:,}",
                lambda X=X: BGNBD().fit(X),
                lambda f=f, rec=rec, T=T: BetaGeoFitter().fit(f, rec, T),
            ),
            (
                f"BG/NBD fit, whole days n={n:,}",
                lambda d=days: BGNBD().fit(d),
                lambda f=fd, rec=rd, T=Td: BetaGeoFitter().fit(f, rec, T),
            ),
            (
                f"Gamma-Gamma fit n={n:,}",
                lambda G=G: GammaGamma().fit(G),
                lambda f=gf, m=gm: GammaGammaFitter().fit(f, m),
            ),
        ]
        fitted: dict[str, tuple[Measurement, Measurement | None]] = {}
        for case, ours_fn, peer_fn in cases:
            ours = measure("userseg", ours_fn)
            peer = measure("lifetimes", peer_fn) if BetaGeoFitter is not None else None
            fitted[case] = (ours, peer)
            if peer is None:
                print(f"{case:<34} userseg {ours.seconds:8.3f}s {ours.peak_mb:8.1f}MB")
                continue
            theirs = dict(peer.result.params_)
            if "v" in theirs:
                theirs["gamma"] = theirs.pop("v")
            diff = _max_rel(ours.result.params_, theirs)
            print(ratio_line(case, peer, ours, f"params differ by <= {diff:.1e} (relative)"))

        # scoring: expected purchases, P(alive), spend and 12-period value of every customer
        bg = fitted[f"BG/NBD fit n={n:,}"][0].result
        spend = simulate_gamma_gamma(n, GG, frequency=(1, 10), seed=1)["monetary"].to_numpy()
        S = X.assign(monetary=np.where(f > 0, spend, np.nan))
        gg = GammaGamma().fit(S[S["frequency"] > 0])
        vm = ValueModel(horizon=360.0, period=30.0, discount_rate=0.01, rate_period=30.0)
        vm.transactions_, vm.spend_ = bg, gg
        for label, frame in (("value scoring", S), ("scoring, whole days", days)):
            frame = frame.assign(monetary=S["monetary"])
            _score(f"{label} n={n:,}", vm, frame, BetaGeoFitter, GammaGammaFitter)
    return 0


def _score(case: str, vm, frame: pd.DataFrame, BetaGeoFitter, GammaGammaFitter) -> None:
    """Every customer's expected purchases, P(alive) and 12-period value, both libraries."""
    ours = measure("userseg", lambda: vm.predict(frame))
    if BetaGeoFitter is None:
        print(f"{case:<34} userseg {ours.seconds:8.3f}s {ours.peak_mb:8.1f}MB")
        return
    bg, gg = vm.transactions_, vm.spend_
    lbg = BetaGeoFitter()
    lbg.params_ = pd.Series(
        [bg.params_[k] for k in ("r", "alpha", "a", "b")], index=["r", "alpha", "a", "b"]
    )
    lbg.predict = lbg.conditional_expected_number_of_purchases_up_to_time
    lgg = GammaGammaFitter()
    lgg.params_ = pd.Series([gg.params_[k] for k in ("p", "q", "gamma")], index=["p", "q", "v"])
    f, rec, T = (frame[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    m = np.nan_to_num(frame["monetary"].to_numpy())

    def peer_score():
        s = pd.Series
        return (
            lbg.conditional_expected_number_of_purchases_up_to_time(360.0, f, rec, T),
            lbg.conditional_probability_alive(f, rec, T),
            lgg.customer_lifetime_value(
                lbg, s(f), s(rec), s(T), s(m), time=12, discount_rate=0.01, freq="D"
            ).to_numpy(),
        )

    peer = measure("lifetimes", peer_score)
    e, p, v = peer.result
    out = ours.result
    diff = max(
        float(np.max(np.abs(out["expected_purchases"] - e) / np.maximum(e, 1e-12))),
        float(np.max(np.abs(out["p_alive"] - p) / p)),
        float(np.max(np.abs(out["value"] - v) / np.maximum(v, 1e-12))),
    )
    print(ratio_line(case, peer, ours, f"results differ by <= {diff:.1e}"))


if __name__ == "__main__":
    sys.exit(main())
