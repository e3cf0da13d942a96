"""The data contract's record rules that more than one reader applies, each stated once.

The built-in validators (:mod:`fastcommerce.builtins.validators`) and the order-processing
wrapper (:mod:`fastcommerce.compat`) both judge an order by these: what counts as empty,
the required fields, the item and money rules, the statuses and the currency. Kept in the
core so the wrapper needs no built-in plugin, and the plugin imports them from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .converter import parse_decimal, plain
from .events import ORDER_STATUSES
from .money import CENT
from .validation import ValidationContext

__all__ = ["CENT", "MAX_QUANTITY", "MAX_UNIT_PRICE", "ORDER_REQUIRED", "PLAUSIBLE_SINCE", "Found", "amount_text",
           "check_order_currency", "check_order_status", "is_empty", "item_problems", "missing",
           "money_problem"]

Found = Iterator[tuple[str, str]]
"""What a rule yields: ``(code, reason)`` pairs."""

ORDER_REQUIRED = ("order_id", "customer_id", "timestamp", "items", "status")
# Beyond the contract: an event time before this is taken for a placeholder (0001-01-01,
# 1900-01-01, the Unix epoch 1970-01-01), not a sale or a stock count: warning
# ``implausible_timestamp``, and the inventory report's default period leaves such dates out.
PLAUSIBLE_SINCE = datetime(1990, 1, 1, tzinfo=UTC)
# Beyond the contract: bounds that keep every amount an exact 64-bit count of cents in the
# daily aggregates (10**6 units of a 10**7-dollar product is 10**15 cents per line).
MAX_UNIT_PRICE = Decimal(10) ** 7
MAX_QUANTITY = 10**6


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def missing(record: dict[str, Any], fields: tuple[str, ...]) -> Found:
    for name in fields:
        value = record.get(name, missing)
        if value is missing:
            yield "missing_field", f"{name} is absent"
        elif value is None or (isinstance(value, str) and not value.strip()):  # is_empty, inlined: hot
            yield "missing_field", f"{name} is empty"


def amount_text(amount: Decimal) -> str:
    """One text per value in reasons (29.9, 29.90 and 29.900 all read 29.90), so the same
    record in another shape or number format gets the same reason."""
    try:
        cents = amount.quantize(CENT)
    except ArithmeticError:
        return str(amount)
    return str(cents) if cents == amount else str(amount.normalize())


def money_problem(value: Any, *, maximum: Decimal = MAX_UNIT_PRICE) -> str | None:
    """Why ``value`` is not a valid unit price, or ``None``: a number, not negative, at
    most two decimals judged on the value (29.990 is 29.99), at most ``maximum``."""
    if type(value) is Decimal and value.is_finite():
        amount = value  # what the exact parser gives: no conversion
    elif isinstance(value, str):
        return f"{plain(value)} is a string, not a number"
    else:
        try:
            amount = parse_decimal(value)
        except ValueError as exc:
            return str(exc)
    if amount < 0:
        return f"{amount_text(amount)} is negative"
    if amount > maximum:
        return f"{amount_text(amount)} is above the supported maximum of {maximum}"
    if amount != amount.quantize(CENT, rounding=ROUND_DOWN):  # bounded above: quantize is exact
        return f"{amount_text(amount)} has more than 2 decimals"
    return None


def item_problems(items: Any, *, max_quantity: int | None = MAX_QUANTITY,
                  max_price: Decimal = MAX_UNIT_PRICE) -> Found:
    """The contract's item rules. The bounds keep the log's sums in 64 bits; code that sums
    exactly and stores nothing (``fastcommerce.compat``) passes its own."""
    if not isinstance(items, list):
        yield "invalid_item", f"items is {type(items).__name__}, not a list"
        return
    if not items:
        yield "invalid_item", "items is empty"
        return
    for n, item in enumerate(items):
        where = f"items[{n}]"
        if not isinstance(item, dict):
            yield "invalid_item", f"{where} is not an object"
            continue
        pid = item.get("product_id")
        if is_empty(pid):
            yield "invalid_item", f"{where} has no product_id"
        elif not isinstance(pid, str):
            yield "invalid_item", f"{where}.product_id {plain(pid)} is not a string"
        qty = item.get("quantity")
        if type(qty) is not int or qty <= 0:
            yield "invalid_item", f"{where}.quantity {plain(qty)} is not a positive integer"
        elif max_quantity is not None and qty > max_quantity:
            yield "invalid_item", f"{where}.quantity {qty} is above the supported maximum of {max_quantity}"
        if "unit_price" not in item:
            yield "invalid_item", f"{where} has no unit price"
        else:
            why = money_problem(item["unit_price"], maximum=max_price)
            if why:
                yield "invalid_item", f"{where}.unit_price {why}"


def check_order_status(record: dict[str, Any], ctx: ValidationContext) -> Found:
    status = record.get("status")
    if is_empty(status):
        return
    if not isinstance(status, str) or status.strip().lower() not in ORDER_STATUSES:
        yield "invalid_status", f"status {plain(status)} is not one of {', '.join(ORDER_STATUSES)}"


def check_order_currency(record: dict[str, Any], ctx: ValidationContext) -> Found:
    items = record.get("items")
    if not isinstance(items, list):
        return
    for n, item in enumerate(items):
        if isinstance(item, dict) and "currency" in item:
            cur = item["currency"]
            if not isinstance(cur, str) or cur.strip().upper() != "USD":
                yield "unsupported_currency", f"items[{n}] is priced in {plain(cur)}; only USD is supported"
