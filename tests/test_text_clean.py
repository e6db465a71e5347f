"""Text cleaning: every bad value is handled and counted, never raised on."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from userseg.text import CleanStats, clean_text, clean_texts


def test_missing_and_blank_values_become_empty_and_are_counted() -> None:
    stats = CleanStats()
    out = clean_texts([None, math.nan, pd.NA, "", "  \n\t "], stats=stats)
    assert out == [""] * 5
    assert (stats.texts, stats.missing, stats.empty) == (5, 3, 5)


def test_html_entities_and_tags_are_undone() -> None:
    stats = CleanStats()
    text = clean_text("Sounds &#34;warm&#34; &amp;amp; clear<br/>Great &oacute;", stats=stats)
    assert text == 'Sounds "warm" & clear Great ó'
    assert (stats.html_entities, stats.html_tags) == (1, 1)
    # A lone "<" or "&" is text, not markup.
    assert clean_text("3 < 5 & 7 > 2") == "3 < 5 & 7 > 2"


def test_mixed_encodings_are_repaired_and_counted() -> None:
    stats = CleanStats()
    out = clean_texts(
        [
            "donâ€™t buy, itâ€™s cafÃ©-grade",  # UTF-8 read as Windows-1252
            "酒店很好".encode("gbk"),  # legacy Chinese bytes
            "café crème".encode("cp1252"),  # legacy Western bytes
            "naïve 😀".encode(),  # UTF-8 bytes
        ],
        stats=stats,
    )
    assert out == ["don’t buy, it’s café-grade", "酒店很好", "café crème", "naïve 😀"]
    assert stats.mojibake_repaired == 1
    assert stats.legacy_encoding == 2
    # Real Latin-1 text is left alone.
    assert clean_text("Ça coûte 5 € à Zürich") == "Ça coûte 5 € à Zürich"


def test_surrogates_are_joined_or_replaced_never_raised() -> None:
    stats = CleanStats()
    assert clean_text("smile \ud83d\ude00", stats=stats) == "smile 😀"
    assert clean_text("broken \ud83d end", stats=stats) == "broken \ufffd end"
    assert stats.undecodable == 1


def test_emoji_are_kept_and_counted_control_characters_removed() -> None:
    stats = CleanStats()
    family = "👨\u200d👩\u200d👧"
    out = clean_texts([f"love it {family}❤️", "zero\u200bwidth\x00 and\x07 bell\ufeff"], stats=stats)
    assert out[0] == f"love it {family}❤️"  # the joiner and variation selector survive
    assert out[1] == "zero width and bell"
    assert (stats.emoji, stats.control_chars) == (1, 1)


def test_full_width_forms_and_glued_sentences_are_normalised() -> None:
    assert clean_text("ｇｏｏｄ！房间，很好") == "good!房间,很好"
    assert clean_text("affordable.I did not") == "affordable. I did not"
    assert clean_text("version 2.0 of U.S.A.") == "version 2.0 of U.S.A."


def test_a_megabyte_text_is_cut_and_counted() -> None:
    stats = CleanStats()
    out = clean_text("great value " * 90_000, max_chars=10_000, stats=stats)  # ~1 MB
    assert 9_000 < len(out) <= 10_000
    assert out.endswith("value") or out.endswith("great")
    assert stats.truncated == 1


def test_other_objects_are_text() -> None:
    assert clean_texts([12, 3.5, True]) == ["12", "3.5", "True"]


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.none(), st.floats(allow_nan=True)))
def test_clean_text_never_raises_and_returns_clean_text(value: object) -> None:
    out = clean_text(value)
    assert isinstance(out, str)
    assert out == out.strip()
    assert "  " not in out
    out.encode("utf-8")  # no lone surrogates left


@pytest.mark.parametrize("value", [b"\xff\xfe\xfa", bytearray(b"ok"), memoryview(b"fine")])
def test_odd_bytes_decode(value: object) -> None:
    assert isinstance(clean_text(value), str)
