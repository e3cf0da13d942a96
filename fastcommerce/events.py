"""Immutable event objects: what the log holds and what readers get back.

``LogRecord`` is a row of the log exactly as stored. ``Event`` is a log record after it
has been read, upcast to the canonical shape and validated. The payload classes
(``OrderEvent``, ``InventoryLevel``, ``Product``) are the canonical shapes of the three
streams; money is ``Decimal`` and every timestamp is timezone-aware.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, NamedTuple

import attrs

ORDER_STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled", "refunded")
"""The six order statuses, in the contract's tie-break order."""
REVENUE_STATUSES = frozenset({"confirmed", "shipped", "delivered"})
"""The statuses whose orders count toward revenue (data contract section 5)."""


@attrs.frozen(kw_only=True, slots=True)
class OrderItem:
    product_id: str
    quantity: int
    unit_price: Decimal
    currency: str = "USD"


def _lower(value: str) -> str:
    return value.strip().lower()


def _upper(value: str) -> str:
    return value.strip().upper()


@attrs.frozen(kw_only=True, slots=True)
class Address:
    # the contract asks an address for a city (and a state in the US), not for a country:
    # without one, the order's country and region are empty
    country: str | None = attrs.field(default=None, converter=attrs.converters.optional(_upper))
    state: str | None = None
    city: str | None = None


@attrs.frozen(kw_only=True, slots=True)
class OrderEvent:
    """One status change of an order, carrying the whole order as it stands."""

    event_type: ClassVar[str] = "order.status_changed"
    schema_version: ClassVar[int] = 2

    order_id: str
    customer_id: str
    timestamp: datetime
    channel: str
    items: tuple[OrderItem, ...]
    status: str = attrs.field(converter=_lower)  # statuses are case-insensitive
    shipping_address: Address | None = None
    order_total: Decimal | None = None


@attrs.frozen(kw_only=True, slots=True)
class InventoryLevel:
    """At ``last_updated`` this warehouse held exactly ``available_quantity`` of the product."""

    event_type: ClassVar[str] = "inventory.level_reported"
    schema_version: ClassVar[int] = 1

    product_id: str
    available_quantity: int
    warehouse_location: str
    last_updated: datetime


@attrs.frozen(kw_only=True, slots=True)
class Product:
    """A product as the catalog describes it."""

    event_type: ClassVar[str] = "catalog.product_described"
    schema_version: ClassVar[int] = 1

    product_id: str
    name: str
    category: str
    price: Decimal
    cost: Decimal | None = None
    reorder_point: int = 20
    active: bool = True
    metadata: dict[str, Any] = attrs.field(factory=dict, eq=True, hash=False)


@attrs.frozen(kw_only=True, slots=True)
class Problem:
    """Something wrong with a record: a contract code, its severity and a readable reason."""

    code: str
    severity: str  # "error" quarantines the event, "warning" flags it
    reason: str
    validator: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class LogRecord(NamedTuple):
    """One row of the append-only log, as stored. (A named tuple rather than an attrs
    class: one is built for every row a replay reads, and a tuple is built in C.)"""

    offset: int
    stream: str
    content_hash: bytes
    natural_key: str | None
    event_time: datetime | None
    recorded_at: datetime
    source: str
    line: int
    variant: str | None
    schema_version: int | None
    rejected: str | None
    reason: str | None
    raw: bytes

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


class OrderFacts(NamedTuple):
    """What the sales projection needs of a valid order event, in storage form: the UTC
    time as fixed-width text, money as integer cents, the region resolved. Built once,
    when the event is read, so the projection never walks the payload. (A named tuple,
    not an attrs class: one is made per order event, and a tuple is built in C.)"""

    order_id: str
    customer_id: str
    channel: str
    status: str
    time: datetime
    ts: str
    country: str
    region: str
    lines: tuple[tuple[str, int, int], ...]  # (product_id, quantity, unit price in cents)
    units: int  # the lines' quantities, summed
    value_cents: int  # the lines' quantity x unit price, summed


LAZY: Any = type("_Lazy", (), {"__repr__": lambda self: "<lazy>"})()
"""The ``payload`` or ``canonical`` of an event built on first use (see :class:`Event`)."""


@attrs.frozen(kw_only=True, slots=True, eq=False)
class Event:
    """A log record read back: upcast to the canonical shape and validated.

    ``canonical`` is the upcast dict (``None`` when the record could not be parsed or
    matched no schema); ``payload`` is the structured canonical object, present only when
    no error-severity problem was found. A reader that has proven the record valid may
    pass ``payload=LAZY`` with a ``structure(canonical)`` function, and ``canonical=LAZY``
    with a ``canonical_of(record)`` function: each is then built on first use, so
    projections that only read ``facts`` never pay for them. ``facts`` (an
    :class:`OrderFacts` for orders, else ``None``) is a storage-ready digest of the payload.
    """

    record: LogRecord
    _canonical: dict[str, Any] | None
    _payload: Any
    problems: tuple[Problem, ...] = ()
    facts: Any = None
    _structure: Any = attrs.field(default=None, repr=False)
    _canonical_of: Any = attrs.field(default=None, repr=False)

    @property
    def canonical(self) -> dict[str, Any] | None:
        canonical = self._canonical
        if canonical is LAZY:
            canonical = self._canonical_of(self.record)
            object.__setattr__(self, "_canonical", canonical)
        return canonical

    @property
    def payload(self) -> Any:
        payload = self._payload
        if payload is LAZY:
            payload = self._structure(self.canonical)
            object.__setattr__(self, "_payload", payload)
        return payload

    def __eq__(self, other: object) -> bool:
        """Equal when the same record reads the same way (``facts`` is a digest, not compared)."""
        if not isinstance(other, Event):
            return NotImplemented
        return (self.record, self.canonical, self.payload, self.problems) == (
            other.record, other.canonical, other.payload, other.problems)

    __hash__ = None  # type: ignore[assignment]

    @property
    def offset(self) -> int:
        return self.record.offset

    @property
    def stream(self) -> str:
        return self.record.stream

    @property
    def event_time(self) -> datetime | None:
        """When it happened: from the structured payload (so a record recognised or
        fixed after ingest has its time too), else as indexed at ingest."""
        if self.facts is not None:
            return self.facts.time
        payload = self.payload
        moment = getattr(payload, "timestamp", None) or getattr(payload, "last_updated", None)
        return moment or self.record.event_time

    @property
    def quarantined(self) -> bool:
        return any(p.is_error for p in self.problems)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

