"""One pass that proves a canonical order clean under the built-in validators.

The built-in order validators (``validators.py``) are written one check at a time, for
clear reasons. Running them all costs more than the rest of a replay together, and almost
every order passes them all. :func:`order_facts_if_clean` asks the same questions in one
pass over the record and answers only "clean" (with the :class:`OrderFacts` the sales
projection needs) or "not sure" (``None``). The reader then runs the real validators, so
every reason text still comes from them.

Invariant, checked by a differential property test against the validators and the
converter: whenever this returns facts, every built-in order validator reports nothing,
the converter structures the record without error, and ``facts_from_payload`` of that
payload equals the returned facts. "Not sure" is always allowed; a wrong "clean" is a bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from ..converter import parse_timestamp
from ..eventlog import format_time
from ..events import ORDER_STATUSES, LogRecord, OrderEvent, OrderFacts
from ..money import to_cents
from .validators import (
    CENT,
    MAX_CLOCK_SKEW,
    MAX_ORDER_ITEMS,
    MAX_ORDER_TOTAL,
    MAX_ORDER_VALUE,
    MAX_QUANTITY,
    MAX_UNIT_PRICE,
    check_order_address,
    check_order_currency,
    check_order_items,
    check_order_products,
    check_order_range,
    check_order_required,
    check_order_status,
    check_order_timestamp,
    check_order_total,
)

BUILTIN_ORDER_CHECKS = frozenset({
    check_order_required, check_order_timestamp, check_order_items, check_order_status,
    check_order_total, check_order_currency, check_order_products, check_order_address, check_order_range,
})
"""The checks this pass stands in for; the reader uses it only when all of them are active."""

_STATUSES = frozenset(ORDER_STATUSES)


_from_text = datetime.fromisoformat
_str, _dict, _list, _int, _float, _Decimal = str, dict, list, int, float, Decimal


def order_facts_if_clean(record: dict[str, Any], log_record: LogRecord,
                         catalog: Mapping[str, Any] | None, *, floats: bool = False,
                         warnings: list | None = None) -> OrderFacts | None:
    """The order's facts if the built-in validators would find nothing at all, else ``None``.

    Written for speed (it runs once per order event): plain type checks, no helper calls.
    With ``floats=True`` (a record parsed by orjson, not the exact parser, and upcast by
    built-in upcasters only) a float stands for the ``Decimal`` of its shortest repr,
    which is what the exact parser gives for such a record. Otherwise a float is what the
    validators see, and refuse, so this answers "not sure".

    With a ``warnings`` list, an order whose only findings are the contract's warnings
    (``incomplete_address``, ``price_deviation``) gets its facts too, and the checks that
    would word those warnings are added to the list: the caller runs just those. The other
    built-in checks are still proven silent.
    """
    get = record.get
    order_id, customer_id, status, channel = get("order_id"), get("customer_id"), get("status"), get("channel")
    if (type(order_id) is not _str or type(customer_id) is not _str or type(status) is not _str
            or type(channel) is not _str or not order_id.strip() or not customer_id.strip()):
        return None
    status = status.strip().lower()
    if status not in _STATUSES:
        return None
    stamp = get("timestamp")
    if type(stamp) is not _str:
        return None
    ts = None
    try:
        if (len(stamp) == 20 and stamp[19] == "Z" and stamp[10] == "T" and stamp[4] == stamp[7] == "-"
                and stamp[13] == stamp[16] == ":" and stamp.isascii()):
            # 2024-01-15T10:30:00Z (not a week date like 2024-W03-1T10:30:00Z, which
            # fromisoformat also reads): UTC already, and the stored form but for digits
            moment = _from_text(stamp)
            ts = stamp[:19] + ".000000Z"
        else:
            moment = parse_timestamp(stamp)
    except ValueError:
        return None
    if moment - log_record.recorded_at > MAX_CLOCK_SKEW:
        return None

    address = get("shipping_address")
    if address is None:  # no address: valid, with an empty country and region
        if warnings is None:
            return None
        warnings.append(check_order_address)
        country = state = ""
    elif type(address) is not _dict:
        return None
    else:
        country, state, city = address.get("country"), address.get("state"), address.get("city")
        if type(country) is not _str:
            return None
        country = country.strip().upper()
        if not country:
            return None
        if state is None:
            state = ""
        elif type(state) is _str:
            state = state.strip()
        else:
            return None
        if city is not None and type(city) is not _str:
            return None
        if city is None or not city.strip() or (not state and country == "US"):
            if warnings is None:
                return None
            warnings.append(check_order_address)  # no city, or in the US no state

    items = get("items")
    if type(items) is not _list or not items or len(items) > MAX_ORDER_ITEMS:
        return None
    lines = []
    units = value_cents = 0
    for item in items:
        if type(item) is not _dict:
            return None
        pid, qty, price = item.get("product_id"), item.get("quantity"), item.get("unit_price")
        if type(pid) is not _str or type(qty) is not _int or not 0 < qty <= MAX_QUANTITY or not pid.strip():
            return None
        kind = type(price)
        if kind is _float and floats:
            # A float here is the double nearest to the decimal written; the exact parser
            # would read it as Decimal(repr(price)). Within the bounds, that decimal has at
            # most two places exactly when the double nearest to round(price * 100) / 100
            # is ``price`` itself, and then the cents are round(price * 100).
            if not 0 < price <= _MAX_PRICE_FLOAT:  # 0.0 may be an underflow (1e-400): not sure
                return None
            cents = round(price * 100)
            if cents / 100 != price:
                return None
        elif kind is _int:
            if not 0 <= price <= MAX_UNIT_PRICE:
                return None
            cents = price * 100
        elif kind is _Decimal and price.is_finite():
            if price < 0 or price > MAX_UNIT_PRICE or price != price.quantize(CENT, rounding=ROUND_DOWN):
                return None
            cents = int(price * 100)
        else:
            return None
        if "currency" in item:
            currency = item["currency"]
            if type(currency) is not _str or currency.strip().upper() != "USD":
                return None
        if catalog is not None:
            product = catalog.get(pid)
            if product is None:
                return None
            cached = _LISTED.get(pid)
            listed = cached[1] if cached is not None and cached[0] is product else _remember_cents(product)
            if abs(cents - listed) * 2 > listed:  # a price_deviation warning
                if warnings is None:
                    return None
                if check_order_products not in warnings:
                    warnings.append(check_order_products)
        units += qty
        value_cents += qty * cents
        lines.append((pid, qty, cents))

    if value_cents > _MAX_VALUE_CENTS:
        return None  # value_out_of_range: not sure, the slow path says why

    if "order_total" in record:
        total = record["order_total"]
        kind = type(total)
        if kind is _float and floats:
            if total != total or total in _INFINITIES:
                return None
            total = _Decimal(repr(total))
        elif kind is _int:
            total = _Decimal(total)
        elif kind is not _Decimal or not total.is_finite():
            return None
        if abs(total) > MAX_ORDER_TOTAL or abs(total - _Decimal(value_cents) / 100) > CENT:
            return None

    if ts is None:
        ts = format_time(moment)
    return OrderFacts(order_id, customer_id, channel, status, moment, ts, country, region(country, state),
                      tuple(lines), units, value_cents)


_INFINITIES = (float("inf"), float("-inf"))
_MAX_PRICE_FLOAT = float(MAX_UNIT_PRICE)
_MAX_VALUE_CENTS = int(MAX_ORDER_VALUE * 100)


_LISTED: dict[str, tuple[Any, int | Decimal]] = {}


def _remember_cents(product: Any) -> int | Decimal:
    """A catalog price in cents: an int when whole (a valid catalog price has at most two
    places), else the exact ``Decimal``. Kept in ``_LISTED`` with the product object, which
    the caller checks by identity, so a replaced product is never answered from it."""
    cents = product.price * 100
    if cents == cents.to_integral_value():
        cents = int(cents)
    _LISTED[product.product_id] = (product, cents)
    return cents


def region(country: str, state: str) -> str:
    """``US-CA``, or the country alone when there is no state."""
    return f"{country}-{state}" if state else country


def facts_from_payload(order: OrderEvent) -> OrderFacts:
    """The same facts, from a structured order (an event read by the validators' path)."""
    lines = tuple((i.product_id, i.quantity, to_cents(i.unit_price)) for i in order.items)
    address = order.shipping_address
    if address is None or not address.country:
        country = area = ""
    else:
        country = address.country.upper()
        area = region(country, (address.state or "").strip())
    return OrderFacts(
        order_id=order.order_id, customer_id=order.customer_id, channel=order.channel,
        status=order.status, time=order.timestamp, ts=format_time(order.timestamp),
        country=country, region=area,
        lines=lines, units=sum(q for _, q, _ in lines), value_cents=sum(q * c for _, q, c in lines),
    )
