"""The plain converter's fast order structuring gives exactly what cattrs gives.

``structure_order`` skips cattrs's generic dispatch for orders when no plugin configures
the converter; it must build the same :class:`OrderEvent` whenever it builds one, and
leave every other value to the converter (which then succeeds the same way or raises).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from fastcommerce.converter import (
    make_converter,
    structure_order,
    structure_order_or_convert,
)
from fastcommerce.events import OrderEvent

CONVERTER = make_converter()

odd = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
                st.text(max_size=4), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
text = st.one_of(st.sampled_from(["P1", "web", "Shipped ", "  DELIVERED", "us", ""]), st.text(max_size=6))
money = st.one_of(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-5, max_value=500),
                  st.sampled_from(["29.99", "1e3", "abc", Decimal("NaN")]), st.integers(0, 10))
stamp = st.sampled_from(["2024-01-15T10:30:00Z", "2024-01-15T10:30:00+02:00", "2024-01-15 10:30:00",
                         "2024-01-15T10:30:00", "not a time"])


def maybe(value: st.SearchStrategy) -> st.SearchStrategy:
    """A field that is usually well typed, sometimes odd, sometimes absent (``...``)."""
    return st.one_of(value, value, odd, st.just(...))


def record(fields: dict) -> st.SearchStrategy:
    return st.fixed_dictionaries({k: maybe(v) for k, v in fields.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not ...})


item = record({"product_id": text, "quantity": st.integers(-1, 5), "unit_price": money, "currency": text})
address = record({"country": text, "state": text, "city": text})
order = record({"order_id": text, "customer_id": text, "timestamp": stamp, "channel": text,
                "status": text, "items": st.lists(st.one_of(item, item, odd), max_size=3),
                "shipping_address": st.one_of(st.none(), address), "order_total": money})


def outcome(build, canonical):
    try:
        return "ok", build(canonical)
    except Exception as exc:  # noqa: BLE001  (any refusal is an outcome to compare)
        return "error", type(exc).__name__


@settings(max_examples=600, deadline=None)
@given(order)
def test_same_event_as_cattrs_or_left_to_it(canonical):
    expected = outcome(lambda c: CONVERTER.structure(c, OrderEvent), canonical)
    fast = outcome(structure_order, canonical)
    if fast[0] == "ok":  # built: it must be cattrs's very object
        assert expected == fast
    assert outcome(lambda c: structure_order_or_convert(CONVERTER, c), canonical) == expected


def test_a_well_formed_order_takes_the_fast_path():
    canonical = {"order_id": "O1", "customer_id": "C1", "timestamp": "2024-01-15T10:30:00+01:00",
                 "channel": "web", "status": " Shipped", "order_total": Decimal("59.98"),
                 "items": [{"product_id": "P1", "quantity": 2, "unit_price": Decimal("29.99")}],
                 "shipping_address": {"country": "us", "state": "CA", "city": "LA"}}
    built = structure_order(canonical)
    assert built == CONVERTER.structure(canonical, OrderEvent)
    assert built.status == "shipped" and built.shipping_address.country == "US"
    assert built.timestamp.isoformat() == "2024-01-15T09:30:00+00:00"
