"""Language of each text, from the scripts its letters are written in.

A cheap detector, built for what the sentiment and topic models support
(English and Chinese), not a general language identifier:

* Han characters with no kana → ``"zh"`` (Simplified or Traditional);
  Han with kana → ``"ja"``; Hangul → ``"ko"``;
* Latin letters → ``"en"``, unless the text holds more French, Spanish,
  German, Italian, Portuguese or Dutch function words than English ones
  (then ``"other"``): short Latin texts ("Perfect fit!") count as English;
* Cyrillic, Arabic, Hebrew, Greek, Thai, Devanagari… → ``"other"``;
* no letters at all (empty, digits, punctuation, only emoji) → ``"und"``.

A text mixing scripts gets the one with the most words, counting about 1.5
Han characters as a word. It reads at most the first 2,000 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

__all__ = ["LANGUAGES", "detect_language", "detect_languages"]

#: Every code :func:`detect_language` returns.
LANGUAGES = ("en", "zh", "ja", "ko", "other", "und")

_HEAD = 2000
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile("[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_LATIN_WORD = re.compile("[A-Za-z\u00c0-\u024f]+")
_OTHER_LETTER = re.compile(
    "[\u0370-\u03ff\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f]"
)
_EN = frozenset(
    str.split(
        "the a an and or but is are was were be been it its this that i you he she we they my your "
        "of to in on for with not no at as so very too have has had do does did will would can "
        "could just all if from me them our"
    )
)
_NOT_EN = frozenset(
    str.split(
        # French, Spanish, Portuguese, Italian, German, Dutch: frequent words that are not English.
        "le la les des est et une un du au aux pas pour avec sur dans qui que très mais "
        "el los las es y una por con del lo muy pero como está "
        "os um uma não com é são mas muito "
        "il di che è della per non sono molto anche "
        "der die das und ist nicht ein eine ich sehr mit auf zu den dem aber auch "
        "het een en van ik niet zijn op te dat maar ook"
    )
)


def detect_language(text: str) -> str:
    """The language code of one (cleaned) text; see the module docstring.

    Examples
    --------
    >>> detect_language("这家酒店的早餐很好"), detect_language("Runs small, sadly.")
    ('zh', 'en')
    >>> detect_language("C'est une très belle robe"), detect_language("😀 !!")
    ('other', 'und')
    """
    head = text[:_HEAD]
    if not head:
        return "und"
    if head.isascii():
        words = _LATIN_WORD.findall(head)
        return _latin(words) if words else "und"
    n_han = len(_HAN.findall(head))
    n_kana = len(_KANA.findall(head))
    n_hangul = len(_HANGUL.findall(head))
    n_other = len(_OTHER_LETTER.findall(head))
    words = _LATIN_WORD.findall(head)
    # Word-sized units: a Chinese word is about 1.5 characters.
    cjk = (n_han + n_kana) / 1.5
    scores = {"cjk": cjk, "ko": n_hangul / 1.5, "latin": float(len(words)), "other": n_other / 4}
    best = max(scores, key=lambda key: scores[key])
    if scores[best] == 0:
        return "und"
    if best == "cjk":
        # Japanese is always written with kana among the kanji.
        return "ja" if n_kana > 0.1 * (n_han + n_kana) else "zh"
    if best == "latin":
        return _latin(words)
    return best


def _latin(words: list[str]) -> str:
    en = other = 0
    for word in words:
        low = word.lower()
        en += low in _EN
        other += low in _NOT_EN
    return "other" if other >= 2 and other > en else "en"


def detect_languages(texts: Iterable[str]) -> np.ndarray:
    """:func:`detect_language` of each text, as an array of codes (dtype object)."""
    return np.array([detect_language(t) for t in texts], dtype=object)
