"""One self-contained HTML report of a segmentation (works offline: no CDN, no external files).

Pictures are embedded (PNG as data URIs), and Plotly's JavaScript is inlined
once from the installed ``plotly`` package, so the file can be mailed or
opened on a plane.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from userseg._version import __version__
from userseg.errors import ConfigError
from userseg.explain.charts import (
    heatmap_png,
    k_choice_figure,
    k_choice_png,
    map_figure,
    sizes_figure,
)
from userseg.explain.profiles import SegmentProfile

__all__ = [
    "ReportInput",
    "matching_section",
    "render_report",
    "text_section",
    "write_report",
]


@dataclass
class ReportInput:
    """Everything a report shows, as plain data (the store layer gathers it)."""

    title: str
    run: dict[str, Any]
    profiles: list[SegmentProfile]
    features: list[dict[str, str]] = field(default_factory=list)
    data_quality: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sections: list[dict[str, str]] = field(default_factory=list)  # extra (title, html) blocks
    selection: dict[str, Any] | None = None  # from userseg.features.select
    user_map: dict[str, Any] | None = None  # x, y, names, method, explained
    outcome: dict[str, Any] | None = None  # the target overall (per segment: profile.outcome)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # what may mislead


def _num(v: Any, spec: str = "%.3f") -> str:
    """A number by ``spec``; "–" for one not measured (None or NaN)."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    return spec % v


def _fmt_value(v: Any, unit: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if unit == "year":  # 1957, never "1,957"
            return f"{v:.0f}"
        if unit == "money":
            return f"{v:,.2f}"
        if unit == "share":
            return f"{v:.0%}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return html.escape(str(v))


def _outcome_value(v: Any, kind: str) -> str:
    """A target's rate as a percentage, a mean with 3 significant digits."""
    if not isinstance(v, int | float) or not np.isfinite(v):  # None, or not measured
        return "–"
    return f"{v:.1%}" if kind == "rate" else f"{v:.3g}"


def _data_uri(png: bytes | None) -> str | None:
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()


def _selection_view(sel: dict[str, Any] | None) -> dict[str, Any] | None:
    """The parts of a selection result the report shows: kept, dropped, the ranking."""
    if not sel:
        return None
    tables = sel.get("tables", {})
    key = "combined" if tables.get("combined") else "unsupervised"
    return {
        "kept": sel.get("kept", []),
        "dropped": sel.get("dropped", {}),
        "ranking": (tables.get(key) or [])[:15],
        "n_ranked": len(tables.get(key) or []),
        "which": key,
        "target": sel.get("target"),
        "notes": sel.get("notes", []),
    }


def matching_section(matching: dict[str, Any]) -> dict[str, str]:
    """A report section: how this run's segments match the previous version's, with a picture."""
    from userseg.explain.charts import migration_png

    rows = "".join(
        f"<tr><td>{html.escape(m['status'])}</td>"
        f"<td>{'' if m['previous_segment'] is None else m['previous_segment']}</td>"
        f"<td>{'' if m['segment'] is None else m['segment']}</td>"
        f"<td>{html.escape(m['name'])}</td><td>{html.escape(m['detail'])}</td></tr>"
        for m in matching["matches"]
    )
    mig = matching["migration"]
    png = migration_png(mig["rows"], mig["columns"], mig["counts"])
    body = (
        f"<p>Segments matched to run {matching.get('previous_run_id')} by their shared "
        f"{'members' if matching['method'] == 'members' else 'profiles'}: the same groups keep "
        "their id and name.</p><table><tr><th>status</th><th>was</th><th>now</th><th>name</th>"
        f"<th>detail</th></tr>{rows}</table>"
        f'<img alt="migration matrix" src="{_data_uri(png)}">'
    )
    return {"title": "Changes since the previous version", "html": body}


def text_section(
    words: dict[int, list[str] | None],
    names: dict[int, str],
    topics: dict[str, str] | None = None,
    min_users: int = 10,
) -> dict[str, str]:
    """A report section: the top words of each segment's texts (``None``: a small segment)."""
    rows = "".join(
        f"<tr><td>{seg}</td><td>{html.escape(names.get(seg, ''))}</td><td>"
        + (
            f"<em>not shown: fewer than {min_users} users</em>"
            if w is None
            else html.escape(", ".join(w)) or "<em>no texts</em>"
        )
        + "</td></tr>"
        for seg, w in sorted(words.items())
    )
    topic_list = "".join(
        f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in (topics or {}).items()
    )
    body = (
        "<p>Top words of this segment's texts: the words its users write more often than "
        "everyone else does (segments of fewer than "
        f"{min_users} users are not shown).</p>"
        "<table><tr><th>segment</th><th>name</th><th>top words of its texts</th></tr>"
        f"{rows}</table>"
        + (f"<p>Topics found in all texts:</p><ul>{topic_list}</ul>" if topic_list else "")
    )
    return {"title": "What each segment writes", "html": body}


def campaigns_section(items: list[dict[str, Any]]) -> dict[str, str]:
    """A report section: each measured campaign on this run's audiences, lift per segment.

    ``items`` come from :func:`userseg.jobs.activation.campaign_report_items`: name,
    audience, version, holdout, start, measured_at, source, the lift ``table``
    (a DataFrame), its ``summary`` lines, the conversion chart ``png`` and
    (optionally) ``names``, segment id → name, to label the rows.
    """

    def pct(v: Any, signed: bool = False) -> str:
        return "–" if v is None or v != v else (f"{v:+.2%}" if signed else f"{v:.2%}")

    def money(v: Any, signed: bool = False) -> str:
        return "–" if v is None or v != v else (f"{v:+,.2f}" if signed else f"{v:,.2f}")

    parts = []
    for it in items:
        rows = []
        for r in it["table"].to_dict("records"):
            f = pct if r["metric"] == "conversion" else money
            est = r["abs_lift"]
            interval = f" [{f(r['abs_low'])}, {f(r['abs_high'])}]" if est == est else ""

            p = r["p_adjusted"]
            padj = "–" if p is None or p != p else f"{p:.3g}"
            seg = r["segment"]
            name = None if isinstance(seg, str) else it.get("names", {}).get(seg)  # "all"
            label = f"{seg} · {name}" if name is not None else str(seg)
            rows.append(
                f"<tr><td>{html.escape(label)}</td><td>{r['metric']}</td>"
                f"<td class=num>{int(r['n_treatment']):,} / {int(r['n_control']):,}</td>"
                f"<td class=num>{f(r['treatment'])}</td><td class=num>{f(r['control'])}</td>"
                f"<td class=num>{f(r['abs_lift'], True)}{interval}</td>"
                f"<td class=num>{padj}</td>"
                f"<td>{'yes' if r['significant'] else ''}</td>"
                f"<td>{html.escape(str(r['note'] or ''))}</td></tr>"
            )
        parts.append(
            f"<h3>{html.escape(it['name'])}</h3><p>Audience {html.escape(it['audience'])} "
            f"version {it['version']}, {it['holdout']:.1%} held out, started "
            f"{it['start']:%Y-%m-%d}; measured {it['measured_at']:%Y-%m-%d %H:%M} UTC from "
            f"{html.escape(it['source'])}.</p>"
            "<table><tr><th>segment</th><th>metric</th><th>users t / c</th><th>treatment</th>"
            "<th>control</th><th>lift (95% interval)</th><th>p (adjusted)</th>"
            f"<th>significant</th><th>note</th></tr>{''.join(rows)}</table>"
            + "".join(f"<p>{html.escape(line)}</p>" for line in it["summary"])
            + f'<img alt="lift per segment" src="{_data_uri(it["png"])}">'
        )
    return {"title": "Campaigns", "html": "".join(parts)}


def render_report(data: ReportInput, *, heatmap: bytes | None = None) -> str:
    """The report as one HTML string."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    env = Environment(
        loader=PackageLoader("userseg", "templates"), autoescape=select_autoescape(["html"])
    )
    env.filters["fmt"] = _fmt_value
    env.filters["num"] = _num
    env.filters["outcome"] = _outcome_value
    profiles = data.profiles
    heatmap = heatmap if heatmap is not None else (heatmap_png(profiles) if profiles else None)
    k_choice = data.run.get("k_choice", {})
    figs = []
    if profiles:
        figs.append(
            pio.to_html(
                sizes_figure(profiles),
                include_plotlyjs=False,
                full_html=False,
                config={"displaylogo": False},
            )
        )
    kfig = k_choice_figure(k_choice)
    map_html = None
    if data.user_map is not None and len(data.user_map["x"]):
        m = data.user_map
        map_html = pio.to_html(
            map_figure(
                np.asarray(m["x"]),
                np.asarray(m["y"]),
                m["names"],
                method=m.get("method", "pca"),
                explained=m.get("explained"),
            ),
            include_plotlyjs=False,
            full_html=False,
            config={"displaylogo": False},
        )
    units = {f["name"]: f.get("unit", "") for f in data.features}
    numeric = list(profiles[0].zscores) if profiles else []
    template = env.get_template("report.html")
    return template.render(
        title=data.title,
        run=data.run,
        profiles=profiles,
        numeric=numeric,
        units=units,
        features=data.features,
        data_quality=data.data_quality,
        notes=data.notes,
        sections=data.sections,
        heatmap=_data_uri(heatmap),
        kchoice_png=_data_uri(k_choice_png(k_choice)),
        kchoice_html=pio.to_html(
            kfig, include_plotlyjs=False, full_html=False, config={"displaylogo": False}
        )
        if kfig
        else None,
        figures=figs,
        map_html=map_html,
        selection=_selection_view(data.selection),
        outcome=data.outcome,
        has_outcome=any(getattr(p, "outcome", None) for p in profiles),
        has_value=any(getattr(p, "value", None) for p in profiles),
        warnings=data.warnings,
        structure=data.run.get("metrics", {}).get("structure"),
        structure_detail=_verdict_detail(data.run.get("metrics", {}).get("structure")),
        stability=data.run.get("metrics", {}).get("stability"),
        plotly_js=get_plotlyjs() if (figs or kfig or map_html) else "",
        k_choice=k_choice,
        metrics=data.run.get("metrics", {}),
        version=__version__,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _verdict_detail(structure: dict[str, Any] | None) -> str:
    """The verdict after its "clear segments:" head, which the report shows as a title."""
    if not structure:
        return ""
    detail = str(structure.get("verdict", "")).split(": ", 1)[-1]
    return detail[:1].upper() + detail[1:]


def write_report(
    data: ReportInput, out: str | Path, *, heatmap_path: str | Path | None = None
) -> tuple[Path, Path | None]:
    """Write the HTML report (and the heatmap PNG beside it); returns both paths.

    The HTML is written to a temporary name first and renamed, so a failure
    never leaves half a report behind.
    """
    out = report_path(out)
    png = heatmap_png(data.profiles) if data.profiles else None
    png_path = None
    if png is not None:
        png_path = Path(heatmap_path) if heatmap_path else out.with_name(out.stem + "-heatmap.png")
        check_output_path(png_path, "heatmap")
        _write_atomically(png_path, png, "heatmap")
    text = render_report(data, heatmap=png)
    _write_atomically(out, text.encode("utf-8"), "report")
    return out, png_path


def report_path(out: str | Path) -> Path:
    """Where the report goes (``.html`` added when missing), checked to be writable."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        out = out.with_suffix(".html")
    return check_output_path(out, "report")


def check_output_path(path: str | Path, what: str) -> Path:
    """``path`` with its folder created; a clear error when it cannot be written there.

    Checked before any work is done (``userseg run`` checks it before it imports),
    so a wrong ``--out`` costs nothing and leaves nothing behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the {what} to {path}: its folder {path.parent} cannot be created "
            f"({exc.strerror or exc})."
        ) from None
    if path.is_dir():
        raise ConfigError(f"cannot write the {what} to {path}: it is a folder.")
    return path


def _write_atomically(path: Path, data: bytes, what: str) -> None:
    """Write to a temporary name and rename, so a failure never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the {what} to {path}: {exc.strerror or exc}.") from None
