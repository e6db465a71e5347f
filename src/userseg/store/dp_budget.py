"""The differential-privacy budget of each data set, kept in the database.

* ``userseg_dp_budgets``: the total ε a data set may spend (set on its first DP fit);
* ``userseg_dp_spends``: every ε spent on it, by what and for which run.

A data set is named by a fingerprint of the imported tables a feature set was
built from (:func:`dataset_key`), so that rebuilding the features of the same
data does not give it a fresh budget. :func:`spend` checks and records in the
caller's transaction: a fit that fails after it leaves no spend behind, and a
spend that would exceed the total raises before anything is computed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from userseg.errors import ConfigError, PrivacyBudgetError
from userseg.io.database import Database

__all__ = [
    "DEFAULT_BUDGET",
    "BudgetState",
    "budget_state",
    "dataset_key",
    "list_budgets",
    "spend",
]

#: The total ε of a data set unless its first DP fit says otherwise (``--dp-budget``).
DEFAULT_BUDGET = 3.0
_TOL = 1e-9


@dataclass(frozen=True)
class BudgetState:
    """A data set's budget: its total, what was spent and what is left (all in ε)."""

    dataset: str
    total: float
    spent: float

    @property
    def remaining(self) -> float:
        return max(0.0, self.total - self.spent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "total": self.total,
            "spent": self.spent,
            "remaining": self.remaining,
        }


def dataset_key(sources: dict[str, Any]) -> str:
    """A data set's name: a hash of the fingerprints of the tables it was built from."""
    prints = {t: s.get("fingerprint") for t, s in sorted((sources or {}).items())}
    digest = hashlib.sha256(json.dumps(prints, sort_keys=True, default=str).encode()).hexdigest()
    return f"data:{digest[:16]}"


def _check_total(total: float | None) -> None:
    if total is None:
        return
    if isinstance(total, bool) or not isinstance(total, int | float) or not math.isfinite(total):
        raise ConfigError(f"--dp-budget {total!r} should be a positive, finite epsilon.")
    if total <= 0:
        raise ConfigError(f"--dp-budget {total!r} should be a positive, finite epsilon.")


def budget_state(db: Database, dataset: str, total: float | None = None) -> BudgetState:
    """The budget of ``dataset`` (``total`` or the default when it has none recorded yet)."""
    _check_total(total)
    row = db.rows("SELECT total FROM userseg_dp_budgets WHERE dataset = ?", [dataset])
    if row and total is not None and abs(float(row[0][0]) - total) > _TOL:
        raise ConfigError(
            f"data set {dataset} already has a privacy budget of epsilon={row[0][0]:g}; "
            f"--dp-budget {total:g} cannot change it (a budget that grows protects nothing)."
        )
    recorded = float(row[0][0]) if row else (DEFAULT_BUDGET if total is None else float(total))
    spent = db.scalar(
        "SELECT coalesce(sum(epsilon), 0) FROM userseg_dp_spends WHERE dataset = ?", [dataset]
    )
    return BudgetState(dataset, recorded, float(spent))


def spend(
    db: Database,
    dataset: str,
    epsilon: float,
    what: str,
    *,
    total: float | None = None,
    run_id: int | None = None,
) -> BudgetState:
    """Record a spend of ``epsilon`` (in the caller's transaction) or raise, recording nothing.

    Raises :class:`~userseg.errors.PrivacyBudgetError` when ``epsilon`` is more
    than what is left of the data set's budget.
    """
    state = budget_state(db, dataset, total)
    if state.spent + epsilon > state.total + _TOL:
        raise PrivacyBudgetError(
            f"{what} needs epsilon={epsilon:g} but data set {dataset} has {state.remaining:g} "
            f"of its {state.total:g} left (spent {state.spent:g}); nothing was computed or "
            "stored.",
            details=state.to_dict() | {"needed": epsilon},
        )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if not db.rows("SELECT 1 FROM userseg_dp_budgets WHERE dataset = ?", [dataset]):
        db.execute("INSERT INTO userseg_dp_budgets VALUES (?, ?, ?)", [dataset, state.total, now])
    db.execute(
        "INSERT INTO userseg_dp_spends VALUES (?, ?, ?, ?, ?)",
        [dataset, now, float(epsilon), what, run_id],
    )
    return BudgetState(dataset, state.total, state.spent + float(epsilon))


def list_budgets(db: Database) -> list[BudgetState]:
    """Every data set that has a budget: its total, spent and remaining ε, by name."""
    rows = db.rows(
        "SELECT b.dataset, b.total, coalesce(sum(s.epsilon), 0) FROM userseg_dp_budgets b "
        "LEFT JOIN userseg_dp_spends s USING (dataset) GROUP BY b.dataset, b.total "
        "ORDER BY b.dataset"
    )
    return [BudgetState(str(d), float(t), float(sp)) for d, t, sp in rows]
