"""Small-cell suppression: nothing describing fewer than k users is shown.

A profile row of a segment of 3 users, or a cell "2 users in Lyon who bought a
tuba", says something about identifiable people. Such cells are replaced by a
marker (``"<10"`` for k = 10) and counted, so a report can say how many were
hidden.

Two shapes are handled:

* :func:`suppress_small` -- a table (pandas DataFrame or a list of dicts) with
  one row per group and a column holding the group's number of users: every
  value of a small group's row is masked, except the columns named in ``keep``
  (its id or name).
* :func:`suppress_counts` -- a table of counts (a cross-tab): every count
  from 1 to k - 1 is masked. Zeros stay (they describe nobody), unless
  ``suppress_zero``.

Limits: this is primary suppression only. When row or column totals are
published too, one hidden cell in a row can be recovered by subtraction;
hide totals or a second cell (complementary suppression) where that matters.

Examples
--------
>>> rows = [{"segment": 0, "size": 120, "spend": 53.2}, {"segment": 1, "size": 4, "spend": 980.0}]
>>> out = suppress_small(rows, count="size", keep=["segment"])
>>> out.data[1], out.n_suppressed
({'segment': 1, 'size': '<10', 'spend': '<10'}, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from userseg.errors import ConfigError, SchemaError

__all__ = ["DEFAULT_K", "Suppressed", "suppress_counts", "suppress_small"]

DEFAULT_K = 10


@dataclass
class Suppressed:
    """The suppressed table and what was hidden.

    Attributes
    ----------
    data : DataFrame or list of dict
        A new table of the same kind as the input (the input is never changed).
    n_suppressed : int
        Rows (:func:`suppress_small`) or cells (:func:`suppress_counts`) hidden.
    k : int
        The threshold: groups of fewer than ``k`` users were hidden.
    marker : str
        What replaced the hidden values.
    where : list
        Row positions (or ``(row, column)`` pairs) that were hidden.
    """

    data: Any
    n_suppressed: int
    k: int
    marker: str
    where: list[Any] = field(default_factory=list)

    def note(self) -> str:
        """One sentence for a report."""
        if not self.n_suppressed:
            return f"nothing describes fewer than {self.k} users; nothing was hidden"
        return (
            f"{self.n_suppressed} value(s) describing fewer than {self.k} users are "
            f"shown as {self.marker!r}"
        )


def _check_k(k: int, marker: str | None) -> str:
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"k={k!r} should be an integer >= 2 (groups below k are hidden).")
    return f"<{k}" if marker is None else str(marker)


def _is_small(n: Any, k: int, suppress_zero: bool) -> bool:
    if n is None:
        return False
    try:
        value = float(n)
    except (TypeError, ValueError):
        return False
    if value != value:  # NaN
        return False
    return value < k and (value > 0 or suppress_zero)


def suppress_small(
    table: Any,
    *,
    count: str = "size",
    k: int = DEFAULT_K,
    keep: Sequence[str] = (),
    marker: str | None = None,
) -> Suppressed:
    """Mask every row whose ``count`` column is below ``k`` (all but the ``keep`` columns).

    Parameters
    ----------
    table : pandas.DataFrame or list of dict
        One row per group (segment, cell of a breakdown…).
    count : str
        The column holding each row's number of users.
    k : int, default 10
        Rows describing fewer than ``k`` users are hidden (a row of 0 users too).
    keep : sequence of str
        Columns left visible (the group's id or name).
    marker : str, optional
        The replacement text; ``"<k"`` by default.
    """
    marker = _check_k(k, marker)
    if isinstance(table, list):
        rows = [dict(r) for r in table]
        if rows and count not in rows[0]:
            raise SchemaError(f"column {count!r} not found; the rows have {', '.join(rows[0])}.")
        hidden = []
        for i, row in enumerate(rows):
            if _is_small(row.get(count), k, suppress_zero=True):
                hidden.append(i)
                for col in row:
                    if col not in keep:
                        row[col] = marker
        return Suppressed(rows, len(hidden), k, marker, hidden)

    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise ConfigError(
            f"cannot suppress a {type(table).__name__}; expected a DataFrame or a list of dicts."
        )
    if count not in table.columns:
        raise SchemaError(
            f"column {count!r} not found; the table has {', '.join(map(str, table.columns))}."
        )
    small = [_is_small(v, k, suppress_zero=True) for v in table[count].tolist()]
    out = table.astype(object).copy()
    cols = [c for c in out.columns if c not in keep]
    mask = pd.Series(small, index=out.index)
    out.loc[mask, cols] = marker
    hidden = [i for i, s in enumerate(small) if s]
    return Suppressed(out, len(hidden), k, marker, hidden)


def suppress_counts(
    table: Any,
    *,
    k: int = DEFAULT_K,
    columns: Sequence[str] | None = None,
    marker: str | None = None,
    suppress_zero: bool = False,
) -> Suppressed:
    """Mask every count from 1 to k - 1 in a table of counts (a cross-tab).

    Parameters
    ----------
    table : pandas.DataFrame or list of dict
        Cells holding numbers of users.
    k : int, default 10
        Counts below ``k`` are hidden.
    columns : sequence of str, optional
        The count columns (default: every numeric column of a DataFrame, every
        int/float value of a dict).
    marker : str, optional
        The replacement text; ``"<k"`` by default.
    suppress_zero : bool
        Hide zeros too (a zero says "nobody here", which can itself be telling).
    """
    marker = _check_k(k, marker)

    def is_count(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if isinstance(table, list):
        rows = [dict(r) for r in table]
        hidden = []
        for i, row in enumerate(rows):
            for col, value in row.items():
                wanted = col in columns if columns is not None else is_count(value)
                if wanted and _is_small(value, k, suppress_zero):
                    row[col] = marker
                    hidden.append((i, col))
        return Suppressed(rows, len(hidden), k, marker, hidden)

    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise ConfigError(
            f"cannot suppress a {type(table).__name__}; expected a DataFrame or a list of dicts."
        )
    if columns is None:
        columns = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise SchemaError(f"column(s) {', '.join(map(repr, missing))} not found.")
    out = table.astype(object).copy()
    hidden = []
    for col in columns:
        for pos, value in enumerate(table[col].tolist()):
            if _is_small(value, k, suppress_zero):
                out.iat[pos, out.columns.get_loc(col)] = marker
                hidden.append((pos, col))
    return Suppressed(out, len(hidden), k, marker, hidden)
