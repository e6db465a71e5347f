"""Encrypted DuckDB files, and a byte scan that shows what a file gives away.

DuckDB (1.4 and later; 2.0.1 here) encrypts a whole database file, its WAL
and, with ``temp_file_encryption``, its spill files with AES-256-GCM when it is
attached with ``ENCRYPTION_KEY``::

    ATTACH 'shop.duckdb' AS db (ENCRYPTION_KEY '…')

What the pinned DuckDB does, as measured here (DuckDB 2.0.1):

* **Reading** works with DuckDB's built-in mbedTLS.
* **Writing** needs the OpenSSL module of the ``httpfs`` extension. Without
  it DuckDB refuses ("read-only crypto module loaded"), because mbedTLS here
  draws nonces from a non-cryptographic generator, and a repeated GCM nonce
  breaks the encryption. ``httpfs`` is installed once per machine with
  ``INSTALL httpfs`` (it downloads from DuckDB's extension repository; there
  is no PyPI wheel of it for 2.0.1). ``allow_unsafe_crypto=True`` lets DuckDB
  write with mbedTLS all the same (its ``force_mbedtls_unsafe`` setting): for
  tests and trials only.
* **A wrong key** fails with ``Wrong encryption key used to open the database
  file``; **no key** with ``Cannot open encrypted database … without a key``;
  **a key for a plain file** with ``… is not encrypted``. Each becomes a
  clear :class:`~userseg.errors.SecretKeyError` or
  :class:`~userseg.errors.DatabaseError` here.
* A plain ``duckdb.connect(path)`` cannot take a key: the encrypted file is
  attached to an in-memory connection and made the default with ``USE``.

The key given to DuckDB is derived from the user's secret key
(``SecretKey.derive("database")``, hex), so the file's key is never the key
that makes pseudonyms.

:func:`scan_bytes` looks for raw values, and for their plain SHA-256 hex, in
a file and its WAL: the proof that neither the database nor an export holds
them. DuckDB may compress strings (dictionary, FSST), so a clean scan of a
*plain* file is weaker evidence than a clean scan of an encrypted one; the
scan is exact for what it looks for, not a proof of absence of every encoding.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from userseg.errors import DatabaseError, DatabaseLockedError, DependencyError, SecretKeyError
from userseg.privacy.keys import SecretKey

__all__ = [
    "ByteScan",
    "database_key",
    "encrypt_database",
    "is_encrypted",
    "open_encrypted",
    "scan_bytes",
]

_ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def database_key(key: SecretKey | str) -> str:
    """The text given to DuckDB as ``ENCRYPTION_KEY``: 64 hex characters derived from ``key``.

    A plain string is used as it is (for a key that some other tool created).
    """
    if isinstance(key, SecretKey):
        return key.derive("database").hex()
    if not isinstance(key, str) or not key:
        raise SecretKeyError("the database key should be a SecretKey or a non-empty string.")
    return key


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connect(allow_unsafe_crypto: bool) -> Any:
    import duckdb

    con = duckdb.connect(":memory:", config={"force_mbedtls_unsafe": bool(allow_unsafe_crypto)})
    if not allow_unsafe_crypto:
        # OpenSSL crypto for writing, when httpfs is installed on this machine.
        with contextlib.suppress(duckdb.Error):
            con.execute("LOAD httpfs")
    return con


def _translate(path: str, exc: Exception, key_id: str | None) -> Exception:
    text = str(exc)
    low = text.lower()
    which = f" (key {key_id})" if key_id else ""
    if "wrong encryption key" in low:
        return SecretKeyError(
            f"the key{which} does not open the encrypted database {path}: wrong key.",
            details={"path": path, "key_id": key_id},
        )
    if "without a key" in low:
        return SecretKeyError(
            f"database {path} is encrypted: give its key (the key file or "
            "USERSEG_SECRET_KEY it was created with).",
            details={"path": path},
        )
    if "is not encrypted" in low:
        return DatabaseError(
            f"database {path} is not encrypted, but a key was given; open it without a key "
            "or encrypt it first with encrypt_database().",
            details={"path": path},
        )
    if "read-only crypto" in low:
        return DependencyError(
            f"writing the encrypted database {path} needs DuckDB's httpfs extension (OpenSSL); "
            "install it once with `INSTALL httpfs` (it downloads from DuckDB's extension "
            "repository), or open the database read-only.",
            details={"path": path},
        )
    if "lock" in low:
        return DatabaseLockedError(f"database {path} is in use by another process: {text}")
    return DatabaseError(f"cannot open database {path}: {text}")


def open_encrypted(
    path: str | Path,
    key: SecretKey | str,
    *,
    read_only: bool = False,
    alias: str = "userseg",
    allow_unsafe_crypto: bool = False,
) -> Any:
    """A DuckDB connection whose default database is the encrypted file ``path``.

    The file is created (encrypted) when missing. Temporary files that DuckDB
    spills are encrypted too.

    Parameters
    ----------
    path : str or Path
        The database file.
    key : SecretKey or str
        The secret key (its ``derive("database")`` is used) or DuckDB's key text.
    read_only : bool
        Open without writing (works without the httpfs extension).
    alias : str
        The catalog name of the attached file.
    allow_unsafe_crypto : bool
        Let DuckDB write with its built-in mbedTLS (nonces from a
        non-cryptographic generator). Only for tests and trials.

    Returns
    -------
    duckdb.DuckDBPyConnection
    """
    import duckdb

    if not _ALIAS_RE.match(alias):
        raise DatabaseError(f"alias {alias!r} should be a plain SQL identifier.")
    p = Path(path).expanduser()
    if not p.parent.is_dir():
        raise DatabaseError(f"cannot create database {p}: folder {p.parent} does not exist.")
    if read_only and not p.exists():
        raise DatabaseError(f"database {p} does not exist.")
    key_text = database_key(key)
    key_id = key.key_id if isinstance(key, SecretKey) else None
    con = _connect(allow_unsafe_crypto)
    options = f"ENCRYPTION_KEY {_sql_text(key_text)}" + (", READ_ONLY" if read_only else "")
    try:
        con.execute(f"ATTACH {_sql_text(str(p))} AS {alias} ({options})")
        con.execute(f"USE {alias}")
        con.execute("SET temp_file_encryption = true")
    except duckdb.Error as exc:
        con.close()
        raise _translate(str(p), exc, key_id) from None
    return con


def is_encrypted(path: str | Path) -> bool:
    """Whether a DuckDB file is encrypted (the file is opened read-only, without a key)."""
    import duckdb

    p = Path(path).expanduser()
    if not p.is_file():
        raise DatabaseError(f"database {p} does not exist.")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {_sql_text(str(p))} AS probe (READ_ONLY)")
    except duckdb.Error as exc:
        if "without a key" in str(exc):
            return True
        raise _translate(str(p), exc, None) from None
    finally:
        con.close()
    return False


def encrypt_database(
    source: str | Path,
    target: str | Path,
    key: SecretKey | str,
    *,
    allow_unsafe_crypto: bool = False,
) -> Path:
    """Copy a plain DuckDB file into a new encrypted one (``COPY FROM DATABASE``).

    The target must not exist; the source is left as it is (delete it
    securely yourself: DuckDB does not zero freed blocks, and neither does a
    plain ``rm`` on most file systems).
    """
    import duckdb

    src, dst = Path(source).expanduser(), Path(target).expanduser()
    if not src.is_file():
        raise DatabaseError(f"database {src} does not exist.")
    if dst.exists():
        raise DatabaseError(f"{dst} already exists; encrypt_database never overwrites a file.")
    con = open_encrypted(dst, key, allow_unsafe_crypto=allow_unsafe_crypto, alias="target")
    try:
        con.execute(f"ATTACH {_sql_text(str(src))} AS source (READ_ONLY)")
        con.execute("COPY FROM DATABASE source TO target")
        con.execute("DETACH source")
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        con.close()
        dst.unlink(missing_ok=True)
        Path(str(dst) + ".wal").unlink(missing_ok=True)
        raise _translate(str(src), exc, None) from None
    con.close()
    return dst


@dataclass
class ByteScan:
    """What :func:`scan_bytes` found: ``hits`` maps each needle found to ``[(file, offset)]``.

    ``raw`` needles are the values' UTF-8 bytes; ``sha256`` needles their plain
    SHA-256 in lower- and upper-case hex.
    """

    files: list[str]
    hits: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    n_needles: int = 0

    @property
    def clean(self) -> bool:
        return not self.hits

    def summary(self) -> str:
        if self.clean:
            return f"none of {self.n_needles} needles found in {', '.join(self.files)}"
        return f"{len(self.hits)} of {self.n_needles} needles found: " + ", ".join(
            f"{k!r} in {Path(v[0][0]).name}@{v[0][1]}" for k, v in list(self.hits.items())[:5]
        )


def scan_bytes(
    path: str | Path,
    values: Iterable[str | bytes],
    *,
    sha256: bool = True,
    wal: bool = True,
    min_length: int = 4,
) -> ByteScan:
    """Scan a file (and its ``.wal``) for raw values and their plain SHA-256 hex.

    Parameters
    ----------
    path : str or Path
        The file (a database, a report, an export, a log).
    values : iterable of str or bytes
        What must not be there.
    sha256 : bool
        Also look for ``sha256(value)`` hex, lower and upper case (plain hashes
        of e-mails are reversible by lookup, so they count as exposure).
    wal : bool
        Also scan ``path + ".wal"`` when it exists.
    min_length : int
        Values shorter than this are skipped (two bytes match anywhere).

    Returns
    -------
    ByteScan
        ``clean`` is True when nothing was found.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DatabaseError(f"cannot scan {p}: no such file.")
    files = [p]
    if wal and Path(str(p) + ".wal").is_file():
        files.append(Path(str(p) + ".wal"))
    needles: dict[bytes, str] = {}
    for v in values:
        raw = v if isinstance(v, bytes) else str(v).encode("utf-8")
        if len(raw) < min_length:
            continue
        label = raw.decode("utf-8", "replace")
        needles[raw] = label
        if sha256:
            digest = hashlib.sha256(raw).hexdigest()
            needles[digest.encode()] = f"sha256({label})"
            needles[digest.upper().encode()] = f"SHA256({label})"
    result = ByteScan([str(f) for f in files], n_needles=len(needles))
    for f in files:
        if f.stat().st_size == 0:
            continue
        with open(f, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for needle, label in needles.items():
                at = data.find(needle)
                if at >= 0:
                    result.hits.setdefault(label, []).append((str(f), at))
    return result
