"""Issue 9, model side: what a real-data trial on a marketing table and the Fränti A-sets showed.

The data are generated here, shaped like the cases of the trial: a 2,240-customer
marketing table (spend per product, purchases per channel, campaign responses, 21
complainers, two constant columns, a birth year) and 20 Gaussian blobs of 150 points.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from userseg import Segmenter
from userseg.cli import app
from userseg.errors import ConfigError, SchemaError

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def marketing(n: int = 2240, seed: int = 0) -> pd.DataFrame:
    """A customer table shaped like the trial's (column names as in the file)."""
    rng = np.random.default_rng(seed)
    rich = rng.random(n) < 0.35  # two kinds of customers: a spend that follows income
    income = np.where(rich, rng.normal(75_000, 9_000, n), rng.normal(35_000, 9_000, n))
    wealth = np.clip(income / 50_000, 0.2, None)
    df = pd.DataFrame(
        {
            "ID": np.arange(1, n + 1),
            "Year_Birth": rng.integers(1940, 1997, n),
            "Education": rng.choice(["Graduation", "PhD", "Master", "Basic"], n),
            "Income": income.round(0),
            "Kidhome": np.where(rich, 0, rng.integers(0, 3, n)),
            "Dt_Customer": (
                pd.Timestamp("2012-07-30") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
            ).strftime("%Y-%m-%d"),
            "Recency": rng.integers(0, 100, n),
            "MntWines": (rng.gamma(2, 150, n) * wealth**2).round(0),
            "MntMeatProducts": (rng.gamma(2, 80, n) * wealth**2).round(0),
            "MntFishProducts": (rng.gamma(2, 18, n) * wealth**2).round(0),
            "NumWebPurchases": rng.poisson(np.where(rich, 6, 2.5)),
            "NumStorePurchases": rng.poisson(np.where(rich, 8, 3.5)),
            "NumWebVisitsMonth": rng.poisson(np.where(rich, 3, 7)),
        }
    )
    for i in range(1, 6):
        df[f"AcceptedCmp{i}"] = (rng.random(n) < np.where(rich, 0.12, 0.03)).astype(int)
    complain = np.zeros(n, dtype=int)
    complain[rng.choice(n, 21, replace=False)] = 1
    df["Complain"] = complain
    df["Z_CostContact"] = 3
    df["Z_Revenue"] = 11
    df["Response"] = (rng.random(n) < np.where(rich, 0.3, 0.08)).astype(int)
    return df


def twenty_blobs(seed: int = 0, sigma: float = 1.0, min_sep: float = 7.0) -> pd.DataFrame:
    """20 Gaussian blobs of 150 points in the plane (a stand-in for Fränti's A1)."""
    rng = np.random.default_rng(seed)
    centres: list[np.ndarray] = []
    while len(centres) < 20:
        c = rng.uniform(0, 50, 2)
        if all(np.hypot(*(c - d)) >= min_sep for d in centres):
            centres.append(c)
    X = np.vstack([rng.normal(c, sigma, (150, 2)) for c in centres])
    return pd.DataFrame(X * 1000, columns=["x", "y"])


def _in_model(seg: Segmenter, feature: str) -> bool:
    """Whether a feature's own values (not only its missing-value indicator) are clustered."""
    out = [str(c) for c in seg.preparer_.get_feature_names_out()]
    return feature in out or any(c.startswith(f"{feature}=") for c in out)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    df = marketing().drop(columns=["ID"])
    rng = np.random.default_rng(1)
    # one feature for each way of being left out
    df["MntWines_again"] = df["MntWines"] * 1.01 + rng.normal(0, 0.01, len(df))  # correlated
    df["Note"] = [f"called on day {i}" for i in rng.integers(0, 400, len(df))]  # identifier-like
    df["Empty"] = np.nan  # no values
    df["Country"] = "PT"  # a single level
    df["Vip"] = np.where(np.arange(len(df)) < 12, "yes", "no")  # near-constant category
    return df


# -- item 1: what the report says was dropped is what the model leaves out -------------------


def _check_dropped_is_left_out(seg: Segmenter, features: list[str]) -> dict[str, str]:
    dropped = seg.selection_["dropped"]
    left_out = {f for f in features if not _in_model(seg, f)}
    assert set(dropped) == left_out, (sorted(dropped), sorted(left_out))
    assert set(seg.selection_["kept"]) == set(features) - left_out
    return dropped


def test_dropped_features_are_left_out_of_the_model_for_every_reason(frame) -> None:
    seg = Segmenter(n_segments=6, stability_runs=0, rules=False, random_state=0).fit(frame)
    dropped = _check_dropped_is_left_out(seg, list(frame.columns))
    reasons = {
        "Complain": "near-constant",
        "Vip": "near-constant",
        "Z_CostContact": "constant",
        "Country": "constant",
        "MntWines_again": "repeats MntWines",
        "Note": "identifier-like",
        "Empty": "no values",
    }
    for feature, words in reasons.items():
        assert words in dropped[feature], (feature, dropped[feature])
    # the 21 complainers are not a segment of their own (they were, at k = 6)
    complainers = set(np.flatnonzero(frame["Complain"].to_numpy() == 1))
    for s in range(seg.n_segments_):
        members = set(np.flatnonzero(seg.labels_ == s))
        assert not members <= complainers, f"segment {s} holds only complainers"


def test_dropped_features_are_left_out_with_a_target_too(frame) -> None:
    # the preparation prunes repeats at its own max_correlation, after the supervised
    # selection: what it leaves out is reported as dropped too
    seg = Segmenter(
        n_segments=4,
        target="Response",
        prepare={"max_correlation": 0.5},
        stability_runs=0,
        rules=False,
        random_state=0,
    ).fit(frame)
    dropped = _check_dropped_is_left_out(seg, [c for c in frame.columns if c != "Response"])
    assert "near-constant" in dropped["Complain"]
    assert any("max_correlation 0.5" in why for why in dropped.values()), dropped


# -- item 4: --target matched whatever its case, and its rate shown per segment --------------


def _wilson(k: int, n: int, z: float = stats.norm.ppf(0.975)) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_target_is_matched_whatever_its_case_and_suggested_when_wrong() -> None:
    df = marketing(900).drop(columns=["ID"]).rename(columns=str.lower)
    seg = Segmenter(n_segments=3, target="Response", stability_runs=0, rules=False).fit(df)
    assert seg.outcome_["target"] == "response"
    with pytest.raises(SchemaError, match=r"did you mean 'response'"):
        Segmenter(n_segments=3, target="Responce", stability_runs=0).fit(df)


def test_target_rate_per_segment_with_lift_and_wilson_interval(frame) -> None:
    seg = Segmenter(n_segments=4, target="Response", stability_runs=0, rules=False).fit(frame)
    y = frame["Response"].to_numpy()
    overall = y.mean()
    assert seg.outcome_["kind"] == "rate" and seg.outcome_["positive"] == "1"
    assert seg.outcome_["overall"]["value"] == pytest.approx(overall)
    for p in seg.profiles_:
        o = p.outcome
        members = y[seg.labels_ == p.segment]
        low, high = _wilson(int(members.sum()), len(members))
        assert o["value"] == pytest.approx(members.mean())
        assert o["n"] == len(members)
        assert (o["low"], o["high"]) == (pytest.approx(low), pytest.approx(high))
        assert o["lift"] == pytest.approx(members.mean() / overall)
    # the segments differ in response, as the data were made
    rates = sorted(p.outcome["value"] for p in seg.profiles_)
    assert rates[-1] > 2 * rates[0]


def test_numeric_target_mean_with_t_interval() -> None:
    df = marketing(1200).drop(columns=["ID"])
    df["Purchases"] = df["NumWebPurchases"].clip(upper=6) + df["Kidhome"]
    seg = Segmenter(n_segments=3, target="purchases", stability_runs=0, rules=False).fit(df)
    assert seg.outcome_["kind"] == "mean"
    y = df["Purchases"].to_numpy(dtype=float)
    for p in seg.profiles_:
        v = y[seg.labels_ == p.segment]
        half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
        assert p.outcome["value"] == pytest.approx(v.mean())
        assert p.outcome["low"] == pytest.approx(v.mean() - half)
        assert p.outcome["high"] == pytest.approx(v.mean() + half)
        assert p.outcome["lift"] == pytest.approx(v.mean() / y.mean())


@pytest.fixture(scope="module")
def marketing_db(tmp_path_factory) -> Path:
    """The marketing table imported and featured (no run yet)."""
    folder = tmp_path_factory.mktemp("marketing")
    csv = folder / "marketing.csv"
    marketing().to_csv(csv, index=False)
    db = folder / "m.duckdb"
    res = run("ingest", csv, "--kind", "users", "--db", db)
    assert res.exit_code == 0, res.output
    res = run("features", "--db", db)
    assert res.exit_code == 0, res.output
    return db


@pytest.fixture
def mdb(marketing_db, tmp_path) -> Path:
    copy = tmp_path / "m.duckdb"
    copy.write_bytes(marketing_db.read_bytes())
    return copy


def test_cli_target_in_any_case_shows_the_rate_per_segment(mdb, tmp_path) -> None:
    res = run("fit", "--db", mdb, "--k", "4", "--target", "Response", "--stability-runs", "0")
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "Target response: rate" in text and "Wilson" in text
    for header in ("response", "rate", "95% CI", "lift"):  # the table's columns
        assert header in res.stdout, header
    res = run(
        "fit", "--db", mdb, "--k", "4", "--target", "RESPONSE", "--stability-runs", "0", "--json"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["outcome"]["target"] == "response" and out["outcome"]["kind"] == "rate"
    for s in out["segments"]:
        o = s["outcome"]
        assert o["low"] <= o["value"] <= o["high"] and o["lift"] > 0
    html = tmp_path / "r.html"
    assert run("report", "--db", mdb, "--out", html).exit_code == 0
    text = html.read_text()
    assert "response rate" in text and "Wilson" in text and "lift" in text
    res = run("fit", "--db", mdb, "--target", "Respnse", "--stability-runs", "0")
    assert res.exit_code == 2 and "did you mean 'response'" in res.output


# -- the closing note: outcome-looking columns clustered as features ----------------------------


def test_outcome_looking_columns_get_a_warning(frame) -> None:
    seg = Segmenter(n_segments=4, stability_runs=0, rules=False).fit(frame)
    (w,) = [w for w in seg.warnings_ if w["code"] == "outcome_columns"]
    assert w["columns"] == [f"AcceptedCmp{i}" for i in range(1, 6)] + ["Response"]
    assert "--exclude" in w["message"] and "--target" in w["message"]
    # named as the target, it is no longer a feature: the others still are
    seg = Segmenter(n_segments=4, target="Response", stability_runs=0, rules=False).fit(frame)
    cols = [c for w in seg.warnings_ if w["code"] == "outcome_columns" for c in w["columns"]]
    assert "Response" not in cols
    assert all(c.startswith("AcceptedCmp") for c in cols)
    # left out, no warning
    plain = frame.drop(columns=[c for c in frame.columns if c.startswith(("Accepted", "Resp"))])
    seg = Segmenter(n_segments=4, stability_runs=0, rules=False).fit(plain)
    assert not [w for w in seg.warnings_ if w["code"] == "outcome_columns"]


def test_cli_warns_of_outcome_columns(mdb) -> None:
    res = run("fit", "--db", mdb, "--k", "3", "--stability-runs", "0")
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "warning:" in text and "response" in text and "acceptedcmp1" in text
    assert "userseg features --exclude" in text


# -- item 5: the chosen k at the edge of its range ------------------------------------------------


def test_k_at_the_top_of_its_range_is_warned() -> None:
    df = twenty_blobs()
    seg = Segmenter(random_state=0, stability_runs=0, rules=False).fit(df)
    assert seg.n_segments_ == 10 and seg.k_choice_["at_edge"] is True
    (w,) = [w for w in seg.warnings_ if w["code"] == "k_at_edge"]
    assert "largest k tried" in w["message"] and "--k-max" in w["message"]
    seg = Segmenter(k_max=30, random_state=0, stability_runs=0, rules=False).fit(df)
    assert seg.n_segments_ == 20 and not seg.k_choice_["at_edge"]
    assert not [w for w in seg.warnings_ if w["code"] == "k_at_edge"]


def test_cli_and_report_warn_of_k_at_the_edge(tmp_path) -> None:
    csv = tmp_path / "a1.csv"
    twenty_blobs().rename_axis("user_id").to_csv(csv)
    db = tmp_path / "a1.duckdb"
    assert run("ingest", csv, "--kind", "users", "--db", db).exit_code == 0
    assert run("features", "--db", db).exit_code == 0
    res = run("fit", "--db", db, "--stability-runs", "0")
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "warning: k=10 is the largest k tried" in text and "--k-max" in text
    res = run("fit", "--db", db, "--stability-runs", "0", "--json")
    assert any(w["code"] == "k_at_edge" for w in json.loads(res.stdout)["warnings"])
    html = tmp_path / "r.html"
    assert run("report", "--db", db, "--out", html).exit_code == 0
    assert "largest k tried" in html.read_text()


def test_choice_of_k_does_not_depend_on_k_max() -> None:
    # Overlapping neighbours: the k = 20 candidate of one sweep landed in a worse local
    # optimum (inertia 99.9 against 91.8) and k = 19 won with k_max = 25; 20 with 30.
    df = twenty_blobs(seed=3, sigma=1.8, min_sep=5.0)
    chosen = {
        k_max: Segmenter(k_max=k_max, random_state=0, stability_runs=0, rules=False)
        .fit(df)
        .n_segments_
        for k_max in (25, 30, 35, 40)
    }
    assert set(chosen.values()) == {20}, chosen


# -- item 8: names and profiles in words ----------------------------------------------------------


def test_names_and_profiles_read_like_words(mdb) -> None:
    res = run("fit", "--db", mdb, "--k", "6", "--stability-runs", "0", "--json")
    assert res.exit_code == 0, res.output
    segments = json.loads(res.stdout)["segments"]
    text = " ".join(
        [s["name"] for s in segments] + [d["text"] for s in segments for d in s["distinctions"]]
    )
    for raw in ("mntwines", "mntmeatproducts", "numwebpurchases", "numstorepurchases", "_"):
        assert raw not in text.lower(), raw
    assert re.search(r"meat products spend|wine spend|web purchases|store purchases", text)
    assert not re.search(r"\b1,9\d\d\b", text)  # years have no thousands separator


def test_display_names_from_the_pipeline_file(tmp_path) -> None:
    csv = tmp_path / "m.csv"
    marketing(1200).to_csv(csv, index=False)
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "database: m.duckdb\nusers: {path: m.csv}\n"
        "features:\n  display_names: {mntwines: wine spend, MntMeatProducts: meat spend}\n"
        "fit: {k: 4, stability_runs: 0}\nreport: {out: r.html}\n"
    )
    res = run("run", cfg, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    labels = {f["name"]: f["label"] for f in out["features"]["features"]}
    assert labels["mntwines"] == "wine spend" and labels["mntmeatproducts"] == "meat spend"
    assert labels["numwebpurchases"] == "web purchases"
    texts = [d["text"] for s in out["segments"] for d in s["distinctions"]]
    assert any(t.startswith(("wine spend", "meat spend")) for t in texts)
    cfg.write_text(cfg.read_text().replace("mntwines: wine", "mntwhines: wine"))
    res = run("run", cfg)
    assert res.exit_code == 2 and "mntwhines" in res.output and "mntwines" in res.output


def test_years_are_never_printed_with_thousands_separators(mdb, tmp_path) -> None:
    res = run("fit", "--db", mdb, "--k", "6", "--stability-runs", "0")
    assert res.exit_code == 0, res.output
    html = tmp_path / "r.html"
    assert run("report", "--db", mdb, "--out", html).exit_code == 0
    for text in (res.stdout, run("segments", "--db", mdb).stdout, html.read_text()):
        assert not re.search(r"\b1,9\d\d\b", text)
    row = re.search(r"<td>year_birth</td>(.*?)</tr>", html.read_text(), re.S)
    assert row and re.search(r">19\d\d<", row.group(1))


def test_display_names_are_checked() -> None:
    from userseg.config import FeatureConfig, from_dict

    with pytest.raises(ConfigError, match="display_names"):
        from_dict(FeatureConfig, {"display_names": {"mntwines": ""}}, "features")
