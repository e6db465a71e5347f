"""Key store, keyed pseudonyms (Python, Numba kernel, DuckDB SQL), rotation, ad-platform hashes."""

from __future__ import annotations

import doctest
import hashlib
import hmac
import os
import pickle
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from userseg.errors import ConfigError, DatabaseError, NotFoundError, SchemaError, SecretKeyError
from userseg.privacy import keys as keys_module
from userseg.privacy import platforms as platforms_module
from userseg.privacy import pseudonym as pseudonym_module
from userseg.privacy.keys import (
    KeyRing,
    SecretKey,
    add_key_to_file,
    create_key_file,
    generate_key,
    load_keys,
    read_key_file,
)
from userseg.privacy.platforms import normalize_email, normalize_phone, platform_hash
from userseg.privacy.pseudonym import Pseudonymizer, rotate_pseudonyms

KEY = SecretKey.from_text("k" * 40)
OTHER = SecretKey.from_text("o" * 40)


# --- key store -----------------------------------------------------------------------------
def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "userseg.key"
    path.write_text(generate_key() + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(SecretKeyError, match=r"permissions 0644, wider than 0600.*chmod 600"):
        read_key_file(path)
    os.chmod(path, 0o640)
    with pytest.raises(SecretKeyError, match="0640"):
        read_key_file(path)
    os.chmod(path, 0o600)
    assert len(read_key_file(path)) == 1
    os.chmod(path, 0o400)  # narrower is fine
    assert len(read_key_file(path)) == 1


def test_create_key_file_is_0600_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "userseg.key"
    ring = create_key_file(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert ring.current.key_id.startswith("k_") and len(ring.current.key_id) == 18
    with pytest.raises(SecretKeyError, match="already exists"):
        create_key_file(path)
    assert read_key_file(path).key_id == ring.key_id
    grown = add_key_to_file(path)
    assert len(grown) == 2 and grown[0] == ring[0] and grown.key_id.startswith(ring.key_id + "+")


def test_keys_from_the_environment_and_clear_errors(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("USERSEG_SECRET_KEY", raising=False)
    with pytest.raises(SecretKeyError, match=r"USERSEG_SECRET_KEY.*key file"):
        load_keys()
    monkeypatch.setenv("USERSEG_SECRET_KEY", "short")
    with pytest.raises(SecretKeyError, match="5 characters long; at least 32"):
        load_keys()
    a, b = generate_key(), generate_key()
    monkeypatch.setenv("USERSEG_SECRET_KEY", f"{a}, {b}")
    ring = load_keys()
    assert len(ring) == 2 and ring.current == SecretKey.from_text(b)
    with pytest.raises(SecretKeyError, match="does not exist"):
        load_keys(tmp_path / "missing.key")
    empty = tmp_path / "empty.key"
    empty.write_text("# no key here\n")
    empty.chmod(0o600)
    with pytest.raises(SecretKeyError, match="holds no key"):
        load_keys(empty)


def test_a_key_never_shows_itself() -> None:
    text = "s3cret-" + "x" * 40
    key = SecretKey.from_text(text)
    assert text not in repr(key) and text not in key.key_id and text not in repr(KeyRing([key]))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)
    assert key.derive("pseudonym") != key.derive("database")
    assert key.key_id == SecretKey.from_text(text).key_id != OTHER.key_id


def test_keys_doctest() -> None:
    assert doctest.testmod(keys_module).failed == 0


# --- pseudonyms ----------------------------------------------------------------------------
def test_pseudonym_is_hmac_sha256_under_the_derived_key() -> None:
    pz = Pseudonymizer(KEY)
    expected = hmac.new(KEY.derive("pseudonym"), b"alice@example.com", hashlib.sha256).hexdigest()
    assert pz.pseudonym("alice@example.com") == expected[:32]
    assert Pseudonymizer(KEY, hex_chars=64).pseudonym("alice@example.com") == expected
    # not the plain SHA-256 an attacker could look up
    assert pz.pseudonym("alice@example.com") not in hashlib.sha256(b"alice@example.com").hexdigest()
    assert pz.pseudonym("alice@example.com") != Pseudonymizer(OTHER).pseudonym("alice@example.com")
    assert pz.pseudonym(None) is None and pz.pseudonym(17) == pz.pseudonym("17")
    lower = Pseudonymizer(KEY, normalize=str.lower)
    assert lower.pseudonym("Alice@Example.com") == pz.pseudonym("alice@example.com")
    with pytest.raises(ConfigError, match="hex_chars=8"):
        Pseudonymizer(KEY, hex_chars=8)


def test_the_kernel_agrees_with_the_standard_library() -> None:
    # Message lengths around the SHA-256 block edges (55/56, 63/64, 119/120 bytes).
    values = ["", "a", "x" * 55, "x" * 56, "y" * 63, "z" * 64, "q" * 119, "r" * 120, "ünïcödé@x.de"]
    values += [f"user-{i}" for i in range(1000)] + [None]
    for ring in ([KEY], [KEY, OTHER]):
        pz = Pseudonymizer(ring)
        assert pz.pseudonymize(values) == [pz.pseudonym(v) for v in values]


def test_the_same_value_gets_the_same_pseudonym_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    ring = create_key_file(path)
    code = (
        "from userseg.privacy import load_keys, Pseudonymizer; import sys; "
        "print(Pseudonymizer(load_keys(sys.argv[1])).pseudonym('bob@example.com'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == Pseudonymizer(ring).pseudonym("bob@example.com")


def test_pseudonymise_a_column_in_duckdb_sql() -> None:
    con = duckdb.connect()
    pz = Pseudonymizer(KEY)
    pz.register(con)
    con.execute("CREATE TABLE users AS SELECT 'user' || range AS email FROM range(5000)")
    con.execute("INSERT INTO users VALUES (NULL)")
    con.execute("UPDATE users SET email = pseudonym(email)")
    got = [r[0] for r in con.execute("SELECT email FROM users ORDER BY rowid").fetchall()]
    assert got == [pz.pseudonym(f"user{i}") for i in range(5000)] + [None]
    assert con.execute("SELECT pseudonym(lower(trim('  Ann@X.org ')))").fetchone()[0] == (
        pz.pseudonym("ann@x.org")
    )
    with pytest.raises(ConfigError, match="plain SQL identifier"):
        pz.register(con, "drop table users")


def test_rotation_rekeys_every_table_and_keeps_new_imports_consistent() -> None:
    con = duckdb.connect()
    old = Pseudonymizer(KEY)
    old.register(con)
    con.execute(
        "CREATE TABLE events AS SELECT pseudonym('u' || (range % 50)) AS uid FROM range(500)"
    )
    con.execute(
        "CREATE TABLE users AS SELECT pseudonym('u' || range) AS uid, range AS n FROM range(50)"
    )
    new = rotate_pseudonyms(con, old, OTHER, {"events": ["uid"], "users": ["uid"]})
    assert new.key_id == f"{KEY.key_id}+{OTHER.key_id}"
    users = dict(con.execute("SELECT n, uid FROM users").fetchall())
    assert users == {i: new.pseudonym(f"u{i}") for i in range(50)}
    assert users[3] != old.pseudonym("u3")
    joined = con.execute("SELECT count(*) FROM events JOIN users USING (uid)").fetchone()[0]
    assert joined == 500  # the join key still matches across tables
    assert not con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = '_userseg_rekey'"
    ).fetchone()[0]


def test_a_failed_rotation_changes_nothing() -> None:
    con = duckdb.connect()
    old = Pseudonymizer(KEY)
    con.execute(f"CREATE TABLE a AS SELECT '{old.pseudonym('x')}' AS uid")
    # the second table refuses the new values, after the first was updated
    con.execute("CREATE TABLE b (uid VARCHAR CHECK (uid LIKE 'keep%'))")
    con.execute("INSERT INTO b VALUES ('keep-me')")
    with pytest.raises(DatabaseError, match="rolled back"):
        rotate_pseudonyms(con, old, OTHER, {"a": ["uid"], "b": ["uid"]})
    assert con.execute("SELECT uid FROM a").fetchone()[0] == old.pseudonym("x")
    with pytest.raises(NotFoundError, match="'nope' not found; nothing was re-keyed"):
        rotate_pseudonyms(con, old, OTHER, {"a": ["uid"], "nope": ["uid"]})
    with pytest.raises(SchemaError, match=r"no column 'id' .*it has uid"):
        rotate_pseudonyms(con, old, OTHER, {"a": ["id"]})
    with pytest.raises(ConfigError, match="already in the chain"):
        rotate_pseudonyms(con, old, KEY, {"a": ["uid"]})
    assert con.execute("SELECT uid FROM a").fetchone()[0] == old.pseudonym("x")


def test_pseudonym_doctest() -> None:
    assert doctest.testmod(pseudonym_module).failed == 0


# --- ad platforms --------------------------------------------------------------------------
def test_meta_published_examples() -> None:
    pytest.importorskip("phonenumbers")
    # Meta for Developers, Conversions API, "Customer Information Parameters" (user_data):
    # the example inputs, normalised forms and expected SHA-256 outputs as published there.
    assert normalize_email("John_Smith@gmail.com", "meta") == "john_smith@gmail.com"
    assert platform_hash("John_Smith@gmail.com", "email", "meta") == (
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    )
    assert normalize_phone("(650)555-1212", "meta", default_region="US") == "16505551212"
    assert platform_hash("(650)555-1212", "phone", "meta", default_region="US") == (
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    )
    assert platform_hash("Mary", "name", "meta") == (
        "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"
    )
    assert platform_hash("Valéry", "name", "meta") == (
        "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"
    )
    assert platform_hash("정", "name", "meta") == (
        "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"
    )


def test_google_published_normalisations() -> None:
    pytest.importorskip("phonenumbers")
    # Google Data Manager API, "Format user data": the documented examples. Google
    # publishes the normalised forms but (as far as found) no example digests, so the
    # hash is checked against SHA-256 of the documented normal form.
    assert normalize_email("cloudy.sanfrancisco+shopping@gmail.com", "google") == (
        "cloudysanfrancisco@gmail.com"
    )
    assert normalize_email("user.name+NYC@Example.com", "google") == "user.name+nyc@example.com"
    assert normalize_email(" Jane.Doe@GoogleMail.com ", "google") == "janedoe@googlemail.com"
    assert normalize_phone("(800)555-0100", "google", default_region="US") == "+18005550100"
    assert platform_hash("(800)555-0100", "phone", "google", default_region="US") == (
        hashlib.sha256(b"+18005550100").hexdigest()
    )
    # Meta keeps the dots Google drops
    assert normalize_email("Jane.Doe@gmail.com", "meta") == "jane.doe@gmail.com"


def test_platform_hash_refuses_what_would_never_match() -> None:
    pytest.importorskip("phonenumbers")
    assert platform_hash("not an email", "email", "google") is None
    assert platform_hash("555-1212", "phone", "google") is None  # national, no region
    assert platform_hash(None, "email", "meta") is None
    with pytest.raises(ConfigError, match="platform='tiktok'"):
        platform_hash("a@b.co", "email", "tiktok")
    with pytest.raises(ConfigError, match="kind='ssn'"):
        platform_hash("a@b.co", "ssn", "meta")
    assert doctest.testmod(platforms_module).failed == 0
