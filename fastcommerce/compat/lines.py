"""One line of an order stream: the order event it holds, or why it is rejected.

The rules are the shop's, each stated once elsewhere: the variant is detected and upcast
to the canonical shape by the built-in plugins' schemas and upcasters (collected through
the plugin manager into a :class:`~fastcommerce.upcasting.SchemaRegistry`, as ingest does),
timestamps are read by :func:`fastcommerce.converter.parse_timestamp`, money by
:func:`fastcommerce.converter.parse_decimal`, and the required fields, items, status and
currency are checked by the rules of :mod:`fastcommerce.contract`, which the built-in
validators apply too. What is the wrapper's own, and why, is in the small functions below.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

from .. import contract
from ..converter import parse_decimal, parse_timestamp
from ..money import CENT
from ..plugins import collect, make_plugin_manager
from ..upcasting import SchemaRegistry
from ..validation import ValidationContext
from . import exact
from .records import OrderEvent, OrderItem

MALFORMED_RECORD = "malformed_record"
UNKNOWN_SCHEMA = "unknown_schema"
INVALID_TIMESTAMP = "invalid_timestamp"
INVALID_ITEM = "invalid_item"
TOTAL_MISMATCH = "total_mismatch"

MAX_UNIT_PRICE = Decimal("999999999999999.99")
"""The wrapper's own bound, below 10**15 (DEBUGGING.md): it sums exactly and stores
nothing, so the log's 64-bit bounds do not apply, but ``1e999999999`` must not make an
exact sum of a billion digits."""

VARIANTS = {"web": "canonical", "legacy": "legacy_v1", "mobile": "mobile", "api": "api_v3"}
"""The orders plugin's variants under the names the saved results have used since issue 5."""

_STREAM = "orders"
# The validators the wrapper calls look at the record only; the wrapper has no log row to
# give them (the rule that needs one, a clock skew against the recorded time, does not apply).
_NO_ROW = cast(ValidationContext, None)


@functools.cache
def _registry() -> SchemaRegistry:
    """The built-in plugins' variants and upcasters, as a pipeline without entry points
    loads them (once per process, on the first line read)."""
    pm = make_plugin_manager(load_entrypoints=False)
    return SchemaRegistry(collect(pm, "register_schemas"), collect(pm, "register_upcasters"))


class Rejection(Exception):
    """A record is rejected with one or more ``(code, detail)`` errors; the first is its reason."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = list(errors)


def parse_line(text: str, raw: bytes) -> OrderEvent:
    """Parse and upcast one decoded line; raise :class:`Rejection` if it is not valid."""
    record = _json_object(text)
    registry = _registry()
    schema = registry.detect(_STREAM, record)
    if schema is None:
        raise Rejection([(UNKNOWN_SCHEMA, "record matches no known order variant")])
    canonical = registry.upcast(_STREAM, schema.variant, schema.version, record)
    errors = list(_problems(canonical))
    if errors:
        raise Rejection(errors)
    return OrderEvent(
        order_id=canonical["order_id"],
        customer_id=canonical["customer_id"],
        channel=canonical["channel"],
        status=canonical["status"].strip().lower(),
        timestamp=parse_timestamp(canonical["timestamp"]),
        items=tuple(OrderItem(product_id=i["product_id"], quantity=i["quantity"], unit_price=_price(i["unit_price"]))
                    for i in canonical["items"]),
        shipping_address=_address(canonical.get("shipping_address")),
        variant=VARIANTS.get(schema.variant, schema.variant),
        raw=raw,
    )


def _problems(c: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every problem of a canonical record, in the order the wrapper has always reported
    them (the first is the rejection's reason)."""
    yield from contract.missing(c, contract.ORDER_REQUIRED)
    yield from _not_text(c)
    if not contract.is_empty(c.get("timestamp")):
        try:
            parse_timestamp(c["timestamp"])
        except ValueError as exc:
            yield INVALID_TIMESTAMP, f"timestamp {exc}"
    yield from contract.check_order_status(c, _NO_ROW)
    items_ok = False
    if not contract.is_empty(c.get("items")):
        found = list(contract.item_problems(c["items"], max_quantity=None, max_price=MAX_UNIT_PRICE))
        found += contract.check_order_currency(c, _NO_ROW)
        yield from found
        items_ok = not found
    address = c.get("shipping_address")
    if address is not None and not isinstance(address, dict):
        yield MALFORMED_RECORD, "shipping_address is not an object"
    if items_ok and "order_total" in c:
        yield from _total_problem(c["order_total"], c["items"])


def _json_object(text: str) -> dict[str, Any]:
    """Exact numbers (``Decimal``), no NaN or Infinity, and a depth that fails as a
    rejection, not a crash: the standard library's parser, so the wrapper runs anywhere."""
    if not text.strip():
        raise Rejection([(MALFORMED_RECORD, "blank line")])
    try:
        record = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        message = str(exc) if not isinstance(exc, RecursionError) else "nesting too deep"
        raise Rejection([(MALFORMED_RECORD, f"invalid JSON: {message}")]) from None
    if not isinstance(record, dict):
        raise Rejection([(MALFORMED_RECORD, f"JSON value is {describe(record)}, not an object")])
    return record


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _not_text(c: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Ids and the channel must be text: the log refuses them when it structures the event
    (``malformed_record``), the wrapper here."""
    for field in ("order_id", "customer_id"):
        value = c.get(field)
        if not contract.is_empty(value) and not isinstance(value, str):
            yield MALFORMED_RECORD, f"{field} is {describe(value)}, not a string"
    channel = c.get("channel")
    if not isinstance(channel, str) or not channel.strip():
        yield MALFORMED_RECORD, "channel is not a non-empty string"


def _total_problem(carried: Any, items: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """The contract's total rule, exactly at any size. A carried total that is no number
    is ``malformed_record`` here (the wrapper's code since issue 5, DEBUGGING.md B30),
    where the log says ``total_mismatch``."""
    try:
        value = parse_decimal(carried)
    except ValueError:
        yield MALFORMED_RECORD, f"order_total {carried!r} is not a decimal number"
        return
    computed = exact.total(exact.amount(i["quantity"], _price(i["unit_price"])) for i in items)
    if not exact.within_a_cent(value, computed):
        yield TOTAL_MISMATCH, f"order_total {value} differs from the items' sum {computed}"


def _price(value: Any) -> Decimal:
    """A checked unit price to the cent (29.990 is 29.99), never a negative zero."""
    price = parse_decimal(value).quantize(CENT, context=exact.EXACT)
    return price if price else Decimal("0.00")


def _address(address: Any) -> tuple[tuple[str, Any], ...] | None:
    """The address as the saved results show it: numbers as written, the country in upper case."""
    if not isinstance(address, dict) or not address:
        return None
    plain = {key: _plain(value) for key, value in address.items()}
    if isinstance(plain.get("country"), str):
        plain["country"] = plain["country"].strip().upper()
    return tuple(sorted(plain.items()))


def _plain(value: Any) -> Any:
    """Free-form values (addresses) with JSON numbers as written, not as money."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def describe(value: Any) -> str:
    """A JSON value's kind, for a reason."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return type(value).__name__
