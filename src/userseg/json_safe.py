"""The one JSON encoder: any value userseg hands out, as plain JSON-able Python.

The command line (``--json``), the service's responses, the stored run records and
the feature selection's tables all pass their values through :func:`jsonable`, so
a date, a NumPy number or a NaN reads the same wherever it comes out.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
from pathlib import PurePath
from typing import Any

__all__ = ["jsonable"]


def _key(k: Any) -> str:
    # as json.dumps writes keys: True -> "true", None -> "null", 3 -> "3"
    if isinstance(k, bool) or k is None:
        return {True: "true", False: "false", None: "null"}[k]
    return str(k)


def jsonable(o: Any, *, nan_as_null: bool = True, strict: bool = False) -> Any:
    """``o`` as dicts, lists, strings, numbers, booleans and None only.

    Dataclasses become dicts; NumPy scalars and arrays, Python numbers; dates and
    times, ISO text; objects with ``to_dict`` (reports, results), their dict;
    ``Decimal`` and paths, their text; anything else, its text (or an error).

    Parameters
    ----------
    o : Any
        The value.
    nan_as_null : bool
        NaN and infinity (which JSON lacks) become None; False keeps them, for a
        reader that takes ``NaN`` back (the stored model records).
    strict : bool
        Refuse (TypeError) a value of no known kind instead of writing its text.

    Examples
    --------
    >>> import datetime as dt, numpy as np
    >>> jsonable({"n": np.int64(3), "x": float("nan"), "at": dt.date(2024, 5, 1)})
    {'n': 3, 'x': None, 'at': '2024-05-01'}
    """
    if o is None or isinstance(o, str | bool):
        return o
    if isinstance(o, int):
        return int(o)
    if isinstance(o, float):
        return float(o) if math.isfinite(o) or not nan_as_null else None
    if isinstance(o, dict):
        return {_key(k): jsonable(v, nan_as_null=nan_as_null, strict=strict) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [jsonable(v, nan_as_null=nan_as_null, strict=strict) for v in o]
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return jsonable(dataclasses.asdict(o), nan_as_null=nan_as_null, strict=strict)
    if hasattr(o, "dtype") and hasattr(o, "tolist"):  # a NumPy scalar or array
        return jsonable(o.tolist(), nan_as_null=nan_as_null, strict=strict)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "to_dict"):
        return jsonable(o.to_dict(), nan_as_null=nan_as_null, strict=strict)
    if hasattr(o, "tolist"):
        return jsonable(o.tolist(), nan_as_null=nan_as_null, strict=strict)
    if isinstance(o, decimal.Decimal | PurePath):  # exact money and paths: as their text
        return str(o)
    if strict:
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")
    return str(o)
