"""``ingest --follow``: a growing file, truncation and rotation, as tail -F."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from fastcommerce import Pipeline
from fastcommerce.testing import wait_for

CATALOG = b'[{"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 10.00}]'


def order(n: int, status: str = "confirmed") -> bytes:
    return orjson.dumps({
        "order_id": f"ORD-{n}", "customer_id": "CUST-1", "timestamp": f"2024-01-15T10:{n % 60:02d}:00Z",
        "channel": "web", "items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": 10}],
        "shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": status,
    }) + b"\n"


def revenue_orders(db) -> int:
    with Pipeline(db, load_entrypoints=False) as p:
        rows = p.report("revenue", catch_up=False, start="2024-01-15", end="2024-01-15").rows
    return sum(r["orders"] for r in rows)


@pytest.fixture
def follower(tmp_path):
    db = tmp_path / "f.db"
    catalog = tmp_path / "catalog.json"
    catalog.write_bytes(CATALOG)
    with Pipeline(db, load_entrypoints=False) as p:
        p.ingest("catalog", catalog)
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(order(1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastcommerce.cli", "--db", str(db), "ingest", "orders", str(orders),
         "--follow", "--poll", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": ""},
    )
    try:
        wait_for(lambda: revenue_orders(db) == 1)
        yield db, orders
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_appended_line_reaches_the_revenue_report_within_a_second(follower):
    db, orders = follower
    with open(orders, "ab") as fh:
        fh.write(order(2))
    elapsed = wait_for(lambda: revenue_orders(db) == 2)
    assert elapsed < 1.0, f"took {elapsed:.2f}s"


def test_partial_line_waits_for_its_newline(follower):
    db, orders = follower
    line = order(3)
    with open(orders, "ab") as fh:
        fh.write(line[:20])
    time.sleep(0.5)
    assert revenue_orders(db) == 1
    with open(orders, "ab") as fh:
        fh.write(line[20:])
    wait_for(lambda: revenue_orders(db) == 2)
    with Pipeline(db, load_entrypoints=False) as p:
        assert p.status()["streams"]["orders"]["rejected"] == 0  # no half line was logged as malformed


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one(follower):
    db, orders = follower
    with open(orders, "ab") as fh:
        fh.write(order(4))
    os.rename(orders, orders.with_suffix(".1"))
    with open(orders.with_suffix(".1"), "ab") as fh:  # written after the rename, before the switch
        fh.write(order(5))
    orders.write_bytes(order(6))
    wait_for(lambda: revenue_orders(db) == 4)


def test_truncation_starts_over_and_counts_known_records_as_duplicates(follower):
    db, orders = follower
    orders.write_bytes(order(7))  # truncated and rewritten (copytruncate)
    wait_for(lambda: revenue_orders(db) == 2)
    orders.write_bytes(order(1) + order(7) + order(8))
    wait_for(lambda: revenue_orders(db) == 3)
    with Pipeline(db, load_entrypoints=False) as p:
        assert p.status()["streams"]["orders"]["records"] == 3
