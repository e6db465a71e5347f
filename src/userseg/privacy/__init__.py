"""Privacy building blocks: find personal data, pseudonymise it, encrypt it, hide small groups.

* :mod:`~userseg.privacy.detect`: which columns hold personal data (by name and values).
* :mod:`~userseg.privacy.keys`: secret keys in a 0600 key file or an environment variable.
* :mod:`~userseg.privacy.pseudonym`: keyed HMAC-SHA256 pseudonyms, in Python and DuckDB SQL,
  and key rotation.
* :mod:`~userseg.privacy.platforms`: the normalised SHA-256 hashes ad platforms match on.
* :mod:`~userseg.privacy.encryption`: encrypted DuckDB files and a byte scan to prove it.
* :mod:`~userseg.privacy.suppress`: cells describing fewer than k users are hidden.
* :mod:`~userseg.privacy.dp`: differentially private k-means and a privacy budget.

This package sits below ``io``: it imports nothing of userseg but ``errors``.
Names are loaded on first use, so ``import userseg.privacy`` stays light.
"""

from __future__ import annotations

from userseg._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Detection": "userseg.privacy.detect",
    "detect_pii": "userseg.privacy.detect",
    "detect_table": "userseg.privacy.detect",
    "KeyRing": "userseg.privacy.keys",
    "SecretKey": "userseg.privacy.keys",
    "add_key_to_file": "userseg.privacy.keys",
    "create_key_file": "userseg.privacy.keys",
    "generate_key": "userseg.privacy.keys",
    "load_keys": "userseg.privacy.keys",
    "Pseudonymizer": "userseg.privacy.pseudonym",
    "rotate_pseudonyms": "userseg.privacy.pseudonym",
    "platform_hash": "userseg.privacy.platforms",
    "ByteScan": "userseg.privacy.encryption",
    "encrypt_database": "userseg.privacy.encryption",
    "is_encrypted": "userseg.privacy.encryption",
    "open_encrypted": "userseg.privacy.encryption",
    "scan_bytes": "userseg.privacy.encryption",
    "Suppressed": "userseg.privacy.suppress",
    "suppress_counts": "userseg.privacy.suppress",
    "suppress_small": "userseg.privacy.suppress",
    "DPKMeans": "userseg.privacy.dp",
    "PrivacyBudget": "userseg.privacy.dp",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
