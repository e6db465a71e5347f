"""Real data from ../shared/data, read at run time; skipped with the reason when absent."""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from conftest import shared

from userseg.config import EventMapping, Source, UserMapping
from userseg.jobs import pipeline
from userseg.monitor.matching import SAME_NAME_JACCARD
from userseg.segment.params import FitConfig
from userseg.store import get_matching, load_profiles

pytestmark = pytest.mark.realdata

RETAIL = EventMapping(
    user_id="CustomerID",
    time="InvoiceDate",
    quantity="Quantity",
    price="UnitPrice",
    order_id="InvoiceNo",
)


def _retail_truth(folder: Path) -> tuple[int, Decimal, int]:
    """Customers, net spend and duplicate rows, computed independently with csv and Decimal.

    The stated policies are applied by hand: rows without a customer id are
    dropped, rows identical in every column are kept once, cancellations
    (negative quantities) count as returns.
    """
    seen: set[tuple[str, ...]] = set()
    customers: set[str] = set()
    total = Decimal(0)
    dups = 0
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader)
            for row in reader:
                if not row[6].strip():
                    continue
                key = tuple(row)
                if key in seen:
                    dups += 1
                    continue
                seen.add(key)
                customers.add(re.sub(r"\.0+$", "", row[6].strip()))
                total += Decimal(row[3]) * Decimal(row[5])
    return len(customers), total, dups


@pytest.mark.slow
def test_online_retail_end_to_end(tmp_path) -> None:
    folder = shared("online_retail", "by-day")
    n_customers, spend, dups = _retail_truth(folder)
    db = pipeline.open_db(tmp_path / "retail.duckdb")
    rep = pipeline.ingest(db, Source(path=str(folder / "*.csv")), kind="events", mapping=RETAIL)
    issues = {i.kind: i for i in rep.issues}
    assert rep.rows_read == 320_705
    assert issues["missing_user_id"].count == 88_652  # anonymous rows, as SOURCE.md says
    assert issues["duplicate_rows"].count == dups
    assert rep.users == n_customers == 3_360
    assert db.scalar("SELECT sum(amount) FROM events") == spend  # to the cent, and beyond
    fs = pipeline.features(db)
    assert fs.n_users == n_customers
    assert db.scalar("SELECT sum(monetary) FROM features") == spend
    names = [f.name for f in fs.features]
    assert names[:4] == ["recency_days", "frequency", "monetary", "avg_order_value"]
    assert "return_rate" in names
    import datetime as dt

    assert fs.as_of == dt.date(2011, 9, 1)  # the day after the last invoice, not today
    run_id, seg = pipeline.fit(db, FitConfig(k_max=8))
    assert 2 <= seg.n_segments_ <= 8
    assert np.bincount(seg.labels_).min() >= 10
    html, _ = pipeline.report(db, run_id, tmp_path / "retail.html")
    text = html.read_text()
    assert "Stability" in text and "Rules" in text and "Is there any structure?" in text
    assert seg.metrics_["stability"]["n_runs"] == 20
    assert all(p.stability is not None and p.rule is not None for p in seg.profiles_)
    db.close()


@pytest.mark.slow
def test_cc_general_customer_table(tmp_path) -> None:
    path = shared("cc_general", "CC GENERAL.csv")
    db = pipeline.open_db(tmp_path / "cc.duckdb")
    rep = pipeline.ingest(db, Source(path=str(path)), kind="users", mapping=UserMapping())
    assert rep.rows_loaded == 8950 and rep.columns["user_id"] == "CUST_ID"
    assert any("'TESTING' is empty in every row" in n for n in rep.notes)
    fs = pipeline.features(db)
    assert len(fs.features) == 17
    run_id, seg = pipeline.fit(db)
    assert 2 <= seg.n_segments_ <= 10
    assert any("minimum_payments: 313 missing values" in n for n in seg.notes_)
    assert seg.metrics_["silhouette"] > 0.1
    assert sum(p.size for p in seg.profiles_) == 8950
    assert "structure" in seg.metrics_ and "ari_mean" in seg.metrics_["stability"]
    html, _ = pipeline.report(db, run_id, tmp_path / "cc.html")
    assert "Stability" in html.read_text()
    db.close()


@pytest.mark.slow
def test_bank_marketing_supervised_selection_through_the_pipeline(tmp_path) -> None:
    path = shared("bank_marketing_additional", "bank-additional.csv")
    db = pipeline.open_db(tmp_path / "bank.duckdb")
    rep = pipeline.ingest(db, Source(path=str(path)), kind="users", mapping=UserMapping())
    assert rep.rows_loaded == 4119 and any("numbered by row" in n for n in rep.notes)
    fs = pipeline.features(db)
    assert "emp_var_rate" in [f.name for f in fs.features]  # names made SQL-safe
    run_id, seg = pipeline.fit(db, FitConfig(target="y", k_max=6))
    kept = seg.selection_["kept"]
    assert "y" not in seg.feature_names_in_
    assert {"duration", "nr_employed", "poutcome"} <= set(kept)
    assert seg.selection_["ranking"][:2] == ["duration", "nr_employed"]
    for dropped in ("loan", "housing", "day_of_week"):
        assert dropped not in kept
    html, _ = pipeline.report(db, run_id, tmp_path / "bank.html")
    assert "Supervised on" in html.read_text()
    db.close()


def test_mall_customers_smoke(tmp_path) -> None:
    path = shared("mall_customers", "Mall_Customers.csv")
    db = pipeline.open_db(tmp_path / "mall.duckdb")
    pipeline.ingest(
        db,
        Source(path=str(path)),
        kind="users",
        mapping=UserMapping(user_id="ID", columns=["Annual", "Spend"]),
    )
    pipeline.features(db)
    _, seg = pipeline.fit(db, FitConfig(random_state=0))
    assert seg.n_segments_ == 5  # the well-known five groups on income x spending score
    db.close()


@pytest.mark.slow
def test_online_retail_refit_keeps_segment_ids(tmp_path) -> None:
    """Fit on the first four months, refit on all nine: matched segments keep their ids."""
    folder = shared("online_retail", "by-day")
    first = sorted(p for p in folder.glob("*.csv") if p.name < "2011-04-01")
    assert first, "no files before April 2011"
    db = pipeline.open_db(tmp_path / "retail.duckdb")
    pipeline.ingest(
        db,
        Source(
            query="SELECT * FROM read_csv(["
            + ", ".join(f"'{p}'" for p in first)
            + "], all_varchar = true)"
        ),
        kind="events",
        mapping=RETAIL,
    )
    pipeline.features(db)
    run1, _ = pipeline.fit(db, FitConfig(stability_runs=0))
    pipeline.ingest(db, Source(path=str(folder / "*.csv")), kind="events", mapping=RETAIL)
    pipeline.features(db)
    run2, seg2 = pipeline.fit(db, FitConfig(stability_runs=0), previous_run=run1)
    matching = get_matching(db, run2)
    kept = [m for m in matching["matches"] if m["status"] == "kept"]
    assert len(kept) >= 3
    for m in kept:  # a matched segment keeps its id and its name
        assert m["segment"] == m["previous_segment"]
    names1 = {p.segment: p.name for p in load_profiles(db, run1)}
    names2 = {p.segment: p.name for p in load_profiles(db, run2)}
    for m in kept:
        # the name stays with a clearly-same group; one that changed much is named anew
        if m["jaccard"] >= SAME_NAME_JACCARD:
            assert names2[m["segment"]] == names1[m["previous_segment"]]
        elif names2[m["segment"]] != names1[m["previous_segment"]]:
            assert "named anew" in m["detail"]
    assert any(m["jaccard"] >= SAME_NAME_JACCARD for m in kept)
    counts = np.array(matching["migration"]["counts"])
    new_cols = [c != "(left)" for c in matching["migration"]["columns"]]
    assert counts[:, new_cols].sum() == len(seg2.labels_)
    print("\nmigration matrix (rows: run 1 segments, columns: run 2):")
    print(matching["migration"])
    db.close()
