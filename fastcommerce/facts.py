"""An order's facts (ids, status, time, region, lines in cents): what the canonical order
rows hold, worked out once, from the structured order the validators passed."""

from __future__ import annotations

from .events import OrderEvent, OrderFacts
from .money import to_cents
from .times import format_time


def region(country: str, state: str) -> str:
    """``US-CA``, or the country alone when there is no state."""
    return f"{country}-{state}" if state else country


def facts_from_payload(order: OrderEvent) -> OrderFacts:
    """The facts of a structured order (country upper case, region by the contract's rule)."""
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
