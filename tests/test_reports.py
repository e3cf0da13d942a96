"""Reports on a small crafted data set whose numbers are worked out by hand in the test."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner

from fastcommerce import Pipeline
from fastcommerce.cli import main
from fastcommerce.reports import customers, inventory, operations, products, quality, revenue
from fastcommerce.reports.formatting import render

CATALOG = [
    {"product_id": "P1", "name": "Mug", "category": "home", "price": 10.00, "reorder_point": 5},
    {"product_id": "P2", "name": "Pen", "category": "office", "price": 0.10},
]


def ev(oid, ts, status, items, cust="C1", channel="web", address=None):
    return {"order_id": oid, "customer_id": cust, "timestamp": ts, "channel": channel,
            "items": [{"product_id": p, "quantity": q, "unit_price": Decimal(u)} for p, q, u in items],
            "shipping_address": address or {"country": "US", "state": "CA", "city": "SF"}, "status": status}


def line(record) -> bytes:
    from fastcommerce.testing import dumps

    return dumps(record)


@pytest.fixture
def shop(tmp_path):
    db = tmp_path / "shop.db"
    p = Pipeline(db, load_entrypoints=False)
    p.ingest_records("catalog", CATALOG)
    orders = [
        # O1: placed day 15, delivered day 16 -> revenue on its order date, the 15th
        ev("O1", "2024-01-15T10:00:00Z", "pending", [("P1", 2, "10.00")]),
        ev("O1", "2024-01-15T11:00:00Z", "confirmed", [("P1", 2, "10.00")]),
        ev("O1", "2024-01-16T09:00:00Z", "delivered", [("P1", 2, "10.00")]),
        # O2: confirmed then cancelled -> no revenue
        ev("O2", "2024-01-15T12:00:00Z", "confirmed", [("P1", 1, "10.00")], cust="C2"),
        ev("O2", "2024-01-15T13:00:00Z", "cancelled", [("P1", 1, "10.00")], cust="C2"),
        # O3: mobile, GB, three pens and a mug; 0.1 + 0.2 style amounts stay exact
        ev("O3", "2024-01-16T08:00:00Z", "shipped", [("P2", 3, "0.10"), ("P1", 1, "9.99")],
           cust="C2", channel="mobile", address={"country": "gb", "city": "London"}),
        # O4: same customer as O1, day 16
        ev("O4", "2024-01-16T20:00:00Z", "confirmed", [("P2", 1, "0.20")]),
    ]
    p.ingest_records("orders", [line(o) for o in orders] + [b"{broken"])
    p.ingest_records("inventory", [
        {"product_id": "P1", "available_quantity": "10", "warehouse_location": "W1", "last_updated": "2024-01-15T06:00:00Z"},
        {"product_id": "P1", "available_quantity": "4", "warehouse_location": "W1", "last_updated": "2024-01-16T06:00:00Z"},
        {"product_id": "P1", "available_quantity": "2", "warehouse_location": "W2", "last_updated": "2024-01-16T07:00:00Z"},
        # a late batch for W1, older than the level we hold: never overwrites it
        {"product_id": "P1", "available_quantity": "99", "warehouse_location": "W1", "last_updated": "2024-01-15T23:00:00Z"},
        {"product_id": "P2", "available_quantity": "100", "warehouse_location": "W1", "last_updated": "2024-01-15T06:00:00Z"},
    ])
    p.project()
    yield p
    p.close()


def test_revenue_by_day_channel_region(shop):
    day15 = revenue(shop, on="2024-01-15")
    assert day15.rows == [{"date": "2024-01-15", "channel": "web", "country": "US", "region": "US-CA",
                           "orders": 1, "units": 2, "revenue": Decimal("20.00")}]
    day16 = revenue(shop, on="2024-01-16")
    assert [(r["channel"], r["region"], r["orders"], r["units"], r["revenue"]) for r in day16.rows] == [
        ("mobile", "GB", 1, 4, Decimal("10.29")), ("web", "US-CA", 1, 1, Decimal("0.20"))]
    assert revenue(shop).summary["from"] == "2024-01-16"  # default: the latest day with revenue


def test_top_products_by_units_and_by_revenue(shop):
    by_units = products(shop, start="2024-01-15", end="2024-01-16", by="units")
    assert [(r["product_id"], r["orders"], r["units"], r["revenue"]) for r in by_units.rows] == [
        ("P2", 2, 4, Decimal("0.50")), ("P1", 2, 3, Decimal("29.99"))]  # 4 units before 3
    by_revenue = products(shop, start="2024-01-15", end="2024-01-16", by="revenue")
    assert [(r["product_id"], r["name"], r["orders"], r["units"], r["revenue"]) for r in by_revenue.rows] == [
        ("P1", "Mug", 2, 3, Decimal("29.99")), ("P2", "Pen", 2, 4, Decimal("0.50"))]


def test_customers_repeat_rate_and_top_share(shop):
    report = customers(shop)
    assert [(r["customer_id"], r["orders"], r["revenue"]) for r in report.rows] == [
        ("C1", 2, Decimal("20.20")), ("C2", 1, Decimal("10.29"))]
    assert report.rows[0]["avg_order_value"] == Decimal("10.10")
    assert report.summary["repeat_customer_rate"] == Decimal("0.5")
    # top 10% of 2 customers is ceil(0.2) = 1 customer: C1's share of 30.49
    assert report.summary["top_10pct_revenue_share"] == (Decimal("20.20") / Decimal("30.49")).quantize(Decimal("0.0001"))


def test_inventory_levels_turnover_and_low_stock(shop):
    rows = {r["product_id"]: r for r in inventory(shop).rows}
    p1 = rows["P1"]
    # current: W1 = 4 (the late 99 is older), W2 = 2
    assert (p1["available"], p1["warehouses"], p1["units_sold"]) == (6, 2, 3)
    # period 15th..16th: closing stock day 15 = W1's 99 (23:00) = 99; day 16 = 4 + 2 = 6
    assert p1["turnover"] == (Decimal(3) / (Decimal(99 + 6) / 2)).quantize(Decimal("0.01"))
    assert p1["avg_daily_units"] == Decimal("1.50")
    assert p1["days_of_cover"] == Decimal("4.00")
    assert p1["low_stock"] is False and p1["reorder_point"] == 5
    assert rows["P2"]["reorder_point"] == 20 and rows["P2"]["low_stock"] is False


def test_quality_and_operations(shop):
    q = quality(shop)
    assert q.summary["quarantined"] == 1
    assert q.summary["codes"]["malformed_record"] == {"severity": "error", "records": 1}
    assert "incomplete_address" not in q.summary["codes"]  # O3 is in GB: no state needed
    assert q.rows[0]["source"] == "<records>" and q.rows[0]["line"] == 8
    ops = operations(shop)
    total = ops.summary
    assert total["events"] == 2 + 8 + 5 and total["quarantined"] == 1


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_every_format(shop, fmt):
    report = revenue(shop, on="2024-01-16")
    text = render(report, fmt)
    if fmt == "json":
        data = json.loads(text)
        assert set(data) == {"report", "rows", "summary"} and data["report"] == "revenue"
        assert data["rows"][0]["revenue"] == 10.29 and '"revenue": 10.29' in text
        assert list(data["rows"][0]) == ["date", "channel", "country", "region", "orders", "units", "revenue"]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["revenue"] == "10.29" and rows[1]["region"] == "US-CA"
    elif fmt == "markdown":
        assert text.splitlines()[0] == "| date | channel | country | region | orders | units | revenue |"
        # a human format: money with its currency (the exact value is in json and csv)
        assert "| 2024-01-16 | mobile | GB | GB | 1 | 4 | $10.29 |" in text
    else:
        assert "revenue report" in text and "$10.29" in text


def test_json_money_is_rounded_half_even_from_the_exact_value():
    from fastcommerce.reports.base import Report
    from fastcommerce.reports.formatting import as_json

    r = Report(name="x", rows=[{"revenue": Decimal("0.125")}, {"revenue": Decimal("0.135")}], summary={}, columns=("revenue",))
    assert [row["revenue"] for row in json.loads(as_json(r))["rows"]] == [0.12, 0.14]


def test_cli_report_options_and_verify(shop, tmp_path):
    db = str(shop.log.db.conn.execute("PRAGMA database_list").fetchone()[2])
    run = CliRunner().invoke(main, ["--db", db, "report", "products", "--from", "2024-01-15", "--to",
                                    "2024-01-16", "--by", "revenue", "--limit", "1", "--format", "json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert [r["product_id"] for r in data["rows"]] == ["P1"] and data["summary"]["by"] == "revenue"
    ok = CliRunner().invoke(main, ["--db", db, "verify"])
    assert ok.exit_code == 0 and "all projections match" in ok.output
    shop.db.execute("UPDATE sales_daily_revenue SET revenue_cents = revenue_cents + 1")
    shop.db.conn.commit()
    bad = CliRunner().invoke(main, ["--db", db, "verify", "--format", "json"])
    assert bad.exit_code == 1
    diffs = [t["table"] for t in json.loads(bad.stdout)["tables"] if not t["ok"]]
    assert diffs == ["sales_daily_revenue"]


def test_rebuild_gives_the_same_tables(shop):
    before = {t: list(shop.db.query(f"SELECT * FROM {t} ORDER BY 1, 2")) for t in ("sales_orders", "sales_daily_revenue")}
    results = shop.rebuild(["sales"])
    assert results[0].rebuilt
    after = {t: list(shop.db.query(f"SELECT * FROM {t} ORDER BY 1, 2")) for t in before}
    assert after == before


def test_rebuilding_a_projection_decodes_nothing_and_gives_the_same_tables(shop, monkeypatch):
    before = list(shop.db.query("SELECT * FROM inventory_current ORDER BY 1, 2"))
    decoded = []
    original = shop.reader.decode

    def spy(record, **kw):
        decoded.append(record.stream)
        return original(record, **kw)

    monkeypatch.setattr(shop.reader, "decode", spy)
    shop.rebuild(["inventory"])
    shop.rebuild()
    assert decoded == []  # records were decoded once, at ingest: a rebuild reads the canonical rows
    assert list(shop.db.query("SELECT * FROM inventory_current ORDER BY 1, 2")) == before


@pytest.mark.parametrize("name", ["revenue", "products", "inventory", "customers", "operations", "quality"])
def test_limit_means_the_same_in_every_report(shop, name):
    # operations and quality go by the date the events were recorded: today, here
    dates = {} if name in ("operations", "quality") else {"start": "2024-01-15", "end": "2024-01-16"}
    everything = shop.report(name, catch_up=False, limit=None, **dates)
    assert len(everything.rows) >= 1
    assert shop.report(name, catch_up=False, limit=0, **dates).rows == []
    one = shop.report(name, catch_up=False, limit=1, **dates)
    assert one.rows == everything.rows[:1]
    assert one.summary == everything.summary  # the summary is of every row, listed or not
    with pytest.raises(ValueError, match="limit"):
        shop.report(name, catch_up=False, limit=-1)


@pytest.mark.parametrize("name", ["revenue", "products", "inventory", "customers", "operations", "quality"])
def test_a_negative_limit_is_refused_even_with_no_data(tmp_path, name):
    with Pipeline(tmp_path / "empty.db", load_entrypoints=False) as p, pytest.raises(ValueError, match="limit"):
        p.report(name, limit=-1)


def test_cli_limit_shortens_revenue_and_operations(shop):
    db = str(shop.log.db.conn.execute("PRAGMA database_list").fetchone()[2])
    with Pipeline(db, load_entrypoints=False, clock=lambda: datetime(2024, 1, 17, 12, tzinfo=timezone.utc)) as late:
        late.ingest_records("orders", [line(ev("O9", "2024-01-17T10:00:00Z", "confirmed", [("P1", 1, "10.00")]))])
    for name in ("revenue", "operations"):
        full = CliRunner().invoke(main, ["--db", db, "report", name, "--from", "2024-01-15", "--format", "json"])
        cut = CliRunner().invoke(main, ["--db", db, "report", name, "--from", "2024-01-15", "--limit", "1",
                                        "--format", "json"])
        assert full.exit_code == 0 and cut.exit_code == 0, (full.output, cut.output)
        assert len(json.loads(full.stdout)["rows"]) > 1
        assert json.loads(cut.stdout)["rows"] == json.loads(full.stdout)["rows"][:1]


def test_verify_reports_a_missing_live_table_as_a_difference(shop):
    db = str(shop.log.db.conn.execute("PRAGMA database_list").fetchone()[2])
    # the command line loads the installed plugins: let it build the projections its way first
    assert CliRunner().invoke(main, ["--db", db, "project"]).exit_code == 0
    shop.db.execute("DROP TABLE sales_hourly")
    shop.db.conn.commit()
    bad = CliRunner().invoke(main, ["--db", db, "verify"])
    assert bad.exit_code == 1, bad.output
    assert "Traceback" not in bad.output
    diff = [ln for ln in bad.output.splitlines() if ln.startswith("DIFF")]
    assert len(diff) == 1 and "sales_hourly" in diff[0] and "live table missing" in diff[0]
    # with events still to apply, the other projections catch up; sales cannot, so its
    # tables are compared with a rebuild up to where they stopped, and only the missing one differs
    before = shop.log.last_offset()
    shop.ingest_records("orders", [line(ev("O8", "2024-01-16T21:00:00Z", "confirmed", [("P1", 1, "10.00")]))])
    behind = CliRunner().invoke(main, ["--db", db, "verify", "--format", "json"])
    assert behind.exit_code == 1 and "Traceback" not in behind.output, behind.output
    tables = {t["table"]: t for t in json.loads(behind.stdout)["tables"]}
    assert tables["sales_hourly"]["live_exists"] is False
    assert [t for t in tables.values() if not t["ok"]] == [tables["sales_hourly"]]
    assert tables["sales_orders"]["offset"] == before
    assert tables["quality_problems"]["offset"] == shop.log.last_offset()
    assert tables["quality_daily"]["ok"] and tables["inventory_current"]["ok"]


def test_verify_finds_a_damaged_index_that_the_rebuild_never_reads(tmp_path):
    db = tmp_path / "damaged.db"
    with Pipeline(db, load_entrypoints=False) as p:
        p.ingest_records("catalog", CATALOG)
        p.ingest_records("orders", [line(ev("O1", "2024-01-15T10:00:00Z", "confirmed", [("P1", 1, "10.00")]))])
        p.project()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_event_log_1'").fetchone()
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with open(db, "r+b") as fh:  # the index that keeps the log free of duplicates: its keys changed
        fh.seek((root - 1) * size)
        page = fh.read(size)
        assert page.count(b"orders") == 1
        fh.seek((root - 1) * size)
        fh.write(page.replace(b"orders", b"ordert"))
    result = CliRunner().invoke(main, ["--db", str(db), "verify"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{db}: the database file is damaged (SQLite's integrity check: " in result.output
    assert "missing from index sqlite_autoindex_event_log_1" in result.output


def test_inventory_lists_active_catalog_products_with_no_stock_as_low_stock(tmp_path):
    p = Pipeline(tmp_path / "stock.db", load_entrypoints=False)
    p.ingest_records("catalog", [
        *CATALOG,
        {"product_id": "P3", "name": "Cup", "category": "home", "price": 5.00, "reorder_point": 3},
        {"product_id": "P4", "name": "Old", "category": "home", "price": 5.00, "active": False},
    ])
    p.ingest_records("inventory", [
        {"product_id": "P1", "available_quantity": "10", "warehouse_location": "W1", "last_updated": "2024-01-15T06:00:00Z"},
    ])
    p.ingest_records("orders", [line(ev("O1", "2024-01-15T10:00:00Z", "confirmed", [("P2", 1, "0.10")]))])
    rows = {r["product_id"]: r for r in p.report("inventory").rows}
    assert set(rows) == {"P1", "P2", "P3"}  # stocked, sold, listed; not the inactive P4
    assert (rows["P3"]["available"], rows["P3"]["warehouses"], rows["P3"]["low_stock"]) == (0, 0, True)
    assert rows["P1"]["low_stock"] is False
    p.close()


def test_verify_compares_one_snapshot_while_another_process_ingests(shop, tmp_path):
    """Events that arrive between verify's catch-up and its copy of the database are in the
    log but not yet in the live tables: they must not show as a difference."""
    db = shop.log.db.conn.execute("PRAGMA database_list").fetchone()[2]

    class IngestedMeanwhile(Pipeline):
        def project(self, *args, **kwargs):
            done = super().project(*args, **kwargs)
            with Pipeline(db, load_entrypoints=False) as other:  # another writer, between the two steps
                other.ingest_records("orders", [line(ev("O9", "2024-01-16T22:00:00Z", "confirmed",
                                                        [("P1", 1, "10.00")]))])
            return done

    racing = IngestedMeanwhile(db, load_entrypoints=False)
    try:
        checks = racing.verify()
    finally:
        racing.close()
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert {c.offset for c in checks} == {shop.log.last_offset() - 1}  # as of before O9
    shop.project()
    assert all(c.ok for c in shop.verify())  # and O9, once applied, matches too
