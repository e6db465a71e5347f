"""Normalise raw text values before language detection, sentiment and topics.

Every value a text column can hold is turned into one clean ``str`` and never
raises: ``None``/NaN, bytes in a legacy encoding, UTF-8 read as Windows-1252
(``donâ€™t``), lone surrogates, HTML entities and tags, control and zero-width
characters, full-width forms, runaway whitespace and texts of a megabyte. What
was done is counted in a :class:`CleanStats`, so a report can say it.

Emoji are kept: VADER reads them (``😡`` is "pouting face"), and they are
counted.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["DEFAULT_MAX_CHARS", "EMOJI", "CleanStats", "clean_text", "clean_texts"]

#: Texts are cut to this many characters: a review is rarely over 10,000, and the
#: cost of every later step grows with length (a 1 MB "review" is a paste accident).
DEFAULT_MAX_CHARS = 20_000


@dataclass
class CleanStats:
    """How many texts needed each repair (a text is counted once per kind).

    Attributes
    ----------
    texts : int
        Values seen.
    missing : int
        ``None``, NaN or ``pd.NA``.
    empty : int
        Values with no text left after cleaning (missing ones included).
    legacy_encoding : int
        Bytes that were not UTF-8, decoded as GB18030 or Windows-1252.
    mojibake_repaired : int
        UTF-8 that had been decoded as Windows-1252/Latin-1, turned back.
    undecodable : int
        Lone surrogates or bytes no encoding explained, replaced by U+FFFD.
    html_entities : int
        Texts whose HTML entities (``&#34;``, ``&amp;``) were unescaped.
    html_tags : int
        Texts with HTML tags (``<br/>``) removed.
    control_chars : int
        Texts with control or zero-width characters removed.
    emoji : int
        Texts that contain at least one emoji (kept).
    truncated : int
        Texts longer than ``max_chars``, cut.
    """

    texts: int = 0
    missing: int = 0
    empty: int = 0
    legacy_encoding: int = 0
    mojibake_repaired: int = 0
    undecodable: int = 0
    html_entities: int = 0
    html_tags: int = 0
    control_chars: int = 0
    emoji: int = 0
    truncated: int = 0

    def add(self, other: CleanStats) -> CleanStats:
        """Add ``other``'s counts into this one; returns self."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


# UTF-8 decoded as Windows-1252 leaves a lead byte (Â..ô) followed by continuation
# bytes, shown as Latin-1 or as the Windows-1252 specials (€, ‚, ƒ, „, …, ’, ™ …).
_CP1252_SPECIALS = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_MOJIBAKE_RUN = re.compile("[\u00c2-\u00f4][\u0080-\u00bf" + _CP1252_SPECIALS + "]+")
_CP1252_BYTE = {ch: ch.encode("cp1252")[0] for ch in _CP1252_SPECIALS}
_SURROGATE = re.compile("[\ud800-\udfff]")
_TAG = re.compile(r"<(?:[A-Za-z][A-Za-z0-9]{0,15}|/[A-Za-z][A-Za-z0-9]{0,15}|!--)[^<>]{0,500}>")
# C0/C1 controls but tab and newline; zero-width space/marks, BOM. Not ZWJ (U+200D)
# nor the variation selectors: they hold emoji sequences together.
_CONTROL = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b\u200c\u200e\u200f\u2060\ufeff]"
)
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff]")
_SPACES = re.compile(r"\s+")
# "affordable.I did not": a full stop with no space hides the next word from
# whitespace tokenisers (VADER), so put the space back.
_GLUED_SENTENCE = re.compile(r"(?<=[a-z])([.!?])(?=[A-Z])")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    # pd.NA and NaT compare as neither equal nor unequal to themselves.
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return True


def _decode(raw: bytes, stats: CleanStats) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    stats.legacy_encoding += 1
    # GB18030 first: Chinese texts from older systems; it is strict enough to
    # refuse most Windows-1252 text, which then decodes byte for byte.
    try:
        text = raw.decode("gb18030")
        if any("\u4e00" <= ch <= "\u9fff" for ch in text):
            return text
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _unmojibake_run(match: re.Match[str]) -> str:
    run = match.group(0)
    try:
        raw = bytes(_CP1252_BYTE.get(ch, ord(ch)) for ch in run)
        return raw.decode("utf-8")
    except (UnicodeDecodeError, ValueError):
        return run


def _fix_surrogates(text: str) -> str:
    # A pair of surrogates (from JSON "\ud83d\ude00" or surrogateescape) is one
    # character; a lone one is noise.
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _SURROGATE.sub("\ufffd", joined)


def _cut(text: str, max_chars: int) -> str:
    cut = text[:max_chars]
    space = cut.rfind(" ", max_chars - 200)
    return cut[:space] if space > 0 else cut


def clean_text(
    value: Any, *, max_chars: int = DEFAULT_MAX_CHARS, stats: CleanStats | None = None
) -> str:
    """Return ``value`` as clean text; never raises on any value.

    Parameters
    ----------
    value : str, bytes, None, float or any object
        One cell of a text column. Bytes are decoded (UTF-8, else GB18030, else
        Windows-1252); other objects go through ``str``.
    max_chars : int
        Longer texts are cut (at a space near the limit when there is one).
    stats : CleanStats, optional
        Counts to add this text's repairs to.

    Returns
    -------
    str
        The cleaned text, ``""`` for a missing or blank value.

    Examples
    --------
    >>> clean_text("Great &#34;value&#34;<br/>donâ€™t  miss")
    'Great "value" don’t miss'
    """
    st = stats if stats is not None else CleanStats()
    st.texts += 1
    if _is_missing(value):
        st.missing += 1
        st.empty += 1
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        text = _decode(bytes(value), st)
    elif isinstance(value, str):
        text = value
    else:
        text = str(value)
    if len(text) > max_chars:
        st.truncated += 1
        text = _cut(text, max_chars)
    if not text.isascii():
        if _SURROGATE.search(text):
            text = _fix_surrogates(text)
        fixed = _MOJIBAKE_RUN.sub(_unmojibake_run, text)
        if fixed != text:
            st.mojibake_repaired += 1
            text = fixed
        if "\ufffd" in text:
            st.undecodable += 1
    if "&" in text:
        # Twice: scraped text is often escaped twice ("&amp;#34;").
        unescaped = html.unescape(html.unescape(text))
        if unescaped != text:
            st.html_entities += 1
            text = unescaped
    if "<" in text:
        stripped = _TAG.sub(" ", text)
        if stripped != text:
            st.html_tags += 1
            text = stripped
    stripped = _CONTROL.sub(" ", text)
    if stripped != text:
        st.control_chars += 1
        text = stripped
    if not text.isascii():
        # NFKC folds full-width letters and punctuation (common in Chinese text)
        # to their plain forms, so tokenisers and lexicons see one spelling.
        text = unicodedata.normalize("NFKC", text)
        if EMOJI.search(text):
            st.emoji += 1
    text = _GLUED_SENTENCE.sub(r"\1 ", text)
    text = _SPACES.sub(" ", text).strip()
    if not text:
        st.empty += 1
    return text


def clean_texts(
    values: Any, *, max_chars: int = DEFAULT_MAX_CHARS, stats: CleanStats | None = None
) -> list[str]:
    """:func:`clean_text` on every value of an iterable (a list, Series or array)."""
    st = stats if stats is not None else CleanStats()
    return [clean_text(v, max_chars=max_chars, stats=st) for v in values]
