"""Recommendations per segment: over-represented items, items bought together, per user; the
item column of the import; `userseg recommend`; GET /v1/users/{id}/recommendations."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from userseg.cli.app import app as cli
from userseg.config import EventMapping, Source
from userseg.errors import ConfigError, DataError, NotFoundError, SchemaError
from userseg.jobs import pipeline
from userseg.recommend import Recommender, association_rules, purchase_lines, segment_items
from userseg.segment.params import FitConfig

MAPPING = EventMapping(
    user_id="user", time="ts", amount="amount", order_id="order", item="sku", event=None
)


def _lines() -> tuple[pd.DataFrame, pd.Series]:
    """Two groups of 50 buyers: everyone buys P; group 0 also A1-A3, group 1 B1-B3;
    in group 0, X and Y always share a basket; Z is bought by 2 users only."""
    rows = []
    for u in range(100):
        g = u // 50
        user = f"u{u}"
        rows.append((user, f"{user}-1", "P"))
        for i, item in enumerate(["A1", "A2", "A3"] if g == 0 else ["B1", "B2", "B3"]):
            if u % (i + 2) == 0 or i == 0:
                rows.append((user, f"{user}-1", item))
        if g == 0 and u % 5 == 0:
            rows += [(user, f"{user}-2", "X"), (user, f"{user}-2", "Y")]
        if g == 0 and u % 7 == 1:
            rows.append((user, f"{user}-3", "X"))  # X alone: confidence X→Y < 1
    rows += [("u0", "u0-9", "Z"), ("u1", "u1-9", "Z")]
    lines = pd.DataFrame(rows, columns=["user_id", "basket", "item"])
    segments = pd.Series([u // 50 for u in range(100)], index=[f"u{u}" for u in range(100)])
    return lines, segments


def test_segment_items_support_lift_and_minimum_support() -> None:
    lines, segments = _lines()
    items = segment_items(lines, segments, min_support=0.05, min_users=3)
    g0 = items[items["segment"] == 0].set_index("item")
    # everyone buys P: support 1 in each segment, lift 1
    assert g0.loc["P", "support"] == 1.0 and g0.loc["P", "lift"] == pytest.approx(1.0)
    # A1: all 50 of segment 0, none of segment 1: support 1, overall 0.5, lift 2
    assert g0.loc["A1", "users"] == 50 and g0.loc["A1", "lift"] == pytest.approx(2.0)
    assert g0.loc["A2", "support"] == pytest.approx(17 / 50)  # users 0, 3, ..., 48
    assert "Z" not in g0.index  # 2 buyers: below min_users
    assert not set(g0.index) & {"B1", "B2", "B3"}
    assert list(g0["rank"]) == list(range(1, len(g0) + 1))
    by_lift = segment_items(lines, segments, min_support=0.05, min_users=3, rank="lift")
    top = by_lift[by_lift["segment"] == 0].iloc[0]
    assert top["lift"] == pytest.approx(2.0) and top["item"] == "A1"  # A1 beats A2 on support
    strict = segment_items(lines, segments, min_support=0.6, min_users=3)
    assert set(strict.loc[strict["segment"] == 0, "item"]) == {"P", "A1"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_support": 1.5}, "min_support=1.5 should be in"),
        ({"min_users": 0}, "min_users=0 should be an integer >= 1"),
        ({"rank": "random"}, "rank='random' should be one of support, lift"),
    ],
)
def test_segment_items_bad_settings(kwargs, match) -> None:
    lines, segments = _lines()
    with pytest.raises(ConfigError, match=match):
        segment_items(lines, segments, **kwargs)


def test_association_rules_counts_pairs_in_baskets() -> None:
    lines, segments = _lines()
    g0 = lines[lines["user_id"].isin(segments.index[segments == 0])]
    rules = association_rules(g0, min_support=0.0, min_confidence=0.0, min_baskets=3)
    r = rules.set_index(["antecedent", "consequent"])
    n = g0["basket"].nunique()
    n_x = g0.loc[g0["item"] == "X", "basket"].nunique()
    n_y = g0.loc[g0["item"] == "Y", "basket"].nunique()
    both = 10  # users 0, 5, ..., 45
    assert r.loc[("X", "Y"), "baskets"] == both
    assert r.loc[("X", "Y"), "support"] == pytest.approx(both / n)
    assert r.loc[("Y", "X"), "confidence"] == pytest.approx(1.0)  # Y never alone
    assert r.loc[("X", "Y"), "confidence"] == pytest.approx(both / n_x)
    assert r.loc[("X", "Y"), "lift"] == pytest.approx((both / n_x) / (n_y / n))
    assert rules["lift"].is_monotonic_decreasing
    # confidence threshold: X→Y (10/17) drops out at 0.7, Y→X stays
    kept = association_rules(g0, min_support=0.0, min_confidence=0.7, min_baskets=3)
    pairs = set(zip(kept["antecedent"], kept["consequent"], strict=True))
    assert ("Y", "X") in pairs and ("X", "Y") not in pairs
    with pytest.raises(ConfigError, match="min_confidence=2 should be in"):
        association_rules(g0, min_confidence=2)


def _csv(tmp: Path, with_item: bool = True) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(240):
        g = u % 3
        n_orders = (2, 6, 12)[g]
        for o in range(n_orders):
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 170)))
            basket = [f"{'ABC'[g]}{int(rng.integers(1, 6))}" for _ in range(2)] + ["P"]
            for sku in basket:
                amount = (10.0, 40.0, 120.0)[g] * rng.uniform(0.8, 1.2)
                rows.append(
                    (f"c{u}", f"{day:%Y-%m-%d} 10:00:00", f"{amount:.2f}", sku, f"o{u}-{o}")
                )
    frame = pd.DataFrame(rows, columns=["user", "ts", "amount", "sku", "order"])
    if not with_item:
        frame = frame.drop(columns="sku")
    path = tmp / ("orders.csv" if with_item else "orders_no_item.csv")
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("recommend")
    path = tmp / "shop.duckdb"
    with pipeline.open_db(path) as db:
        pipeline.ingest(db, Source(path=str(_csv(tmp))), kind="events", mapping=MAPPING)
        pipeline.features(db)
        run_id, seg = pipeline.fit(db, FitConfig(k=3))
    return {"path": path, "run": run_id, "segments": sorted(int(s) for s in seg.segment_ids_)}


def test_ingest_keeps_the_item_column_only_when_mapped(shop, tmp_path) -> None:
    with pipeline.open_db(shop["path"]) as db:
        assert "item" in db.columns("events")
        lines = purchase_lines(db)
        assert set(lines.columns) == {"user_id", "basket", "item"}
        assert lines["basket"].str.startswith("o").all()  # order ids are the baskets
    other = tmp_path / "plain.duckdb"
    mapping = EventMapping(user_id="user", time="ts", amount="amount", order_id="order")
    with pipeline.open_db(other) as db:
        pipeline.ingest(db, Source(path=str(_csv(tmp_path, False))), kind="events", mapping=mapping)
        assert "item" not in db.columns("events")  # the default schema is unchanged
        with pytest.raises(SchemaError, match=r"no item column.*--item"):
            purchase_lines(db)
        with pytest.raises(ConfigError, match="cannot append items"):
            pipeline.ingest(
                db, Source(path=str(_csv(tmp_path))), kind="events", mapping=MAPPING, mode="append"
            )


def test_ingest_appends_to_a_table_with_items(tmp_path) -> None:
    """Streaming ingest: an appended batch keeps its items, or leaves them unknown when it maps
    none; a batch read again is skipped as already stored (its item compared too)."""
    first = tmp_path / "first.csv"
    second = tmp_path / "second.csv"
    header = "user,ts,amount,sku,order\n"
    first.write_text(
        header + "c1,2024-01-01 10:00:00,5.00,A,o1\nc1,2024-01-01 10:00:00,5.00,B,o1\n"
    )
    second.write_text(header + "c2,2024-02-01 10:00:00,7.00,C,o2\n")
    plain = EventMapping(user_id="user", time="ts", amount="amount", order_id="order")
    with pipeline.open_db(tmp_path / "a.duckdb") as db:
        pipeline.ingest(db, Source(path=str(first)), kind="events", mapping=MAPPING)
        pipeline.ingest(db, Source(path=str(second)), kind="events", mapping=MAPPING, mode="append")
        pipeline.ingest(db, Source(path=str(second)), kind="events", mapping=plain, mode="append")
        rep = pipeline.ingest(
            db, Source(path=str(first)), kind="events", mapping=MAPPING, mode="append"
        )
        assert rep.rows_loaded == 0  # the same rows again, items and all
        rows = db.rows("SELECT user_id, item FROM events ORDER BY user_id, item NULLS LAST")
    # two order lines of one basket differ only by item: both kept
    assert rows == [("c1", "A"), ("c1", "B"), ("c2", "C"), ("c2", None)]


def test_ingest_item_option_on_the_command_line(tmp_path) -> None:
    csv = _csv(tmp_path)
    db = tmp_path / "cli.duckdb"
    base = ["ingest", str(csv), "--db", str(db), "--user-id", "user", "--time", "ts"]
    base += ["--amount", "amount", "--order-id", "order"]
    res = CliRunner().invoke(cli, [*base, "--item", "sku"])
    assert res.exit_code == 0, res.output
    with pipeline.open_db(db) as d:
        assert d.scalar("SELECT count(DISTINCT item) FROM events") == 16  # A1-5, B1-5, C1-5, P
    res = CliRunner().invoke(cli, [*base, "--item", "no_such_column"])
    assert res.exit_code == 2, res.output
    assert "no_such_column" in res.output


def test_recommender_per_segment_and_per_user(shop) -> None:
    with pipeline.open_db(shop["path"]) as db:
        rec = Recommender.from_run(db, shop["run"])
        with pytest.raises(DataError, match="no purchase with an item"):
            purchase_lines(db, start="2030-01-01")
    for s in shop["segments"]:
        top = rec.for_segment(s, top=4)
        assert len(top) == 4 and list(top["rank"]) == [1, 2, 3, 4]
        assert top["support"].is_monotonic_decreasing
    user = rec.segments.index[0]
    out = rec.for_user(user, top=5)
    bought = set(rec.lines.loc[rec.lines["user_id"] == user, "item"])
    assert out["segment"] == rec.segment_of(user) and out["items"]
    assert not {i["item"] for i in out["items"]} & bought
    everything = rec.for_user(user, top=5, exclude_bought=False)
    assert [i["item"] for i in everything["items"]] == list(
        rec.for_segment(out["segment"], 5)["item"]
    )
    rules = rec.rules(shop["segments"][0], min_support=0.0, min_confidence=0.0)
    assert {"antecedent", "consequent", "support", "confidence", "lift"} <= set(rules.columns)
    with pytest.raises(NotFoundError, match="has no segment 99"):
        rec.for_segment(99)
    with pytest.raises(NotFoundError, match="user 'nobody' is not in run"):
        rec.for_user("nobody")
    with pytest.raises(ConfigError, match="top=0"):
        rec.for_segment(shop["segments"][0], top=0)


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_recommend_command(shop) -> None:
    db = shop["path"]
    s = shop["segments"][0]
    out = run("recommend", "--segment", s, "--db", db)
    assert out.exit_code == 0, out.output
    assert "recommended" in out.output and "Bought together" in out.output
    out = run("recommend", "--run", shop["run"], "--segment", s, "--top", 3, "--db", db, "--json")
    d = json.loads(out.output)
    assert d["segment"] == s and len(d["items"]) == 3 and isinstance(d["rules"], list)
    out = run("recommend", "--user", "c1", "--db", db, "--json", "--no-rules")
    d = json.loads(out.output)
    assert d["user_id"] == "c1" and d["rules"] is None and d["exclude_bought"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--segment", 99], "has no segment 99"),
        (["--user", "nobody"], "user 'nobody' is not in run"),
        (["--run", 42, "--segment", 0], "run 42 not found"),
        ([], "give one of --segment S or --user ID"),
        (["--segment", 0, "--user", "c1"], "give one of --segment S or --user ID"),
        (["--segment", 0, "--rank", "random"], "rank='random'"),
        (["--segment", 0, "--top", 0], "--top 0 should be >= 1"),
    ],
)
def test_recommend_bad_input_exits_2(shop, args, match) -> None:
    out = run("recommend", *args, "--db", shop["path"])
    assert out.exit_code == 2, out.output
    assert match in out.output


def test_recommend_without_items_exits_2(tmp_path) -> None:
    mapping = EventMapping(user_id="user", time="ts", amount="amount", order_id="order")
    path = tmp_path / "plain.duckdb"
    with pipeline.open_db(path) as db:
        pipeline.ingest(db, Source(path=str(_csv(tmp_path, False))), kind="events", mapping=mapping)
        pipeline.features(db)
        pipeline.fit(db, FitConfig(k=3))
    out = run("recommend", "--segment", 0, "--db", path)
    assert out.exit_code == 2 and "no item column" in out.output


def test_recommendations_endpoint(shop) -> None:
    pytest.importorskip("fastapi", reason="the serve extra (fastapi) is needed")
    import httpx

    from userseg.serve import create_app
    from userseg.serve.auth import create_key

    with pipeline.open_db(shop["path"]) as db:
        _, secret = create_key(db, "tests")
    app = create_app(shop["path"], run_id=shop["run"])

    async def get(url: str, key: str | None = secret) -> httpx.Response:
        transport = httpx.ASGITransport(app)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(url, headers=headers)

    try:
        assert asyncio.run(get("/v1/users/c1/recommendations", key=None)).status_code == 401
        r = asyncio.run(get("/v1/users/c1/recommendations?top=3"))
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["user_id"] == "c1" and d["run_id"] == shop["run"] and len(d["items"]) <= 3
        assert {"item", "support", "lift", "rank"} <= set(d["items"][0])
        again = asyncio.run(get("/v1/users/c1/recommendations?top=3&exclude_bought=false"))
        assert again.status_code == 200 and not again.json()["exclude_bought"]
        missing = asyncio.run(get("/v1/users/nobody/recommendations"))
        assert missing.status_code == 404 and missing.json()["error"]["code"]
        bad = asyncio.run(get("/v1/users/c1/recommendations?top=0"))
        assert bad.status_code == 422 and "error" in bad.json()
        # the user endpoint still answers for the user itself
        assert asyncio.run(get("/v1/users/c1")).status_code == 200
    finally:
        app.state.service.close()
