"""A small stored shop for the web app's tests: two runs (the second a refit of the first,
so their comparison is stored), and one API key per scope."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from userseg import demo
from userseg.config import Source
from userseg.jobs import pipeline
from userseg.segment.params import FitConfig
from userseg.serve.auth import create_key
from userseg.store import set_key_scope

INJECTIONS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


def lean_fit(**kwargs: Any) -> FitConfig:
    """A quick FitConfig: no stability refits, no structure check (rules kept: pages show them)."""
    known = {f.name for f in dataclasses.fields(FitConfig)}
    extra = {"stability_runs": 0, "structure": False}
    return FitConfig(**kwargs, **{k: v for k, v in extra.items() if k in known})


def build_shop(path: Path, demo_files: dict[str, Path]) -> dict[str, Any]:
    db = pipeline.open_db(path)
    try:
        pipeline.ingest(
            db, Source(path=str(demo_files["events"])), kind="events", mapping=demo.EVENT_MAPPING
        )
        pipeline.ingest(
            db, Source(path=str(demo_files["users"])), kind="users", mapping=demo.USER_MAPPING
        )
        pipeline.features(db)
        first, _ = pipeline.fit(db, lean_fit(k=4))
        second, _ = pipeline.fit(db, lean_fit(k=5, random_state=1), previous_run=first)
        keys = {}
        for scope in ("read", "write", "admin"):
            key_id, keys[scope] = create_key(db, f"{scope}-person")
            set_key_scope(db, key_id, scope)
    finally:
        db.close()
    return {"path": path, "runs": (first, second), "keys": keys}


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match[1]
