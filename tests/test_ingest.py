"""Ingest: validation, policies, exact money, and all-or-nothing writes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from userseg.config import EventMapping, RowPolicy, Source, UserMapping
from userseg.errors import ConfigError, DataError, SchemaError
from userseg.io import Database, ingest_events, ingest_users

NOW = dt.datetime(2025, 1, 1)
MAP = EventMapping(user_id="user", time="ts", event="type", amount="amount")


def _events(db: Database, path, mapping=MAP, **policy) -> object:
    return ingest_events(db, Source(path=str(path)), mapping, RowPolicy(now=NOW, **policy))


def _issue(report, kind):
    return next((i for i in report.issues if i.kind == kind), None)


@pytest.fixture
def mem() -> Database:
    return Database(":memory:")


def test_clean_log_loads_with_canonical_columns(mem, write) -> None:
    p = write(
        "e.csv",
        "user,ts,type,amount\nu1,2024-01-01 10:00:00,view,\n"
        "u1,2024-01-01 10:05:00,purchase,19.99\nu2,2024-01-02,order,5\n",
    )
    rep = _events(mem, p)
    assert (rep.rows_read, rep.rows_loaded, rep.users) == (3, 3, 2)
    assert rep.issues == []
    rows = mem.rows("SELECT user_id, ts, event, event_raw, amount FROM events ORDER BY ts")
    assert rows[0] == ("u1", dt.datetime(2024, 1, 1, 10), "view", "view", None)
    assert rows[1][2:] == ("purchase", "purchase", Decimal("19.99"))
    assert rows[2][2] == "purchase" and rows[2][3] == "order"  # raw name kept, kind mapped


def test_money_is_exact_to_the_cent(mem, write) -> None:
    amounts = ["0.10", "0.20", "0.30", "1234567.89", "0.01"] * 200
    lines = "".join(
        f"u{i % 7},2024-01-01 00:00:{i % 60:02d},purchase,{a}\n" for i, a in enumerate(amounts)
    )
    p = write("e.csv", "user,ts,type,amount\n" + lines)
    _events(mem, p, duplicates="keep")
    total = mem.scalar("SELECT sum(amount) FROM events")
    assert total == sum(Decimal(a) for a in amounts)  # 246_913_698.00 exactly, not 246913697.99999


def test_quantity_times_price(mem, write) -> None:
    p = write("e.csv", "c,t,q,p\nx,2024-01-01,3,0.001\nx,2024-01-02,-2,2.55\n")
    rep = _events(mem, p, mapping=EventMapping(user_id="c", time="t", quantity="q", price="p"))
    assert mem.rows("SELECT event, amount FROM events ORDER BY ts") == [
        ("purchase", Decimal("0.003")),
        ("refund", Decimal("-5.10")),
    ]
    assert _issue(rep, "negative_amount").count == 1


def test_negative_amounts_are_kept_as_returns(mem, write) -> None:
    p = write(
        "e.csv",
        "user,ts,type,amount\nu1,2024-01-01,purchase,10\nu1,2024-01-02,purchase,-4\n"
        "u1,2024-01-03,refund,3\n",
    )
    rep = _events(mem, p)
    assert mem.rows("SELECT event, amount FROM events ORDER BY ts") == [
        ("purchase", Decimal("10")),
        ("refund", Decimal("-4")),
        ("refund", Decimal("-3")),
    ]
    assert "returns" in _issue(rep, "negative_amount").action
    assert any("stored as negative" in n for n in rep.notes)


def test_duplicates_are_dropped_and_counted(mem, write) -> None:
    row = "u1,2024-01-01 10:00:00,purchase,5\n"
    p = write("e.csv", "user,ts,type,amount\n" + row * 3 + "u2,2024-01-01,view,\n")
    rep = _events(mem, p)
    assert _issue(rep, "duplicate_rows").count == 2
    assert mem.scalar("SELECT count(*) FROM events") == 2


def test_duplicate_event_ids_and_idempotent_append(mem, write) -> None:
    m = EventMapping(user_id="user", time="ts", event="type", event_id="id")
    p1 = write(
        "a.csv",
        "id,user,ts,type\ne1,u1,2024-01-01,view\ne1,u1,2024-01-01,view\ne2,u1,2024-01-02,view\n",
    )
    rep = _events(mem, p1, mapping=m)
    assert _issue(rep, "duplicate_rows").count == 1
    p2 = write("b.csv", "id,user,ts,type\ne2,u1,2024-01-02,view\ne3,u2,2024-01-03,view\n")
    rep2 = ingest_events(mem, Source(path=str(p2)), m, RowPolicy(now=NOW), mode="append")
    assert rep2.rows_loaded == 1  # e2 was already there
    assert mem.rows("SELECT event_id FROM events ORDER BY event_id") == [("e1",), ("e2",), ("e3",)]


def test_appending_the_same_export_without_event_ids_adds_nothing(mem, write) -> None:
    # A nightly `refresh` re-reading an export without event ids used to double the event
    # table (108,350 -> 216,700 in a trial). A row identical in every stored column to a
    # stored row is the same event; new rows still come in.
    m = EventMapping(user_id="user", time="ts", event="type", amount="amount", category="cat")
    body = (
        "user,ts,type,amount,cat\nu1,2024-01-01 10:00,purchase,5.10,toys\n"
        "u1,2024-01-02 11:00,refund,2,toys\nu2,2024-01-02 12:00,view,,\n"
    )
    p1 = write("day1.csv", body)
    ingest_events(mem, Source(path=str(p1)), m, RowPolicy(now=NOW))
    again = ingest_events(mem, Source(path=str(p1)), m, RowPolicy(now=NOW), mode="append")
    assert again.rows_loaded == 0 and mem.scalar("SELECT count(*) FROM events") == 3
    skipped = _issue(again, "already_stored")
    assert skipped.count == 3 and "identical to rows already stored" in skipped.action
    grown = write("day2.csv", body + "u2,2024-01-03 09:00,purchase,7,books\n")
    rep = ingest_events(mem, Source(path=str(grown)), m, RowPolicy(now=NOW), mode="append")
    assert rep.rows_loaded == 1 and mem.scalar("SELECT count(*) FROM events") == 4


def test_missing_ids_future_and_bad_dates_are_dropped_with_examples(mem, write) -> None:
    good = "".join(f"u{i},2024-01-01,view,\n" for i in range(300))
    p = write(
        "e.csv",
        "user,ts,type,amount\n"
        + good
        + ",2024-01-01,view,\nu1,2099-01-01,view,\nu1,31/12/2024,view,\n",
    )
    rep = _events(mem, p)
    assert _issue(rep, "missing_user_id").count == 1
    fut = _issue(rep, "future_time")
    assert fut.count == 1 and fut.examples[0]["value"] == "2099-01-01"
    bad = _issue(rep, "bad_time")
    assert bad.count == 1 and bad.examples[0] == {"row": 303, "file": str(p), "value": "31/12/2024"}
    assert "--date-format" in bad.action
    assert rep.rows_loaded == 300


def test_date_formats_timezones_and_epochs(mem, write) -> None:
    p = write(
        "e.csv",
        "user,ts\na,2024-03-01T10:00:00+02:00\nb,2024-03-01T10:00:00Z\n"
        "c,1709287200\nd,1709287200000\ne,2024-03-01\n",
    )
    _events(mem, p, mapping=EventMapping(user_id="user", time="ts"))
    got = dict(mem.rows("SELECT user_id, ts FROM events"))
    assert got["a"] == dt.datetime(2024, 3, 1, 8)  # converted to UTC
    assert got["b"] == dt.datetime(2024, 3, 1, 10)
    assert got["c"] == got["d"] == dt.datetime(2024, 3, 1, 10)
    assert got["e"] == dt.datetime(2024, 3, 1)


def test_explicit_date_format(mem, write) -> None:
    p = write("e.csv", "user,ts\na,31/12/2024 10:00\nb,01/02/2024 00:00\n")
    _events(mem, p, mapping=EventMapping(user_id="user", time="ts", date_format="%d/%m/%Y %H:%M"))
    assert dict(mem.rows("SELECT user_id, ts FROM events"))["b"] == dt.datetime(2024, 2, 1)


@pytest.mark.parametrize("bad", ["abc", "12,50", "NaN", "inf", "-Infinity", "1e308"])
def test_bad_numbers_are_counted_and_handled_by_policy(mem, write, bad) -> None:
    good = "".join(f"u{i},2024-01-01,purchase,{i}.50\n" for i in range(200))
    p = write("e.csv", "user,ts,type,amount\n" + good + f'u9,2024-01-02,purchase,"{bad}"\n')
    rep = _events(mem, p)
    issue = _issue(rep, "bad_number")
    assert issue.count == 1 and issue.column == "amount"
    assert issue.examples[0]["value"] == bad and issue.examples[0]["row"] == 201
    assert rep.rows_loaded == 200
    # impute: the row stays, the amount is missing
    mem2 = Database(":memory:")
    rep2 = _events(mem2, p, on_bad_value="impute")
    assert rep2.rows_loaded == 201
    assert mem2.scalar("SELECT count(*) FROM events WHERE amount IS NULL") == 1


def test_reject_policy_writes_nothing(mem, write) -> None:
    mem.execute("CREATE TABLE events AS SELECT 'old' AS user_id")
    good = "".join(f"u{i},2024-01-01,purchase,1\n" for i in range(200))
    p = write("e.csv", "user,ts,type,amount\n" + good + "u9,2024-01-02,purchase,abc\n")
    with pytest.raises(DataError) as err:
        _events(mem, p, on_bad_value="reject")
    msg = err.value.message
    assert "import rejected, nothing written" in msg and "'amount'" in msg and "'abc'" in msg
    assert err.value.details["issues"][0]["kind"] == "bad_number"
    assert mem.rows("SELECT * FROM events") == [("old",)]  # the previous table is untouched
    assert not mem.table_exists("__raw_events")


def test_too_many_bad_rows_fail_whatever_the_policy(mem, write) -> None:
    p = write(
        "e.csv",
        "user,ts,type,amount\n"
        + "u1,2024-01-01,purchase,1\n" * 10
        + "u1,2024-01-01,purchase,x\n" * 2,
    )
    with pytest.raises(
        DataError, match=r"2 of 12 rows \(16.7%\) have bad values, over the 1% limit"
    ):
        _events(mem, p)
    assert not mem.table_exists("events")


def test_missing_column_lists_available(mem, write) -> None:
    p = write("e.csv", "customer,when\nu1,2024-01-01\n")
    with pytest.raises(SchemaError) as err:
        _events(mem, p, mapping=EventMapping(user_id="user", time="when"))
    assert "user (for user_id)" in err.value.message
    assert "Available columns: customer, when" in err.value.message
    assert err.value.details == {"missing": ["user"], "available": ["customer", "when"]}


def test_unknown_event_names_are_reported(mem, write) -> None:
    p = write("e.csv", "user,ts,type\nu1,2024-01-01,view\nu1,2024-01-01,wishlist\n")
    rep = _events(mem, p, mapping=EventMapping(user_id="user", time="ts", event="type"))
    issue = _issue(rep, "unknown_event")
    assert issue.count == 1 and "'wishlist' (1)" in issue.action


def test_float_written_ids_are_normalised(mem, write) -> None:
    p = write("e.csv", "user,ts\n17850.0,2024-01-01\n17850,2024-01-02\n 42 ,2024-01-02\n")
    rep = _events(mem, p, mapping=EventMapping(user_id="user", time="ts"))
    assert rep.users == 2
    assert sorted(u for (u,) in mem.rows("SELECT DISTINCT user_id FROM events")) == ["17850", "42"]


def test_all_ids_missing(mem, write) -> None:
    p = write("e.csv", "user,ts\n,2024-01-01\n")
    with pytest.raises(DataError, match="has no user ids"):
        _events(mem, p, mapping=EventMapping(user_id="user", time="ts"))


def test_bad_mode_and_quantity_without_price(mem, write) -> None:
    p = write("e.csv", "user,ts\nu,2024-01-01\n")
    with pytest.raises(ConfigError, match="mode"):
        ingest_events(
            mem, Source(path=str(p)), EventMapping(user_id="user", time="ts"), mode="merge"
        )
    with pytest.raises(ConfigError, match="quantity needs price"):
        ingest_events(
            mem, Source(path=str(p)), EventMapping(user_id="user", time="ts", quantity="q")
        )
    # amount and price together: amount silently won and quantity × price was lost (a trial)
    both = EventMapping(user_id="user", time="ts", amount="p", price="p", quantity="q")
    with pytest.raises(ConfigError, match=r"map either the amount .* or the price"):
        ingest_events(mem, Source(path=str(p)), both)
    assert not mem.table_exists("events")


def test_returns_from_quantity_times_price_name_both_columns(mem, write) -> None:
    p = write("e.csv", "user,ts,q,p\nu1,2024-01-01,2,3.5\nu1,2024-01-02,-1,3.5\n")
    m = EventMapping(user_id="user", time="ts", quantity="q", price="p")
    rep = _events(mem, p, mapping=m)
    assert _issue(rep, "negative_amount").column == "q × p"


def test_missing_columns_hint_at_the_delimiter_and_the_user_id(mem, write) -> None:
    # found by a trial: a wrong --delimiter or a forgotten --user-id gave only "column(s)
    # not found", with every header pasted as one column
    p = write("e.csv", "CustomerID,InvoiceDate,Quantity\n17850,12/1/2010 8:26,6\n")
    wrong = Source(path=str(p), delimiter=";")
    with pytest.raises(SchemaError, match=r"looks ','-separated .* pass --delimiter ','"):
        ingest_events(mem, wrong, EventMapping(user_id="CustomerID", time="InvoiceDate"))
    with pytest.raises(SchemaError, match=r"--user-id \('CustomerID' looks like one\)"):
        ingest_events(mem, Source(path=str(p)), EventMapping(time="InvoiceDate"))


# -- user tables ---------------------------------------------------------------------------


def test_user_table_kinds_names_and_detected_id(mem, write) -> None:
    p = write(
        "u.csv",
        "Customer ID,Browsing Time,purchase.frequency,plan,joined,email\n"
        "c1,12.5,3,gold,2024-01-03,a@x.io\nc2,,1,basic,2024-02-01,b@x.io\n"
        "c3,7,2,basic,2024-03-01,c@x.io\n",
    )
    rep = ingest_users(mem, Source(path=str(p)))
    assert rep.columns["user_id"] == "Customer ID"
    kinds = dict(mem.rows("SELECT column_name, kind FROM userseg_columns"))
    assert kinds == {
        "browsing_time": "numeric",
        "purchase_frequency": "numeric",
        "plan": "categorical",
        "joined": "date",
        "email": "categorical",
    }
    assert mem.rows("SELECT user_id, browsing_time FROM users ORDER BY user_id") == [
        ("c1", 12.5),
        ("c2", None),
        ("c3", 7.0),
    ]


def test_identifier_like_columns_are_kept_out(mem, write) -> None:
    rows = "".join(f"u{i},{i % 5},person{i}@mail.com\n" for i in range(120))
    p = write("u.csv", "id,score,email\n" + rows)
    rep = ingest_users(mem, Source(path=str(p)))
    assert any("email" in n and "not used as a feature" in n for n in rep.notes)
    assert mem.scalar("SELECT usable FROM userseg_columns WHERE column_name = 'email'") is False


def test_duplicate_users_are_merged(mem, write) -> None:
    p = write("u.csv", "user_id,age,region\nu1,,north\nu2,30,south\nu1,41,\n")
    rep = ingest_users(mem, Source(path=str(p)))
    assert _issue(rep, "duplicate_user_id").count == 1
    assert mem.rows("SELECT * FROM users ORDER BY user_id") == [
        ("u1", 41.0, "north"),
        ("u2", 30.0, "south"),
    ]


def test_event_log_read_as_user_table_gets_a_hint(mem, write) -> None:
    rows = "".join(f"u{i % 3},2024-01-{1 + i % 28:02d},view\n" for i in range(30))
    p = write("e.csv", "user_id,ts,type\n" + rows)
    rep = ingest_users(mem, Source(path=str(p)))
    assert _issue(rep, "duplicate_user_id").count == 27
    hint = [n for n in rep.notes if "--kind events" in n]
    assert hint and "--time ts" in hint[0] and "27 of 30 rows" in hint[0]
    # a few duplicates in a real user table are merged without the hint
    p = write("u.csv", "user_id,age\nu1,3\nu2,4\nu1,5\n")
    assert not [n for n in ingest_users(mem, Source(path=str(p))).notes if "--kind" in n]


def test_users_without_id_beside_events_get_a_warning(mem, write) -> None:
    ev = write("e.csv", "user,ts\nalice,2024-01-01\n")
    _events(mem, ev, mapping=EventMapping(user_id="user", time="ts"))
    p = write("u.csv", "browsing_time,rating_score\n1,3\n4,6\n")
    rep = ingest_users(mem, Source(path=str(p)))
    assert any("--user-id" in n and "cannot be matched" in n for n in rep.notes)
    # without an event log there is nothing to join to and no warning
    other = Database(":memory:")
    assert not [n for n in ingest_users(other, Source(path=str(p))).notes if "--user-id" in n]


def test_user_bad_values_impute_by_default_drop_or_reject(mem, write) -> None:
    body = "".join(f"u{i},{i}\n" for i in range(150)) + "ux,lots\n"
    p = write("u.csv", "user_id,visits\n" + body)
    rep = ingest_users(mem, Source(path=str(p)))
    issue = _issue(rep, "bad_number")
    assert issue.count == 1 and issue.examples[0]["value"] == "lots"
    assert mem.scalar("SELECT visits FROM users WHERE user_id = 'ux'") is None
    with pytest.raises(DataError, match="import rejected"):
        ingest_users(
            Database(":memory:"), Source(path=str(p)), policy=RowPolicy(on_bad_value="reject")
        )
    other = Database(":memory:")
    ingest_users(other, Source(path=str(p)), policy=RowPolicy(on_bad_value="drop"))
    assert other.scalar("SELECT count(*) FROM users") == 150


def test_users_without_id_are_numbered(mem, write) -> None:
    p = write("u.csv", "browsing_time,purchase_frequency,rating_score\n1,2,3\n4,5,6\n")
    rep = ingest_users(mem, Source(path=str(p)))
    assert "numbered by row" in rep.notes[0]
    assert [u for (u,) in mem.rows("SELECT user_id FROM users ORDER BY 1")] == ["1", "2"]


def test_user_mapping_errors(mem, write) -> None:
    p = write("u.csv", "id,a\n1,2\n")
    with pytest.raises(SchemaError, match="nope"):
        ingest_users(mem, Source(path=str(p)), UserMapping(user_id="nope"))
    with pytest.raises(SchemaError, match="zz"):
        ingest_users(mem, Source(path=str(p)), UserMapping(columns=["zz"]))


# -- issue 9 (items 6 and 10): what a trial on real data found ---------------------------------


def _purchase_log(write, repeats: int = 40) -> tuple[object, Decimal, Decimal]:
    """An order-line log without an id column, where some lines repeat for real.

    Shaped like a retail export: a customer who scans the same item twice in one
    invoice gets two identical lines. Returns the path, the total money and the
    money of the repeated lines.
    """
    lines, total, repeated = [], Decimal(0), Decimal(0)
    for i in range(2000):
        price = Decimal(f"{1 + i % 17}.{i % 100:02d}")
        qty = 1 + i % 4
        when = f"2024-03-{1 + i % 28:02d} 10:{i % 60:02d}"
        line = f"5{i // 4:05d},SKU{i % 37},{qty},{when},{price},c{i % 90}"
        lines.append(line)
        total += qty * price
        if i % (2000 // repeats) == 0:  # the same line again: a genuine repeat purchase
            lines.append(line)
            total += qty * price
            repeated += qty * price
    body = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n" + "\n".join(lines)
    return write("retail.csv", body + "\n"), total, repeated


RETAIL = EventMapping(
    user_id="CustomerID",
    time="InvoiceDate",
    quantity="Quantity",
    price="UnitPrice",
    order_id="InvoiceNo",
)


def test_dropped_duplicates_say_how_much_money_and_keep_duplicates_keeps_it(mem, write) -> None:
    # issue 9 item 6: 255 genuine repeat purchases ($4,332.88) vanished with one table line
    p, total, repeated = _purchase_log(write)
    rep = _events(mem, p, mapping=RETAIL)
    dup = _issue(rep, "duplicate_rows")
    assert dup.count == 40
    assert f"{repeated:,.2f}" in dup.action  # the money the dropped rows carried
    warn = [n for n in rep.warnings if "--keep-duplicates" in n]
    assert warn and f"{repeated:,.2f}" in warn[0] and "repeat purchases" in warn[0]
    assert mem.scalar("SELECT sum(amount) FROM events") == total - repeated

    kept = Database(":memory:")
    rep = _events(kept, p, mapping=RETAIL, duplicates="keep")
    assert _issue(rep, "duplicate_rows") is None and rep.rows_loaded == 2040
    assert kept.scalar("SELECT sum(amount) FROM events") == total  # every cent
    assert not rep.warnings


def test_a_few_dropped_duplicates_with_little_money_get_no_warning(mem, write) -> None:
    p, _, _ = _purchase_log(write, repeats=1)  # one repeat, < 0.1 % of the money
    rep = _events(mem, p, mapping=RETAIL)
    assert _issue(rep, "duplicate_rows").count == 1
    assert not rep.warnings


def test_user_table_reports_missing_out_of_range_and_unparsed_dates(mem, write) -> None:
    # issue 9 item 10: a marketing table's import said nothing about missing incomes,
    # birth years before 1900 or a dd-mm-yyyy date column that became a 663-level category
    rows = []
    for i in range(300):
        income = "" if i % 25 == 0 else str(30000 + 97 * i)
        year = {7: "1893", 8: "1899"}.get(i, str(1940 + i % 60))
        day = f"{1 + i % 28:02d}-{1 + i % 12:02d}-{2012 + i % 3}"
        rows.append(f"{1000 + i},{year},{income},{day},{'Single' if i % 2 else 'Married'}")
    p = write(
        "marketing.csv",
        "ID,Year_Birth,Income,Dt_Customer,Marital_Status\n" + "\n".join(rows) + "\n",
    )
    rep = ingest_users(mem, Source(path=str(p)))
    missing = _issue(rep, "missing_value")
    assert missing.column == "Income" and missing.count == 12
    old = _issue(rep, "out_of_range")
    assert old.column == "Year_Birth" and old.count == 2
    assert {e["value"] for e in old.examples} == {"1893", "1899"}
    dates = _issue(rep, "unparsed_date")
    assert dates.column == "Dt_Customer" and dates.count == 300
    assert "--date-format '%d-%m-%Y'" in dates.action
    # with the format the column is a date and the issue is gone
    again = ingest_users(
        Database(":memory:"), Source(path=str(p)), UserMapping(date_format="%d-%m-%Y")
    )
    assert _issue(again, "unparsed_date") is None
