"""Secret keys kept outside the database: a key file (0600) or an environment variable.

A key is a line of at least 32 printable characters; :func:`generate_key` makes
one from 32 random bytes (43 URL-safe base64 characters, 256 bits). A key file
holds one key per line, oldest first: the lines after the first are the keys
that rotations added (see :func:`userseg.privacy.rotate_pseudonyms`), so the
whole chain is needed to compute the pseudonym of a new value. The
environment variable (``USERSEG_SECRET_KEY``) holds the same keys separated by
whitespace or commas.

Only a key's *id* (``key_id``, a fingerprint) is ever recorded or printed. The
id is an HMAC of a fixed label under the key, so it neither reveals the key
nor lets anyone test a guessed key without the key itself. Every use derives
its own sub-key (:meth:`SecretKey.derive`), so the key that makes pseudonyms
is never the key that encrypts the database.

Examples
--------
>>> key = SecretKey.from_text("an-example-key-that-is-long-enough-to-use")
>>> key.key_id
'k_39278aa2f44735fd'
>>> key
SecretKey(key_id='k_39278aa2f44735fd', source='memory')
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from userseg.errors import SecretKeyError

__all__ = [
    "ENV_VAR",
    "MIN_KEY_CHARS",
    "KeyRing",
    "SecretKey",
    "add_key_to_file",
    "create_key_file",
    "generate_key",
    "load_keys",
    "read_key_file",
]

ENV_VAR = "USERSEG_SECRET_KEY"
# 32 characters of a generated key carry 192 bits; a shorter text is likely a password.
MIN_KEY_CHARS = 32
_KEY_RE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
_SPLIT_RE = re.compile(r"[\s,]+")


class SecretKey:
    """One secret key; its text never appears in ``repr``, logs or errors.

    Parameters
    ----------
    material : bytes
        The key bytes (the UTF-8 bytes of the key line).
    source : str
        Where it came from (a file path or an environment variable), for messages.
    """

    __slots__ = ("_material", "source")

    def __init__(self, material: bytes, source: str = "memory") -> None:
        self._material = bytes(material)
        self.source = source

    @classmethod
    def from_text(cls, text: str, source: str = "memory") -> SecretKey:
        """Validate a key line and wrap it."""
        text = text.strip()
        if len(text) < MIN_KEY_CHARS:
            raise SecretKeyError(
                f"the secret key from {source} is {len(text)} characters long; at least "
                f"{MIN_KEY_CHARS} expected (a password is not a key). Create one with "
                "userseg.privacy.generate_key().",
                details={"source": source, "length": len(text)},
            )
        if not _KEY_RE.match(text):
            raise SecretKeyError(
                f"the secret key from {source} holds spaces or non-printable characters; "
                "expected one line of printable ASCII such as generate_key() makes.",
                details={"source": source},
            )
        return cls(text.encode("ascii"), source)

    @property
    def key_id(self) -> str:
        """A fingerprint to record beside what the key protected (never the key)."""
        return (
            "k_" + hmac.new(self._material, b"userseg/key-id/v1", hashlib.sha256).hexdigest()[:16]
        )

    def derive(self, purpose: str) -> bytes:
        """A 32-byte sub-key for one purpose (``"pseudonym"``, ``"database"``, …)."""
        label = b"userseg/derive/v1/" + purpose.encode("utf-8")
        return hmac.new(self._material, label, hashlib.sha256).digest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and hmac.compare_digest(self._material, other._material)

    def __hash__(self) -> int:
        return hash(self.key_id)

    def __repr__(self) -> str:
        return f"SecretKey(key_id={self.key_id!r}, source={self.source!r})"

    def __reduce__(self) -> None:  # type: ignore[override]
        # A pickled key would be a copy of the secret in some file or cache.
        raise TypeError("a SecretKey cannot be pickled; keep it in its key file")


class KeyRing(Sequence[SecretKey]):
    """The keys of one key store, oldest first; the last is the current key."""

    def __init__(self, keys: Sequence[SecretKey]) -> None:
        if not keys:
            raise SecretKeyError("a key ring needs at least one key.")
        self._keys = tuple(keys)

    def __getitem__(self, index):  # type: ignore[override]
        return self._keys[index]

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[SecretKey]:
        return iter(self._keys)

    @property
    def current(self) -> SecretKey:
        return self._keys[-1]

    @property
    def key_id(self) -> str:
        """The ids of every key, oldest first, joined by ``+`` (what pseudonyms depend on)."""
        return "+".join(k.key_id for k in self._keys)

    def __repr__(self) -> str:
        return f"KeyRing({self.key_id})"


def generate_key() -> str:
    """A new random key line: 32 random bytes as 43 URL-safe base64 characters."""
    return secrets.token_urlsafe(32)


def _check_permissions(path: Path) -> None:
    if os.name != "posix":  # pragma: no cover - POSIX modes only
        return
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise SecretKeyError(f"key file {path} is not a regular file.")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o177:
        raise SecretKeyError(
            f"key file {path} has permissions {mode:04o}, wider than 0600: other users "
            f"(or programs running as them) could read the key. Run `chmod 600 {path}`.",
            details={"path": str(path), "mode": f"{mode:04o}"},
        )


def read_key_file(path: str | Path) -> KeyRing:
    """Read every key of a key file (one a line, oldest first; ``#`` starts a comment).

    Raises :class:`~userseg.errors.SecretKeyError` when the file is missing,
    readable by anyone but its owner, empty, or holds a short key.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise SecretKeyError(
            f"key file {p} does not exist; create one with userseg.privacy.create_key_file(path).",
            details={"path": str(p)},
        )
    _check_permissions(p)
    try:
        text = p.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read key file {p}: {exc}") from None
    lines = [line.strip() for line in text.splitlines()]
    keys = [
        SecretKey.from_text(line, f"{p}:{i}")
        for i, line in enumerate(lines, 1)
        if line and not line.startswith("#")
    ]
    if not keys:
        raise SecretKeyError(f"key file {p} holds no key.", details={"path": str(p)})
    return KeyRing(keys)


def create_key_file(path: str | Path) -> KeyRing:
    """Write a new key file with one fresh key, readable by its owner only (0600).

    Refuses to overwrite an existing file: losing a key makes every pseudonym
    made with it unreachable for new imports.
    """
    p = Path(path).expanduser()
    if not p.parent.is_dir():
        raise SecretKeyError(f"cannot create key file {p}: folder {p.parent} does not exist.")
    try:
        # O_EXCL: never replace a key; mode 0600 from the start, not chmod after writing.
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretKeyError(
            f"key file {p} already exists; it is never overwritten (add a key to it "
            "with add_key_to_file to rotate)."
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(generate_key() + "\n")
    return read_key_file(p)


def add_key_to_file(path: str | Path) -> KeyRing:
    """Append a fresh key to an existing key file (the first step of a rotation)."""
    ring = read_key_file(path)  # checks permissions and content first
    with open(Path(path).expanduser(), "a", encoding="ascii") as fh:
        fh.write(generate_key() + "\n")
    new = read_key_file(path)
    assert len(new) == len(ring) + 1
    return new


def load_keys(path: str | Path | None = None, *, env_var: str = ENV_VAR) -> KeyRing:
    """The keys from ``path`` if given, else from the environment variable ``env_var``.

    Raises :class:`~userseg.errors.SecretKeyError` naming both places when
    neither holds a key.
    """
    if path is not None:
        return read_key_file(path)
    text = os.environ.get(env_var, "").strip()
    if not text:
        raise SecretKeyError(
            f"no secret key: set the environment variable {env_var} or give a key file "
            "(create one with userseg.privacy.create_key_file(path)).",
            details={"env_var": env_var},
        )
    parts = [part for part in _SPLIT_RE.split(text) if part]
    return KeyRing([SecretKey.from_text(part, f"${env_var}") for part in parts])
