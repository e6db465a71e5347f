"""Recognisers of single values: is this text an e-mail, a phone number, a card, an IBAN…?

Each ``is_*`` function judges a whole value; :func:`find_in_text` looks for
the same things inside free text. They check what can be checked (the Luhn
digit of a card, the mod-97 of an IBAN, the address space of an IP, a phone
number's possible lengths with ``phonenumbers`` when it is installed) so that
order numbers, EAN codes and dates are not taken for personal data.
Column-level decisions (shares, thresholds, column names) live in
:mod:`userseg.privacy.detect`.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from userseg.privacy.addresses import address_in_text, is_address
from userseg.privacy.names import is_name_shaped, is_person_name, name_in_text

__all__ = [
    "KINDS",
    "find_in_text",
    "is_address",
    "is_card",
    "is_email",
    "is_iban",
    "is_ip",
    "is_name_shaped",
    "is_person_name",
    "is_phone",
    "luhn_ok",
]

KINDS = (
    "email",
    "phone",
    "ip_address",
    "payment_card",
    "iban",
    "postal_address",
    "person_name",
)

# --- e-mail ---------------------------------------------------------------------------
_EMAIL_CORE = (
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
)
_EMAIL = re.compile(rf"^(?:mailto:)?{_EMAIL_CORE}$")
_EMAIL_NAMED = re.compile(rf"^[^<>@]*<{_EMAIL_CORE}>$")  # Ann Lee <ann@x.org>
_EMAIL_IN_TEXT = re.compile(rf"(?<![\w.+-]){_EMAIL_CORE}(?![\w-])")


def is_email(text: str) -> bool:
    """An e-mail address, bare, as ``mailto:`` or as ``Name <address>``."""
    text = text.strip()
    return bool(_EMAIL.match(text) or _EMAIL_NAMED.match(text))


# --- payment cards -------------------------------------------------------------------------
_CARD_SHAPE = re.compile(r"^\d(?:[ -]?\d){11,18}$")
_CARD_IN_TEXT = re.compile(r"(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d-])")


def luhn_ok(digits: str) -> bool:
    """The Luhn check digit of a string of digits is right."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_prefix_ok(d: str) -> bool:
    # Issuer ranges (ISO/IEC 7812 IINs) of the schemes that issue most cards:
    # Visa, Mastercard, Amex, Discover, JCB, Diners, Maestro, UnionPay, Mir.
    n = len(d)
    two, four = int(d[:2]), int(d[:4])
    if d[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if d.startswith("6011") or two == 65 or 644 <= int(d[:3]) <= 649 or two == 62:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if 300 <= int(d[:3]) <= 305 or two in (36, 38, 39):
        return 14 <= n <= 19
    if two in (50, 56, 57, 58, 63, 67) or d[:4] == "2200":
        return 12 <= n <= 19
    return False


def is_card(text: str) -> bool:
    """A payment card number: 12-19 digits (spaces or dashes allowed), known issuer, Luhn."""
    text = text.strip()
    if not _CARD_SHAPE.match(text):
        return False
    digits = re.sub(r"[ -]", "", text)
    return len(set(digits)) > 1 and _card_prefix_ok(digits) and luhn_ok(digits)


# --- IBAN -----------------------------------------------------------------------------------
# Lengths per country (the SWIFT IBAN registry).
_IBAN_LEN = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_IBAN_IN_TEXT = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def is_iban(text: str) -> bool:
    """An IBAN (spaces allowed): known country, its length, and the mod-97 check."""
    s = re.sub(r"[ -]", "", text.strip()).upper()
    if not _IBAN_SHAPE.match(s) or _IBAN_LEN.get(s[:2]) != len(s):
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


# --- IP addresses -------------------------------------------------------------------------
# Not after a slash, colon or word: "Chrome/44.0.834.0" and "rv:1.9.1.20" are versions.
_IPV4_IN_TEXT = re.compile(r"(?<![\w./:])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6_IN_TEXT = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def is_ip(text: str) -> bool:
    """An IPv4 (four dotted numbers) or IPv6 address."""
    text = text.strip()
    if not text or len(text) > 45:
        return False
    if ":" not in text and text.count(".") != 3:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- phone numbers --------------------------------------------------------------------------
_PHONE_SHAPE = re.compile(
    r"^(?:tel:)?\+?[\d(][\d\s().\-/]{5,22}\d(?:\s*(?:x|ext\.?|extension|#)\s*\d{1,6})?$",
    re.IGNORECASE,
)
_EXT = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*\d{1,6}$", re.IGNORECASE)
_DATE_LIKE = re.compile(
    r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})(?:[ T].*)?$"
)
_THOUSANDS = re.compile(r"^\d{1,3}(?:[.,\s]\d{3})+$")
_DECIMAL = re.compile(r"^\d+[.,]\d+$")
_ISBN = re.compile(
    r"^(?:97[89][- ]+)?\d{1,5}[- ]+\d{1,7}[- ]+\d{1,7}[- ]+[\dX]$"  # ISBN-10/13 in groups
    r"|^97[89][- ]+[\d -]{10,}$"  # any grouping of a 978/979 EAN (some generators: "978-13--…")
)
_PHONE_IN_TEXT = re.compile(
    r"(?<![\w+:./])(?:\+|00)\d[\d\s().\-/]{6,20}\d(?![\w])"  # international
    r"|(?<![\w:./])\(?0\d{1,5}\)?[\s.\-/]\d[\d\s.\-/]{4,14}\d(?![\w])"  # national, trunk 0
    r"|(?<![\w:./])\(?\d{3}\)?[\s.\-]\d{3}[\s.\-]\d{4}(?![\w])"  # North American
)
_REGIONS = ("US", "GB", "DE", "FR", "IT", "ES", "NL", "IN", "AU", "BR")


@lru_cache(maxsize=1)
def _phonenumbers():
    try:
        import phonenumbers
    except ImportError:  # the `privacy` extra; length and shape rules still apply
        return None
    return phonenumbers


def is_phone(text: str, *, strict: bool = True) -> bool:
    """A phone number in an international or national format.

    With ``strict`` (the default) a bare run of digits counts only when it
    starts with ``+``, ``00`` or a national trunk ``0``: a plain 10-digit
    number is more often an order number than a phone. Column detection
    relaxes this when the column's name says phone.
    """
    text = text.strip()
    if not _PHONE_SHAPE.match(text):
        return False
    core = _EXT.sub("", text)
    if text.lower().startswith("tel:"):
        core = core[4:]
    digits = re.sub(r"\D", "", core)
    if not 7 <= len(digits) <= 15 or len(set(digits)) < 3:
        return False
    if (
        _DATE_LIKE.match(core)
        or _THOUSANDS.match(core)
        or _DECIMAL.match(core)
        or _ISBN.match(core)
    ):
        return False
    if core.count(".") == 3 and is_ip(core):
        return False
    international = core.startswith("+") or core.startswith("00")
    formatted = bool(re.search(r"[\s().\-/]", core.lstrip("+")))
    if strict and not international and not formatted and not core.startswith("0"):
        return False
    pn = _phonenumbers()
    if pn is None:
        return len(digits) >= 8 if international else True
    if international:
        try:
            number = pn.parse("+" + core[2:] if core.startswith("00") else core, None)
        except pn.NumberParseException:
            return False
        return pn.is_possible_number(number)
    for region in _REGIONS:
        try:
            number = pn.parse(core, region)
        except pn.NumberParseException:
            continue
        if pn.is_possible_number(number):
            return True
    return False


# --- free text --------------------------------------------------------------------------------
def find_in_text(text: str) -> set[str]:
    """The kinds of personal data found inside a longer text."""
    found: set[str] = set()
    if "@" in text and _EMAIL_IN_TEXT.search(text):
        found.add("email")
    if any(ch.isdigit() for ch in text):
        if any(is_phone(m.group(0)) for m in _PHONE_IN_TEXT.finditer(text)):
            found.add("phone")
        if any(is_card(m.group(0)) for m in _CARD_IN_TEXT.finditer(text)):
            found.add("payment_card")
        if any(is_iban(m.group(0)) for m in _IBAN_IN_TEXT.finditer(text)):
            found.add("iban")
        if any(is_ip(m.group(0)) for m in _IPV4_IN_TEXT.finditer(text)):
            found.add("ip_address")
        if address_in_text(text):
            found.add("postal_address")
    if ":" in text and any(is_ip(m.group(0)) for m in _IPV6_IN_TEXT.finditer(text)):
        found.add("ip_address")
    if name_in_text(text):
        found.add("person_name")
    return found
