"""Pictures of a segmentation: the segment × feature heatmap, sizes, and the k-choice curves.

Static pictures are drawn with matplotlib's Agg backend (no display needed) and
returned as PNG bytes; interactive ones are Plotly figures for the HTML report.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from userseg.explain.profiles import SegmentProfile

__all__ = [
    "heatmap_matrix",
    "heatmap_png",
    "k_choice_figure",
    "k_choice_png",
    "map_figure",
    "migration_png",
    "sizes_figure",
]

_ZMAX = 2.5  # colour scale saturates here: a z of 2.5 or more is "very different" anyway


def _plt():  # imported lazily: matplotlib import costs ~0.3 s the CLI need not pay
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def heatmap_matrix(profiles: list[SegmentProfile]) -> tuple[np.ndarray, list[str], list[str]]:
    """Z-scores as a (segments × features) matrix with row and column labels."""
    features = list(profiles[0].zscores) if profiles else []
    matrix = np.array([[p.zscores.get(f, 0.0) for f in features] for p in profiles])
    rows = [f"{p.segment} · {p.name} ({p.share:.0%})" for p in profiles]
    return matrix.reshape(len(profiles), len(features)), rows, features


def heatmap_png(
    profiles: list[SegmentProfile], *, title: str = "Segment profiles (z-scores)"
) -> bytes:
    """A segment × feature heatmap of z-scores, annotated, as PNG bytes."""
    plt = _plt()
    matrix, rows, cols = heatmap_matrix(profiles)
    width = max(6.0, 0.55 * len(cols) + 4.0)
    height = max(2.5, 0.5 * len(rows) + 2.0)
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    im = ax.imshow(
        np.clip(matrix, -_ZMAX, _ZMAX), cmap="RdBu_r", vmin=-_ZMAX, vmax=_ZMAX, aspect="auto"
    )
    ax.set_xticks(
        range(len(cols)), [c.replace("_", " ") for c in cols], rotation=45, ha="right", fontsize=8
    )
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    if len(cols) * len(rows) <= 400:
        for i in range(len(rows)):
            for j in range(len(cols)):
                v = matrix[i, j]
                ax.text(
                    j,
                    i,
                    f"{v:.1f}",
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white" if abs(v) > 1.5 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.025, pad=0.02, label="z-score vs all users")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def k_choice_png(k_choice: dict[str, Any]) -> bytes | None:
    """Silhouette (with interval), Calinski-Harabasz and Davies-Bouldin per k, as PNG bytes."""
    table = k_choice.get("table") or []
    if len(table) < 2:
        return None
    plt = _plt()
    ks = [r["k"] for r in table]
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), dpi=110)
    for ax, (metric, label) in zip(
        axes,
        [
            ("silhouette", "silhouette ↑"),
            ("calinski_harabasz", "Calinski-Harabasz ↑"),
            ("davies_bouldin", "Davies-Bouldin ↓"),
        ],
        strict=True,
    ):
        vals = [r.get(metric, np.nan) for r in table]
        ax.plot(ks, vals, marker="o", color="#3465a4")
        if metric == "silhouette" and all("silhouette_low" in r for r in table):
            ax.fill_between(
                ks,
                [r["silhouette_low"] for r in table],
                [r["silhouette_high"] for r in table],
                alpha=0.2,
                color="#3465a4",
            )
        ax.axvline(k_choice.get("chosen", ks[0]), color="#cc0000", linestyle="--", linewidth=1)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("k", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def sizes_figure(profiles: list[SegmentProfile]):
    """Interactive bar chart of segment sizes (Plotly)."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Bar(
            x=[p.size for p in profiles],
            y=[f"{p.segment} · {p.name}" for p in profiles],
            orientation="h",
            text=[f"{p.share:.1%}" for p in profiles],
            textposition="auto",
            marker_color="#3465a4",
            hovertemplate="%{y}<br>%{x:,} users<extra></extra>",
        )
    )
    fig.update_layout(
        height=120 + 32 * len(profiles),
        margin=dict(l=10, r=10, t=30, b=10),
        title="Segment sizes",
        yaxis=dict(autorange="reversed"),
    )
    return fig


def k_choice_figure(k_choice: dict[str, Any]):
    """Interactive k-choice curves (Plotly), or None when k was not searched."""
    table = k_choice.get("table") or []
    if len(table) < 2:
        return None
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    ks = [r["k"] for r in table]
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("silhouette ↑", "Calinski-Harabasz ↑", "Davies-Bouldin ↓")
    )
    for col, metric in enumerate(("silhouette", "calinski_harabasz", "davies_bouldin"), start=1):
        err = None
        if metric == "silhouette" and all("silhouette_low" in r for r in table):
            err = dict(
                type="data",
                symmetric=False,
                array=[r["silhouette_high"] - r["silhouette"] for r in table],
                arrayminus=[r["silhouette"] - r["silhouette_low"] for r in table],
            )
        fig.add_trace(
            go.Scatter(
                x=ks,
                y=[r.get(metric) for r in table],
                mode="lines+markers",
                error_y=err,
                name=metric,
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        fig.add_vline(
            x=k_choice.get("chosen", ks[0]), line_dash="dash", line_color="#cc0000", row=1, col=col
        )
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def migration_png(
    rows: list[str],
    columns: list[str],
    counts: list[list[int]],
    *,
    title: str = "Where the users of each old segment went",
) -> bytes:
    """Migration matrix as a heatmap: each row (an old segment) in shares of its users."""
    plt = _plt()
    counts_arr = np.asarray(counts, dtype=np.float64)
    shares = counts_arr / np.maximum(counts_arr.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(
        figsize=(max(5.0, 0.9 * len(columns) + 3), max(3.0, 0.5 * len(rows) + 2)), dpi=110
    )
    im = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("new segment")
    ax.set_ylabel("previous segment")
    for i in range(len(rows)):
        for j in range(len(columns)):
            if counts_arr[i, j]:
                ax.text(
                    j,
                    i,
                    f"{int(counts_arr[i, j]):,}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shares[i, j] > 0.6 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="share of the row's users")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def map_figure(
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    *,
    method: str = "pca",
    explained: float | None = None,
):
    """Interactive 2-D map of (a sample of) the users, coloured by segment (Plotly, WebGL)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    names_arr = np.asarray(names, dtype=object)
    for name in dict.fromkeys(names):
        mask = names_arr == name
        fig.add_trace(
            go.Scattergl(
                x=x[mask],
                y=y[mask],
                mode="markers",
                name=str(name),
                marker=dict(size=4, opacity=0.6),
            )
        )
    axis = "PC" if method == "pca" else "UMAP "
    sub = f" ({explained:.0%} of the variance)" if explained is not None else ""
    fig.update_layout(
        height=460,
        margin=dict(l=10, r=10, t=40, b=10),
        title=f"Users on two axes ({method.upper()}{sub})",
        xaxis_title=f"{axis}1",
        yaxis_title=f"{axis}2",
        legend=dict(itemsizing="constant"),
    )
    return fig
