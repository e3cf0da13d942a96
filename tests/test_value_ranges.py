"""Issue 15 item 5: a value the tables cannot hold is quarantined at decode, and no record
stops a projection (contract codes value_out_of_range and invalid_quantity)."""

from __future__ import annotations

import orjson

INV = {"product_id": "PROD-001", "warehouse_location": "W1", "last_updated": "2024-01-15T06:00:00Z"}


def order(oid: str, items: int, qty: int = 10**6, price: float = 10000000.0) -> bytes:
    return orjson.dumps({"order_id": oid, "customer_id": "C1", "timestamp": "2024-01-15T10:30:00Z",
                         "channel": "web", "status": "confirmed",
                         "shipping_address": {"country": "US", "state": "CA", "city": "SF"},
                         "items": [{"product_id": "PROD-001", "quantity": qty, "unit_price": price}] * items})


def problems(p, stream):
    """Each record's problems, unknown_product aside (these tests load no catalog)."""
    return [[(x.code, x.reason) for x in e.problems if x.code != "unknown_product"]
            for e in p.events(stream=stream)]


def test_huge_orders_are_out_of_range_and_projections_go_on(pipeline):
    big = order("BIG", 9300)
    assert len(big) > 500_000
    day = [order(f"D{n}", 100) for n in range(100)]
    pipeline.ingest_records("orders", [big, *day, order("OK", 1, qty=2, price=29.99)])
    found = problems(pipeline, "orders")
    assert found[0] == [("value_out_of_range", ("order value 93000000000000000.00 is above the supported "
                                                 "maximum of 1000000000000.00"))]
    assert all(f and f[0][0] == "value_out_of_range" for f in found[1:101])
    assert found[101] == []
    pipeline.project()
    assert pipeline.report("quality") is not None
    assert all(check.ok for check in pipeline.verify())


def test_inventory_beyond_the_tables_is_invalid_quantity(pipeline):
    rows = [dict(INV, available_quantity=q) for q in ("9999999999999999999", "9223372036854775807", "7")]
    pipeline.ingest_records("inventory", rows)
    found = problems(pipeline, "inventory")
    assert found[0] == [("invalid_quantity", ("available_quantity 9999999999999999999 is above the "
                                              "supported maximum of 1000000000000"))]
    assert found[1][0][0] == "invalid_quantity"
    assert found[2] == []
    pipeline.project()
    assert pipeline.report("inventory") is not None
    assert all(check.ok for check in pipeline.verify())


def test_a_good_order_after_bad_ones_is_projected(pipeline, tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_bytes(b'{"products": [{"product_id": "PROD-001", "name": "Mug", "category": "home", '
                        b'"price": 29.99}]}')
    pipeline.ingest("catalog", catalog)
    pipeline.ingest_records("orders", [order("BIG", 9300), order("OK", 1, qty=2, price=29.99)])
    pipeline.project()
    rows = pipeline.report("revenue").rows
    assert [r["orders"] for r in rows] == [1]
