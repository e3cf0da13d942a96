"""Orders from marketplace partners, as a fastcommerce plugin.

A partner sends one record per status change of an order, in its own shape: version
``"mkp-1"`` (a price in cents per line, one currency for the whole order) or ``"mkp-2"``
(each line carries its own currency). Two upcasters bring both to the canonical order
shape, one step each::

    marketplace v1 (mkp-1) -> marketplace v2 (mkp-2) -> web v2 (canonical)

Every upcaster is pure (it returns a new dict and never mutates its input) and never
raises: a value it cannot convert is left as it is, so the built-in validators name what is
wrong with it. The partner's own keys (``partner``, ...) stay in the raw record in the log.

Installed, the package is found through its ``fastcommerce`` entry point; in code, pass the
module itself: ``Pipeline(db, plugins=[fastcommerce_marketplace])``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastcommerce import Schema, Upcaster, hookimpl

STREAM = "orders"
VARIANT = "marketplace"
CHANNEL = "marketplace"
SCHEMA_VERSIONS = {1: "mkp-1", 2: "mkp-2"}
"""The partner's ``schema_version`` marker for each version of the variant. A string
marker is claimed by no built-in schema (those only know integer versions)."""

STATE_TO_STATUS = {
    "AWAITING_PAYMENT": "pending",
    "ACCEPTED": "confirmed",
    "DISPATCHED": "shipped",
    "DELIVERED": "delivered",
    "CANCELLED": "cancelled",
    "RETURNED": "refunded",
    # the partner also sends the contract's own words, in upper case
    "PENDING": "pending",
    "CONFIRMED": "confirmed",
    "SHIPPED": "shipped",
    "REFUNDED": "refunded",
}
"""The partner's order states and the contract status each one is."""

Record = dict[str, Any]


def _is_marked(record: Any, marker: str) -> bool:
    if not isinstance(record, dict):
        return False
    value = record.get("schema_version")
    return type(value) is str and value == marker


def detect_v1(record: Any) -> bool:
    """A JSON object whose ``schema_version`` is the string ``"mkp-1"``."""
    return _is_marked(record, SCHEMA_VERSIONS[1])


def detect_v2(record: Any) -> bool:
    """A JSON object whose ``schema_version`` is the string ``"mkp-2"``."""
    return _is_marked(record, SCHEMA_VERSIONS[2])


def cents_to_decimal(value: Any) -> Any:
    """An amount in cents as an exact ``Decimal`` of the currency unit (``2999`` ->
    ``Decimal("29.99")``); anything that is not a number is kept for the validators.

    The decimal point is moved by changing the exponent, so no context rounding can
    happen whatever the size of the amount. Fractional cents stay exact (``2999.5`` ->
    ``29.995``), and the validators refuse the third decimal.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        return value
    sign, digits, exponent = value.as_tuple()
    return Decimal((sign, digits, exponent - 2))


def to_status(state: Any) -> Any:
    """The contract status of a partner state (case-insensitive); an unknown one is kept."""
    if not isinstance(state, str):
        return state
    return STATE_TO_STATUS.get(state.strip().upper(), state)


def upcast_v1_to_v2(record: Record) -> Record:
    """mkp-1 -> mkp-2: ``priceCents`` becomes ``unitPriceCents`` and the order's
    ``currency`` moves onto each line that does not name its own."""
    out = {k: v for k, v in record.items() if k != "currency"}
    out["schema_version"] = SCHEMA_VERSIONS[2]
    lines = record.get("lines")
    if not isinstance(lines, list):
        return out

    def line(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        new = {k: v for k, v in item.items() if k != "priceCents"}
        if "priceCents" in item and "unitPriceCents" not in item:
            new["unitPriceCents"] = item["priceCents"]
        if "currency" in record and "currency" not in item:
            new["currency"] = record["currency"]
        return new

    out["lines"] = [line(item) for item in lines]
    return out


def _item(line: Any) -> Any:
    if not isinstance(line, dict):
        return line
    item: Record = {}
    for source, target in (("sku", "product_id"), ("qty", "quantity"), ("currency", "currency")):
        if source in line:
            item[target] = line[source]
    if "unitPriceCents" in line:
        item["unit_price"] = cents_to_decimal(line["unitPriceCents"])
    return item


def _address(address: Any) -> Any:
    if not isinstance(address, dict):
        return address
    out: Record = {}
    if "countryCode" in address:
        code = address["countryCode"]
        out["country"] = code.strip().upper() if isinstance(code, str) else code
    for source, target in (("region", "state"), ("city", "city")):
        if source in address:
            out[target] = address[source]
    return out


def upcast_v2_to_web(record: Record) -> Record:
    """mkp-2 -> canonical web v2: partner keys renamed, cents to exact decimals, the
    partner's state to a contract status, channel ``marketplace``."""
    out: Record = {}
    if "orderRef" in record:
        out["order_id"] = record["orderRef"]
    buyer = record.get("buyer")
    if isinstance(buyer, dict):
        if "id" in buyer:
            out["customer_id"] = buyer["id"]
        if "address" in buyer:
            out["shipping_address"] = _address(buyer["address"])
    if "occurredAt" in record:
        out["timestamp"] = record["occurredAt"]
    out["channel"] = CHANNEL
    if "lines" in record:
        lines = record["lines"]
        out["items"] = [_item(line) for line in lines] if isinstance(lines, list) else lines
    if "state" in record:
        out["status"] = to_status(record["state"])
    if "totalCents" in record:
        out["order_total"] = cents_to_decimal(record["totalCents"])
    return out


@hookimpl
def register_schemas() -> list[Schema]:
    return [
        Schema(stream=STREAM, variant=VARIANT, version=1, detect=detect_v1,
               description='marketplace partner, schema_version "mkp-1": prices in cents, one currency per order'),
        Schema(stream=STREAM, variant=VARIANT, version=2, detect=detect_v2,
               description='marketplace partner, schema_version "mkp-2": prices in cents, a currency per line'),
    ]


@hookimpl
def register_upcasters() -> list[Upcaster]:
    return [
        Upcaster(stream=STREAM, variant=VARIANT, from_version=1, to_version=2, upcast=upcast_v1_to_v2),
        Upcaster(stream=STREAM, variant=VARIANT, from_version=2, upcast=upcast_v2_to_web,
                 to_variant="web", to_version=2),
    ]
