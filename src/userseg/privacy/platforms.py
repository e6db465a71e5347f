"""The normalised SHA-256 hashes that ad platforms match audiences on.

These are *not* pseudonyms: a plain SHA-256 of an e-mail address can be
reversed by hashing a list of addresses. They are what Google Customer Match
(Data Manager API) and Meta (Custom Audiences, Conversions API) require, so
they are computed at export or kept encrypted, never stored beside the data.

Rules, as the platforms document them:

* **Google** (Data Manager API, "Format user data"): e-mail trimmed, every
  whitespace removed, lower-cased; for ``gmail.com`` and ``googlemail.com``
  every dot before the ``@`` removed and a ``+suffix`` dropped. Phone numbers
  in E.164 with the plus sign (``+18005550100``). Names lower-cased and trimmed.
* **Meta** ("Customer information parameters"): e-mail trimmed and lower-cased
  (no Gmail rule); phone numbers as digits only, country code first, no plus
  sign or leading zeros (``16505551212``); names lower-cased, punctuation
  removed, UTF-8.

Phone numbers are parsed with ``phonenumbers`` (Google's libphonenumber), so a
national number needs ``default_region`` (an ISO 3166 code such as ``"US"``);
a number that cannot be parsed gives ``None`` rather than a hash that would
never match.

Examples
--------
>>> normalize_email(" Cloudy.SanFrancisco+shopping@gmail.com ", "google")
'cloudysanfrancisco@gmail.com'
>>> normalize_phone("(650)555-1212", "meta", default_region="US")
'16505551212'
>>> platform_hash("John_Smith@gmail.com", "email", "meta")
'62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Literal

from userseg.errors import ConfigError, DependencyError

__all__ = ["PLATFORMS", "normalize_email", "normalize_name", "normalize_phone", "platform_hash"]

Platform = Literal["google", "meta"]
PLATFORMS = ("google", "meta")
_WS = re.compile(r"\s+")
_GMAIL = {"gmail.com", "googlemail.com"}


def _check_platform(platform: str) -> None:
    if platform not in PLATFORMS:
        raise ConfigError(f"platform={platform!r} should be one of {', '.join(PLATFORMS)}.")


def normalize_email(value: str | None, platform: Platform) -> str | None:
    """The e-mail address as ``platform`` wants it hashed (``None`` if it is not an address)."""
    _check_platform(platform)
    if value is None:
        return None
    text = _WS.sub("", value).lower() if platform == "google" else value.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain:
        return None
    if platform == "google" and domain in _GMAIL:
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def normalize_phone(
    value: str | int | None, platform: Platform, *, default_region: str | None = None
) -> str | None:
    """The phone number in E.164 (Google: ``+14155550100``; Meta: ``14155550100``).

    Returns ``None`` when the number cannot be parsed as a possible number
    (a national number without ``default_region`` cannot).
    """
    _check_platform(platform)
    if value is None:
        return None
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - phonenumbers is a core dependency
        raise DependencyError(
            "phone numbers need the phonenumbers package: pip install phonenumbers"
        ) from None
    text = str(value).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if platform == "google" else e164.lstrip("+")


def normalize_name(value: str | None, platform: Platform) -> str | None:
    """A first or last name: trimmed, lower-cased; Meta also drops punctuation."""
    _check_platform(platform)
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value.strip().lower())
    if platform == "meta":
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
        text = _WS.sub("", text)
    return text or None


def platform_hash(
    value: str | int | None,
    kind: Literal["email", "phone", "name"],
    platform: Platform,
    *,
    default_region: str | None = None,
) -> str | None:
    """Normalise ``value`` as ``platform`` requires and return its lower-case SHA-256 hex.

    ``None`` when the value is missing or cannot be normalised (a hash of a
    malformed value would never match and only leaks).
    """
    if kind == "email":
        norm = normalize_email(None if value is None else str(value), platform)
    elif kind == "phone":
        norm = normalize_phone(value, platform, default_region=default_region)
    elif kind == "name":
        norm = normalize_name(None if value is None else str(value), platform)
    else:
        raise ConfigError(f"kind={kind!r} should be 'email', 'phone' or 'name'.")
    return None if norm is None else hashlib.sha256(norm.encode("utf-8")).hexdigest()
