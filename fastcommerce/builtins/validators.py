"""The data contract's record-level checks (section 4), as built-in validators.

Each validator looks at one canonical record and its log row and yields
``(code, reason)`` pairs; it never raises. Checks that need the catalog as it stood at
the event's place in the log (``unknown_product``, ``price_deviation``) use the catalog
view the reader folds as it goes (``context.catalog``); the watermark's ``late_event`` is
the sales projection's, which holds that state.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ..contract import (
    CENT,
    MAX_QUANTITY,
    MAX_UNIT_PRICE,
    ORDER_REQUIRED,
    PLAUSIBLE_SINCE,
    Found,
    amount_text,
    check_order_currency,
    check_order_status,
    is_empty,
    item_problems,
    missing,
    money_problem,
)
from ..converter import parse_decimal, parse_timestamp, plain
from ..hookspecs import hookimpl
from ..validation import ValidationContext, Validator

MAX_CLOCK_SKEW = timedelta(days=1)
INVENTORY_REQUIRED = ("product_id", "available_quantity", "warehouse_location", "last_updated")
CATALOG_REQUIRED = ("product_id", "name", "category", "price")
_DIGITS = re.compile(r"[0-9]+")
MAX_ORDER_TOTAL = MAX_UNIT_PRICE * MAX_QUANTITY * 1000  # beyond it, a carried total is not plausible
# Contract `value_out_of_range`: value <= 10**14 cents, so SQLite's int64 (9.2e18) holds the sum of
# 92,233 maximum orders; see docs/limits.md for what a day of many near-maximum orders means.
MAX_ORDER_ITEMS = 10_000
MAX_ORDER_VALUE = Decimal("1000000000000.00")
# Inventory: 10**12 units per row leaves SUM over 9.2 million products inside int64.
MAX_AVAILABLE_QUANTITY = 10**12


def check_timestamp(record: dict[str, Any], field: str, ctx: ValidationContext) -> Found:
    value = record.get(field)
    if is_empty(value):
        return  # reported as missing_field
    try:
        moment = parse_timestamp(value)
    except ValueError as exc:
        yield "invalid_timestamp", f"{field}: {exc}"
        return
    recorded = ctx.record.recorded_at
    if moment - recorded > MAX_CLOCK_SKEW:
        yield "invalid_timestamp", (
            f"{field} {plain(value)} is more than one day after the time the record was recorded"
        )  # the recorded time is the log row's own column: a reason states only what the record says


def check_plausible_time(record: dict[str, Any], field: str) -> Found:
    """Beyond the contract: a time before :data:`PLAUSIBLE_SINCE` is flagged (a warning:
    the event counts). A function of the record alone; an unreadable time is
    ``invalid_timestamp``'s."""
    value = record.get(field)
    if is_empty(value):
        return
    try:
        moment = parse_timestamp(value)
    except ValueError:
        return
    if moment < PLAUSIBLE_SINCE:
        yield "implausible_timestamp", (f"{field} {plain(value)} is before {PLAUSIBLE_SINCE.date().isoformat()}: "
                                        "a placeholder more likely than a real time")


def check_order_plausible_time(record: dict[str, Any], ctx: ValidationContext) -> Found:
    yield from check_plausible_time(record, "timestamp")


def check_inventory_plausible_time(record: dict[str, Any], ctx: ValidationContext) -> Found:
    yield from check_plausible_time(record, "last_updated")


def check_order_required(record: dict[str, Any], ctx: ValidationContext) -> Found:
    yield from missing(record, ORDER_REQUIRED)  # items: [] is invalid_item, not missing


def check_order_timestamp(record: dict[str, Any], ctx: ValidationContext) -> Found:
    yield from check_timestamp(record, "timestamp", ctx)


_checked: tuple[Any, bool, Decimal | None] = (None, False, None)
"""The last items list :func:`items_valid` judged, its verdict and, when valid, its value:
several validators ask about one record's items in turn. The list itself is kept, so its
identity stays unique."""


def _judge(items: Any) -> tuple[Any, bool, Decimal | None]:
    global _checked
    last = _checked  # one read: another thread may replace it meanwhile
    if last[0] is items:
        return last
    valid = not any(True for _ in item_problems(items))
    value = sum((parse_decimal(i["unit_price"]) * i["quantity"] for i in items), Decimal(0)) if valid else None
    _checked = (items, valid, value)
    return _checked


def items_valid(items: Any) -> bool:
    """Whether :func:`item_problems` finds nothing wrong with ``items`` (validators never
    change a record, so the verdict holds while the same list is asked about)."""
    return _judge(items)[1]


def items_value(items: Any) -> Decimal | None:
    """The sum of quantity times unit price of valid ``items`` (``None`` if they are not)."""
    return _judge(items)[2]


def check_order_items(record: dict[str, Any], ctx: ValidationContext) -> Found:
    items = record.get("items")
    if items is None:
        return  # reported as missing_field
    if not items_valid(items):
        yield from item_problems(items)


def check_order_range(record: dict[str, Any], ctx: ValidationContext) -> Found:
    """Contract `value_out_of_range`: bounded so no report's sum can overflow SQLite's int64."""
    items = record.get("items")
    if not isinstance(items, list):
        return  # reported as missing_field or invalid_item
    if len(items) > MAX_ORDER_ITEMS:
        yield "value_out_of_range", (f"order has {len(items)} items, above the supported maximum "
                                     f"of {MAX_ORDER_ITEMS}")
        return
    value = items_value(items)
    if value is None:
        return  # value is only defined over valid items
    if value > MAX_ORDER_VALUE:
        yield "value_out_of_range", (f"order value {value.quantize(CENT)} is above the supported "
                                     f"maximum of {MAX_ORDER_VALUE}")


def check_order_total(record: dict[str, Any], ctx: ValidationContext) -> Found:
    """Only when the order carries a total and its items are valid; strict: 0.01 passes."""
    if "order_total" not in record or record.get("items") is None:
        return
    computed = items_value(record["items"])
    if computed is None:
        return
    try:
        total = parse_decimal(record["order_total"])
    except ValueError as exc:
        yield "total_mismatch", f"order_total {exc}"
        return
    if not total.is_finite() or abs(total) > MAX_ORDER_TOTAL:
        yield "total_mismatch", f"order_total {total} is not a plausible amount"
        return
    if abs(total - computed) > CENT:
        yield "total_mismatch", (f"order_total {amount_text(total)} differs from the items' sum "
                                 f"{amount_text(computed)}")


def check_order_address(record: dict[str, Any], ctx: ValidationContext) -> Found:
    address = record.get("shipping_address")
    if not isinstance(address, dict):
        yield "incomplete_address", "no shipping address"
        return
    country = address.get("country")  # none is allowed: the contract asks for a city, and a state in the US
    if is_empty(address.get("city")):
        yield "incomplete_address", "no city"
    if isinstance(country, str) and country.strip().upper() == "US" and is_empty(address.get("state")):
        yield "incomplete_address", "US address without a state"


def check_inventory_required(record: dict[str, Any], ctx: ValidationContext) -> Found:
    yield from missing(record, INVENTORY_REQUIRED)


def check_inventory_quantity(record: dict[str, Any], ctx: ValidationContext) -> Found:
    qty = record.get("available_quantity")
    if is_empty(qty):
        return
    if not isinstance(qty, str) or not _DIGITS.fullmatch(qty):  # plain digits: not " 5", not "5 "
        yield "invalid_quantity", f"available_quantity {plain(qty)} is not a non-negative integer"
    elif len(qty.lstrip("0")) > 13 or int(qty) > MAX_AVAILABLE_QUANTITY:  # length first: no huge int()
        shown = qty if len(qty) <= 40 else f"{qty[:20]}... ({len(qty)} digits)"
        yield "invalid_quantity", (f"available_quantity {shown} is above the supported maximum "
                                   f"of {MAX_AVAILABLE_QUANTITY}")


def check_inventory_timestamp(record: dict[str, Any], ctx: ValidationContext) -> Found:
    yield from check_timestamp(record, "last_updated", ctx)


def check_catalog_required(record: dict[str, Any], ctx: ValidationContext) -> Found:
    yield from missing(record, CATALOG_REQUIRED)


def check_catalog_values(record: dict[str, Any], ctx: ValidationContext) -> Found:
    """The contract has no code of its own for a bad catalog price or reorder point; a
    product is the catalog's item, so these are reported as ``invalid_item``."""
    if "price" in record and not is_empty(record["price"]):
        why = money_problem(record["price"])
        if why:
            yield "invalid_item", f"price {why}"
    rp = record.get("reorder_point", 0)
    if type(rp) is not int or rp < 0:
        yield "invalid_item", f"reorder_point {plain(rp)} is not a non-negative integer"
    if "active" in record and type(record["active"]) is not bool:
        yield "invalid_item", f"active {plain(record['active'])} is not true or false"


def check_order_products(record: dict[str, Any], ctx: ValidationContext) -> Found:
    """Against the catalog as it stood at the event's place in the log."""
    items = record.get("items")
    if ctx.catalog is None or not isinstance(items, list):
        return
    valid = items_valid(items)  # then every price is one money_problem accepts
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        pid = item.get("product_id")
        if not isinstance(pid, str) or is_empty(pid):
            continue  # reported as invalid_item
        product = ctx.catalog.get(pid)
        if product is None:
            yield "unknown_product", f"items[{n}].product_id {plain(pid)} is not in the catalog"
            continue
        if valid or money_problem(item.get("unit_price")) is None:
            price, listed = parse_decimal(item["unit_price"]), product.price
            if abs(price - listed) * 2 > listed:  # strictly more than 50% away
                yield "price_deviation", (
                    f"items[{n}].unit_price {amount_text(price)} is more than 50% away from the catalog "
                    f"price {amount_text(listed)}"
                )


def check_inventory_product(record: dict[str, Any], ctx: ValidationContext) -> Found:
    pid = record.get("product_id")
    if ctx.catalog is None or not isinstance(pid, str) or is_empty(pid):
        return
    if pid not in ctx.catalog:
        yield "unknown_product", f"product_id {plain(pid)} is not in the catalog"


def _v(name: str, stream: str, codes: dict[str, str], check, description: str) -> Validator:
    return Validator(name=name, stream=stream, codes=codes, check=check, description=description)


@hookimpl
def register_validators() -> list[Validator]:
    E, W = "error", "warning"
    return [
        _v("order_required_fields", "orders", {"missing_field": E}, check_order_required,
           "order_id, customer_id, timestamp, items and status are present and not empty"),
        _v("order_timestamp", "orders", {"invalid_timestamp": E}, check_order_timestamp,
           "ISO-8601 with an offset, at most one day after it was recorded"),
        _v("order_items", "orders", {"invalid_item": E}, check_order_items,
           "non-empty items; text product ids; positive integer quantities; prices >= 0 with at most 2 decimals"),
        _v("order_range", "orders", {"value_out_of_range": E}, check_order_range,
           "at most 10,000 items and a value of at most 1,000,000,000,000.00"),
        _v("order_status", "orders", {"invalid_status": E}, check_order_status,
           "one of the six statuses, case-insensitive"),
        _v("order_total", "orders", {"total_mismatch": E}, check_order_total,
           "a carried order_total is within 0.01 of the items' sum"),
        _v("order_currency", "orders", {"unsupported_currency": E}, check_order_currency,
           "every item is priced in USD"),
        _v("order_products", "orders", {"unknown_product": E, "price_deviation": W}, check_order_products,
           "every product is in the catalog (as of the event's place in the log); unit price within 50% of it"),
        _v("inventory_product", "inventory", {"unknown_product": E}, check_inventory_product,
           "the product is in the catalog (as of the row's place in the log)"),
        _v("order_plausible_time", "orders", {"implausible_timestamp": W}, check_order_plausible_time,
           "beyond the contract: a timestamp before 1990-01-01 is flagged as a likely placeholder"),
        _v("inventory_plausible_time", "inventory", {"implausible_timestamp": W}, check_inventory_plausible_time,
           "beyond the contract: a last_updated before 1990-01-01 is flagged as a likely placeholder"),
        _v("order_address", "orders", {"incomplete_address": W}, check_order_address,
           "the address has a city, and a state when in the US"),
        _v("inventory_required_fields", "inventory", {"missing_field": E}, check_inventory_required,
           "every inventory column is present and not empty"),
        _v("inventory_quantity", "inventory", {"invalid_quantity": E}, check_inventory_quantity,
           "available_quantity is plain digits"),
        _v("inventory_timestamp", "inventory", {"invalid_timestamp": E}, check_inventory_timestamp,
           "last_updated is ISO-8601 with an offset, at most one day after it was recorded"),
        _v("catalog_required_fields", "catalog", {"missing_field": E}, check_catalog_required,
           "product_id, name, category and price are present and not empty"),
        _v("catalog_values", "catalog", {"invalid_item": E}, check_catalog_values,
           "price is a number >= 0 with at most 2 decimals; reorder_point a non-negative integer"),
    ]
