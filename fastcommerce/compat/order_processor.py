"""Corrected replacement for the legacy ``OrderProcessor`` (issue 5).

The public interface of the legacy class is kept so that callers keep working::

    processor = OrderProcessor("orders_stream.jsonl")
    processor.process_orders()
    processor.generate_daily_report()    # list of row dicts (was a pandas DataFrame)
    processor.get_top_customers(limit=10)  # list of (customer_id, revenue)
    processor.save_results("processed_orders.json")

What changed, and why, is documented bug by bug in ``DEBUGGING.md`` at the root of
the repository. In short, this version:

* streams the JSON Lines file in binary, decodes each line as UTF-8 and never stops
  on a bad line: every rejected line is kept in :attr:`OrderProcessor.rejected`
  and logged with its file, line number and reason;
* accepts the four order variants of the data contract (canonical web, legacy v1,
  mobile, api v3) and rejects unknown shapes as ``unknown_schema``;
* parses money exactly with :class:`decimal.Decimal` (never ``float``);
* counts an exact re-delivery once, and resolves each order from the set of its
  events (data contract section 5) so that the result never depends on the order
  of the lines;
* writes results atomically, with no wall-clock time in the data.

Only the standard library and ``structlog`` are used. Logging goes through
``structlog.get_logger(__name__)`` and is configured only when the module runs as a
script.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any

import structlog

__all__ = [
    "OrderProcessor",
    "REVENUE_STATUSES",
    "STATUSES",
    "main",
]

log = structlog.get_logger(__name__)

#: Order statuses of the data contract, in tie-break order (section 5).
STATUSES: tuple[str, ...] = ("pending", "confirmed", "shipped", "delivered", "cancelled", "refunded")
#: Statuses whose orders count as revenue.
REVENUE_STATUSES: frozenset[str] = frozenset({"confirmed", "shipped", "delivered"})

_STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}
_REQUIRED_FIELDS = ("order_id", "customer_id", "timestamp", "items", "status")
_CENT = Decimal("0.01")
_TOTAL_TOLERANCE = Decimal("0.01")
# Unit prices at or above 10**15 are refused: with no upper bound a value such as
# 1e999999999 would make exact addition build a coefficient of a billion digits.
_MAX_PRICE_ADJUSTED_EXPONENT = 14
_MAX_RAW_CHARS = 4096
_UTF8_BOM = b"\xef\xbb\xbf"
_ASCII_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# ISO-8601 with a "T", seconds, optional fraction and a mandatory "Z" or +HH:MM offset.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)

# Exact arithmetic: maximal precision, and any rounding raises instead of happening.
# Every money operation goes through this context (the default one rounds to 28 digits).
_EXACT = Context(
    prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact]
)

# Error codes of the data contract (section 4) used by this module.
MALFORMED_RECORD = "malformed_record"
UNKNOWN_SCHEMA = "unknown_schema"
MISSING_FIELD = "missing_field"
INVALID_TIMESTAMP = "invalid_timestamp"
INVALID_ITEM = "invalid_item"
INVALID_STATUS = "invalid_status"
TOTAL_MISMATCH = "total_mismatch"
UNSUPPORTED_CURRENCY = "unsupported_currency"

# Variant names.
CANONICAL = "canonical"
LEGACY_V1 = "legacy_v1"
MOBILE = "mobile"
API_V3 = "api_v3"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One order line in canonical form."""

    product_id: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        """``quantity x unit_price``, computed exactly."""
        return _EXACT.multiply(Decimal(self.quantity), self.unit_price)


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
        total = Decimal(0)
        for item in self.items:
            total = _EXACT.add(total, item.amount)
        return total

    def resolution_key(self) -> tuple[datetime, int, bytes]:
        """Sort key of data contract section 5: greatest wins."""
        return (self.timestamp, _STATUS_RANK[self.status], self.raw)


class _OrderState:
    """Running state of one order: the winning event, the placed time, the event count."""

    __slots__ = ("current", "placed_at", "events")

    def __init__(self, event: OrderEvent) -> None:
        self.current = event
        self.placed_at = event.timestamp
        self.events = 1

    def absorb(self, event: OrderEvent) -> None:
        self.events += 1
        if event.timestamp < self.placed_at:
            self.placed_at = event.timestamp
        if event.resolution_key() > self.current.resolution_key():
            self.current = event


class _Rejection(Exception):
    """Internal: a record is rejected with one or more (code, detail) errors."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = list(errors)


# --------------------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _strip_terminator(line: bytes) -> bytes:
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    return line


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _describe(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return type(value).__name__


def _detect_variant(record: Mapping[str, Any]) -> str | None:
    """Return the variant of ``record`` (data contract section 1), or None if unknown."""
    if "schema_version" in record:
        version = record["schema_version"]
        if type(version) is not int:  # noqa: E721 - bool and Decimal are not versions
            return None
        if version == 3:
            return API_V3
        if version == 2 and "channel" in record:
            return CANONICAL
        if version == 1 and "channel" not in record:
            return LEGACY_V1
        return None
    if "channel" not in record:
        return LEGACY_V1
    if record["channel"] == "mobile" and "customerId" in record:
        return MOBILE
    return CANONICAL


def _parse_money(value: Any, *, allow_string: bool) -> Decimal | None:
    """Parse a price exactly; None if it is not a decimal number of the accepted form."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):  # JSON numbers with a fraction (parse_float=Decimal)
        return value if value.is_finite() else None
    if allow_string and isinstance(value, str) and _ASCII_DECIMAL.fullmatch(value):
        return Decimal(value)
    return None


def _check_price(value: Decimal, where: str) -> tuple[Decimal | None, str | None]:
    """Validate a unit price; return (normalised price, None) or (None, error detail)."""
    if value < 0:
        return None, f"{where}: negative unit price {value}"
    if value.adjusted() > _MAX_PRICE_ADJUSTED_EXPONENT:
        return None, f"{where}: unit price {value} out of range"
    with localcontext(_EXACT):
        try:
            price = value.quantize(_CENT)
        except Inexact:
            return None, f"{where}: unit price {value} has more than 2 decimals"
    if not price:
        price = Decimal("0.00")  # no negative zero
    return price, None


def _parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def _parse_items(raw_items: Any, variant: str, errors: list[tuple[str, str]]) -> tuple[OrderItem, ...] | None:
    if not isinstance(raw_items, list):
        errors.append((INVALID_ITEM, f"items is {_describe(raw_items)}, not a list"))
        return None
    if not raw_items:
        errors.append((INVALID_ITEM, "items is empty"))
        return None
    price_key = "unit_price" if variant in (CANONICAL, MOBILE) else "price"
    items: list[OrderItem] = []
    ok = True
    for index, raw_item in enumerate(raw_items):
        where = f"item {index}"
        if not isinstance(raw_item, dict):
            errors.append((INVALID_ITEM, f"{where} is {_describe(raw_item)}, not an object"))
            ok = False
            continue
        product_id = raw_item.get("product_id")
        if not isinstance(product_id, str) or not product_id.strip():
            errors.append((INVALID_ITEM, f"{where}: product_id missing or not a string"))
            ok = False
        quantity = raw_item.get("quantity")
        if type(quantity) is not int or quantity <= 0:  # noqa: E721 - bool is not a quantity
            errors.append((INVALID_ITEM, f"{where}: quantity {quantity!r} is not a positive integer"))
            ok = False
        if price_key not in raw_item:
            errors.append((INVALID_ITEM, f"{where}: {price_key} missing"))
            ok = False
            continue
        raw_price = raw_item[price_key]
        if variant == API_V3:
            if not isinstance(raw_price, dict) or "amount" not in raw_price:
                errors.append((INVALID_ITEM, f"{where}: price is not an object with an amount"))
                ok = False
                continue
            currency = raw_price.get("currency")
            if not isinstance(currency, str) or not currency.strip():
                errors.append((INVALID_ITEM, f"{where}: price currency missing"))
                ok = False
            elif currency.strip().upper() != "USD":
                errors.append((UNSUPPORTED_CURRENCY, f"{where}: currency {currency!r}"))
                ok = False
            raw_price = raw_price["amount"]
        amount = _parse_money(raw_price, allow_string=variant in (MOBILE, API_V3))
        if amount is None:
            errors.append((INVALID_ITEM, f"{where}: unit price {raw_price!r} is not a decimal number"))
            ok = False
            continue
        price, problem = _check_price(amount, where)
        if problem is not None:
            errors.append((INVALID_ITEM, problem))
            ok = False
            continue
        if ok:
            items.append(OrderItem(product_id=product_id, quantity=quantity, unit_price=price))
    return tuple(items) if ok else None


def _parse_address(
    record: Mapping[str, Any], variant: str, errors: list[tuple[str, str]]
) -> tuple[tuple[str, Any], ...] | None:
    if variant == LEGACY_V1:
        address = {key: record[key] for key in ("country", "state", "city") if key in record}
    else:
        if "shipping_address" not in record or record["shipping_address"] is None:
            return None
        address = record["shipping_address"]
        if not isinstance(address, dict):
            errors.append((MALFORMED_RECORD, "shipping_address is not an object"))
            return None
        address = dict(address)
    if not address:
        return None
    address = {key: _plain(value) for key, value in address.items()}
    country = address.get("country")
    if isinstance(country, str):
        address["country"] = country.strip().upper()
    return tuple(sorted(address.items()))


def _plain(value: Any) -> Any:
    """Free-form values (addresses) with JSON numbers as written, not as money."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _parse_record(text: str, raw: bytes) -> OrderEvent:
    """Parse and upcast one decoded line; raise :class:`_Rejection` if it is not valid."""
    if not text.strip():
        raise _Rejection([(MALFORMED_RECORD, "blank line")])
    try:
        record = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        message = str(exc) if not isinstance(exc, RecursionError) else "nesting too deep"
        raise _Rejection([(MALFORMED_RECORD, f"invalid JSON: {message}")]) from None
    if not isinstance(record, dict):
        raise _Rejection([(MALFORMED_RECORD, f"JSON value is {_describe(record)}, not an object")])

    variant = _detect_variant(record)
    if variant is None:
        raise _Rejection([(UNKNOWN_SCHEMA, "record matches no known order variant")])

    customer_key = "customerId" if variant == MOBILE else "customer_id"
    values = {
        "order_id": record.get("order_id"),
        "customer_id": record.get(customer_key),
        "timestamp": record.get("timestamp"),
        "items": record.get("items"),
        "status": record.get("status"),
    }
    errors: list[tuple[str, str]] = []
    for field in _REQUIRED_FIELDS:
        if _is_empty(values[field]):
            name = customer_key if field == "customer_id" else field
            errors.append((MISSING_FIELD, f"{name} is absent or empty"))
    for field in ("order_id", "customer_id"):
        value = values[field]
        if not _is_empty(value) and not isinstance(value, str):
            errors.append((MALFORMED_RECORD, f"{field} is {_describe(value)}, not a string"))

    if variant == LEGACY_V1:
        channel: Any = "web"
    elif variant == API_V3:
        channel = record.get("channel", "api")
    else:
        channel = record.get("channel")
    if not isinstance(channel, str) or not channel.strip():
        errors.append((MALFORMED_RECORD, "channel is not a non-empty string"))

    timestamp = None
    if not _is_empty(values["timestamp"]):
        timestamp = _parse_timestamp(values["timestamp"])
        if timestamp is None:
            errors.append(
                (INVALID_TIMESTAMP, f"timestamp {values['timestamp']!r} is not ISO-8601 with an offset")
            )

    status = None
    if not _is_empty(values["status"]):
        candidate = values["status"].strip().lower() if isinstance(values["status"], str) else None
        if candidate in _STATUS_RANK:
            status = candidate
        else:
            errors.append(
                (INVALID_STATUS, f"status {values['status']!r} is not one of {', '.join(STATUSES)}")
            )

    items = None
    if not _is_empty(values["items"]):
        items = _parse_items(values["items"], variant, errors)

    address = _parse_address(record, variant, errors)

    if items is not None and "order_total" in record:
        carried = _parse_money(record["order_total"], allow_string=True)
        if carried is None:
            errors.append(
                (MALFORMED_RECORD, f"order_total {record['order_total']!r} is not a decimal number")
            )
        else:
            computed = Decimal(0)
            for item in items:
                computed = _EXACT.add(computed, item.amount)
            # Comparisons are exact; no arithmetic on the carried value, whatever its size.
            low = _EXACT.subtract(computed, _TOTAL_TOLERANCE)
            high = _EXACT.add(computed, _TOTAL_TOLERANCE)
            if not low <= carried <= high:
                errors.append(
                    (TOTAL_MISMATCH, f"order_total {carried} differs from the items' sum {computed}")
                )

    if errors:
        raise _Rejection(errors)
    assert timestamp is not None and status is not None and items is not None
    return OrderEvent(
        order_id=values["order_id"],
        customer_id=values["customer_id"],
        channel=channel,
        status=status,
        timestamp=timestamp,
        items=items,
        shipping_address=address,
        variant=variant,
        raw=raw,
    )


# --------------------------------------------------------------------------- output helpers


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _money_str(value: Decimal) -> str:
    with localcontext(_EXACT) as ctx:
        ctx.traps[Inexact] = False
        return str(value.quantize(_CENT))  # half-even, the context default


def _average(total: Decimal, count: int) -> Decimal:
    """``total / count`` rounded half-even to the cent, computed with integers (exact)."""
    cents = int(_EXACT.multiply(total, Decimal(100)))  # totals are whole cents
    quotient, remainder = divmod(cents, count)
    twice = 2 * remainder
    if twice > count or (twice == count and quotient % 2 == 1):
        quotient += 1
    return _EXACT.scaleb(Decimal(quotient), Decimal(-2))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _money_str(value)
    if isinstance(value, datetime):
        return _iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def _fsync_directory(directory: str) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- processor


class OrderProcessor:
    """Order-stream processor with the legacy interface and the data contract's rules.

    ``orders_file`` is the path of a JSON Lines order stream. ``processed_at``, if
    given, must be an aware datetime; it is written once, at the top level of
    :meth:`save_results`, and nowhere else. Nothing else in the results depends on
    the wall clock.
    """

    def __init__(self, orders_file: str | os.PathLike[str], *, processed_at: datetime | None = None) -> None:
        if processed_at is not None:
            if not isinstance(processed_at, datetime):
                raise TypeError("processed_at must be a datetime")
            if processed_at.tzinfo is None or processed_at.utcoffset() is None:
                raise ValueError("processed_at must be timezone-aware")
        self.orders_file = orders_file
        self.processed_at = processed_at
        #: Revenue-bearing orders (status confirmed, shipped or delivered), by order_id.
        self.processed_orders: list[dict[str, Any]] = []
        #: Rejected lines: dicts with file, line, reason, reasons, detail, raw.
        self.rejected: list[dict[str, Any]] = []
        #: Line accounting: lines_read == accepted + duplicates + rejected.
        self.stats: dict[str, int] = self._empty_stats()
        self._orders: dict[str, _OrderState] = {}
        self._processed = False

    # -- public interface -------------------------------------------------------

    def process_orders(self) -> None:
        """Read the whole stream and resolve every order; safe to call again.

        Each call starts from scratch and swaps the new state in only once the file
        has been read, so a second call gives the same result and a failed call
        (for example an unreadable file) leaves the previous result in place.
        """
        source = os.fspath(self.orders_file)
        stats = self._empty_stats()
        orders: dict[str, _OrderState] = {}
        rejected: list[dict[str, Any]] = []
        seen: set[bytes] = set()

        with open(source, "rb") as stream:
            for line_number, line in enumerate(stream, start=1):
                stats["lines_read"] += 1
                raw = _strip_terminator(line)
                if line_number == 1 and raw.startswith(_UTF8_BOM):
                    raw = raw[len(_UTF8_BOM) :]
                digest = hashlib.blake2b(raw, digest_size=16).digest()
                if digest in seen:
                    stats["duplicates"] += 1
                    continue
                seen.add(digest)
                try:
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise _Rejection([(MALFORMED_RECORD, f"invalid UTF-8 at byte {exc.start}")]) from None
                    event = _parse_record(text, raw)
                except _Rejection as rejection:
                    stats["rejected"] += 1
                    rejected.append(self._rejection_entry(source, line_number, raw, rejection.errors))
                    continue
                stats["accepted"] += 1
                state = orders.get(event.order_id)
                if state is None:
                    orders[event.order_id] = _OrderState(event)
                else:
                    state.absorb(event)

        stats["orders"] = len(orders)
        stats["revenue_orders"] = sum(1 for s in orders.values() if s.current.status in REVENUE_STATUSES)
        self._orders = orders
        self.rejected = rejected
        self.stats = stats
        self.processed_orders = [order for order in self._order_dicts() if order["revenue_bearing"]]
        self._processed = True
        log.info("orders_processed", file=source, **stats)

    def generate_daily_report(self) -> list[dict[str, Any]]:
        """Revenue per UTC order date and channel, one dict per row.

        Row keys: ``date`` (:class:`datetime.date`), ``channel``, ``orders`` (distinct
        revenue-bearing orders), ``revenue`` (exact :class:`~decimal.Decimal`),
        ``avg_order_value`` (revenue / orders, rounded half-even to the cent) and
        ``customers`` (distinct customers). Sorted by date, then channel. An empty
        stream gives ``[]``.
        """
        self._ensure_processed()
        groups: dict[tuple[date, str], list[OrderEvent]] = defaultdict(list)
        for state in self._orders.values():
            if state.current.status in REVENUE_STATUSES:
                groups[(state.placed_at.date(), state.current.channel)].append(state.current)
        rows = []
        for (order_date, channel), events in sorted(groups.items()):
            revenue = Decimal(0)
            for event in events:
                revenue = _EXACT.add(revenue, event.total)
            rows.append(
                {
                    "date": order_date,
                    "channel": channel,
                    "orders": len(events),
                    "revenue": revenue,
                    "avg_order_value": _average(revenue, len(events)),
                    "customers": len({event.customer_id for event in events}),
                }
            )
        return rows

    def get_top_customers(self, limit: int = 10) -> list[tuple[str, Decimal]]:
        """The ``limit`` customers with the most revenue, as ``(customer_id, revenue)``.

        Sorted by revenue descending, then customer_id ascending, so ties are stable.
        ``limit`` must be a non-negative integer.
        """
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int, not {type(limit).__name__}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        self._ensure_processed()
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for state in self._orders.values():
            event = state.current
            if event.status in REVENUE_STATUSES:
                totals[event.customer_id] = _EXACT.add(totals[event.customer_id], event.total)
        ranked = sorted(totals.items(), key=lambda pair: pair[0])
        ranked.sort(key=lambda pair: pair[1], reverse=True)  # stable: ties stay by customer_id
        return ranked[:limit]

    def save_results(self, output_file: str | os.PathLike[str]) -> None:
        """Write the results as JSON, atomically.

        The document is serialised in memory first, written to a temporary file in
        the destination's directory, flushed and fsynced, then moved over the
        destination with :func:`os.replace`. A failure at any point leaves the
        previous file untouched. Money is written as strings with 2 decimals,
        datetimes as ISO-8601 UTC (``...Z``), dates as ``YYYY-MM-DD``.
        """
        self._ensure_processed()
        document: dict[str, Any] = {
            "source": os.fspath(self.orders_file),
            "stats": dict(self.stats),
            "daily_report": self.generate_daily_report(),
            "top_customers": [
                {"customer_id": customer, "revenue": revenue}
                for customer, revenue in self.get_top_customers(limit=len(self._orders))
            ],
            "orders": self._order_dicts(),
            "rejected": self.rejected,
        }
        if self.processed_at is not None:
            document["processed_at"] = self.processed_at
        payload = (
            json.dumps(_jsonable(document), indent=2, sort_keys=True, ensure_ascii=True) + "\n"
        ).encode("ascii")

        target = os.fspath(output_file)
        directory = os.path.dirname(os.path.abspath(target))
        try:
            mode = os.stat(target).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_directory(directory)
        log.info("results_saved", file=target, orders=len(self._orders), bytes=len(payload))

    # -- helpers ------------------------------------------------------------------

    @staticmethod
    def _empty_stats() -> dict[str, int]:
        return {
            "lines_read": 0,
            "accepted": 0,
            "duplicates": 0,
            "rejected": 0,
            "orders": 0,
            "revenue_orders": 0,
        }

    def _ensure_processed(self) -> None:
        if not self._processed:
            self.process_orders()

    def _order_dicts(self) -> list[dict[str, Any]]:
        """Every resolved order as a fresh dict, sorted by order_id."""
        result = []
        for order_id in sorted(self._orders):
            state = self._orders[order_id]
            event = state.current
            result.append(
                {
                    "order_id": event.order_id,
                    "customer_id": event.customer_id,
                    "channel": event.channel,
                    "status": event.status,
                    "revenue_bearing": event.status in REVENUE_STATUSES,
                    "placed_at": state.placed_at,
                    "updated_at": event.timestamp,
                    "order_date": state.placed_at.date(),
                    "items": [
                        {
                            "product_id": item.product_id,
                            "quantity": item.quantity,
                            "unit_price": item.unit_price,
                        }
                        for item in event.items
                    ],
                    "order_total": event.total,
                    "shipping_address": dict(event.shipping_address) if event.shipping_address else None,
                    "events": state.events,
                    "variant": event.variant,
                }
            )
        return result

    @staticmethod
    def _rejection_entry(
        source: str, line_number: int, raw: bytes, errors: Iterable[tuple[str, str]]
    ) -> dict[str, Any]:
        errors = list(errors)
        text = raw.decode("utf-8", errors="backslashreplace")
        if len(text) > _MAX_RAW_CHARS:
            text = text[:_MAX_RAW_CHARS]
            truncated = True
        else:
            truncated = False
        entry = {
            "file": source,
            "line": line_number,
            "reason": errors[0][0],
            "reasons": sorted({code for code, _ in errors}),
            "detail": "; ".join(detail for _, detail in errors),
            "raw": text,
            "raw_truncated": truncated,
        }
        log.warning(
            "order_record_rejected",
            file=source,
            line=line_number,
            reason=entry["reason"],
            reasons=entry["reasons"],
            detail=entry["detail"],
        )
        return entry


# --------------------------------------------------------------------------- command line


def _format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[str(header) for header in headers]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: process a stream, print the reports, save the results."""
    parser = argparse.ArgumentParser(
        prog="python -m fastcommerce.compat.order_processor",
        description="Process a JSON Lines order stream: daily revenue, top customers, saved results.",
    )
    parser.add_argument(
        "orders_file", nargs="?", default="orders_stream.jsonl", help="order stream (JSON Lines, UTF-8)"
    )
    parser.add_argument(
        "-o", "--output", default="processed_orders.json", help="where to write the JSON results"
    )
    parser.add_argument("--top", type=int, default=10, help="how many top customers to print (default 10)")
    args = parser.parse_args(argv)
    if args.top < 0:
        parser.error("--top must be >= 0")

    processor = OrderProcessor(args.orders_file)
    try:
        processor.process_orders()
    except OSError as exc:
        print(f"error: cannot read {args.orders_file}: {exc.strerror or exc}", file=sys.stderr)
        return 1

    report = processor.generate_daily_report()
    print(
        _format_table(
            ("date", "channel", "orders", "revenue", "avg_order_value", "customers"),
            (
                (
                    row["date"].isoformat(),
                    row["channel"],
                    row["orders"],
                    _money_str(row["revenue"]),
                    _money_str(row["avg_order_value"]),
                    row["customers"],
                )
                for row in report
            ),
        )
    )
    print()
    print(
        _format_table(
            ("customer_id", "revenue"), ((c, _money_str(r)) for c, r in processor.get_top_customers(args.top))
        )
    )
    print()
    try:
        processor.save_results(args.output)
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stats = processor.stats
    print(
        f"{stats['lines_read']} lines: {stats['accepted']} accepted, {stats['duplicates']} duplicates, "
        f"{stats['rejected']} rejected; {stats['orders']} orders; results in {args.output}"
    )
    return 0


if __name__ == "__main__":
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    sys.exit(main())
