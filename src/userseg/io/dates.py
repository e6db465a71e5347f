"""Dates given as text, read in pandas as an import reads them in SQL, never by guessing.

An import reads a date column with the strptime format it was given
(``--date-format``), or as ISO text and epochs without one. Files scored later
(``userseg assign``, ``drift --input``) are read here with the same format; without
a format, ``03-04-2024`` could be 3 April or 4 March, and reading it month-first
(pandas' default) silently misdated every customer whose day was at most 12 in a
trial. A column whose own values settle the order (a day past 12 somewhere) is
read in that order throughout; one that does not is an error naming the column,
an example and the flag to pass.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from userseg.errors import DataError

__all__ = ["SECONDS_PER_DAY", "days_before", "parse_dates"]

SECONDS_PER_DAY = 86400.0


def days_before(ref: dt.datetime | pd.Timestamp, when: Any) -> Any:
    """Days from ``when`` to ``ref``, fractional (positive when ``when`` is earlier).

    ``when`` is a datetime (the result a float) or a Series of them (a Series).
    The one "date → days" of userseg: a user table's date column becomes the
    feature ``COL_days`` this way in training (:class:`~userseg.features.prepare.Preparer`),
    in a scored file (:mod:`userseg.segment.rows`) and in the service
    (:mod:`userseg.features.compiled`), so the three agree to the last bit.

    Examples
    --------
    >>> days_before(dt.datetime(2024, 5, 2, 12), dt.datetime(2024, 5, 1))
    1.5
    """
    delta = ref - when
    if isinstance(delta, pd.Series):
        return delta.dt.total_seconds() / SECONDS_PER_DAY
    return delta.total_seconds() / SECONDS_PER_DAY

# d-m-y or m-d-y with one separator: the two orders a number pair can mean
_DAY_MONTH = r"^\s*(\d{1,2})([-/.])(\d{1,2})\2(\d{2}|\d{4})\b"


def parse_dates(text: pd.Series, date_format: str | None, *, where: str, column: str) -> pd.Series:
    """Parse text to naive UTC timestamps (NaT where the text is missing).

    Parameters
    ----------
    text : Series of str
        The values; missing and blank ones stay missing.
    date_format : str, optional
        strptime format (``"%d-%m-%Y"``); ISO text is read as well. Without it:
        ISO text (with or without an offset), then other forms pandas reads, with
        a day/month order that the column itself must settle.
    where, column : str
        Named in error messages (the file, and the column).

    Raises
    ------
    DataError
        A value does not fit ``date_format``, is no date at all, or (without a
        format) its day and month could be either way round.
    """
    text = text.astype("string").str.strip().replace("", pd.NA)
    present = text.notna()
    hint = "pass --date-format, e.g. '%d-%m-%Y' (day first) or '%m-%d-%Y'"
    if date_format:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
        # ISO text (2024-05-01) has one reading whatever the format: a re-export in ISO
        # of a day-first table scores without a new flag
        other = parsed.isna() & present
        if other.any():
            parsed = parsed.copy()
            parsed[other] = pd.to_datetime(text[other], format="ISO8601", errors="coerce", utc=True)
        expected = f"dates in the format {date_format!r}"
        hint = f"pass --date-format with the format this file uses (not {date_format!r})"
    else:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        rest = text[parsed.isna() & present]
        if len(rest):
            parsed = parsed.copy()
            parsed[rest.index] = _parse_non_iso(rest, where=where, column=column, hint=hint)
        expected = "dates"
    bad = parsed.isna() & present
    if bad.any():
        first = text[bad].iloc[0]
        row = int(bad.to_numpy().nonzero()[0][0]) + 1
        raise DataError(
            f"{where}: column {column!r} should hold {expected}; row {row} has {first!r} "
            f"({int(bad.sum())} such rows): {hint}.",
            details={"column": column, "count": int(bad.sum()), "example": str(first)},
        )
    return parsed.dt.tz_convert(None)


def _parse_non_iso(rest: pd.Series, *, where: str, column: str, hint: str) -> pd.Series:
    """Non-ISO text, with the day/month order of numeric dates settled by the column."""
    parts = rest.str.extract(_DAY_MONTH)
    numeric = parts[0].notna()
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[2], errors="coerce")
    day_first = bool((first > 12).any())
    month_first = bool((second > 12).any())
    if day_first and month_first:
        a = rest[first > 12].iloc[0]
        b = rest[second > 12].iloc[0]
        raise DataError(
            f"{where}: column {column!r} mixes day-first dates ({a!r}) and month-first ones "
            f"({b!r}): {hint}.",
            details={"column": column, "example": str(a)},
        )
    ambiguous = numeric & (first <= 12) & (second <= 12) & (first != second)
    if ambiguous.any() and not (day_first or month_first):
        example = rest[ambiguous].iloc[0]
        raise DataError(
            f"{where}: column {column!r} has dates whose day and month could be either way "
            f"round, such as {example!r} ({int(ambiguous.sum())} such rows), and no format "
            f"is known for it: {hint}.",
            details={"column": column, "count": int(ambiguous.sum()), "example": str(example)},
        )
    return pd.to_datetime(rest, format="mixed", dayfirst=day_first, errors="coerce", utc=True)
