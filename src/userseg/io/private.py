"""Personal data at import: found, said, pseudonymised or left out, never a feature by default.

An import hands its source to an :class:`ImportGuard` before it writes. The
guard judges the columns that would be stored (:func:`userseg.privacy.detect_table`
on the first rows of the source) and decides, per personal column:

==========================  =======================================================
column                      what is stored
==========================  =======================================================
the user id                 a keyed HMAC pseudonym (e-mails lower-cased first);
                            no key is an error: the ids would be stored raw
another column, with a key  its pseudonym (a kept identifier), never a feature
another column, no key      nothing: the column is left out
``allow_pii`` names it      the raw values, usable as a feature (recorded)
==========================  =======================================================

The pseudonyms are computed in DuckDB's write itself (a vectorised function
registered on the connection; the key never enters the database), so the raw
values are never written to the file. E-mail and phone columns also give the
hashes ad platforms match on, sealed under the key (:mod:`userseg.privacy.seal`),
into the temporary table :data:`CONTACTS` for the store to keep. Ids on the
suppression list (people who asked to be forgotten) are dropped at import when
the caller loads that list into the temporary table :data:`SUPPRESSED`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from userseg.errors import SecretKeyError, UsersegError
from userseg.io.database import Database, quote_ident
from userseg.io.validate import IngestReport, Issue

if TYPE_CHECKING:
    from userseg.privacy.keys import KeyRing
    from userseg.privacy.pseudonym import Pseudonymizer

__all__ = [
    "CONTACTS",
    "PSEUDONYM_SQL",
    "SUPPRESSED",
    "ImportGuard",
    "PrivacyOptions",
    "suppression_hasher",
]

#: The SQL function that pseudonymises (registered on the import's connection only).
PSEUDONYM_SQL = "_userseg_pseudonym"
#: The SQL function that hashes a stored id for the suppression list (salted).
SUPPRESSION_SQL = "_userseg_suppression_hash"
#: Temporary tables shared with the store: suppressed id hashes in, sealed contact hashes out.
SUPPRESSED = "__suppressed_ids"
CONTACTS = "__contact_hashes"
#: Rows of the source the detection looks at (the first ones: reading a sample of a
#: large file would cost a full pass per column).
SAMPLE_ROWS = 5000
#: Kinds whose values ad platforms match on, and the platform hash kind of each.
_CONTACT_KINDS = {"email": "email", "phone": "phone"}


@dataclass(frozen=True)
class PrivacyOptions:
    """How an import treats personal data.

    Parameters
    ----------
    keys : KeyRing, optional
        The secret key(s) for pseudonyms (``load_keys``); None when none was given.
    allow_pii : sequence of str
        Source columns to keep raw and usable as features although they hold personal data.
    suppression_salt : bytes, optional
        The database's salt for the suppression list, when the list has entries.
    detect : bool
        Judge the columns at all (off only for data known to hold no personal data).
    """

    keys: KeyRing | None = None
    allow_pii: tuple[str, ...] = ()
    suppression_salt: bytes | None = None
    detect: bool = True

    @classmethod
    def from_key_file(
        cls, key_file: str | Path | None = None, allow_pii: Sequence[str] = ()
    ) -> PrivacyOptions:
        """Keys from ``key_file``, else from ``USERSEG_SECRET_KEY`` when set, else none."""
        from userseg.privacy.keys import ENV_VAR, load_keys

        keys = None
        if key_file is not None or os.environ.get(ENV_VAR, "").strip():
            keys = load_keys(key_file)
        return cls(keys=keys, allow_pii=tuple(allow_pii))


def suppression_hasher(salt: bytes) -> Pseudonymizer:
    """The salted HMAC of stored ids that the suppression list holds."""
    from userseg.privacy.keys import SecretKey
    from userseg.privacy.pseudonym import Pseudonymizer

    return Pseudonymizer(SecretKey(salt, "the database's suppression salt"))


@dataclass
class _Decision:
    column: str
    kind: str
    share: float
    action: str  # "pseudonymised", "left out", "kept raw (--allow-pii)"
    sampled: int = 0


@dataclass
class ImportGuard:
    """Personal-data decisions for one import, and the SQL that carries them out.

    Build it with :meth:`inspect` before the import writes; wrap the stored
    expressions with :meth:`id_sql` / :meth:`value_sql`; filter with
    :meth:`keep_sql`; then :meth:`finish` adds what was found and done to the report.
    """

    db: Database
    options: PrivacyOptions
    user_column: str | None
    decisions: dict[str, _Decision] = field(default_factory=dict)

    @classmethod
    def inspect(
        cls,
        db: Database,
        relation: str,
        columns: Sequence[str],
        user_column: str | None,
        options: PrivacyOptions | None,
        where: str,
    ) -> ImportGuard:
        """Judge ``columns`` of the source ``relation`` and decide what to store.

        Raises
        ------
        SecretKeyError
            The user ids are personal data and no key was given.
        """
        # None: the data layer's building block used alone (tests, known-clean data);
        # pipeline.ingest, the command line and the service always pass options
        options = options or PrivacyOptions(detect=False)
        guard = cls(db, options, user_column)
        cols = list(dict.fromkeys(c for c in columns if c))
        if options.detect and cols:
            guard._judge(relation, cols, where)
        if options.keys is not None:
            from userseg.privacy.pseudonym import Pseudonymizer

            Pseudonymizer(options.keys).register(db.con, PSEUDONYM_SQL)
        if options.suppression_salt is not None:
            suppression_hasher(options.suppression_salt).register(db.con, SUPPRESSION_SQL)
        return guard

    def _judge(self, relation: str, cols: list[str], where: str) -> None:
        from userseg.privacy.detect import detect_table

        select = ", ".join(quote_ident(c) for c in cols)
        head = self.db.con.sql(f"SELECT {select} FROM {relation} LIMIT {SAMPLE_ROWS}").df()
        allowed = set(self.options.allow_pii)
        for det in detect_table(head):
            if not det.personal:
                continue
            if det.column in allowed and det.column != self.user_column:
                action = "kept raw (--allow-pii)"
            elif self.options.keys is not None:
                action = "pseudonymised"
            elif det.column == self.user_column:
                raise SecretKeyError(
                    f"{where}: the user id column {det.column!r} holds {det.kind} values "
                    "(personal data), which are replaced by keyed pseudonyms at import, and no "
                    "secret key was given: pass --key-file PATH (a 0600 file; create one with "
                    "`userseg secret-key PATH`) or set USERSEG_SECRET_KEY. Nothing was imported.",
                    details={"column": det.column, "kind": det.kind},
                )
            else:
                action = "left out"
            self.decisions[det.column] = _Decision(
                det.column, str(det.kind), det.share, action, det.n_sampled
            )

    # -- SQL ---------------------------------------------------------------------------------
    def _pseudonymised(self, column: str | None) -> bool:
        d = self.decisions.get(column or "")
        return d is not None and d.action == "pseudonymised"

    def id_sql(self, expr: str) -> str:
        """The stored user id: ``expr``, or its pseudonym when the ids are personal."""
        return self.value_sql(self.user_column, expr)

    def value_sql(self, column: str | None, expr: str) -> str:
        """The stored value of a source column: ``expr`` or its pseudonym."""
        if not self._pseudonymised(column):
            return expr
        if self.decisions[column or ""].kind == "email":  # Alice@X.com is alice@x.com
            expr = f"lower(trim({expr}))"
        return f"{PSEUDONYM_SQL}({expr})"

    def left_out(self, column: str) -> bool:
        """Whether the column must not be stored at all."""
        d = self.decisions.get(column)
        return d is not None and d.action == "left out"

    def feature_ok(self, column: str) -> bool:
        """Whether the column may be a clustering feature."""
        d = self.decisions.get(column)
        return d is None or d.action.startswith("kept raw")

    def keep_sql(self, stored_id: str) -> str:
        """A condition dropping suppressed users (``stored_id``: the id as stored)."""
        if self.options.suppression_salt is None:
            return "true"
        return f"{SUPPRESSION_SQL}({stored_id}) NOT IN (SELECT id_hash FROM {SUPPRESSED})"

    # -- after the write -----------------------------------------------------------------
    def issues(self) -> list[Issue]:
        """One line per personal column: what was found and what was done."""
        return [
            Issue(
                "personal_data",
                d.column,
                d.sampled,
                f"{d.kind} in {d.share:.{0 if d.share >= 0.1 else 1}%} of {d.sampled:,} "
                f"sampled values: {d.action}"
                + ("" if self.feature_ok(d.column) else "; not a clustering feature"),
            )
            for d in self.decisions.values()
        ]

    def finish(self, report: IngestReport, relation: str, stored_id: str) -> IngestReport:
        """Add what was found and done to ``report``; seal the contact hashes (with a key)."""
        report.issues += self.issues()
        n = self.contacts(relation, stored_id, self.keep_sql(stored_id))
        if n:
            report.notes.append(
                f"{n:,} platform hashes of e-mails and phones sealed under key "
                f"{self.options.keys.key_id} for activation (never stored in clear)"  # type: ignore[union-attr]
            )
        return report

    def contacts(self, relation: str, stored_id: str, where_sql: str = "true") -> int:
        """Seal the platform hashes of e-mail and phone columns into :data:`CONTACTS`.

        ``stored_id`` is the SQL of the id as stored (pseudonymised). Returns the rows
        written; nothing without a key.
        """
        if self.options.keys is None:
            return 0
        from userseg.privacy.platforms import platform_hash
        from userseg.privacy.seal import seal_digest

        cols = [d for d in self.decisions.values() if d.kind in _CONTACT_KINDS]
        self.db.execute(
            f"CREATE OR REPLACE TEMP TABLE {CONTACTS} (user_id VARCHAR, kind VARCHAR, "
            "platform VARCHAR, sealed VARCHAR)"
        )
        rows: list[tuple[str, str, str, str]] = []
        for d in cols:
            src = quote_ident(d.column)
            pairs = self.db.rows(
                f"SELECT DISTINCT {stored_id}, CAST({src} AS VARCHAR) FROM {relation} "
                f"WHERE {src} IS NOT NULL AND ({where_sql})"
            )
            for uid, value in pairs:
                for platform in ("google", "meta"):
                    try:
                        digest = platform_hash(value, _CONTACT_KINDS[d.kind], platform)
                    except (UsersegError, ValueError):  # a value a platform cannot match on
                        digest = None
                    if uid is not None and digest:
                        rows.append((uid, d.kind, platform, seal_digest(self.options.keys, digest)))
        if rows:
            self.db.con.executemany(f"INSERT INTO {CONTACTS} VALUES (?, ?, ?, ?)", rows)
        return len(rows)
