"""Member and customer-match files: atomic, size-checked, hashed as each platform documents."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from userseg.activate.exports import (
    check_audience_size,
    customer_match_frame,
    write_customer_match,
    write_members,
)
from userseg.errors import ConfigError, DataError, ExportError, PrivacyError, SchemaError

pytest.importorskip("phonenumbers")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _members(n: int = 150) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "segment": [i % 3 for i in range(n)],
            "email": [f" User.{i}@Example.com " for i in range(n)],
            "phone": [f"(650)555-{1000 + i:04d}" for i in range(n)],
            "first_name": ["Mary"] * n,
            "last_name": ["Smith"] * n,
            "country": ["US"] * n,
            "zip": ["94025-1234"] * n,
        }
    )


# --- member files --------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_member_files_round_trip_and_record_the_export(tmp_path: Path, suffix: str) -> None:
    m = _members()[["user_id", "segment"]]
    path = tmp_path / f"members{suffix}"
    clock = iter([dt.datetime(2024, 5, 1, 12, 0), dt.datetime(2024, 5, 1, 12, 0, 2)])
    res = write_members(m, path, export_id="exp-1", now=lambda: next(clock))
    back = pd.read_csv(path) if suffix == ".csv" else pq.read_table(path).to_pandas()
    assert back["user_id"].tolist() == m["user_id"].tolist()
    assert res.n_members == res.n_written == 150 and res.n_skipped == 0
    assert res.export_id == "exp-1" and res.destination == suffix[1:]
    assert res.target == str(path) and res.min_size == 100 and not res.size_override
    assert res.to_dict()["started_at"] == "2024-05-01T12:00:00"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_an_audience_below_the_minimum_is_refused_unless_overridden(tmp_path: Path) -> None:
    small = _members(40)[["user_id"]]
    path = tmp_path / "small.csv"
    with pytest.raises(PrivacyError, match=r"40 users.*minimum of 100.*csv"):
        write_members(small, path)
    assert not path.exists()
    res = write_members(small, path, min_size=100, override_min_size=True)
    assert res.size_override and res.n_written == 40
    # per destination: a lower minimum is a setting, not an override
    res = write_members(small, tmp_path / "ok.csv", min_size=25)
    assert not res.size_override and res.min_size == 25
    with pytest.raises(ConfigError, match="min_size"):
        check_audience_size(10, destination="csv", min_size=0)


def test_unwritable_path_is_a_clear_error_and_nothing_is_written(tmp_path: Path) -> None:
    m = _members()[["user_id"]]
    with pytest.raises(ExportError, match=r"cannot write .*members.csv: folder .* does not exist"):
        write_members(m, tmp_path / "nope" / "members.csv")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(ExportError, match=r"cannot write .*members.csv: .*not a folder"):
        write_members(m, blocker / "members.csv")
    (tmp_path / "adir.csv").mkdir()
    with pytest.raises(ExportError, match="is a folder"):
        write_members(m, tmp_path / "adir.csv")
    with pytest.raises(ConfigError, match=r"format.*\.csv or \.parquet"):
        write_members(m, tmp_path / "members.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.csv", "file.txt"]


def test_a_failure_mid_write_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    class Unwritable:
        def __str__(self) -> str:
            raise RuntimeError("disk on fire")

    path = tmp_path / "members.csv"
    path.write_text("user_id\nold\n")
    bad = pd.DataFrame({"user_id": [f"u{i}" for i in range(200)] + [Unwritable()]})
    with pytest.raises(ExportError, match=r"members.csv.*disk on fire.*nothing was written"):
        write_members(bad, path)
    assert path.read_text() == "user_id\nold\n"
    assert [p.name for p in tmp_path.iterdir()] == ["members.csv"]


def test_missing_member_column_or_duplicate_users_are_named(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="'user_id'"):
        write_members(pd.DataFrame({"id": range(200)}), tmp_path / "m.csv")
    dup = pd.DataFrame({"user_id": [f"u{i % 150}" for i in range(200)]})
    with pytest.raises(DataError, match=r"50 duplicate user id.*'u0'"):
        write_members(dup, tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


# --- customer match ------------------------------------------------------------------------------
def test_meta_file_matches_metas_published_examples(tmp_path: Path) -> None:
    # Meta for Developers, Conversions API "Customer Information Parameters": the example
    # inputs and their SHA-256 (the same values tests/test_privacy_pseudonym.py pins).
    published = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "email": ["John_Smith@gmail.com", None, None],
            "phone": ["(650)555-1212", None, None],
            "first_name": ["Mary", "Valéry", "정"],
            "last_name": ["Smith", "Smith", "Smith"],
            "country": ["US", "FR", "KR"],
        }
    )
    frame, skipped = customer_match_frame(published, "meta")
    assert skipped == 0
    assert list(frame.columns) == ["email", "phone", "fn", "ln", "country"]
    assert frame["email"][0] == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    assert frame["phone"][0] == "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    assert frame["fn"].tolist() == [
        "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec",
        "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c",
        "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14",
    ]
    assert set(frame["ln"]) == {_sha("smith")}
    # Meta hashes the country too: lower-case ISO 3166-1 alpha-2
    assert frame["country"].tolist() == [_sha("us"), _sha("fr"), _sha("kr")]


def test_google_file_follows_the_customer_match_template(tmp_path: Path) -> None:
    # Google Ads Help, "Customer Match data file" template (g.co/wudy8r) and the Data
    # Manager API "Format user data": headers Email, Phone, First Name, Last Name,
    # Country, Zip; e-mail, phone and names normalised and hashed, country and zip not.
    rows = pd.DataFrame(
        {
            "user_id": ["1", "2"],
            "email": ["test@gmail.com", "Cloudy.SanFrancisco+shopping@gmail.com"],
            "phone": ["1-800-888-8888", "(800)555-0100"],
            "first_name": ["John", " Zoë "],
            "last_name": ["Smith", "Pérez"],
            "country": ["us", "US"],
            "zip": ["94016", " 94025 "],
        }
    )
    path = tmp_path / "google.csv"
    res = write_customer_match(rows, path, "google", min_size=1)
    with path.open(newline="", encoding="utf-8") as fh:
        got = list(csv.reader(fh))
    assert got[0] == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert got[1] == [
        _sha("test@gmail.com"),
        _sha("+18008888888"),
        _sha("john"),
        _sha("smith"),
        "US",
        "94016",
    ]
    assert got[2][0] == _sha("cloudysanfrancisco@gmail.com")  # Gmail dots and +tag dropped
    assert got[2][1] == _sha("+18005550100")
    assert got[2][2] == _sha("zoë") and got[2][5] == "94025"
    assert res.hashed == ["Email", "Phone", "First Name", "Last Name"]
    assert res.destination == "google" and res.n_written == 2


def test_rows_without_a_usable_identifier_are_skipped_and_counted(tmp_path: Path) -> None:
    m = _members(120)
    m.loc[:9, "email"] = "not an email"
    m.loc[:9, "phone"] = "12"
    m = m[["user_id", "email", "phone"]]
    res = write_customer_match(m, tmp_path / "meta.csv", "meta", default_region="US")
    assert res.n_members == 120 and res.n_skipped == 10 and res.n_written == 110
    assert res.identifiers == {"email": 110, "phone": 110}
    back = pd.read_csv(tmp_path / "meta.csv", dtype=str)
    assert len(back) == 110 and back["email"].str.fullmatch("[0-9a-f]{64}").all()
    # the file never holds a raw value
    assert "example.com" not in (tmp_path / "meta.csv").read_text()


def test_phone_numbers_take_the_rows_country_as_their_region() -> None:
    m = pd.DataFrame(
        {
            "user_id": ["1", "2"],
            "phone": ["01 23 45 67 89", "020 7946 0958"],
            "country": ["FR", "GB"],
        }
    )
    frame, _ = customer_match_frame(m, "google")
    assert frame["Phone"].tolist() == [_sha("+33123456789"), _sha("+442079460958")]


def test_the_size_rule_counts_what_would_be_written(tmp_path: Path) -> None:
    m = _members(120)[["user_id", "email"]]
    m.loc[:29, "email"] = None  # 90 usable rows
    with pytest.raises(PrivacyError, match="90 users"):
        write_customer_match(m, tmp_path / "g.csv", "google")
    assert not (tmp_path / "g.csv").exists()


def test_customer_match_bad_input(tmp_path: Path) -> None:
    m = _members()
    with pytest.raises(ConfigError, match="platform='tiktok'"):
        customer_match_frame(m, "tiktok")
    with pytest.raises(SchemaError, match="no contact column"):
        customer_match_frame(m[["user_id", "segment"]], "meta")
    with pytest.raises(SchemaError, match=r"'mail'.*available"):
        customer_match_frame(m, "meta", contacts={"email": "mail"})
    with pytest.raises(ConfigError, match="contact kind 'ssn'"):
        customer_match_frame(m, "meta", contacts={"ssn": "email"})
