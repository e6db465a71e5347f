"""The lift picture: what it draws, and that it draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from userseg.activate.charts import lift_chart_data, lift_png
from userseg.activate.measure import lift
from userseg.errors import ConfigError


def _result():
    rng = np.random.default_rng(3)
    n = 3000
    treated = rng.random(n) < 0.8
    seg = rng.integers(0, 3, n)
    df = pd.DataFrame(
        {
            "segment": np.r_[seg, [7] * 20],
            "arm": np.r_[np.where(treated, "treatment", "control"), ["treatment"] * 20],
            "converted": np.r_[rng.random(n) < 0.1 + 0.08 * treated * (seg == 1), [0] * 20],
            "revenue": np.r_[rng.gamma(2, 20, n), [0.0] * 20],
        }
    )
    return lift(df.assign(arm=lambda d: d["arm"].where(d.index != n, "control")))


def test_chart_data_follows_the_table() -> None:
    res = _result()
    data = lift_chart_data(res, "conversion")
    assert data["label"].tolist() == [
        "segment 0",
        "segment 1",
        "segment 2",
        "segment 7",
        "all users",
    ]
    row = res.row(1, "conversion")
    assert data.loc[1, ["estimate", "low", "high"]].tolist() == pytest.approx(
        [row["abs_lift"], row["abs_low"], row["abs_high"]]
    )
    assert bool(data.loc[1, "significant"]) is True  # the planted +8 points
    assert np.isnan(data.loc[3, "estimate"]) and "too few" not in data.loc[3, "note"]
    assert "1 user in control" in data.loc[3, "note"]
    rel = lift_chart_data(res, "revenue", relative=True)
    assert rel.loc[4, "estimate"] == pytest.approx(res.row("all", "revenue")["rel_lift"])
    with pytest.raises(ConfigError, match="metric='clicks'"):
        lift_chart_data(res, "clicks")


def test_png_is_drawn_for_both_metrics() -> None:
    res = _result()
    for metric in ("conversion", "revenue"):
        for relative in (False, True):
            png = lift_png(res, metric, relative=relative)
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
