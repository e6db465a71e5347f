"""Language per text, by script; mixed-language tables."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared

from userseg.text import LANGUAGES, clean_texts, detect_language, detect_languages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("这家酒店的早餐很好，服务也不错", "zh"),
        ("這家酒店的早餐很好", "zh"),  # Traditional characters
        ("Runs small, sadly.", "en"),
        ("Perfect fit", "en"),
        ("I love it 😍", "en"),
        ("C'est une très belle robe et le tissu est doux", "other"),
        ("Das Kleid ist sehr schön und nicht teuer", "other"),
        ("ホテルはとても良かったです", "ja"),
        ("정말 좋아요", "ko"),
        ("Очень хорошее качество", "other"),
        ("😀😀 !!", "und"),
        ("12345", "und"),
        ("", "und"),
        # Mixed: the script with more words wins (1.5 Han characters to a word).
        ("酒店位置很好，早餐丰富，服务周到 but wifi slow", "zh"),
        ("Great hotel near the station, staff were friendly, 早餐好", "en"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected
    assert expected in LANGUAGES


def test_detect_languages_is_vectorised() -> None:
    out = detect_languages(["hello there", "你好世界", ""])
    assert isinstance(out, np.ndarray)
    assert out.tolist() == ["en", "zh", "und"]


@pytest.mark.realdata
def test_real_sets_are_detected_as_their_language() -> None:
    clothing = shared("womens_ecommerce_clothing_reviews", "Womens Clothing E-Commerce Reviews.csv")
    hotel = shared("chnsenticorp_htl_all", "ChnSentiCorp_htl_all.csv")
    en = detect_languages(clean_texts(pd.read_csv(clothing)["Review Text"].dropna()))
    zh = detect_languages(clean_texts(pd.read_csv(hotel)["review"].dropna()))
    assert (en == "en").mean() > 0.999
    assert (zh == "zh").mean() > 0.999


def test_the_text_package_imports_no_later_layer() -> None:
    """userseg.text sits beside features: it may use errors and itself only."""
    src = Path(__file__).resolve().parents[1] / "src" / "userseg" / "text"
    for f in src.rglob("*.py"):
        for mod in re.findall(r"^\s*(?:from|import) userseg\.(\w+)", f.read_text(), re.M):
            assert mod in ("errors", "text"), f"{f.name} imports userseg.{mod}"
