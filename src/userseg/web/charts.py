"""The web app's charts: Plotly figure specs as plain JSON, and heat colours for tables.

The figures are plain dicts (``{"data": [...], "layout": {...}}``) drawn in the
browser by the vendored Plotly bundle; building them costs microseconds, where
a ``plotly.graph_objects`` figure costs tens of milliseconds. Every chart's
numbers are also in a table on the same page (the accessible alternative).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["bar", "heat_colour", "heatmap", "lines", "scatter"]

_FONT = {"family": "system-ui, sans-serif", "size": 13, "color": "#1b1b1b"}
_ZMAX = 2.5


def _layout(title: str, x: str = "", y: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 15}},
        "font": _FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
        "xaxis": {"title": {"text": x}, "automargin": True},
        "yaxis": {"title": {"text": y}, "automargin": True},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        **extra,
    }


def bar(labels: list[str], values: list[float], title: str, y: str = "") -> dict[str, Any]:
    """A bar chart (segment sizes)."""
    return {
        "data": [{"type": "bar", "x": labels, "y": values, "marker": {"color": "#2b6cb0"}}],
        "layout": _layout(title, "", y),
    }


def lines(series: dict[str, tuple[list[Any], list[float]]], title: str, x: str, y: str):
    """One line per named series of ``(xs, ys)`` (k-choice curves, shares over runs)."""
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": name, "x": xs, "y": ys}
            for name, (xs, ys) in series.items()
        ],
        "layout": _layout(title, x, y, legend={"orientation": "h", "y": -0.25}),
    }


def scatter(x: np.ndarray, y: np.ndarray, groups: list[str], title: str) -> dict[str, Any]:
    """The user map: one trace per segment, points of a sample of users."""
    order = list(dict.fromkeys(groups))
    g = np.asarray(groups)
    data = []
    for name in order:
        sel = g == name
        data.append(
            {
                "type": "scattergl" if sel.sum() > 5000 else "scatter",
                "mode": "markers",
                "name": name,
                "x": np.round(x[sel], 4).tolist(),
                "y": np.round(y[sel], 4).tolist(),
                "marker": {"size": 4, "opacity": 0.6},
            }
        )
    return {"data": data, "layout": _layout(title, "component 1", "component 2")}


def heatmap(z: list[list[float]], xs: list[str], ys: list[str], title: str) -> dict[str, Any]:
    """A counts heatmap (the migration matrix), numbers written in the cells."""
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": xs,
                "y": ys,
                "colorscale": [[0, "#f7fbff"], [1, "#08306b"]],
                "texttemplate": "%{z}",
                "hovertemplate": "from %{y} to %{x}: %{z}<extra></extra>",
            }
        ],
        "layout": _layout(
            title,
            "to (this run)",
            "from (earlier run)",
            yaxis={"autorange": "reversed", "type": "category", "automargin": True},
            xaxis={"type": "category", "automargin": True},
        ),
    }


def heat_colour(z: float | None) -> str:
    """A light red (above the population) or blue (below) for a z-score, white near zero.

    Light enough that black text on it keeps a contrast of 7:1 or more (WCAG AAA).
    """
    if z is None or not np.isfinite(z):
        return "#ffffff"
    t = min(abs(float(z)), _ZMAX) / _ZMAX
    end = (244, 165, 130) if z > 0 else (146, 197, 222)  # ColorBrewer RdBu's light ends
    r, g, b = (round(255 + (e - 255) * t) for e in end)
    return f"#{r:02x}{g:02x}{b:02x}"
