"""Encrypted DuckDB files (what the pinned DuckDB does) and the byte scan."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from userseg.errors import DatabaseError, DependencyError, SecretKeyError
from userseg.privacy.encryption import (
    database_key,
    encrypt_database,
    is_encrypted,
    open_encrypted,
    scan_bytes,
)
from userseg.privacy.keys import SecretKey

KEY = SecretKey.from_text("e" * 40)
WRONG = SecretKey.from_text("w" * 40)
SECRETS = [f"person{i}.private@example.com" for i in range(300)]


def _httpfs_installed() -> bool:
    con = duckdb.connect()
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        return False
    return True


# Without DuckDB's httpfs extension (no network here) an encrypted file can be written only
# with DuckDB's mbedTLS fallback; the file format and the checks below are the same.
UNSAFE = not _httpfs_installed()


def _write(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE users (email VARCHAR, spend DOUBLE)")
    con.executemany("INSERT INTO users VALUES (?, ?)", [(s, 1.5) for s in SECRETS])


def test_encrypted_file_and_wal_hold_none_of_the_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "enc.duckdb"
    con = open_encrypted(path, KEY, allow_unsafe_crypto=UNSAFE)
    _write(con)
    # uncheckpointed: the rows sit in the WAL too
    scan = scan_bytes(path, SECRETS)
    assert scan.clean, scan.summary()
    con.execute("CHECKPOINT")
    con.close()
    assert scan_bytes(path, SECRETS).clean
    assert is_encrypted(path)
    # the positive control: a plain file does show them (so the scan can see)
    plain = tmp_path / "plain.duckdb"
    pcon = duckdb.connect(str(plain))
    _write(pcon)
    pcon.execute("CHECKPOINT")
    pcon.close()
    assert not is_encrypted(plain)
    assert len(scan_bytes(plain, SECRETS, sha256=False).hits) == len(SECRETS)


def test_the_right_key_reads_it_back_even_read_only(tmp_path: Path) -> None:
    path = tmp_path / "enc.duckdb"
    con = open_encrypted(path, KEY, allow_unsafe_crypto=UNSAFE)
    _write(con)
    con.close()
    ro = open_encrypted(path, KEY, read_only=True)  # reading needs no httpfs
    assert ro.execute("SELECT count(*), min(email) FROM users").fetchone() == (300, min(SECRETS))
    ro.close()


def test_a_wrong_or_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "enc.duckdb"
    open_encrypted(path, KEY, allow_unsafe_crypto=UNSAFE).close()
    with pytest.raises(SecretKeyError, match=rf"key {WRONG.key_id}\) does not open .*wrong key"):
        open_encrypted(path, WRONG, read_only=True)
    with pytest.raises(SecretKeyError, match="wrong key"):
        open_encrypted(path, WRONG, allow_unsafe_crypto=True)
    # What a plain open (io.Database today) gets: DuckDB's own error, to be translated
    # at integration (the encryption module's _translate gives the SecretKeyError).
    with pytest.raises(duckdb.CatalogException, match="without a key"):
        duckdb.connect(str(path)).close()
    assert is_encrypted(path)
    plain = tmp_path / "plain.duckdb"
    duckdb.connect(str(plain)).close()
    with pytest.raises(DatabaseError, match="is not encrypted, but a key was given"):
        open_encrypted(plain, KEY, read_only=True)
    with pytest.raises(DatabaseError, match="does not exist"):
        open_encrypted(tmp_path / "missing.duckdb", KEY, read_only=True)
    with pytest.raises(DatabaseError, match=r"folder .* does not exist"):
        open_encrypted(tmp_path / "no" / "x.duckdb", KEY)


@pytest.mark.skipif(not UNSAFE, reason="httpfs is installed here: writing is allowed")
def test_writing_without_openssl_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="httpfs extension"):
        open_encrypted(tmp_path / "enc.duckdb", KEY)
    assert not (tmp_path / "enc.duckdb").exists() or (tmp_path / "enc.duckdb").stat().st_size == 0


def test_encrypt_database_copies_a_plain_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.duckdb"
    pcon = duckdb.connect(str(plain))
    _write(pcon)
    pcon.close()
    target = encrypt_database(plain, tmp_path / "enc.duckdb", KEY, allow_unsafe_crypto=UNSAFE)
    assert is_encrypted(target) and scan_bytes(target, SECRETS).clean
    ro = open_encrypted(target, KEY, read_only=True)
    assert ro.execute("SELECT count(*) FROM users").fetchone()[0] == 300
    ro.close()
    with pytest.raises(DatabaseError, match="never overwrites"):
        encrypt_database(plain, target, KEY, allow_unsafe_crypto=UNSAFE)


def test_database_key_is_derived_and_never_the_pseudonym_key() -> None:
    assert database_key(KEY) == KEY.derive("database").hex() != KEY.derive("pseudonym").hex()
    assert database_key("given-by-another-tool") == "given-by-another-tool"
    with pytest.raises(SecretKeyError):
        database_key("")


def test_scan_bytes_finds_raw_values_and_plain_sha256_in_file_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    digest = hashlib.sha256(b"carol@example.com").hexdigest()
    path.write_bytes(b"id,email\n1,alice@example.com\n2," + digest.upper().encode() + b"\n")
    Path(str(path) + ".wal").write_bytes(b"....dave@example.com....")
    scan = scan_bytes(
        path,
        ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "ab"],
    )
    assert set(scan.hits) == {"alice@example.com", "SHA256(carol@example.com)", "dave@example.com"}
    assert scan.hits["alice@example.com"] == [(str(path), 11)]
    assert scan.hits["dave@example.com"][0][0].endswith(".wal")
    assert not scan.clean and "3 of 12 needles found" in scan.summary()
    assert scan_bytes(path, ["bob@example.com"], wal=False).clean
    with pytest.raises(DatabaseError, match="no such file"):
        scan_bytes(tmp_path / "missing", ["x"])


def test_a_second_writer_gets_the_locked_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "enc.duckdb"
    con = open_encrypted(path, KEY, allow_unsafe_crypto=UNSAFE)
    code = (
        "import sys\n"
        "from userseg.privacy import open_encrypted, SecretKey\n"
        "try:\n"
        "    key = SecretKey.from_text('e' * 40)\n"
        f"    open_encrypted(sys.argv[1], key, allow_unsafe_crypto={UNSAFE})\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    con.close()
    assert out.stdout.strip() == "DatabaseLockedError", out.stderr
