"""A file of per-user feature rows, read and checked against a fitted model's features.

``userseg assign`` and ``drift`` score users from a file (or a query) of one
row per user: :func:`read_feature_rows` finds the user id column as an import
does, maps the names back to the SQL-safe ones the import gave the features,
turns a user table's raw date columns into the ``COL_days`` features at the
feature set's as-of date, and refuses text in a numeric column, naming it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from userseg.config import Source
from userseg.errors import DataError
from userseg.features.build import FeatureSet
from userseg.io.database import Database
from userseg.io.dates import days_before, parse_dates
from userseg.io.readers import read_raw
from userseg.io.validate import detect_user_id, sanitize_name
from userseg.segment.segmenter import Segmenter

__all__ = ["read_feature_rows"]


def _days_from_raw_dates(
    frame: pd.DataFrame,
    needed: list[str],
    fs: FeatureSet,
    where: str,
    date_format: str | None = None,
) -> None:
    """Add ``COL_days`` (days before the as-of date) for a user table's raw date columns ``COL``.

    The text is read with ``date_format`` (the import's, or the caller's); without one,
    a day/month order the column does not settle is an error (:func:`parse_dates`).
    """
    as_of = pd.Timestamp(fs.as_of)
    for f in fs.features:
        col = f.name[: -len("_days")]
        if (
            f.source != "users"
            or f.unit != "days"
            or not f.name.endswith("_days")
            or f.name not in needed
            or f.name in frame.columns
            or col not in frame.columns
        ):
            continue
        naive = parse_dates(frame[col], date_format, where=where, column=col)
        frame[f.name] = days_before(as_of, naive)


def read_feature_rows(
    source: Source,
    model: Segmenter,
    *,
    user_id: str | None = None,
    feature_set: FeatureSet | None = None,
    date_format: str | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Read per-user feature rows from a file and check them against a model's features.

    Returns the user ids and the feature frame (numeric columns parsed); text
    in a numeric column is an error naming the column and the first row. With
    the model's ``feature_set``, a user-table date column may come as it was
    imported (``signup_date``): it becomes ``signup_date_days`` at the feature
    set's as-of date, as ``userseg features`` computed it, reading the text with
    ``date_format`` (:func:`userseg.jobs.pipeline.read_scoring_input` passes the import's).
    """
    scratch = Database(":memory:")
    try:
        cols = read_raw(scratch, source, "__assign")
        frame = scratch.execute("SELECT * FROM __assign ORDER BY __row").df()
    finally:
        scratch.close()
    # the same id detection as a user-table import (CustomerID, cust_id, user, ...)
    id_col = user_id or detect_user_id(cols)
    if user_id and user_id not in cols:
        raise DataError(
            f"{source.describe()}: user id column {user_id!r} not found; available: {cols}."
        )
    ids = frame[id_col].to_numpy() if id_col else np.arange(1, len(frame) + 1).astype(str)
    needed = list(model.preparer_.feature_names_in_)
    # A user table comes back with the names it had before import (BALANCE, emp.var.rate):
    # the import made them SQL-safe, so the same rule finds the model's features in it.
    safe = {
        c: sanitize_name(c)
        for c in frame.columns
        if c != id_col and not str(c).startswith("__")  # "__…": the reader's own columns
    }
    present = set(frame.columns)
    frame = frame.rename(columns={c: n for c, n in safe.items() if n != c and n not in present})
    if feature_set is not None and feature_set.as_of is not None:
        _days_from_raw_dates(frame, needed, feature_set, source.describe(), date_format)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source.describe()}: missing feature column(s) {missing}; the model was "
            f"fitted on {needed}. assign scores per-user feature rows (as `userseg features` "
            "builds them); to score raw events, ingest them and run `userseg features`, follow "
            "them with `userseg stream`, or POST them to /v1/assign/events.",
            details={"missing": missing, "available": cols},
        )
    X = frame[needed].copy()
    dates = getattr(model, "date_references_", {})  # parsed as dates by the model itself
    for step in model.preparer_.steps_:
        if step["kind"] == "numeric" and step["name"] not in dates:
            text = X[step["name"]].astype("string").str.strip()
            num = pd.to_numeric(text.replace("", pd.NA), errors="coerce")
            bad = num.isna() & text.notna() & (text != "")
            if bad.any():
                first = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(
                    f"{source.describe()}: column {step['name']!r} should be numeric; row "
                    f"{first + 1} has {text.iloc[first]!r} ({int(bad.sum())} such rows).",
                    details={"column": step["name"], "count": int(bad.sum())},
                )
            X[step["name"]] = num.astype("float64")
    X.index = pd.Index(np.asarray(ids).astype(str), name="user_id")
    return ids, X
