"""The wrapper's order events and the state of one order (data contract section 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..events import ORDER_STATUSES, REVENUE_STATUSES
from . import exact

STATUSES: tuple[str, ...] = ORDER_STATUSES
"""Order statuses of the data contract, in tie-break order."""
__all__ = ["REVENUE_STATUSES", "STATUSES", "OrderEvent", "OrderItem", "OrderState"]
_RANK = {status: rank for rank, status in enumerate(STATUSES)}


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One order line in canonical form."""

    product_id: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        """``quantity x unit_price``, computed exactly."""
        return exact.amount(self.quantity, self.unit_price)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One valid order event, upcast to the canonical shape."""

    order_id: str
    customer_id: str
    channel: str
    status: str
    timestamp: datetime  # aware, UTC
    items: tuple[OrderItem, ...]
    shipping_address: tuple[tuple[str, Any], ...] | None
    variant: str
    raw: bytes  # the record's bytes, line terminator aside

    @property
    def total(self) -> Decimal:
        """Sum of the item amounts, computed exactly."""
        return exact.total(item.amount for item in self.items)

    def resolution_key(self) -> tuple[datetime, int, bytes]:
        """Sort key of data contract section 5: greatest wins (time, then status, then raw)."""
        return (self.timestamp, _RANK[self.status], self.raw)


class OrderState:
    """Running state of one order: the winning event, the placed time, the event count."""

    __slots__ = ("current", "events", "placed_at")

    def __init__(self, event: OrderEvent) -> None:
        self.current = event
        self.placed_at = event.timestamp
        self.events = 1

    def absorb(self, event: OrderEvent) -> None:
        self.events += 1
        self.placed_at = min(self.placed_at, event.timestamp)
        if event.resolution_key() > self.current.resolution_key():
            self.current = event

    @property
    def revenue_bearing(self) -> bool:
        return self.current.status in REVENUE_STATUSES
