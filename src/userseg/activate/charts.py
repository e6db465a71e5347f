"""The picture of a campaign: lift per segment with its interval (a forest plot, PNG).

One row per segment and one for all users, the estimate as a dot and the
interval as a bar, a line at zero; segments whose corrected p-value is below
α are drawn solid, the others hollow, and a segment with too few users shows
the reason where its bar would be. Drawn with matplotlib's Agg backend (no
display needed), as :mod:`userseg.explain.charts` does.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from userseg.activate.measure import METRICS, LiftResult
from userseg.errors import ConfigError

__all__ = ["lift_chart_data", "lift_png"]


def _plt():  # imported lazily: matplotlib costs ~0.3 s that a library user may not need
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def lift_chart_data(result: LiftResult, metric: str = "conversion", *, relative: bool = False):
    """The rows the picture draws: ``label, estimate, low, high, significant, note``.

    Segments first (in the table's order), then ``all``.
    """
    if metric not in METRICS:
        raise ConfigError(f"metric={metric!r} should be one of {', '.join(METRICS)}.")
    t = result.table[result.table["metric"] == metric]
    col = "rel" if relative else "abs"
    est = t["rel_lift" if relative else "abs_lift"]
    return pd.DataFrame(
        {
            "label": ["all users" if str(s) == "all" else f"segment {s}" for s in t["segment"]],
            "n": (t["n_treatment"] + t["n_control"]).to_numpy(),
            "estimate": est.to_numpy(dtype=float),
            "low": t[f"{col}_low"].to_numpy(dtype=float),
            "high": t[f"{col}_high"].to_numpy(dtype=float),
            "significant": t["significant"].to_numpy(dtype=bool),
            "note": t["note"].to_numpy(),
        }
    )


def lift_png(
    result: LiftResult,
    metric: str = "conversion",
    *,
    relative: bool = False,
    title: str | None = None,
) -> bytes:
    """Lift per segment with its interval, as PNG bytes."""
    data = lift_chart_data(result, metric, relative=relative)
    plt = _plt()
    n = len(data)
    fig, ax = plt.subplots(figsize=(7.5, max(2.2, 0.42 * n + 1.4)), dpi=110)
    y = np.arange(n)[::-1].astype(float)
    y[-1] -= 0.5  # a gap before the overall row
    finite = np.isfinite(data[["low", "high"]].to_numpy())
    span = data[["low", "high"]].to_numpy()[finite]
    lo, hi = (float(span.min()), float(span.max())) if span.size else (-1.0, 1.0)
    for yi, row in zip(y, data.itertuples(), strict=True):
        if not np.isfinite(row.estimate):
            ax.text(
                0,
                yi,
                row.note or "no estimate",
                va="center",
                ha="center",
                fontsize=7.5,
                color="0.35",
                style="italic",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5},
            )
            continue
        colour = "#1f5fa8" if row.significant else "0.45"
        ax.plot([row.low, row.high], [yi, yi], color=colour, lw=2.2, solid_capstyle="butt")
        ax.plot(
            row.estimate,
            yi,
            "o",
            ms=6.5,
            color=colour,
            markerfacecolor=colour if row.significant else "white",
        )
    ax.axvline(0, color="0.2", lw=0.8)
    pad = 0.08 * (hi - lo or 1.0)
    ax.set_xlim(min(lo, 0) - pad, max(hi, 0) + pad)
    ax.set_yticks(
        y,
        [f"{lab}  (n={n_:,})" for lab, n_ in zip(data["label"], data["n"], strict=True)],
        fontsize=8,
    )
    if relative:
        ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:+.0%}")
    unit = (
        "relative lift"
        if relative
        else ("rate difference" if metric == "conversion" else "revenue per user difference")
    )
    ax.set_xlabel(f"{unit}, treatment − control ({1 - result.alpha:.0%} interval)", fontsize=8.5)
    corr = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "no"}[result.correction]
    ax.set_title(
        title or f"Lift in {metric} per segment — solid: significant after {corr} correction",
        fontsize=9.5,
    )
    ax.grid(axis="x", color="0.9", lw=0.6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
