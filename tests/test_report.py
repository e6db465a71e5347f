"""The HTML report: one self-contained file, with every part the issue asks for."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from userseg import Segmenter
from userseg.explain.report import ReportInput, render_report, write_report


@pytest.fixture(scope="module")
def data() -> ReportInput:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "monetary": np.r_[rng.gamma(2, 5, 300), rng.gamma(2, 400, 100)],
            "recency_days": np.r_[rng.gamma(2, 50, 300), rng.gamma(2, 3, 100)],
            "region": rng.choice(["n", "s"], 400),
        }
    )
    seg = Segmenter(random_state=0, units={"monetary": "money"}).fit(df)
    run = {
        "run_id": 7,
        "created_at": "2026-01-01",
        "algorithm": "kmeans",
        "n_users": 400,
        "n_segments": seg.n_segments_,
        "metrics": seg.metrics_,
        "k_choice": seg.k_choice_,
    }
    return ReportInput(
        "Test report",
        run,
        seg.profiles_,
        features=[{"name": "monetary", "unit": "money", "description": "spend"}],
        data_quality=[
            {
                "source": "e.csv",
                "kind": "negative_amount",
                "column": "amount",
                "count": 3,
                "action": "kept as returns",
            }
        ],
        notes=["a note"],
    )


def test_report_is_self_contained_and_complete(data) -> None:
    html = render_report(data)
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//', html)
    assert "data:image/png;base64," in html  # heatmap and k curves embedded
    assert "Plotly.newPlot" in html or "Plotly.react" in html
    for part in (
        "Segments",
        "Heatmap",
        "Profiles",
        "Choice of the number of segments",
        "Data quality",
        "kept as returns",
        "Features",
        "a note",
        data.profiles[0].name,
        data.run["k_choice"]["reason"][:40],
    ):
        assert part in html, part


def test_write_report_writes_html_and_png_atomically(data, tmp_path) -> None:
    html, png = write_report(data, tmp_path / "out" / "r.html")
    assert html.exists() and png.name == "r-heatmap.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.rglob("*.tmp"))
    # a wrong suffix is corrected, never a .png holding HTML
    html2, _ = write_report(data, tmp_path / "x.png")
    assert html2.suffix == ".html"


def test_names_are_escaped(data) -> None:
    import copy

    data = copy.deepcopy(data)
    data.profiles[0].name = "<script>alert(1)</script>"
    html = render_report(data)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_unranked_candidates_and_the_verdict_read_cleanly(data) -> None:
    html = render_report(data)
    table = data.run["k_choice"]["table"]
    assert any(not r["shortlisted"] for r in table)  # this data leaves some k unranked
    assert ">nan<" not in html and "not on the shortlist" in html
    structure = data.run["metrics"]["structure"]
    head = "Clear segments." if structure["has_structure"] else "No clear segments."
    assert head in html
    assert "clear segments:" not in html.lower()  # the verdict's head is shown once, as a title
