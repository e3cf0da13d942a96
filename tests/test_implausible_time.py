"""One order dated 0001-01-01 (a placeholder) gets a warning of its own and does not stretch
the inventory report's default period (issue 17, item 4n)."""

from __future__ import annotations

import json
from datetime import date

from fastcommerce import Pipeline

CATALOG = [{"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 10.00, "reorder_point": 5}]
WEB = {"order_id": "ORD-1", "customer_id": "CUST-1", "timestamp": "2024-01-15T10:30:00Z", "channel": "web",
       "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": 10.00}],
       "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"}, "status": "confirmed"}
INVENTORY = [{"product_id": "PROD-001", "available_quantity": "40", "warehouse_location": "WH-SF",
              "last_updated": "2024-01-15T00:00:00Z"}]


def shop(tmp_path, *placeholders: str) -> Pipeline:
    p = Pipeline(tmp_path / "x.db", load_entrypoints=False)
    p.ingest_records("catalog", CATALOG)
    p.ingest_records("inventory", INVENTORY + [INVENTORY[0] | {"warehouse_location": "WH-NY", "last_updated": ts}
                                               for ts in placeholders])
    orders = [WEB, WEB | {"order_id": "ORD-2", "timestamp": "2024-01-17T09:00:00Z"}]
    orders += [WEB | {"order_id": f"ORD-P{n}", "timestamp": ts} for n, ts in enumerate(placeholders)]
    p.ingest_records("orders", [json.dumps(o) for o in orders])
    return p


def test_a_placeholder_timestamp_is_a_warning_of_its_own_and_still_counts(tmp_path):
    with shop(tmp_path, "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z") as p:
        events = {e.payload.order_id: e for e in p.events(stream="orders")}
        for oid in ("ORD-P0", "ORD-P1"):
            assert not events[oid].quarantined
            assert [w.code for w in events[oid].warnings] == ["implausible_timestamp"]
        assert not events["ORD-1"].warnings
        assert "before 1990-01-01" in events["ORD-P0"].warnings[0].reason
        readings = [e for e in p.events(stream="inventory") if e.warnings]
        assert len(readings) == 2 and {w.code for e in readings for w in e.warnings} == {"implausible_timestamp"}
        quality = p.report("quality")
        assert quality.summary["codes"]["implausible_timestamp"] == {"severity": "warning", "records": 4}
        assert p.report("revenue", on=date(1, 1, 1)).summary["orders"] == 1  # a warning: the event counts


def test_the_default_inventory_period_is_not_stretched_by_a_placeholder_date(tmp_path):
    with shop(tmp_path, "0001-01-01T00:00:00Z") as p:
        report = p.report("inventory")
        assert (report.summary["from"], report.summary["to"], report.summary["days"]) == ("2024-01-15", "2024-01-17", 3)
        [row] = report.rows
        assert row["units_sold"] == 4 and str(row["avg_daily_units"]) == "1.33"
        # asked for, the whole range is still there
        wide = p.report("inventory", start=date(1, 1, 1), end=date(2024, 1, 17))
        assert wide.summary["days"] == (date(2024, 1, 17) - date(1, 1, 1)).days + 1 and wide.rows[0]["units_sold"] == 6


def test_only_placeholder_dates_still_give_a_period(tmp_path):
    p = Pipeline(tmp_path / "x.db", load_entrypoints=False)
    p.ingest_records("catalog", CATALOG)
    p.ingest_records("inventory", INVENTORY)
    p.ingest_records("orders", [json.dumps(WEB | {"timestamp": "1900-01-01T00:00:00Z"})])
    assert p.report("inventory").summary["from"] == "1900-01-01"
    p.close()
