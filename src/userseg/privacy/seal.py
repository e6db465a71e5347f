"""Sealed values: short secrets (the hashes ad platforms match on) encrypted under the key.

Activation needs the normalised SHA-256 of an e-mail or phone number, which is
reversible by lookup: it must not sit beside the data in clear. ``seal`` encrypts
such a value with a keyed pseudo-random function (HMAC-SHA256 of a fresh
16-byte nonce, XORed with the value: a PRF used as a stream cipher, each
keystream used once) and authenticates the result (encrypt-then-MAC, HMAC-SHA256
truncated to 128 bits), with sub-keys derived from the user's secret key for
these purposes only. The standard library has no AES; this construction needs
only HMAC-SHA256, whose PRF security is the standard assumption.

Values up to 32 bytes only (one keystream block): a 64-character hex digest is
sealed as its 32 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from userseg.errors import SecretKeyError
from userseg.privacy.keys import KeyRing, SecretKey

__all__ = ["seal_digest", "unseal_digest"]

_NONCE, _TAG, _BLOCK = 16, 16, 32


def _keys(key: SecretKey | KeyRing) -> tuple[bytes, bytes]:
    k = key.current if isinstance(key, KeyRing) else key
    return k.derive("seal/stream"), k.derive("seal/mac")


def seal_digest(key: SecretKey | KeyRing, hex_digest: str) -> str:
    """Encrypt a 64-character hex digest; returns URL-safe base64 text (88 characters)."""
    plain = bytes.fromhex(hex_digest)
    if len(plain) != _BLOCK:
        raise ValueError("seal_digest takes a SHA-256 hex digest (64 characters).")
    stream_key, mac_key = _keys(key)
    nonce = secrets.token_bytes(_NONCE)
    pad = hmac.new(stream_key, nonce, hashlib.sha256).digest()
    body = bytes(a ^ b for a, b in zip(plain, pad, strict=True))
    tag = hmac.new(mac_key, nonce + body, hashlib.sha256).digest()[:_TAG]
    return base64.urlsafe_b64encode(nonce + body + tag).decode("ascii")


def unseal_digest(key: SecretKey | KeyRing, sealed: str) -> str:
    """The hex digest :func:`seal_digest` sealed; ``SecretKeyError`` under another key."""
    raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
    nonce, body, tag = raw[:_NONCE], raw[_NONCE : _NONCE + _BLOCK], raw[_NONCE + _BLOCK :]
    stream_key, mac_key = _keys(key)
    want = hmac.new(mac_key, nonce + body, hashlib.sha256).digest()[:_TAG]
    if len(body) != _BLOCK or not hmac.compare_digest(want, tag):
        raise SecretKeyError(
            "a sealed contact hash does not open with this key: it was sealed under another "
            "key (or altered)."
        )
    pad = hmac.new(stream_key, nonce, hashlib.sha256).digest()
    return bytes(a ^ b for a, b in zip(body, pad, strict=True)).hex()
