"""Rules a person can read and a warehouse can run: what puts a user in each segment.

For each segment a shallow decision tree (depth 3, classes weighted so that a
small segment counts as much as the rest) learns to tell its users from
everyone else, on the **original** feature values -- days, money, region --
not the scaled ones the clustering saw. Every leaf that predicts the segment
becomes a rule, a conjunction of conditions, and the segment's rule is the
OR of its leaves:

    recency_days < 30 AND monetary >= 500
    region = 'north' AND frequency >= 4

Each rule set comes with its precision (share of the users it selects that
are in the segment) and recall (share of the segment it selects), measured
against the real assignment on every user, and as an SQL ``WHERE`` clause to
run on the feature table (identifiers double-quoted, strings single-quoted
with quotes doubled, missing values handled as in Python).

Readable thresholds: a tree splits halfway between two observed values; the
threshold shown is the roundest number in that gap (``30`` rather than
``29.9987``), which selects exactly the same users of the tree's node.
Conditions on the same feature along a path are merged (the tightest bound
wins), and two sibling leaves that both predict the segment become their
parent. Missing numeric values follow the tree (``x < 30 or missing``);
categorical values are one-hot encoded per level, with "missing" as a level; an
exclusion of most levels is shown as the inclusion of the rest
(``is_member = true``, not ``is_member != false``), which on new data leaves
out a level never seen in training.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"recency_days": rng.uniform(0, 365, 2000),
...                    "monetary": rng.uniform(0, 1000, 2000)})
>>> labels = ((df.recency_days < 30) & (df.monetary > 500)).to_numpy().astype(int)
>>> rules = segment_rules(df, labels)
>>> rules[1].text
'recency_days < 30 AND monetary >= 500'
>>> rules[1].where
'"recency_days" < 30 AND "monetary" >= 500'
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

from userseg.errors import ConfigError, DataError

__all__ = ["Condition", "Rule", "RuleSet", "SegmentRules", "segment_rules"]

#: Categorical columns with more distinct values than this are left out (identifier-like).
MAX_LEVELS = 50
_MISSING = None  # the level of a missing categorical value


@dataclass(frozen=True)
class Condition:
    """One condition on one feature.

    ``op`` is ``"<"`` or ``">="`` (numeric ``value``), or ``"in"`` / ``"not in"``
    (a tuple of levels; ``None`` stands for a missing value). ``or_missing``:
    users with no value satisfy it too.
    """

    feature: str
    op: str
    value: Any
    or_missing: bool = False

    @property
    def text(self) -> str:
        f = self.feature
        if self.op in ("<", ">="):
            out = f"{f} {self.op} {_number(self.value)}"
            return f"({out} or missing)" if self.or_missing else out
        levels, missing, positive = self._levels()
        parts = [_among(f, [_shown(v) for v in levels], positive, _TEXT)] if levels else []
        if missing:
            parts.append(f"{f} is missing" if positive else f"{f} is not missing")
        if len(parts) == 1:
            return parts[0]
        return f"({' or '.join(parts)})" if positive else " and ".join(parts)

    @property
    def sql(self) -> str:
        col = _identifier(self.feature)
        if self.op in ("<", ">="):
            out = f"{col} {self.op} {_number(self.value)}"
            return f"({out} OR {col} IS NULL)" if self.or_missing else out
        levels, missing, positive = self._levels()
        if not levels:
            return f"{col} IS NULL" if positive else f"{col} IS NOT NULL"
        test = _among(col, [_literal(v) for v in levels], positive, _SQL)
        # SQL's NULL <> 'a' is unknown, where in Python a missing value is not 'a'; and
        # NULL IN (…) is unknown, where "or missing" was asked for.
        return f"({test} OR {col} IS NULL)" if positive == missing else test

    def _levels(self) -> tuple[list[Any], bool, bool]:
        levels = [v for v in self.value if v is not _MISSING]
        return levels, len(levels) < len(self.value), self.op == "in"

    def matches(self, df: pd.DataFrame) -> np.ndarray:
        """Which rows of ``df`` satisfy the condition (vectorised)."""
        s = df[self.feature]
        miss = s.isna().to_numpy()
        if self.op in ("<", ">="):
            v = pd.to_numeric(s).to_numpy(dtype=np.float64, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                ok = v < self.value if self.op == "<" else v >= self.value
            return (ok & ~miss) | (miss & self.or_missing)
        levels = [v for v in self.value if v is not _MISSING]
        hit = _as_levels(s).isin(levels).to_numpy() & ~miss
        if len(levels) < len(self.value):
            hit |= miss
        return hit if self.op == "in" else ~hit


@dataclass
class Rule:
    """A conjunction of conditions (one tree leaf), with what it selects."""

    conditions: list[Condition]
    n_users: int = 0
    precision: float = 0.0
    recall: float = 0.0

    @property
    def text(self) -> str:
        return " AND ".join(c.text for c in self.conditions) or "every user"

    @property
    def sql(self) -> str:
        return " AND ".join(c.sql for c in self.conditions) or "TRUE"

    def matches(self, df: pd.DataFrame) -> np.ndarray:
        out = np.ones(len(df), dtype=bool)
        for c in self.conditions:
            out &= c.matches(df)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "sql": self.sql,
            "conditions": [
                {
                    "feature": c.feature,
                    "op": c.op,
                    "or_missing": c.or_missing,
                    "value": list(c.value) if isinstance(c.value, tuple) else c.value,
                }
                for c in self.conditions
            ],
            "n_users": self.n_users,
            "precision": self.precision,
            "recall": self.recall,
        }


@dataclass
class SegmentRules:
    """The rules that recognise one segment, and how well they do.

    Attributes
    ----------
    segment, size : int
    rules : list of Rule
        OR-ed together; the largest first.
    precision, recall, f1 : float
        Of the OR of the rules against the real assignment, on every user.
    n_selected : int
        Users the rules select.
    """

    segment: int
    size: int
    rules: list[Rule]
    precision: float
    recall: float
    f1: float
    n_selected: int

    @property
    def text(self) -> str:
        """The rules in words, one OR per leaf."""
        if not self.rules:
            return "no rule found"
        parts = [r.text for r in self.rules]
        if len(parts) == 1:
            return parts[0]
        return " OR ".join(
            f"({p})" if len(r.conditions) > 1 else p for p, r in zip(parts, self.rules, strict=True)
        )

    @property
    def where(self) -> str:
        """An SQL boolean expression (no ``WHERE`` keyword) selecting the segment's users."""
        if not self.rules:
            return "FALSE"
        if len(self.rules) == 1:
            return self.rules[0].sql
        return " OR ".join(f"({r.sql})" for r in self.rules)

    def select_sql(self, table: str, columns: str = "*") -> str:
        """``SELECT columns FROM "table" WHERE …`` (``table`` is quoted as one identifier)."""
        return f"SELECT {columns} FROM {_identifier(table)} WHERE {self.where}"

    def matches(self, df: pd.DataFrame) -> np.ndarray:
        """Which rows of ``df`` the rules select, as the SQL clause would."""
        out = np.zeros(len(df), dtype=bool)
        for r in self.rules:
            out |= r.matches(df)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "size": self.size,
            "text": self.text,
            "where": self.where,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "n_selected": self.n_selected,
            "rules": [r.to_dict() for r in self.rules],
        }


@dataclass
class RuleSet:
    """Rules for every segment (index it by segment label)."""

    segments: list[SegmentRules]
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, segment: int) -> SegmentRules:
        for s in self.segments:
            if s.segment == segment:
                return s
        raise KeyError(segment)

    def __iter__(self) -> Iterator[SegmentRules]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, for the report, the run record and ``userseg rules --sql``."""
        return {
            "segments": [s.to_dict() for s in self.segments],
            "params": dict(self.params),
            "notes": list(self.notes),
        }


def segment_rules(
    df: pd.DataFrame,
    labels: Any,
    *,
    max_depth: int = 3,
    min_leaf_share: float = 0.01,
    segments: list[int] | None = None,
    categorical: list[str] | None = None,
    sample: int | None = 50_000,
    random_state: int = 0,
) -> RuleSet:
    """Learn readable rules for each segment, with their precision, recall and SQL.

    Parameters
    ----------
    df : DataFrame
        The original (unscaled) features, one row per user; never modified.
        Numeric columns are split on thresholds, the others per level.
    labels : array-like of int
        Segment of each row (negative: noise, which only counts as "the rest").
    max_depth : int
        Depth of each tree (1–6); 3 keeps rules to at most three conditions.
    min_leaf_share : float
        Smallest leaf, as a share of the (class-weighted) users: no rule for a handful.
    segments : list of int, optional
        Segments to explain (all by default).
    categorical : list of str, optional
        Numeric columns to treat per level as well.
    sample : int or None
        Trees learn from at most this many users (stratified: the segment and
        the rest in proportion); precision and recall are measured on all.
    random_state : int

    Returns
    -------
    RuleSet
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a DataFrame of features; got {type(df).__name__}.")
    lab = np.asarray(labels)
    if lab.shape != (len(df),) or not np.issubdtype(lab.dtype, np.integer):
        raise DataError(f"labels must be {len(df)} integers, one per row of df; got {lab.shape}.")
    if not isinstance(max_depth, int | np.integer) or not 1 <= max_depth <= 6:
        raise ConfigError(f"max_depth={max_depth!r} should be an integer in 1..6.")
    if not 0.0 <= min_leaf_share < 0.5:
        raise ConfigError(f"min_leaf_share={min_leaf_share} should be in [0, 0.5).")
    unknown = sorted(set(categorical or []) - {str(c) for c in df.columns})
    if unknown:
        raise ConfigError(f"categorical names unknown columns {unknown}.")
    present = np.unique(lab[lab >= 0])
    wanted = present if segments is None else np.asarray(segments)
    missing = sorted(set(wanted.tolist()) - set(present.tolist()))
    if missing:
        raise ConfigError(f"segments {missing} are not in the labels ({present.tolist()}).")
    df = df.set_axis([str(c) for c in df.columns], axis=1)
    notes: list[str] = []
    design, columns = _encode(df, set(categorical or []), notes)
    if not columns:
        raise DataError("no usable feature to write rules on.", details={"notes": notes})
    levels: dict[str, tuple] = {}
    for col in columns:
        if col.onehot:
            levels[col.feature] = (*levels.get(col.feature, ()), col.level)
    rng = np.random.default_rng(random_state)
    out = []
    for s in wanted:
        y = lab == s
        rows = _sample(y, sample, rng)
        tree = DecisionTreeClassifier(
            max_depth=int(max_depth),
            class_weight="balanced",
            min_weight_fraction_leaf=min_leaf_share,
            random_state=random_state,
        ).fit(design[rows], y[rows])
        rules = [_merge(p, levels) for p in _positive_paths(tree, columns, design[rows])]
        out.append(_score(int(s), rules, df, y))
    params = {
        "max_depth": int(max_depth),
        "min_leaf_share": min_leaf_share,
        "sample": sample,
        "random_state": random_state,
    }
    return RuleSet(segments=out, params=params, notes=notes)


# -- encoding ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Column:
    feature: str
    level: Any = None  # one-hot level; None for a numeric column
    onehot: bool = False
    has_missing: bool = False


def _as_levels(s: pd.Series) -> pd.Series:
    """Categorical values as comparable levels: booleans stay booleans, the rest text."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype(object)
    return s.astype(object).where(s.isna(), s.astype(str))


def _encode(df: pd.DataFrame, forced: set[str], notes: list[str]) -> tuple[np.ndarray, list]:
    blocks, columns = [], []
    for name in df.columns:
        s = df[name]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if numeric and name not in forced:
            v = s.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isinf(v).any():
                raise DataError(f"column {name!r} has infinite values; expected finite numbers.")
            present = v[~np.isnan(v)]
            if present.size == 0 or present.min() == present.max():
                notes.append(f"{name}: constant or empty, not used in rules")
                continue
            blocks.append(v[:, None])
            columns.append(_Column(name, has_missing=bool(np.isnan(v).any())))
            continue
        levels = _as_levels(s)
        distinct = levels.dropna().unique().tolist()
        if len(distinct) > MAX_LEVELS:
            notes.append(f"{name}: {len(distinct)} distinct values (> {MAX_LEVELS}), not used")
            continue
        ordered = sorted(distinct, key=str) + ([_MISSING] if levels.isna().any() else [])
        if len(ordered) < 2:
            notes.append(f"{name}: a single level, not used in rules")
            continue
        for level in ordered:
            hit = levels.isna() if level is _MISSING else (levels == level).fillna(False)
            blocks.append(hit.to_numpy(dtype=np.float64)[:, None])
            columns.append(_Column(name, level=level, onehot=True))
    design = np.hstack(blocks) if blocks else np.empty((len(df), 0))
    return design, columns


def _sample(y: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    if size is None or len(y) <= size:
        return np.arange(len(y))
    parts = []
    for part in (np.flatnonzero(y), np.flatnonzero(~y)):
        take = min(len(part), max(round(size * len(part) / len(y)), min(len(part), 200)))
        parts.append(rng.choice(part, size=take, replace=False))
    return np.sort(np.concatenate(parts))


# -- from a tree to rules -------------------------------------------------------------------
def _positive_paths(tree: DecisionTreeClassifier, columns: list, X: np.ndarray) -> list:
    """Condition lists of the leaves predicting the segment; positive siblings merged.

    ``X`` is the design the tree was fitted on: thresholds are placed in the gap
    between the values of the users that reached each node.
    """
    t = tree.tree_
    if list(tree.classes_) != [False, True]:
        return [[]] if tree.classes_[0] else []  # the sample held one class only
    missing_left = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=bool))
    memo: dict[int, bool] = {}
    reach = tree.decision_path(X).tocsc()

    def positive(node: int) -> bool:
        if node not in memo:
            left, right = t.children_left[node], t.children_right[node]
            memo[node] = (
                bool(np.argmax(t.value[node][0]) == 1)
                if left == -1
                else positive(left) and positive(right)
            )
        return memo[node]

    paths: list[list[Condition]] = []

    def walk(node: int, path: list[Condition]) -> None:
        if positive(node):
            paths.append(path)
            return
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            return
        col = columns[t.feature[node]]
        go_left = bool(missing_left[node])
        if col.onehot:  # one-hot column: <= 0.5 is "not this level"
            walk(left, [*path, Condition(col.feature, "not in", (col.level,))])
            walk(right, [*path, Condition(col.feature, "in", (col.level,))])
            return
        at_node = X[reach[:, node].nonzero()[0], t.feature[node]]
        values = np.unique(at_node[~np.isnan(at_node)])
        cut = _nice_threshold(values, float(t.threshold[node]))
        walk(left, [*path, Condition(col.feature, "<", cut, col.has_missing and go_left)])
        walk(right, [*path, Condition(col.feature, ">=", cut, col.has_missing and not go_left)])

    walk(0, [])
    return paths


def _nice_threshold(values: np.ndarray, threshold: float) -> float:
    """The roundest number in the gap the tree split in.

    ``values`` are the distinct values at the node. The tree (which sees
    float32 values) sends ``x`` left when ``float32(x) <= threshold``; with
    ``a`` the last value sent left and ``b`` the first sent right, ``x < t``
    splits the node's users the same way for any ``t`` in ``(a, b]``. The
    roundest such ``t`` is shown (``30`` rather than ``29.98``; ``x < 2`` for
    counts), the one nearest the midpoint among equally round ones.
    """
    as32 = values.astype(np.float32).astype(np.float64)
    below, above = values[as32 <= threshold], values[as32 > threshold]
    if below.size == 0 or above.size == 0:
        return float(threshold)
    a, b = float(below.max()), float(above.min())
    mid = (a + b) / 2
    top = math.floor(math.log10(max(abs(a), abs(b), 1e-300))) + 1
    for e in range(top, -16, -1):
        step = 10.0**e
        first, last = math.floor(a / step) + 1, math.floor(b / step)
        if first <= last:
            m = min(max(round(mid / step), first), last)
            t = round(m * step, max(0, -e))
            if a < t <= b:  # guard against rounding at the ends
                return t
    return b


_ORDER = {">=": 0, "<": 1, "in": 2, "not in": 3}  # "a >= 1 AND a < 5" reads as an interval


def _merge(path: list[Condition], levels: dict[str, tuple] | None = None) -> Rule:
    """Merge conditions on the same feature: tightest bounds, combined level sets.

    ``levels`` (feature → every level seen) turns an exclusion into an inclusion
    when that is no longer: ``is_member = true`` rather than ``is_member != false``.
    Features keep the order of their first split; a lower bound comes before an upper.
    """
    merged: dict[tuple[str, str], Condition] = {}
    for c in path:
        key = (c.feature, c.op)
        old = merged.get(key)
        if old is None:
            merged[key] = c
        elif c.op in ("<", ">="):
            value = min(old.value, c.value) if c.op == "<" else max(old.value, c.value)
            merged[key] = Condition(c.feature, c.op, value, old.or_missing and c.or_missing)
        elif c.op == "in":
            merged[key] = Condition(c.feature, "in", tuple(v for v in old.value if v in c.value))
        else:
            merged[key] = Condition(c.feature, "not in", old.value + c.value)
    out: list[Condition] = []
    for feature in dict.fromkeys(c.feature for c in path):
        conds = {op: merged[(feature, op)] for op in _ORDER if (feature, op) in merged}
        excluded = conds["not in"].value if "not in" in conds else ()
        if "in" in conds:  # "= 'north'" already excludes every other level
            allowed = tuple(v for v in conds["in"].value if v not in excluded)
            conds = {"in": Condition(feature, "in", allowed)}
        elif excluded and levels and feature in levels:
            allowed = tuple(v for v in levels[feature] if v not in excluded)
            if len(allowed) <= len(excluded):
                conds = {"in": Condition(feature, "in", allowed)}
        out += [conds[op] for op in _ORDER if op in conds]
    return Rule(out)


def _score(segment: int, rules: list[Rule], df: pd.DataFrame, y: np.ndarray) -> SegmentRules:
    size = int(y.sum())
    selected = np.zeros(len(df), dtype=bool)
    for r in rules:
        hit = r.matches(df)
        r.n_users = int(hit.sum())
        r.precision = float(y[hit].mean()) if hit.any() else 0.0
        r.recall = float((hit & y).sum() / size) if size else 0.0
        selected |= hit
    rules.sort(key=lambda r: (-r.n_users, r.text))
    tp = int((selected & y).sum())
    precision = tp / int(selected.sum()) if selected.any() else 0.0
    recall = tp / size if size else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return SegmentRules(segment, size, rules, precision, recall, f1, int(selected.sum()))


# -- SQL and text literals ------------------------------------------------------------------
def _identifier(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    return "'" + str(value).replace("'", "''") + "'"


_TEXT = ("=", "!=", "in", "not in")
_SQL = ("=", "<>", "IN", "NOT IN")


def _among(column: str, shown: list[str], positive: bool, words: tuple[str, ...]) -> str:
    """``column = a`` / ``column != a`` / ``column in (a, b)`` / ``column not in (a, b)``."""
    eq, ne, among, not_among = words
    if len(shown) == 1:
        return f"{column} {eq if positive else ne} {shown[0]}"
    return f"{column} {among if positive else not_among} ({', '.join(shown)})"


def _shown(value: Any) -> str:
    """A level as a person reads it: 'north', "o'brien", true."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return repr(str(value))


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
