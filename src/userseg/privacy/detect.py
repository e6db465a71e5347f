"""Find the columns that hold personal data, by their name and by a sample of their values.

A column is judged on both: the share of sampled values that a recogniser of
:mod:`userseg.privacy.patterns` accepts, and what its name says (``email``,
``phone``, ``last_name``…). Values decide; the name lowers the share needed
(``reviewerName`` with nicknames among real names is still a name column) and
never overrules values that clearly say otherwise (``product_name`` full of
guitars is not). A misleading name (``col7``, ``contact``) changes nothing
when the values are clear.

Thresholds, as shares of the non-empty sampled values:

* a kind is found by its values alone at ``VALUE_SHARE`` (50 %; 60 % for
  person names, whose word lists also know words such as "Rose" or "Hill");
* with a column name that says the same kind, at ``NAME_SHARE`` (10 %; 20 % for
  person names: "Les Paul Junior" is a guitar in a ``name`` column of products);
* person names the word lists do not know: ``NAME_SHAPE_SHARE`` (80 %) of the
  values are capitalised words and ``KNOWN_NAME_SHARE`` (25 %) hold a known name;
* text is personal when one sampled value contains an e-mail address, a card
  number or an IBAN (formats that validate exactly), or, for free text (long
  values of several words), when ``TEXT_MIN_HITS`` sampled values contain any
  personal data: an e-mail address,
  phone number, card, IBAN, IP address, street address or a cued name
  ("my name is …").

Examples
--------
>>> d = detect_pii(["ann@example.com", "bo@example.org", "n/a"], "col7")
>>> d.kind, round(d.share, 2)
('email', 0.67)
>>> detect_pii(["Stratocaster", "Jazz Bass"], "product_name").kind is None
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from userseg.errors import ConfigError, DataError
from userseg.privacy import patterns

__all__ = [
    "NAME_SHARE",
    "TEXT_MIN_HITS",
    "VALUE_SHARE",
    "Detection",
    "detect_pii",
    "detect_table",
    "name_hint",
]

VALUE_SHARE: dict[str, float] = {
    "email": 0.5,
    "phone": 0.5,
    "ip_address": 0.5,
    "payment_card": 0.5,
    "iban": 0.5,
    "postal_address": 0.5,
    "person_name": 0.6,
}
NAME_SHARE = 0.1
_NAME_SHARE_PERSON = 0.2
# Person names the word lists miss: most values name-shaped, a quarter known names.
NAME_SHAPE_SHARE = 0.8
KNOWN_NAME_SHARE = 0.25
TEXT_MIN_HITS = 2
DEFAULT_SAMPLE = 1000

# What a column name says, tried in order on the lower-cased name split into words.
_NAME_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("email", re.compile(r"\b(e ?mail|mail|email address|mail address|courriel)\b")),
    ("phone", re.compile(r"\b(phone|telephone|tel|mobile|cell|msisdn|fax|handy|telefon)\b")),
    ("ip_address", re.compile(r"\b(ip|ipv4|ipv6|ip address|remote addr|client ip)\b")),
    ("payment_card", re.compile(r"\b(card number|cc number|ccnum|credit card|pan|card no)\b")),
    ("iban", re.compile(r"\b(iban|bank account|account number)\b")),
    (
        "postal_address",
        re.compile(r"\b(address|street|addr|address line|postal address|mailing address)\b"),
    ),
    (
        "person_name",
        re.compile(
            r"\b(name|first name|last name|full name|surname|given name|family name|forename|"
            r"firstname|lastname|fullname|fname|lname|contact name)\b"
        ),
    ),
]
# Names of things that are not people: "product_name", "event_name", "file_name"…
_NOT_A_PERSON = re.compile(
    r"\b(product|item|event|category|company|brand|file|host|domain|city|country|street|"
    r"campaign|segment|column|table|page|app|device|store|shop|sku|model|plan|feature|"
    r"browser|os|job|title|team|group|org|organisation|organization|merchant|vendor|"
    r"business|account type|bank|screen|display|user agent|font|color|colour|tag|"
    r"region|state|province|county|place|venue|song|album|artist|book|movie)\b"
)
_NOT_AN_ADDRESS = re.compile(r"\b(ip|mac|email|e mail|web|url|wallet|memory|mac)\b")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _words(name: str) -> str:
    spaced = _CAMEL.sub(" ", str(name))
    return " ".join(re.split(r"[\W_]+", spaced.lower())).strip()


def name_hint(name: str) -> str | None:
    """The kind of personal data a column's name suggests, or ``None``.

    >>> name_hint("reviewerName"), name_hint("product_name"), name_hint("E-Mail")
    ('person_name', None, 'email')
    """
    words = _words(name)
    for kind, rule in _NAME_RULES:
        if not rule.search(words):
            continue
        if kind == "person_name" and _NOT_A_PERSON.search(words):
            continue
        if kind == "postal_address" and _NOT_AN_ADDRESS.search(words):
            continue
        return kind
    return None


@dataclass(frozen=True)
class Detection:
    """What :func:`detect_pii` found in one column.

    Attributes
    ----------
    column : str
        The column's name.
    kind : str or None
        ``"email"``, ``"phone"``, ``"ip_address"``, ``"payment_card"``,
        ``"iban"``, ``"postal_address"``, ``"person_name"``, ``"free_text"``
        (text containing any of these), or ``None`` when nothing personal was found.
    share : float
        Share of the sampled non-empty values that match ``kind`` (for free
        text: that contain personal data).
    confidence : float
        0-1: how sure the judgement is (values and name agreeing is surest).
    reason : str
        One sentence saying why, for the import's report.
    kinds : dict
        Share of sampled values per kind seen (mixed columns have several;
        for free text, the kinds found inside the text).
    n_sampled : int
        Non-empty values looked at.
    name_kind : str or None
        What the column's name suggested.
    """

    column: str
    kind: str | None
    share: float
    confidence: float
    reason: str
    kinds: dict[str, float] = field(default_factory=dict)
    n_sampled: int = 0
    name_kind: str | None = None

    @property
    def personal(self) -> bool:
        """Whether the column holds personal data."""
        return self.kind is not None


_LABEL = {
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "ip_address": "IP addresses",
    "payment_card": "payment card numbers (Luhn-valid)",
    "iban": "IBANs (mod-97 valid)",
    "postal_address": "postal addresses",
    "person_name": "person names",
}


def _checkers(relaxed_phone: bool) -> dict[str, Callable[[str], bool]]:
    return {
        "email": patterns.is_email,
        "payment_card": patterns.is_card,
        "iban": patterns.is_iban,
        "ip_address": patterns.is_ip,
        "phone": (lambda s: patterns.is_phone(s, strict=False))
        if relaxed_phone
        else patterns.is_phone,
        "postal_address": patterns.is_address,
        "person_name": patterns.is_person_name,
    }


def _as_text(values: Iterable[Any]) -> list[str]:
    out = []
    for v in values:
        if v is None:
            continue
        if isinstance(v, float):
            if math.isnan(v):
                continue
            v = int(v) if v.is_integer() and abs(v) < 1e19 else v
        elif isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        text = str(v).strip()
        if text:
            out.append(text)
    return out


# Kinds whose formats validate exactly (syntax, Luhn, mod-97): one occurrence in a text
# column is enough to call it personal ("ffsalsa@yahoo.com" as a review's summary).
_EXACT = frozenset({"email", "payment_card", "iban"})


def _is_wordy_column(values: Sequence[str]) -> bool:
    """Short text: most values have letters and a space (titles, summaries, comments)."""
    wordy = sum(1 for v in values if " " in v and any(ch.isalpha() for ch in v))
    return wordy >= 0.5 * len(values)


def _is_text_column(values: Sequence[str]) -> bool:
    lengths = sorted(len(v) for v in values)
    words = sorted(len(v.split()) for v in values)
    mid = len(values) // 2
    return lengths[mid] >= 25 and words[mid] >= 4


def _value_shares(texts: list[str], hint: str | None) -> tuple[dict[str, float], int]:
    """The share of values that are each kind as a whole, and how many are some kind."""
    checks = _checkers(relaxed_phone=hint == "phone")
    matched: dict[str, int] = {}
    any_hit = 0
    for text in texts:
        hit = False
        for kind, check in checks.items():
            if check(text):
                matched[kind] = matched.get(kind, 0) + 1
                hit = True
                if kind in ("email", "payment_card", "iban", "ip_address"):
                    break  # exact formats: a value is one of them at most
        any_hit += hit
    return {k: c / len(texts) for k, c in matched.items()}, any_hit


def _free_text(texts: list[str], name: str, hint: str | None) -> Detection | None:
    """A free-text column with personal data inside its values, or None."""
    n = len(texts)
    long_text = _is_text_column(texts)
    if not (long_text or _is_wordy_column(texts)):
        return None
    inside: dict[str, int] = {}
    with_pii = with_exact = 0
    for text in texts:
        found = patterns.find_in_text(text)
        if not long_text:  # short text: only the formats that validate exactly
            found &= _EXACT
        with_pii += bool(found)
        with_exact += bool(found & _EXACT)
        for kind in found:
            inside[kind] = inside.get(kind, 0) + 1
    if with_exact >= 1 or with_pii >= min(TEXT_MIN_HITS, n):
        share = with_pii / n
        kinds = {k: round(c / n, 3) for k, c in inside.items()}
        listing = ", ".join(f"{_LABEL[k]} ({c})" for k, c in sorted(inside.items()))
        return Detection(
            name, "free_text", share, min(0.95, 0.6 + share),
            f"free text: {with_pii} of {n} sampled values contain {listing}",
            kinds, n, hint,
        )  # fmt: skip
    return None


def detect_pii(values: Iterable[Any], name: str = "") -> Detection:
    """Judge one column from (a sample of) its values and its name.

    Parameters
    ----------
    values : iterable
        The sampled values; ``None``, NaN and empty strings are skipped,
        numbers are judged as their text.
    name : str
        The column's name.

    Returns
    -------
    Detection
    """
    texts = _as_text(values)
    hint = name_hint(name)
    n = len(texts)
    if n == 0:
        if hint:
            return Detection(
                name, hint, 0.0, 0.4,
                f"column name {name!r} suggests {_LABEL[hint]}; no values to confirm it",
                {}, 0, hint,
            )  # fmt: skip
        return Detection(name, None, 0.0, 0.5, "no values to judge", {}, 0, None)

    shares, any_hit = _value_shares(texts, hint)

    # The best whole-value kind; a tie goes to the stricter format (dict order above).
    best = max(shares, key=lambda k: shares[k], default=None)
    if best is not None:
        share = shares[best]
        if share >= VALUE_SHARE[best]:
            agree = hint == best
            confidence = min(0.99, 0.55 + 0.4 * share + (0.05 if agree else 0.0))
            reason = f"{share:.0%} of {n} sampled values are {_LABEL[best]}"
            if agree:
                reason += f", as the name {name!r} says"
            elif hint:
                reason += f" (the name {name!r} suggests {_LABEL[hint]})"
            mixed = {k: round(v, 3) for k, v in shares.items() if v >= NAME_SHARE}
            if len(mixed) > 1:
                reason += "; also " + ", ".join(
                    f"{v:.0%} {_LABEL[k]}" for k, v in mixed.items() if k != best
                )
            return Detection(name, best, share, confidence, reason, mixed, n, hint)
        known = shares.get("person_name", 0.0)
        if known >= KNOWN_NAME_SHARE:
            # Names the word lists do not know (Italian, Spanish…): the column is made of
            # capitalised words and a good part of them are known given names or surnames.
            shaped = sum(map(patterns.is_name_shaped, texts)) / n
            if shaped >= NAME_SHAPE_SHARE:
                confidence = min(0.9, 0.4 + shaped * known + 0.1 * (hint == "person_name"))
                return Detection(
                    name, "person_name", known, confidence,
                    f"{shaped:.0%} of {n} sampled values are shaped like names and {known:.0%} "
                    "hold a known given name or surname",
                    {"person_name": round(known, 3)}, n, hint,
                )  # fmt: skip
        needed = _NAME_SHARE_PERSON if hint == "person_name" else NAME_SHARE
        if hint is not None and shares.get(hint, 0.0) >= needed:
            share = shares[hint]
            return Detection(
                name, hint, share, min(0.9, 0.5 + share),
                f"the name {name!r} says {_LABEL[hint]} and {share:.0%} of {n} sampled values are",
                {k: round(v, 3) for k, v in shares.items()}, n, hint,
            )  # fmt: skip
        # A mix of kinds that together make most values (a "contact" column).
        union = any_hit / n
        strong = {k: v for k, v in shares.items() if v >= NAME_SHARE and k != "person_name"}
        if union >= VALUE_SHARE["email"] and len(strong) >= 2:
            top = max(strong, key=lambda k: strong[k])
            return Detection(
                name, top, union, min(0.95, 0.5 + 0.4 * union),
                f"{union:.0%} of {n} sampled values are personal: "
                + ", ".join(f"{v:.0%} {_LABEL[k]}" for k, v in strong.items()),
                {k: round(v, 3) for k, v in strong.items()}, n, hint,
            )  # fmt: skip

    free_text = _free_text(texts, name, hint)
    if free_text is not None:
        return free_text

    if hint is not None:
        reason = (
            f"the name {name!r} suggests {_LABEL[hint]} but only "
            f"{shares.get(hint, 0.0):.0%} of {n} sampled values are; not personal by its values"
        )
        return Detection(name, None, shares.get(hint, 0.0), 0.6, reason, shares, n, hint)
    top = f" (at most {max(shares.values()):.0%} of one kind)" if shares else ""
    return Detection(
        name, None, 0.0, 0.9 if not shares else 0.75,
        f"none of {n} sampled values looks personal{top}",
        {k: round(v, 3) for k, v in shares.items()}, n, None,
    )  # fmt: skip


def detect_table(
    source: Any,
    *,
    columns: Sequence[str] | None = None,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
) -> list[Detection]:
    """Judge every column of a table from a random sample of its non-empty values.

    Parameters
    ----------
    source : duckdb.DuckDBPyRelation, pandas.DataFrame or pyarrow.Table
        The table. A DuckDB relation is sampled in DuckDB (reservoir sample of
        the non-NULL values of each column), so a large table is never loaded.
    columns : sequence of str, optional
        Only these columns (default: all).
    sample : int, default 1000
        Non-empty values sampled per column.
    seed : int, default 0
        Seed of the sample: the same table gives the same answer.

    Returns
    -------
    list of Detection
        One per column, in the table's order.
    """
    if not isinstance(sample, int) or sample < 1:
        raise ConfigError(f"sample={sample!r} should be a positive integer.")
    names, fetch = _column_source(source)
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(
                f"column(s) {', '.join(map(repr, missing))} not found; "
                f"the table has {', '.join(names)}."
            )
        names = [c for c in names if c in set(columns)]
    return [detect_pii(fetch(c, sample, seed), c) for c in names]


def _column_source(source: Any) -> tuple[list[str], Callable[[str, int, int], list[Any]]]:
    """(column names, fetch(column, n, seed) -> sampled non-null values) for a table-like."""
    kind = type(source).__module__.split(".")[0]
    if kind in ("duckdb", "_duckdb"):
        return _duckdb_source(source)
    if kind == "pandas":
        return _pandas_source(source)
    if kind == "pyarrow":
        import pyarrow as pa

        if isinstance(source, pa.RecordBatch):
            source = pa.Table.from_batches([source])
        if isinstance(source, pa.Table):
            return _pandas_source(source.to_pandas())
    raise ConfigError(
        f"cannot read columns from a {type(source).__name__}; expected a DuckDB relation, "
        "a pandas DataFrame or a pyarrow Table."
    )


def _duckdb_source(rel: Any) -> tuple[list[str], Callable[[str, int, int], list[Any]]]:
    names = list(rel.columns)
    types = [str(t) for t in rel.types]
    skip = {n for n, t in zip(names, types, strict=True) if _not_text_type(t)}

    def fetch(col: str, n: int, seed: int) -> list[Any]:
        if col in skip:
            return []
        q = '"' + col.replace('"', '""') + '"'
        sql = (
            f"SELECT CAST({q} AS VARCHAR) FROM _src WHERE {q} IS NOT NULL "
            f"USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})"
        )
        return [r[0] for r in rel.query("_src", sql).fetchall()]

    return names, fetch


def _not_text_type(type_name: str) -> bool:
    # Dates, times, booleans, floats and nested types cannot hold the kinds detected here;
    # integers can (phone and card numbers stored as numbers).
    t = type_name.upper()
    return t.startswith(("DATE", "TIME", "BOOL", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "INTERVAL"))


def _pandas_source(frame: Any) -> tuple[list[str], Callable[[str, int, int], list[Any]]]:
    import numpy as np

    names = [str(c) for c in frame.columns]
    by_name = dict(zip(names, frame.columns, strict=True))

    def fetch(col: str, n: int, seed: int) -> list[Any]:
        series = frame[by_name[col]]
        kind = series.dtype.kind
        if kind in "fbmMc":  # floats, booleans, datetimes, timedeltas, complex
            return []
        values = series.dropna()
        if len(values) > n:
            rows = np.random.default_rng(seed).choice(len(values), size=n, replace=False)
            values = values.iloc[np.sort(rows)]
        return values.tolist()

    return names, fetch
