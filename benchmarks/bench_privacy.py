"""Privacy: keyed pseudonyms at scale, DP k-means utility, encryption cost; peers side by side.

Cases:

* ``pseudonym``  10M user ids in a DuckDB table pseudonymised in SQL with
  userseg's Arrow UDF (Numba HMAC-SHA256), against DuckDB's built-in
  ``sha256()`` (unkeyed: *not* a pseudonym, the floor for any hash in SQL) and
  HMAC written in SQL from two ``sha256()`` calls; at 1M also against the
  naive per-row Python UDF with ``hmac``.
* ``dp``         DP k-means at epsilon = 1, k = 8, 100,000 users x 16 features
  against scikit-learn's KMeans (n_init=1): inertia ratio (target <= 1.5) and
  time, over several seeds, on the k-means benchmark's blobs (sigma 3.75) and
  on well-separated blobs (sigma 1, the hard case for a private start).
* ``encryption`` a 2M-row event table written (CSV -> table) and aggregated
  in a plain DuckDB file and in an encrypted one. Without DuckDB's httpfs
  extension (none here) the encrypted write uses mbedTLS
  (``force_mbedtls_unsafe``); OpenSSL's AES-NI path may differ.

    python benchmarks/bench_privacy.py [--quick] [--sections pseudonym,dp,encryption]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import blobs, measure, ratio_line

KEY_TEXT = "benchmark-key-" + "x" * 30


def bench_pseudonym(n: int, n_small: int) -> None:
    import duckdb

    from userseg.privacy import Pseudonymizer, SecretKey

    pz = Pseudonymizer(SecretKey.from_text(KEY_TEXT))
    sub = pz._subkeys[0]
    ipad = bytes(b ^ 0x36 for b in sub.ljust(64, b"\0"))
    opad = bytes(b ^ 0x5C for b in sub.ljust(64, b"\0"))
    pz.pseudonymize([f"warm-{i}" for i in range(1000)])  # compile (cached on disk) first

    for size in (n_small, n):
        con = duckdb.connect()
        pz.register(con)
        _sql(con, f"CREATE TABLE ids AS SELECT 'user-' || range AS id FROM range({size})")
        ours = measure(
            "userseg",
            lambda con=con: _sql(
                con, "CREATE OR REPLACE TABLE p AS SELECT pseudonym(id) AS p FROM ids"
            ),
        )
        first = con.execute("SELECT p FROM p LIMIT 1").fetchall()[0][0]
        assert first == pz.pseudonym(con.execute("SELECT id FROM ids LIMIT 1").fetchall()[0][0])
        sha = measure(
            "sha256(unkeyed)",
            lambda con=con: _sql(
                con, "CREATE OR REPLACE TABLE s AS SELECT sha256(id) AS p FROM ids"
            ),
        )
        print(ratio_line(f"pseudonym {size:,} ids", sha, ours), flush=True)
        sql_hmac = measure(
            "hmac-in-sql",
            lambda con=con: _sql(
                con,
                "CREATE OR REPLACE TABLE h AS SELECT left(sha256(?::BLOB || "
                "unhex(sha256(?::BLOB || encode(id)))), 32) AS p FROM ids",
                [opad, ipad],
            ),
        )
        same = con.execute("SELECT count(*) FROM h JOIN p USING (p)").fetchall()[0][0]
        print(
            ratio_line(f"pseudonym {size:,} ids", sql_hmac, ours, f"(same values: {same:,})"),
            flush=True,
        )
        if size == n_small:

            def row_udf(value: str) -> str:
                return hmac.new(sub, value.encode(), hashlib.sha256).hexdigest()[:32]

            con.create_function("row_hmac", row_udf, ["VARCHAR"], "VARCHAR", side_effects=False)
            naive = measure(
                "python-row-udf",
                lambda con=con: _sql(
                    con, "CREATE OR REPLACE TABLE r AS SELECT row_hmac(id) AS p FROM ids"
                ),
            )
            print(ratio_line(f"pseudonym {size:,} ids", naive, ours), flush=True)
        con.close()


def _sql(con, sql: str, params=None) -> list:
    """Run one statement to the end (DuckDB 2 wants every result consumed)."""
    return con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()


def bench_dp(n: int, seeds: int) -> None:
    from sklearn.cluster import KMeans

    from userseg.privacy.dp import DPKMeans

    for case, sigma in (("sigma=3.75", 3.75), ("separated sigma=1", 1.0)):
        X, _ = blobs(n, d=16, k=8, sigma=sigma, dtype=np.float64, seed=0)
        for seed in range(seeds):
            plain = measure(
                "sklearn", lambda X=X, seed=seed: KMeans(8, n_init=1, random_state=seed).fit(X)
            )
            dp = measure(
                "dp",
                lambda X=X, seed=seed: DPKMeans(
                    8, epsilon=1.0, bounds=(-16, 16), random_state=seed
                ).fit(X),
            )
            ratio = dp.result.inertia_ / plain.result.inertia_
            print(
                f"dp-kmeans eps=1 k=8 {n:,}x16 {case} seed {seed}: sklearn inertia "
                f"{plain.result.inertia_:.4g} {plain.seconds:.2f}s | userseg DPKMeans inertia "
                f"{dp.result.inertia_:.4g} {dp.seconds:.2f}s | cost ratio dp/plain {ratio:.3f} "
                f"(target <= 1.5: {'met' if ratio <= 1.5 else 'MISSED'})",
                flush=True,
            )


def bench_encryption(n: int) -> None:
    import duckdb

    from userseg.privacy import SecretKey, open_encrypted

    key = SecretKey.from_text(KEY_TEXT)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "events.csv"
        duckdb.sql(
            f"COPY (SELECT 'user-' || (range % 200000) AS user_id, "
            f"TIMESTAMP '2024-01-01' + INTERVAL (range % 86400) SECOND AS ts, "
            f"['view','cart','purchase'][1 + range % 3] AS event, (range % 9973) / 100.0 AS amount "
            f"FROM range({n})) TO '{csv}' (HEADER)"
        )

        def ingest(con, table: str) -> None:
            _sql(con, f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv('{csv}')")
            _sql(con, "CHECKPOINT")

        def features(con) -> None:
            con.execute(
                "CREATE OR REPLACE TABLE f AS SELECT user_id, count(*) AS n, sum(amount) AS spend, "
                "max(ts) AS last FROM events GROUP BY user_id"
            ).fetchall()
            con.execute("CHECKPOINT").fetchall()

        plain_con = duckdb.connect(str(Path(tmp) / "plain.duckdb"))
        enc_con = open_encrypted(Path(tmp) / "enc.duckdb", key, allow_unsafe_crypto=True)
        plain = measure("plain", lambda: ingest(plain_con, "events"))
        enc = measure("plain", lambda: ingest(enc_con, "events"))
        enc.name = "encrypted"
        print(
            ratio_line(
                f"encryption: ingest {n:,} rows", plain, enc, "(ratio <1: encryption costs)"
            ),
            flush=True,
        )
        plain = measure("plain", lambda: features(plain_con), repeats=3)
        enc = measure("encrypted", lambda: features(enc_con), repeats=3)
        print(
            ratio_line(
                "encryption: features (group by)", plain, enc, "(ratio <1: encryption costs)"
            ),
            flush=True,
        )
        plain_con.close()
        enc_con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1M ids, 20k users, 200k rows")
    ap.add_argument("--sections", default="pseudonym,dp,encryption")
    args = ap.parse_args(argv)
    sections = set(args.sections.split(","))
    if "pseudonym" in sections:
        bench_pseudonym(
            1_000_000 if args.quick else 10_000_000, 100_000 if args.quick else 1_000_000
        )
    if "dp" in sections:
        bench_dp(20_000 if args.quick else 100_000, 2 if args.quick else 3)
    if "encryption" in sections:
        bench_encryption(200_000 if args.quick else 2_000_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
