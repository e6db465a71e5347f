"""What a feature set was built from, and whether that data has changed since.

``userseg features`` records, with each feature set, the imports it derives from
(the latest import of each data table) and the state of the tables it read: their
row counts and content fingerprints. Two questions are answered from that record:

* **How were the dates read?** :func:`import_date_format` is the strptime format the
  user table's import used, so that scoring a file of the same users later
  (``assign``, ``drift --input``) reads ``03-04-2024`` the same way.
* **Are the features stale?** :func:`feature_freshness` compares the record with the
  data now. An ``ingest --mode append`` (or events recorded by ``stream`` or the
  service) after ``features`` leaves the feature table describing older data: a fit on
  it silently ignores the new events while ``drift`` reads them. Every command that
  reads the feature table says so (a warning line, ``features_stale`` in ``--json``).

Checking is cheap: the latest import id and the row count of each table; the
content fingerprint (one scan) only when a table was imported again with the same
number of rows, to tell a re-import of the same file from a changed one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from userseg.features.build import FeatureSet, table_fingerprint
from userseg.io.database import Database

__all__ = [
    "SOURCE_TABLES",
    "STALE_RULE",
    "Freshness",
    "feature_freshness",
    "feature_set_config",
    "import_date_format",
    "import_report",
    "source_state",
]

#: The data tables ``userseg features`` reads (texts: ``io.texts.TEXT_TABLE``).
SOURCE_TABLES = ("events", "users", "texts")  # texts: stored by `ingest --text`

#: How the commands treat features older than the data (docs/cli.md shows this text).
STALE_RULE = (
    "Stale features: `features` records the data it was built from. When events or users "
    "change afterwards (`ingest`, in particular `--mode append`; events recorded by "
    "`stream` or `POST /v1/events`), the commands that read the feature table (`fit`, "
    "`drift` without `--input`, `select`) print a warning line and give `features_stale` "
    "in `--json` (`null` when the features are current); a run fitted on stale features keeps the "
    "warning in its notes, which `report`, `rules` and `segments` show. Nothing is rebuilt "
    "unasked: run `userseg features`, or `userseg fit --rebuild-features` to rebuild (with "
    "the feature set's own settings) and fit in one step. `refresh` and `run` always "
    "rebuild; `assign`, `stream` and the service compute features from the data they are "
    "given and are never stale."
)


@dataclass
class Freshness:
    """How the data changed after a feature set was built (no changes: not stale)."""

    feature_set_id: int | None
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.changes)

    @property
    def message(self) -> str:
        if not self.changes:
            return ""
        what = "; ".join(f"{c['table']}: {c['change']}" for c in self.changes)
        return (
            f"the data changed after feature set {self.feature_set_id} was built ({what}), "
            "so its features leave that out: run `userseg features` to rebuild them, or "
            "`userseg fit --rebuild-features`."
        )

    def to_dict(self) -> dict[str, Any] | None:
        """The ``features_stale`` field of ``--json``: None when the features are current."""
        if not self.stale:
            return None
        return {
            "feature_set_id": self.feature_set_id,
            "changes": self.changes,
            "message": self.message,
        }


def _latest_ingests(db: Database) -> dict[str, int]:
    return {
        t: int(i)
        for t, i in db.rows("SELECT table_name, max(ingest_id) FROM userseg_ingests GROUP BY 1")
    }


def source_state(db: Database, tables: tuple[str, ...] = SOURCE_TABLES) -> dict[str, Any]:
    """The state of the data tables now, as a feature set records it.

    Returns ``{"ingests": {table: latest import id}, "sources": {table: {"ingest_id",
    "rows", "fingerprint"}}}``; ``ingests`` covers every imported table, ``sources`` the
    tables the feature step reads that exist.
    """
    from userseg.io.database import quote_ident

    ingests = _latest_ingests(db)
    sources = {}
    for t in tables:
        if db.table_exists(t):
            sources[t] = {
                "ingest_id": ingests.get(t),
                "rows": int(db.scalar(f"SELECT count(*) FROM {quote_ident(t)}")),
                "fingerprint": table_fingerprint(db, t),
            }
    return {"ingests": ingests, "sources": sources}


def feature_set_config(db: Database, feature_set_id: int | None) -> dict[str, Any]:
    """What ``features`` recorded with a feature set: its settings, imports and sources."""
    if feature_set_id is None:
        return {}
    raw = db.scalar(
        "SELECT config FROM userseg_feature_sets WHERE feature_set_id = ?", [feature_set_id]
    )
    return (json.loads(raw) if isinstance(raw, str) else raw) or {}


def import_report(db: Database, ingest_id: int | None) -> dict[str, Any]:
    """The report an import recorded (``{}`` for None or an unknown id)."""
    if ingest_id is None:
        return {}
    raw = db.scalar("SELECT report FROM userseg_ingests WHERE ingest_id = ?", [ingest_id])
    return (json.loads(raw) if isinstance(raw, str) else raw) or {}


def import_date_format(db: Database, fs: FeatureSet | None, table: str = "users") -> str | None:
    """The strptime format the import of ``table`` behind feature set ``fs`` used, if any.

    None when the dates were read without one (ISO text, epochs), or when the
    import was recorded by a userseg that did not keep it.
    """
    if fs is None:
        return None
    ingest_id = feature_set_config(db, fs.feature_set_id).get("ingests", {}).get(table)
    settings = import_report(db, ingest_id).get("settings") or {}
    return settings.get("date_format")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def feature_freshness(db: Database, fs: FeatureSet) -> Freshness:
    """Whether the events or users changed after feature set ``fs`` was built, and how."""
    from userseg.io.database import quote_ident

    recorded = feature_set_config(db, fs.feature_set_id)
    then_ingests: dict[str, int] = recorded.get("ingests") or {}
    then_sources: dict[str, dict[str, Any]] = recorded.get("sources") or {}
    now_ingests = _latest_ingests(db)
    out = Freshness(fs.feature_set_id)
    for t in SOURCE_TABLES:
        if not db.table_exists(t):
            continue
        then = then_sources.get(t)
        then_id = then["ingest_id"] if then else then_ingests.get(t)
        now_id = now_ingests.get(t)
        new_imports = [
            int(i)
            for (i,) in db.rows(
                "SELECT ingest_id FROM userseg_ingests WHERE table_name = ? AND ingest_id > ? "
                "ORDER BY ingest_id",
                [t, then_id if then_id is not None else 0],
            )
        ]
        by = (
            f"by import {', '.join(map(str, new_imports))}"
            if new_imports
            else "by `stream` or the service"
        )
        rows_now = int(db.scalar(f"SELECT count(*) FROM {quote_ident(t)}"))
        change: dict[str, Any] | None = None
        if then is None and t not in then_ingests:
            if then_sources or recorded.get("ingests") is not None:
                # the table is newer than the feature set (a user table imported after)
                change = {"change": f"{_plural(rows_now, 'row')} imported since ({by})"}
        elif then is not None and "rows" in then:
            diff = rows_now - int(then["rows"])
            if diff:
                moved = "added" if diff > 0 else "removed"
                change = {"change": f"{_plural(abs(diff), 'row')} {moved} {by}"}
            elif new_imports and table_fingerprint(db, t) != then.get("fingerprint"):
                change = {"change": f"imported again with other content ({by})"}
            if change is not None:
                change.update(rows_then=int(then["rows"]))
        elif now_id is not None and now_id != then_id:
            # recorded by an older userseg: the import ids are all there is to compare
            change = {"change": f"imported again ({by})"}
        if change is not None:
            out.changes.append({"table": t, **change, "rows_now": rows_now, "imports": new_imports})
    return out
