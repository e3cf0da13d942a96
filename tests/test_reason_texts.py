"""Problem reasons show values as the record wrote them, and depend on the record and its
recorded time only (issue 17, item 4g): never a Python repr, never the clock's reading."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fastcommerce import Pipeline
from fastcommerce.converter import plain

CATALOG = b'[{"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 29.99}]'
WEB = {"order_id": "ORD-1", "customer_id": "CUST-1", "timestamp": "2024-01-15T10:30:00Z", "channel": "web",
       "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": 29.99}],
       "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"}, "status": "confirmed"}


def reasons(tmp_path, name: str, records: list[dict], *, now: datetime) -> list[str]:
    (tmp_path / "catalog.json").write_bytes(CATALOG)
    with Pipeline(tmp_path / f"{name}.db", load_entrypoints=False, clock=lambda: now) as p:
        p.ingest("catalog", tmp_path / "catalog.json")
        p.ingest_records("orders", [json.dumps(r) for r in records])
        return [p.reason for e in p.events(stream="orders") for p in e.problems]


def order(**changes) -> dict:
    return {**WEB, **changes}


BAD = [
    order(order_id="ORD-q", items=[{"product_id": "PROD-001", "quantity": 1.5, "unit_price": 29.99}]),
    order(order_id="ORD-s", status="lost"),
    order(order_id="ORD-p", items=[{"product_id": "PROD-404", "quantity": 1, "unit_price": 29.99}]),
    order(order_id="ORD-t", timestamp="2031-01-01T00:00:00Z"),
    order(order_id="ORD-n", customer_id=None, items=[{"product_id": None, "quantity": None, "unit_price": "x"}]),
]


def test_reasons_show_plain_values_not_python_reprs(tmp_path):
    texts = reasons(tmp_path, "a", BAD, now=datetime(2024, 1, 20, tzinfo=UTC))
    assert "items[0].quantity 1.5 is not a positive integer" in texts
    assert any(t.startswith('status "lost" is not one of') for t in texts)
    assert 'items[0].product_id "PROD-404" is not in the catalog' in texts
    assert "items[0].quantity null is not a positive integer" in texts
    for t in texts:
        assert "Decimal(" not in t and "None" not in t and "'" not in t, t


def test_a_reason_does_not_depend_on_when_the_record_was_recorded(tmp_path):
    early = datetime(2024, 1, 20, tzinfo=UTC)
    first = reasons(tmp_path, "a", BAD, now=early)
    again = reasons(tmp_path, "b", BAD, now=early + timedelta(days=400, seconds=7))
    assert first == again
    assert "timestamp \"2031-01-01T00:00:00Z\" is more than one day after the time the record was recorded" in first
    assert not any("2024-" in t or "2025-" in t for t in first)


@pytest.mark.parametrize(("value", "shown"), [
    (Decimal("1.5"), "1.5"), (None, "null"), (True, "true"), ("5 ", '"5 "'), (3, "3"),
    ({"a": [1]}, '{"a": [1]}'), (10**50, "10000000000000000000... (51 digits)"), ("x" * 100, '"' + "x" * 56 + "..."),
])
def test_plain(value, shown):
    assert plain(value) == shown


def test_a_lone_surrogate_is_shown_escaped():
    assert plain("a\ud800") == '"a\\ud800"'
    from fastcommerce.sources import parse_json

    assert parse_json(b'{"k": "\\ud800"}')[1] == ('not valid JSON text: "\\ud800" holds an unpaired surrogate, '
                                                 "which UTF-8 cannot encode")
