"""Feature names as people write and read them.

* :func:`feature_label` turns a column name into words: ``MntMeatProducts`` →
  "meat products spend", ``NumWebPurchases`` → "web purchases", ``Year_Birth``
  → "birth year". Profiles and segment names use these words (a pipeline file
  can give its own, ``features: {display_names: {...}}``); the raw names stay
  the keys everywhere else.
* :func:`is_year` tells a calendar-year column (1957 is a year, not "1,957").
* :func:`outcome_like` spots columns named like an outcome (``Response``,
  ``AcceptedCmp3``, ``churned``): clustered as features, they describe the
  outcome instead of explaining it.
* :func:`match_column` finds the column a person meant: the import lower-cases
  names, so ``--target Response`` names the column ``response``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from userseg.errors import SchemaError

__all__ = [
    "feature_label",
    "is_year",
    "match_column",
    "named_like_year",
    "outcome_like",
    "outcome_like_campaign",
]

# Abbreviations of marketing exports (Mnt = amount spent, Num = number of, Dt = date, ...).
_SPEND = {"mnt", "amt", "amount", "spend", "spent"}
_COUNT = {"num", "n", "nb", "nr", "cnt", "count", "no"}
_WORDS = {
    "cmp": "campaign",
    "prods": "products",
    "prod": "product",
    "avg": "average",
    "qty": "quantity",
    "pct": "percent",
    "yr": "year",
    "yrs": "years",
    "dt": "date",
}
_PERIODS = {"month": "per month", "week": "per week", "day": "per day", "year": "per year"}


def _words(name: str) -> list[str]:
    """``MntMeatProducts`` → [mnt, meat, products]; ``AcceptedCmp3`` → [accepted, cmp, 3]."""
    spaced = re.sub(r"[^0-9A-Za-z]+", " ", str(name))
    spaced = re.sub(
        r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])", " ", spaced
    )
    spaced = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", " ", spaced)  # "IDNumber" → "ID Number"
    return [w.lower() for w in spaced.split()]


def feature_label(name: str) -> str:
    """The words a person reads for a column name (lower case).

    Examples
    --------
    >>> [feature_label(n) for n in ("MntMeatProducts", "NumWebVisitsMonth", "Year_Birth")]
    ['meat products spend', 'web visits per month', 'birth year']
    >>> [feature_label(n) for n in ("AcceptedCmp3", "Dt_Customer", "recency_days")]
    ['accepted campaign 3', 'customer date', 'recency days']
    """
    words = _words(name)
    if not words:
        return str(name)
    head, rest = words[0], words[1:]
    if rest and head in _SPEND:
        return " ".join([*(_WORDS.get(w, w) for w in rest), "spend"])
    if rest and head in _COUNT:
        words = rest
    if words[0] == "dt" and len(words) > 1:
        return " ".join([*(_WORDS.get(w, w) for w in words[1:]), "date"])
    if words[0] == "year" and len(words) == 2 and words[1] in ("birth", "born"):
        return "birth year"
    if len(words) > 2 and words[-1] in _PERIODS:
        words = [*words[:-1], _PERIODS[words[-1]]]
    return " ".join(_WORDS.get(w, w) for w in words)


_YEAR_NAME = re.compile(r"(^|_)(year|yr)(_|$)")


def named_like_year(name: str) -> bool:
    """Whether a column is named like a year: ``year``, ``*_year``, ``year_*`` (``Year_Birth``)."""
    return bool(_YEAR_NAME.search("_".join(_words(name))))


def is_year(name: str, values: Any) -> bool:
    """Whether a column holds calendar years: named like one (:func:`named_like_year`),
    whole numbers, 95 % of them in 1900–2100 (a few birth years before 1900 are typos in
    real files, and still years)."""
    if not named_like_year(name):
        return False
    v = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce").dropna()
    if v.empty or not np.all(np.mod(v.to_numpy(dtype=np.float64), 1) == 0):
        return False
    return bool(((v >= 1900) & (v <= 2100)).mean() >= 0.95)


# An outcome, not a behaviour: a response, a conversion, churn, fraud, a default. Matched
# as whole words of the name, so "responses_seen" or "conversion_rate" are not caught
# but "Response", "AcceptedCmp3", "is_fraud" and "churned" are.
_OUTCOME = re.compile(
    r"^(is |has |did )?(response|responded|accepted( ?campaign| ?cmp)?( ?\d+)?|churn|churned|"
    r"attrition|converted|conversion|fraud|fraudulent|defaulted|outcome|target|"
    r"label|subscribed|cancelled|canceled|retained|survived|purchased)$"
)


def outcome_like(names: Iterable[str]) -> list[str]:
    """The names that read like an outcome (``Response``, ``AcceptedCmp1``, ``churned``).

    >>> outcome_like(["Response", "AcceptedCmp2", "acceptedcmp3", "is_fraud", "conversion_rate"])
    ['Response', 'AcceptedCmp2', 'acceptedcmp3', 'is_fraud']
    """
    return [n for n in names if _OUTCOME.match(" ".join(_words(n)))]


def outcome_like_campaign(name: str) -> bool:
    """Whether an outcome-like name is one campaign's acceptance (``AcceptedCmp3``)."""
    return " ".join(_words(name)).startswith("accepted")


def match_column(
    name: str, columns: Sequence[Any], what: str = "column", among: str = "column"
) -> str:
    """The column ``name`` means: itself, else the one equal to it but for case and
    punctuation (``Response`` → ``response``, ``Accepted Cmp1`` → ``accepted_cmp1``).
    ``what`` names the argument and ``among`` the columns ("feature"), for messages.

    Raises
    ------
    SchemaError
        No column matches (the message suggests the closest), or several do.
    """
    cols = [str(c) for c in columns]
    if name in cols:
        return name

    def key(text: str) -> str:
        return re.sub(r"[^0-9a-z]+", "", str(text).lower())

    hits = [c for c in cols if key(c) == key(name)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise SchemaError(
            f"{what} {name!r} matches several columns {hits}; name one exactly.",
            details={"matches": hits},
        )
    close = difflib.get_close_matches(name.lower(), [c.lower() for c in cols], n=1, cutoff=0.6)
    hint = "."
    if close:
        hint = f"; did you mean {next(c for c in cols if c.lower() == close[0])!r}?"
    raise SchemaError(
        f"{what} {name!r} is not a {among}{hint} Available {among}s: {cols}.",
        details={"missing": [name], "available": cols},
    )
