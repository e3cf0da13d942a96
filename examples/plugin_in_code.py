"""A plugin defined in the script itself: a point-of-sale order variant and a validator.

    python examples/plugin_in_code.py [--db PATH]

``PointOfSalePlugin`` is a plain class whose ``@hookimpl`` methods register three things:

* a schema for till receipts (``"schema_version": "pos-1"``). No built-in schema claims a
  string version;
* an upcaster from that shape to the canonical web order. A sale at the till is handed
  over on the spot, so its status is ``delivered`` and its address is the store's;
* a validator that flags orders over 10,000 USD with the warning ``large_order``. It runs
  on every canonical order, whatever shape the order arrived in.

The pipeline gets the plugin as an object, ``Pipeline(db, load_entrypoints=False,
plugins=[PointOfSalePlugin()])``, so no installed package takes part. A few in-memory
records are then ingested and read back as events.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterator

import structlog

from fastcommerce import Event, Pipeline, Schema, Upcaster, ValidationContext, Validator, hookimpl

LARGE_ORDER = Decimal("10000")


def detect_pos(record: Any) -> bool:
    """A till receipt: a JSON object whose ``schema_version`` is the string ``"pos-1"``."""
    return isinstance(record, dict) and record.get("schema_version") == "pos-1"


def to_decimal_or_keep(value: Any) -> Any:
    """A decimal string becomes ``Decimal``. Anything else is kept, and the validators flag it."""
    if isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            return value
        return amount if amount.is_finite() else value
    return value


def upcast_pos(record: dict[str, Any]) -> dict[str, Any]:
    """pos v1 -> web v2. Pure: a new dict, the input left as it was, and no exceptions."""
    out: dict[str, Any] = {"channel": "pos", "status": "delivered"}
    if "receipt" in record:
        out["order_id"] = record["receipt"]
    out["customer_id"] = record.get("loyalty_id") or "WALK-IN"
    if "sold_at" in record:
        out["timestamp"] = record["sold_at"]
    basket = record.get("basket")
    if isinstance(basket, list):
        out["items"] = [
            {"product_id": line.get("sku"), "quantity": line.get("count"),
             "unit_price": to_decimal_or_keep(line.get("price"))} if isinstance(line, dict) else line
            for line in basket
        ]
    elif basket is not None:
        out["items"] = basket
    store = record.get("store")
    if isinstance(store, dict):
        out["shipping_address"] = {k: store[k] for k in ("country", "state", "city") if k in store}
    return out


def order_value(record: dict[str, Any]) -> Decimal | None:
    """The order's value, or ``None`` when its items are not valid (the built-in
    ``order_items`` validator reports those)."""
    items = record.get("items")
    if not isinstance(items, list):
        return None
    total = Decimal(0)
    for item in items:
        if not isinstance(item, dict):
            return None
        qty, price = item.get("quantity"), item.get("unit_price")
        if type(qty) is not int or isinstance(price, bool) or not isinstance(price, (int, Decimal)):
            return None
        total += qty * price
    return total


def check_large_order(record: dict[str, Any], context: ValidationContext) -> Iterator[tuple[str, str]]:
    value = order_value(record)
    if value is not None and value > LARGE_ORDER:
        yield "large_order", f"order value {value} USD is over {LARGE_ORDER} USD"


class PointOfSalePlugin:
    """Till receipts from the shops, and a large-order check on every order."""

    __name__ = "pos_example"  # the plugin's name in pipeline.plugins() and in error messages

    @hookimpl
    def register_schemas(self) -> list[Schema]:
        return [Schema(stream="orders", variant="pos", version=1, detect=detect_pos,
                       description='till receipts, "schema_version": "pos-1"')]

    @hookimpl
    def register_upcasters(self) -> list[Upcaster]:
        return [Upcaster(stream="orders", variant="pos", from_version=1, upcast=upcast_pos,
                         to_variant="web", to_version=2)]

    @hookimpl
    def register_validators(self) -> list[Validator]:
        return [Validator(name="large_order", stream="orders", codes={"large_order": "warning"},
                          check=check_large_order, description=f"orders worth over {LARGE_ORDER} USD")]


# the catalog comes first: orders are checked against it (unknown_product, price_deviation)
CATALOG: list[dict[str, Any]] = [
    {"product_id": "PROD-001", "name": "Mug", "category": "kitchen", "price": 29.99},
    {"product_id": "PROD-007", "name": "Sticker", "category": "office", "price": 4.50},
    {"product_id": "PROD-LAPTOP", "name": "Laptop", "category": "computers", "price": 3999.00},
    {"product_id": "PROD-SERVER", "name": "Server", "category": "computers", "price": 12500.00},
]

STORE = {"id": "STORE-SF-01", "country": "US", "state": "CA", "city": "San Francisco"}

RECORDS: list[Any] = [
    # a small sale at the till
    {"schema_version": "pos-1", "store": STORE, "receipt": "POS-0001", "loyalty_id": "CUST-042",
     "sold_at": "2024-01-15T09:12:00-08:00",
     "basket": [{"sku": "PROD-001", "count": 2, "price": "29.99"}, {"sku": "PROD-007", "count": 1, "price": "4.50"}]},
    # a walk-in customer buys three laptops: valid, with the large_order warning
    {"schema_version": "pos-1", "store": STORE, "receipt": "POS-0002",
     "sold_at": "2024-01-15T11:40:00-08:00", "basket": [{"sku": "PROD-LAPTOP", "count": 3, "price": "3999.00"}]},
    # a canonical web order is checked by the same validator
    '{"order_id": "ORD-900001", "customer_id": "CUST-7", "timestamp": "2024-01-15T20:00:00Z", "channel": "web",'
    ' "items": [{"product_id": "PROD-SERVER", "quantity": 1, "unit_price": 12500.00}],'
    ' "shipping_address": {"country": "US", "state": "NY", "city": "New York"}, "status": "confirmed"}',
    # a receipt whose price the till garbled: quarantined by the built-in item check
    {"schema_version": "pos-1", "store": STORE, "receipt": "POS-0003",
     "sold_at": "2024-01-15T12:05:00-08:00", "basket": [{"sku": "PROD-001", "count": 1, "price": "twelve"}]},
    # a newer till firmware this plugin does not know: kept in the log as unknown_schema
    {"schema_version": "pos-2", "store": STORE, "receipt": "POS-0004", "sold_at": "2024-01-15T12:30:00-08:00"},
]


def configure_logging() -> None:
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def describe(event: Event) -> str:
    shape = f"{event.record.variant} v{event.record.schema_version}" if event.record.variant else "unknown"
    head = f"offset {event.offset}  {shape:<8}"
    if event.payload is not None:
        order = event.payload
        value = sum((i.quantity * i.unit_price for i in order.items), Decimal(0))
        head += (f"  {order.order_id:<11} {order.channel:<4} {order.status:<10} customer {order.customer_id:<9}"
                 f" value {value} USD")
    elif event.canonical is not None:
        head += f"  {event.canonical.get('order_id')!s:<11}"
    lines = [head + ("  QUARANTINED" if event.quarantined else "  ok")]
    lines += [f"    {p.severity} {p.code}: {p.reason} [{p.validator}]" for p in event.problems]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="SQLite file for the log (default: a temporary file)")
    args = parser.parse_args(argv)
    configure_logging()

    with tempfile.TemporaryDirectory(prefix="fastcommerce-plugin-") as scratch:
        db = args.db or Path(scratch) / "plugin_in_code.db"
        with Pipeline(db, load_entrypoints=False, plugins=[PointOfSalePlugin()]) as pipeline:
            info = {i.name: i for i in pipeline.plugins()}["pos_example"]
            print(f"plugin {info.name}: hooks {', '.join(info.hooks)}")
            for schema in pipeline.registry.describe()["orders"]:
                if schema["plugin"] == "pos_example":
                    print(f"  orders {schema['variant']} v{schema['version']}: {' ; '.join(schema['chain'])}")

            pipeline.ingest_records("catalog", CATALOG, source="examples/plugin_in_code.py#catalog")
            start = pipeline.log.last_offset()
            summary = pipeline.ingest_records("orders", RECORDS, source="examples/plugin_in_code.py")
            print(f"ingested: read {summary.read}, appended {summary.appended}, duplicates "
                  f"{summary.duplicates}, unknown_schema {summary.unknown_schema}")
            for event in pipeline.events(from_offset=start, stream="orders"):
                print(describe(event))
    return 0


if __name__ == "__main__":
    sys.exit(main())
