"""A record's verdict is a function of its bytes: a deeply nested record (with a long
decimal, which sends it to the exact stdlib parser) reads the same at ingest, on
re-derivation and in ``verify``, whatever the caller's stack depth."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from fastcommerce import Pipeline
from fastcommerce.reading import parse_exact
from fastcommerce.sources import MAX_NESTING, parse_json, too_deep

GOOD = {"order_id": "D-1", "customer_id": "C-1", "timestamp": "2024-01-15T10:00:00Z",
        "status": "confirmed", "channel": "web",
        "items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": 10.0}]}


def nested(depth: int) -> bytes:
    """An order whose ``note`` nests ``depth`` arrays around a 30-digit decimal."""
    order = dict(GOOD, order_id=f"D-{depth}")
    text = json.dumps(order)[:-1] + ', "note": ' + "[" * depth + "1." + "1" * 30 + "]" * depth + "}"
    return text.encode()


def at_depth(frames: int, fn, *args):
    """``fn(*args)`` called from ``frames`` Python frames down."""
    if frames == 0:
        return fn(*args)
    return at_depth(frames - 1, fn, *args)


def test_too_deep_counts_brackets_outside_strings_only() -> None:
    assert not too_deep(b'{"a": "' + b"[" * 2000 + b'"}')
    assert too_deep(b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1))
    assert not too_deep(b"[" * MAX_NESTING + b"]" * MAX_NESTING)


@pytest.mark.parametrize("depth", [980, MAX_NESTING + 1])
def test_a_record_too_deep_is_malformed_on_every_path_and_at_any_stack_depth(depth: int) -> None:
    raw = nested(depth)
    assert parse_json(raw)[1] == f"not valid JSON: nested deeper than {MAX_NESTING} levels"
    for frames in (0, 600, 900):
        with pytest.raises(ValueError, match="nested deeper"):
            at_depth(frames, parse_exact, raw)


def test_a_record_within_the_limit_parses_exactly_at_any_stack_depth() -> None:
    raw = nested(MAX_NESTING - 1)
    for frames in (0, 600, 900):
        value = at_depth(frames, parse_exact, raw)
        inner = value["note"]
        for _ in range(MAX_NESTING - 2):
            inner = inner[0]
        assert inner == [Decimal("1." + "1" * 30)]
        assert at_depth(frames, parse_json, raw)[1] is None


def test_the_deep_record_is_quarantined_and_verify_passes(tmp_path: Path) -> None:
    data = Path(__file__).parent.parent / "sample_data"
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(nested(980) + b"\n" + json.dumps(GOOD).encode() + b"\n")
    with Pipeline(tmp_path / "shop.db", load_entrypoints=False) as p:
        p.ingest("catalog", data / "product_catalog.json")
        p.ingest("orders", orders)
        p.project()
        reasons = [r for (r,) in p.log.db.execute(
            "SELECT reason FROM canon_problems WHERE code = 'malformed_record'").fetchall()]
        assert any(f"nested deeper than {MAX_NESTING} levels" in r for r in reasons), reasons
        assert p.log.db.execute("SELECT count(*) FROM canon_orders WHERE order_id = 'D-1'").fetchone()[0] == 1
        before = p.log.db.execute("SELECT * FROM canon_problems ORDER BY 1").fetchall()
        at_depth(800, lambda: p.decode(redecode=True))
        assert p.log.db.execute("SELECT * FROM canon_problems ORDER BY 1").fetchall() == before
        checks = at_depth(800, p.verify)
        assert checks and all(check.ok for check in checks), checks
