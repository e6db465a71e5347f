"""Person names: word lists of given names and surnames, and the shape of a name.

The lists (``data/``, see its SOURCE.md) are the 1990 US census names and a
short list of common European names; they only tell whether a word is a
plausible name. :func:`is_person_name` wants a known given name first (or a
known surname after an initial); :func:`is_name_shaped` only looks at the
form (capitalised words of letters), which lets the column-level rule in
:mod:`userseg.privacy.detect` recognise names that the lists do not know.
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from importlib import resources

__all__ = ["is_name_shaped", "is_person_name", "name_in_text"]


def _wordset(*lines: str) -> frozenset[str]:
    """The words of some lines of text, as a set (long word lists stay short in the source)."""
    return frozenset(" ".join(lines).split())


_TITLES = _wordset(
    "mr mrs ms miss mx dr prof sir dame herr frau sr sra srta sig mme mlle m dott ing avv",
    "dipl mag univ",
)
_SUFFIXES = _wordset(
    "jr sr ii iii iv phd md dds dvm esq",
)
_COMPANY = _wordset(
    "inc llc ltd plc gmbh ag kg sa sas sarl srl spa bv nv co corp corporation company",
    "group and & holdings partners associates sons bros limited ug oy ab as",
)
_TOKEN = re.compile(r"^[^\W\d_][^\W\d_'’\-]*(?:['’\-][^\W\d_]+)*\.?$", re.UNICODE)


@lru_cache(maxsize=1)
def _names() -> tuple[frozenset[str], frozenset[str]]:
    folder = resources.files("userseg.privacy") / "data"
    first = set(gzip.decompress((folder / "first_names.txt.gz").read_bytes()).decode().split())
    last = set(gzip.decompress((folder / "last_names.txt.gz").read_bytes()).decode().split())
    for line in (folder / "names_extra.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("f "):
            first.update(line[2:].split())
        elif line.startswith("l "):
            last.update(line[2:].split())
    return frozenset(first), frozenset(last)


_PARTICLES = _wordset(
    "de del della di da das do dos du des la le van von der den ter ten y e zu af bin ibn",
)


_NICKNAME = re.compile(r'\s*"[^"]*"?\s*$|\s*\([^)]*\)\s*$')


def _name_tokens(text: str) -> list[str] | None:
    # A display name may end in a quoted nickname: 'Vince Lewis "Vince"'.
    text = _NICKNAME.sub("", text.strip()).strip().strip('"')
    if not text or len(text) > 60 or any(ch.isdigit() for ch in text) or "@" in text:
        return None
    if "," in text:  # "Smith, John"
        left, _, right = text.partition(",")
        text = f"{right.strip()} {left.strip()}"
    # Abbreviated titles and degrees ("Dott.", "Dipl.-Ing.", "B.Sc.") are not name words.
    tokens = [
        t for t in text.split() if not ("." in t.rstrip(".") or (t.endswith(".") and len(t) > 2))
    ]
    if not 1 <= len(tokens) <= 6 or not all(_TOKEN.match(t) for t in tokens):
        return None
    return tokens


def _core_words(tokens: list[str]) -> tuple[list[str], list[str]] | None:
    """(tokens, lower-case words) without titles, suffixes and particles; None for companies."""
    words = [t.rstrip(".").lower() for t in tokens]
    if any(w in _COMPANY for w in words):
        return None
    keep = [
        i for i, w in enumerate(words)
        if w not in _TITLES and w not in _SUFFIXES and not (i > 0 and w in _PARTICLES)
    ]  # fmt: skip
    return [tokens[i] for i in keep], [words[i] for i in keep]


def is_name_shaped(text: str) -> bool:
    """One to four capitalised words of letters (titles and particles aside): "Ana Ruiz Pla"."""
    tokens = _name_tokens(text)
    if tokens is None:
        return False
    core = _core_words(tokens)
    if core is None or not 1 <= len(core[0]) <= 4:
        return False
    return all(t[0].isupper() for t in core[0]) and not all(
        t.isupper() for t in core[0] if len(t) > 3
    )


def is_person_name(text: str) -> bool:
    """A person's name: one to four words, a known given name first or a known surname last.

    Single words count when they are known given names (a first-name column).
    Titles (Mr, Dr, Frau…) and suffixes (Jr, PhD) are ignored; values with
    digits or company words (Ltd, GmbH, "and") are not names.
    """
    tokens = _name_tokens(text)
    if tokens is None:
        return False
    core = _core_words(tokens)
    if core is None:
        return False
    tokens, words = core
    if not 1 <= len(words) <= 4:
        return False
    first, last = _names()
    if len(words) == 1:
        return words[0] in first or any(p in first for p in words[0].split("-"))
    cased = all(t[0].isupper() for t in tokens) or all(t.islower() for t in tokens)
    if not cased:
        return False
    given = words[0] in first or any(p in first for p in words[0].split("-"))
    family = words[-1] in last or any(p in last for p in words[-1].split("-"))
    return given or (family and len(words[0]) == 1)


# A name in running text counts only after a cue; capitalised words alone are too often
# products and places ("Les Paul", "Martin D-18").
_NAME_CUE = re.compile(
    r"(?:(?i:\bmy name is|\bname:|\bdear|\bsigned|\bregards,|\bsincerely,)|\b(?:Mr|Mrs|Ms|Dr)\.?)"
    r"\s+(?P<name>[A-ZÀ-Ý][\w'’-]+(?:\s+[A-ZÀ-Ý][\w'’-]+){0,2})",
    re.UNICODE,
)


def name_in_text(text: str) -> bool:
    """A full name after a cue ("my name is", "Dear", "Mr") somewhere in a longer text."""
    return any(
        is_person_name(m["name"]) and len(m["name"].split()) >= 2 for m in _NAME_CUE.finditer(text)
    )
