"""Reading user data into the embedded database, and the database connection itself.

This package is the only place that opens DuckDB connections and turns
DuckDB's exceptions into userseg's (:mod:`userseg.errors`).
"""

from userseg.io.database import DEFAULT_DB, Database, quote_ident
from userseg.io.ingest import IngestReport, Issue, ingest_events, ingest_users
from userseg.io.readers import infer_format, read_raw

__all__ = [
    "DEFAULT_DB",
    "Database",
    "IngestReport",
    "Issue",
    "infer_format",
    "ingest_events",
    "ingest_users",
    "quote_ident",
    "read_raw",
]
