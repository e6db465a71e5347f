"""Audience files: member lists (CSV, Parquet) and the customer-match files of ad platforms.

Every file is written next to its destination under a temporary name, flushed
to disk and renamed over the destination in one step (``os.replace``), so a
reader sees the old file or the whole new one, never a part; a failure removes
the temporary file and leaves any previous file as it was. Files are created
readable by their owner only (0600): they hold identifiers of people.

An audience smaller than a minimum (default 100 users, set per destination)
is refused with :class:`~userseg.errors.PrivacyError`: a small list can
single people out, and the platforms themselves advise against lists under
100. ``override_min_size=True`` writes it anyway and the result records that
it was overridden.

Customer-match layouts, as the platforms document them:

* **Google Customer Match** (Google Ads Help, "Format your customer data file"
  and its template; Data Manager API, "Format user data"): a CSV with the
  English headers ``Email, Phone, First Name, Last Name, Country, Zip``;
  e-mail, phone and names normalised and SHA-256 hashed, ``Country`` (ISO
  3166-1 alpha-2) and ``Zip`` in clear.
* **Meta custom audiences** (Meta Business Help, "How to format a customer
  list"; Marketing API, "Hashing and normalizing data"): headers ``email,
  phone, fn, ln, country, zip``, every value normalised and SHA-256 hashed;
  country as a lower-case two-letter code, zip lower-case without spaces, a
  US zip as its first five digits.

E-mail, phone and name normalisation and hashing are
:func:`userseg.privacy.platforms.platform_hash` (one implementation). A
national phone number is read in the row's country when there is one, else in
``default_region``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from userseg.errors import (
    ConfigError,
    DataError,
    ExportError,
    PrivacyError,
    SchemaError,
    UsersegError,
)
from userseg.privacy.platforms import PLATFORMS, platform_hash

__all__ = [
    "CONTACT_KINDS",
    "DEFAULT_MIN_SIZE",
    "ExportResult",
    "SizeCheck",
    "atomic_path",
    "check_audience_size",
    "customer_match_frame",
    "write_customer_match",
    "write_members",
]

DEFAULT_MIN_SIZE = 100
CONTACT_KINDS = ("email", "phone", "first_name", "last_name", "country", "zip")
_HEADERS = {
    "google": {
        "email": "Email",
        "phone": "Phone",
        "first_name": "First Name",
        "last_name": "Last Name",
        "country": "Country",
        "zip": "Zip",
    },
    "meta": {
        "email": "email",
        "phone": "phone",
        "first_name": "fn",
        "last_name": "ln",
        "country": "country",
        "zip": "zip",
    },
}
_CLEAR = {"google": {"country", "zip"}, "meta": set()}  # sent unhashed
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


# -- results and the size rule -----------------------------------------------------------------
@dataclass(frozen=True)
class SizeCheck:
    """The minimum-size rule as applied: ``overridden`` when a smaller audience went out."""

    n: int
    min_size: int
    overridden: bool


@dataclass
class ExportResult:
    """What an export did, for the record the store keeps (when, what, how many, where).

    Attributes
    ----------
    export_id : str
    destination : str
        ``csv``, ``parquet``, ``google``, ``meta`` or ``webhook``.
    target : str
        The file written or the URL posted to.
    n_members : int
        Users in the audience handed to the export.
    n_written : int
        Rows written or delivered (members with at least one usable identifier).
    n_skipped : int
        Members left out because no identifier could be normalised.
    min_size, size_override
        The minimum applied and whether an explicit override let a smaller audience out.
    started_at, finished_at : datetime
    columns : list of str
        The file's header.
    hashed : list of str
        The columns holding SHA-256 hashes.
    identifiers : dict
        Usable values per contact kind among the written rows.
    extra : dict
        Destination-specific facts (a webhook's batches, attempts…).
    """

    export_id: str
    destination: str
    target: str
    n_members: int
    n_written: int
    n_skipped: int
    min_size: int
    size_override: bool
    started_at: dt.datetime
    finished_at: dt.datetime
    columns: list[str] = field(default_factory=list)
    hashed: list[str] = field(default_factory=list)
    identifiers: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["finished_at"] = self.finished_at.isoformat()
        return d


def check_audience_size(
    n: int, *, destination: str, min_size: int = DEFAULT_MIN_SIZE, override: bool = False
) -> SizeCheck:
    """Apply the minimum audience size of a destination.

    Raises
    ------
    PrivacyError
        ``n < min_size`` and no override.
    ConfigError
        ``min_size`` below 1.
    """
    if not isinstance(min_size, int) or min_size < 1:
        raise ConfigError(f"min_size={min_size!r} should be a whole number of users >= 1.")
    if n >= min_size:
        return SizeCheck(int(n), min_size, False)
    if not override:
        raise PrivacyError(
            f"the audience has {n} users, under the minimum of {min_size} for {destination}: "
            "a list this small can single people out. Lower the destination's minimum, or "
            "override it explicitly (it is recorded with the export).",
            details={"n": int(n), "min_size": min_size, "destination": destination},
        )
    return SizeCheck(int(n), min_size, True)


# -- atomic files ------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed over it only if the block succeeds.

    Raises
    ------
    ExportError
        The folder is missing or not a folder, ``path`` is a folder, or the
        writing failed (the message says nothing was written).
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise ExportError(f"cannot write {path}: folder {parent} does not exist.")
    if not parent.is_dir():
        raise ExportError(f"cannot write {path}: {parent} is not a folder.")
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder.")
    try:
        fd, name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".partial")
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}.") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, UsersegError) or not isinstance(exc, Exception):
            raise
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ExportError(
            f"cannot write {path}: {reason}; nothing was written (a previous file is unchanged).",
            details={"path": str(path)},
        ) from exc


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("csv", "parquet"):
            raise ConfigError(f"format={fmt!r} should be 'csv' or 'parquet'.")
        return fmt
    found = _FORMATS.get(path.suffix.lower())
    if found is None:
        raise ConfigError(
            f"cannot tell the format of {path.name}: expected a name ending in .csv or .parquet "
            "(or say format='csv' / 'parquet')."
        )
    return found


def _write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    with atomic_path(path) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
        else:
            frame.to_parquet(tmp, index=False)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- member files ------------------------------------------------------------------------------
def write_members(
    members: pd.DataFrame,
    path: str | Path,
    *,
    format: str | None = None,
    user_col: str = "user_id",
    export_id: str | None = None,
    min_size: int = DEFAULT_MIN_SIZE,
    override_min_size: bool = False,
    now: Callable[[], dt.datetime] = _now,
) -> ExportResult:
    """Write an audience's members (every column of ``members``) to a CSV or Parquet file.

    Raises
    ------
    SchemaError
        ``user_col`` is not a column.
    DataError
        A user id appears twice.
    PrivacyError
        Fewer members than ``min_size`` without ``override_min_size``.
    ExportError
        The path cannot be written; nothing is left behind.
    """
    started = now()
    path = Path(path)
    fmt = _format_of(path, format)
    _require(members, [user_col])
    dup = members[user_col].duplicated()
    if dup.any():
        raise DataError(
            f"the members hold {int(dup.sum())} duplicate user id(s) (first: "
            f"{members.loc[dup, user_col].iloc[0]!r}); an audience lists each user once."
        )
    check = check_audience_size(
        len(members), destination=fmt, min_size=min_size, override=override_min_size
    )
    _write_frame(members, path, fmt)
    return ExportResult(
        export_id=export_id or uuid.uuid4().hex,
        destination=fmt,
        target=str(path),
        n_members=len(members),
        n_written=len(members),
        n_skipped=0,
        min_size=check.min_size,
        size_override=check.overridden,
        started_at=started,
        finished_at=now(),
        columns=[str(c) for c in members.columns],
    )


def _require(frame: pd.DataFrame, cols: list[str]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"the members lack {', '.join(map(repr, missing))}; "
            f"available: {', '.join(map(str, frame.columns))}.",
            details={"missing": missing, "available": [str(c) for c in frame.columns]},
        )


# -- customer match ----------------------------------------------------------------------------
def _contacts(members: pd.DataFrame, contacts: Mapping[str, str] | None) -> dict[str, str]:
    if contacts is None:
        found = {k: k for k in CONTACT_KINDS if k in members.columns}
        if not found:
            raise SchemaError(
                f"no contact column among {', '.join(CONTACT_KINDS)} in the members "
                f"(available: {', '.join(map(str, members.columns))}); map them with contacts=."
            )
        return found
    bad = [k for k in contacts if k not in CONTACT_KINDS]
    if bad:
        raise ConfigError(
            f"contact kind {bad[0]!r} is not one of {', '.join(CONTACT_KINDS)}.",
        )
    _require(members, list(contacts.values()))
    return dict(contacts)


def _country(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text.upper() if re.fullmatch(r"[A-Za-z]{2}", text) else None


def _zip(value: Any, platform: str, country: str | None) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    if platform == "meta":
        text = re.sub(r"\s+", "", text).lower()
        us = re.fullmatch(r"(\d{5})(?:-?\d{4})?", text)
        if us and country in (None, "US"):
            text = us.group(1)
    return text or None


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value)


def customer_match_frame(
    members: pd.DataFrame,
    platform: str,
    *,
    contacts: Mapping[str, str] | None = None,
    default_region: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """The platform's upload table: normalised, hashed, in its documented columns.

    Parameters
    ----------
    members : DataFrame
        One row per user with contact columns.
    platform : {"google", "meta"}
    contacts : mapping, optional
        Contact kind (``email, phone, first_name, last_name, country, zip``) to
        column; by default the columns of those names.
    default_region : str, optional
        ISO 3166 region for national phone numbers of rows without a country.

    Returns
    -------
    (DataFrame, int)
        The rows with at least one usable identifier (an e-mail, a phone, or a
        first and last name), and how many members were left out.
    """
    if platform not in PLATFORMS:
        raise ConfigError(f"platform={platform!r} should be one of {', '.join(PLATFORMS)}.")
    cols = _contacts(members, contacts)
    headers = _HEADERS[platform]
    out: dict[str, list[str | None]] = {headers[k]: [] for k in CONTACT_KINDS if k in cols}
    keep: list[bool] = []
    records = members[list(cols.values())].to_dict("records")
    for rec in records:
        row = {k: rec[c] for k, c in cols.items()}
        country = _country(row.get("country"))
        region = country or default_region
        vals: dict[str, str | None] = {}
        for kind in ("email", "phone"):
            if kind in row:
                vals[kind] = platform_hash(
                    _text(row[kind]),
                    kind,
                    platform,
                    default_region=region,  # type: ignore[arg-type]
                )
        for kind in ("first_name", "last_name"):
            if kind in row:
                vals[kind] = platform_hash(_text(row[kind]), "name", platform)
        if "country" in row:
            vals["country"] = country if platform == "google" else _sha(_lower(country))
        if "zip" in row:
            z = _zip(row["zip"], platform, country)
            vals["zip"] = z if "zip" in _CLEAR[platform] else _sha(z)
        usable = bool(
            vals.get("email")
            or vals.get("phone")
            or (vals.get("first_name") and vals.get("last_name"))
        )
        keep.append(usable)
        if usable:
            for kind, value in vals.items():
                out[headers[kind]].append(value)
    frame = pd.DataFrame(out, dtype=object)
    return frame, keep.count(False)


def _lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


def write_customer_match(
    members: pd.DataFrame,
    path: str | Path,
    platform: str,
    *,
    contacts: Mapping[str, str] | None = None,
    default_region: str | None = None,
    export_id: str | None = None,
    min_size: int = DEFAULT_MIN_SIZE,
    override_min_size: bool = False,
    now: Callable[[], dt.datetime] = _now,
) -> ExportResult:
    """Write a Google Customer Match or Meta custom-audience CSV, hashed at export time.

    The size rule counts the rows that would be written (members with a usable
    identifier), since that is who the platform can match.

    Raises
    ------
    PrivacyError, ExportError, SchemaError, ConfigError
        As :func:`write_members`; an unknown platform or contact kind.
    """
    started = now()
    path = Path(path)
    frame, skipped = customer_match_frame(
        members, platform, contacts=contacts, default_region=default_region
    )
    check = check_audience_size(
        len(frame), destination=platform, min_size=min_size, override=override_min_size
    )
    _write_frame(frame, path, "csv")
    clear = {_HEADERS[platform][k] for k in _CLEAR[platform]}
    return ExportResult(
        export_id=export_id or uuid.uuid4().hex,
        destination=platform,
        target=str(path),
        n_members=len(members),
        n_written=len(frame),
        n_skipped=skipped,
        min_size=check.min_size,
        size_override=check.overridden,
        started_at=started,
        finished_at=now(),
        columns=list(frame.columns),
        hashed=[c for c in frame.columns if c not in clear],
        identifiers={
            kind: int(frame[h].notna().sum())
            for kind, h in _HEADERS[platform].items()
            if h in frame.columns
        },
    )
