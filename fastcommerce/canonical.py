"""The canonical rows: each log record decoded once, at ingest, into typed tables.

The raw bytes in ``event_log`` stay the source of truth. Beside them, in the same
transaction as each appended batch, ingest writes what the record *means*: one
``canon_records`` row per log offset (its stream, whether it is quarantined, its event
time, and the decoder that produced the row), its problems, and for a valid record its
typed content (an order and its lines, an inventory reading, a catalog version). These
are the brief's "processed data": a public, queryable schema (docs/architecture.md), and
what every projection reads. Nothing here parses a raw record again.

Money is integer cents (a valid price has at most two decimals); times are the log's fixed
width UTC text (``2024-01-15T10:30:00.000000Z``), so text order is time order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from .events import (
    LAZY,
    ORDER_STATUSES,
    Event,
    InventoryLevel,
    LogRecord,
    OrderEvent,
    OrderFacts,
    Problem,
    Product,
)
from .money import to_cents
from .times import format_time

RECORDS, PROBLEMS, DECODERS = "canon_records", "canon_problems", "canon_decoders"
ORDERS, LINES, INVENTORY, CATALOG = "canon_orders", "canon_order_lines", "canon_inventory", "canon_catalog"
META = "canon_meta"
TABLES = (RECORDS, PROBLEMS, DECODERS, ORDERS, LINES, INVENTORY, CATALOG, META)
"""The canonical tables, created by the log's migrations (``eventlog.m005_canonical``)."""

RANK = {s: i for i, s in enumerate(ORDER_STATUSES)}

DDL = (
    (f"CREATE TABLE {DECODERS} (id INTEGER PRIMARY KEY, stream TEXT NOT NULL, "
    "fingerprint TEXT NOT NULL, plugins TEXT NOT NULL, UNIQUE (stream, fingerprint))"),
    (f"CREATE TABLE {RECORDS} (\"offset\" INTEGER PRIMARY KEY, stream TEXT NOT NULL, "
    "decoder INTEGER NOT NULL, quarantined INTEGER NOT NULL, event_time TEXT, recorded_date TEXT NOT NULL, "
    "latency_s INTEGER)"),
    f"CREATE INDEX {RECORDS}_decoder ON {RECORDS} (stream, decoder)",
    (f"CREATE TABLE {PROBLEMS} (\"offset\" INTEGER NOT NULL, n INTEGER NOT NULL, code TEXT NOT NULL, "
    "severity TEXT NOT NULL, reason TEXT NOT NULL, validator TEXT NOT NULL, "
    "PRIMARY KEY (\"offset\", n)) WITHOUT ROWID"),
    (f"CREATE TABLE {ORDERS} (\"offset\" INTEGER PRIMARY KEY, order_id TEXT NOT NULL, "
    "customer_id TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL, "
    "status_rank INTEGER NOT NULL, ts TEXT NOT NULL, country TEXT NOT NULL, region TEXT NOT NULL, "
    "units INTEGER NOT NULL, value_cents INTEGER NOT NULL)"),
    f"CREATE INDEX {ORDERS}_order ON {ORDERS} (order_id)",
    (f"CREATE TABLE {LINES} (\"offset\" INTEGER NOT NULL, line_no INTEGER NOT NULL, "
    "product_id TEXT NOT NULL, quantity INTEGER NOT NULL, unit_price_cents INTEGER NOT NULL, "
    "PRIMARY KEY (\"offset\", line_no)) WITHOUT ROWID"),
    (f"CREATE TABLE {INVENTORY} (\"offset\" INTEGER PRIMARY KEY, product_id TEXT NOT NULL, "
    "warehouse TEXT NOT NULL, last_updated TEXT NOT NULL, quantity INTEGER NOT NULL)"),
    (f"CREATE TABLE {CATALOG} (\"offset\" INTEGER PRIMARY KEY, product_id TEXT NOT NULL, "
    "name TEXT NOT NULL, category TEXT NOT NULL, price TEXT NOT NULL, cost TEXT, "
    "reorder_point INTEGER NOT NULL, active INTEGER NOT NULL, metadata TEXT NOT NULL)"),
    f"CREATE INDEX {CATALOG}_product ON {CATALOG} (product_id, \"offset\")",
    f"CREATE TABLE {META} (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


def facts_of(payload: OrderEvent) -> OrderFacts:
    """The storage form of a structured order (what ``canon_orders`` holds)."""
    lines = tuple((i.product_id, i.quantity, to_cents(i.unit_price)) for i in payload.items)
    address = payload.shipping_address
    if address is None or not address.country:
        country = area = ""
    else:
        country = address.country.upper()
        state = (address.state or "").strip()
        area = f"{country}-{state}" if state else country
    return OrderFacts(
        order_id=payload.order_id, customer_id=payload.customer_id, channel=payload.channel,
        status=payload.status, time=payload.timestamp, ts=format_time(payload.timestamp),
        country=country, region=area, lines=lines, units=sum(q for _, q, _ in lines),
        value_cents=sum(q * c for _, q, c in lines),
    )


@functools.lru_cache(maxsize=256)
def _day(recorded: datetime) -> str:
    """The UTC date a record was recorded on (a batch shares one recorded time)."""
    return recorded.date().isoformat()


def _metadata_text(metadata: dict[str, Any]) -> str:
    return orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS, default=str).decode()


_INT64 = 1 << 63


def _fits(event: Event) -> bool:
    """Whether every integer of the event's canonical rows fits SQLite's signed 64 bits."""
    facts = event.facts
    if facts is None and event.stream == "orders" and isinstance(event.payload, OrderEvent):
        facts = facts_of(event.payload)
    if facts is not None:
        ints = [facts.units, facts.value_cents] + [n for _, q, c in facts.lines for n in (q, c)]
    elif isinstance(event.payload, InventoryLevel):
        ints = [event.payload.available_quantity]
    elif isinstance(event.payload, Product):
        ints = [event.payload.reorder_point]
    else:
        return True
    return all(-_INT64 <= n < _INT64 for n in ints if isinstance(n, int))


class Rows:
    """The canonical rows of a batch of decoded events, gathered per table."""

    __slots__ = ("catalog", "inventory", "lines", "orders", "problems", "records")

    def __init__(self) -> None:
        self.records: list[tuple] = []
        self.problems: list[tuple] = []
        self.orders: list[tuple] = []
        self.lines: list[tuple] = []
        self.inventory: list[tuple] = []
        self.catalog: list[tuple] = []

    def tables(self) -> tuple[list[tuple], ...]:
        """The gathered rows, per table (what a decode worker sends back)."""
        return self.records, self.problems, self.orders, self.lines, self.inventory, self.catalog

    @classmethod
    def of(cls, *parts: tuple[list[tuple], ...]) -> Rows:
        """Rows made of consecutive slices' :meth:`tables`, in order."""
        rows = cls()
        for part in parts:
            for mine, theirs in zip(rows.tables(), part):
                mine.extend(theirs)
        return rows

    def add(self, event: Event, decoder: int) -> None:
        record = event.record
        offset = record.offset
        quarantined = event.quarantined
        moment = when = None
        if event.problems:
            problems = self.problems
            for n, p in enumerate(event.problems):
                problems.append((offset, n, p.code, p.severity, p.reason, p.validator))
        if not quarantined and not _fits(event):
            quarantined = True  # last line of defence: a value SQLite cannot store never wedges a batch
            code = "invalid_quantity" if event.stream == "inventory" else "value_out_of_range"
            self.problems.append((offset, len(event.problems), code, "error",
                                  "a value is beyond the 64-bit integers the tables hold", "canonical_rows"))
        if not quarantined:
            facts = event.facts
            if facts is None and event.stream == "orders" and isinstance(event.payload, OrderEvent):
                facts = facts_of(event.payload)
            if facts is not None:
                moment, when = facts.ts, facts.time
                self.orders.append((offset, facts.order_id, facts.customer_id, facts.channel, facts.status,
                                    RANK[facts.status], facts.ts, facts.country, facts.region, facts.units,
                                    facts.value_cents))
                lines = self.lines
                for n, (product, quantity, cents) in enumerate(facts.lines):
                    lines.append((offset, n, product, quantity, cents))
            else:
                payload = event.payload
                if isinstance(payload, InventoryLevel):
                    when = payload.last_updated
                    moment = format_time(when)
                    self.inventory.append((offset, payload.product_id, payload.warehouse_location, moment,
                                           payload.available_quantity))
                elif isinstance(payload, Product):
                    self.catalog.append((offset, payload.product_id, payload.name, payload.category,
                                         str(payload.price), None if payload.cost is None else str(payload.cost),
                                         payload.reorder_point, int(payload.active),
                                         _metadata_text(payload.metadata)))
                if moment is None:
                    when = event.event_time
                    moment = None if when is None else format_time(when)
        recorded = record.recorded_at
        latency = None if when is None else int((recorded - when).total_seconds())
        self.records.append((offset, record.stream, decoder, int(quarantined), moment, _day(recorded), latency))

    def write(self, conn: Any) -> None:
        """Insert every row (inside the caller's transaction)."""
        conn.executemany(f"INSERT INTO {RECORDS} VALUES (?, ?, ?, ?, ?, ?, ?)", self.records)
        for table, rows, width in ((PROBLEMS, self.problems, 6), (ORDERS, self.orders, 11),
                                   (LINES, self.lines, 5), (INVENTORY, self.inventory, 5),
                                   (CATALOG, self.catalog, 9)):
            if rows:
                conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})", rows)


def delete_offsets(conn: Any, offsets: Sequence[int]) -> None:
    """Remove the canonical rows of ``offsets`` (before they are derived again)."""
    if not offsets:
        return
    lo, hi = min(offsets), max(offsets)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _redo (\"offset\" INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM _redo")
    conn.executemany("INSERT INTO _redo VALUES (?)", [(o,) for o in offsets])
    for table in (RECORDS, PROBLEMS, ORDERS, LINES, INVENTORY, CATALOG):
        conn.execute(f'DELETE FROM {table} WHERE "offset" BETWEEN ? AND ? '
                     f'AND "offset" IN (SELECT "offset" FROM _redo)', [lo, hi])


# -- reading the rows back as typed events (for projections that fold in Python) -------


def product_of(row: Sequence[Any]) -> Product:
    """A ``canon_catalog`` row (without its offset) as a :class:`Product`."""
    product_id, name, category, price, cost, reorder_point, active, metadata = row
    return Product(product_id=product_id, name=name, category=category, price=Decimal(price),
                   cost=None if cost is None else Decimal(cost), reorder_point=reorder_point,
                   active=bool(active), metadata=orjson.loads(metadata))


def catalog_as_of(conn: Any, offset: int) -> dict[str, Product]:
    """The catalog as it stood after ``offset``: each product's latest valid version."""
    rows = conn.execute(
        f"SELECT c.product_id, name, category, price, cost, reorder_point, active, metadata FROM {CATALOG} c "
        f"JOIN (SELECT product_id, MAX(\"offset\") AS last FROM {CATALOG} WHERE \"offset\" <= ? "
        f"GROUP BY product_id) l ON c.\"offset\" = l.last ORDER BY c.product_id", [offset])
    return {row[0]: product_of(row) for row in rows}


def catalog_changes(conn: Any, after: int, upto: int) -> Iterator[tuple[int, Product]]:
    """Valid catalog versions with offsets in ``(after, upto]``, in log order."""
    for offset, *row in conn.execute(
            f"SELECT \"offset\", product_id, name, category, price, cost, reorder_point, active, metadata "
            f"FROM {CATALOG} WHERE \"offset\" > ? AND \"offset\" <= ? ORDER BY \"offset\"", [after, upto]):
        yield offset, product_of(row)


_from_text = datetime.fromisoformat


def typed_events(conn: Any, records: Iterable[LogRecord], structure_for: Any, canonical_of: Any) -> list[Event]:
    """The events of ``records`` (log rows, in log order) from their canonical rows: problems,
    order facts, inventory and catalog payloads. An order's payload is structured from its
    raw record only if a projection asks for it (``structure_for(stream)(canonical_of(record))``)."""
    records = list(records)
    if not records:
        return []
    lo, hi = records[0].offset, records[-1].offset
    between = '"offset" BETWEEN ? AND ?'
    span = [lo, hi]
    status = dict(conn.execute(f'SELECT "offset", quarantined FROM {RECORDS} WHERE {between}', span).fetchall())
    problems: dict[int, list[Problem]] = {}
    for offset, code, severity, reason, validator in conn.execute(
            f'SELECT "offset", code, severity, reason, validator FROM {PROBLEMS} WHERE {between} '
            'ORDER BY "offset", n', span):
        problems.setdefault(offset, []).append(Problem(code=code, severity=severity, reason=reason,
                                                       validator=validator))
    lines: dict[int, list[tuple[str, int, int]]] = {}
    for offset, product, quantity, cents in conn.execute(
            f'SELECT "offset", product_id, quantity, unit_price_cents FROM {LINES} WHERE {between} '
            'ORDER BY "offset", line_no', span):
        lines.setdefault(offset, []).append((product, quantity, cents))
    facts: dict[int, OrderFacts] = {}
    for offset, oid, cid, channel, st, ts, country, region, units, cents in conn.execute(
            f'SELECT "offset", order_id, customer_id, channel, status, ts, country, region, units, value_cents '
            f'FROM {ORDERS} WHERE {between}', span):
        facts[offset] = OrderFacts(oid, cid, channel, st, _from_text(ts), ts, country, region,
                                   tuple(lines.get(offset, ())), units, cents)
    payloads: dict[int, Any] = {}
    for offset, pid, warehouse, updated, quantity in conn.execute(
            f'SELECT "offset", product_id, warehouse, last_updated, quantity FROM {INVENTORY} WHERE {between}',
            span):
        payloads[offset] = InventoryLevel(product_id=pid, available_quantity=quantity,
                                          warehouse_location=warehouse, last_updated=_from_text(updated))
    for offset, product in catalog_changes(conn, lo - 1, hi):
        payloads[offset] = product
    out = []
    for record in records:
        offset = record.offset
        found = tuple(problems.get(offset, ()))
        fact = facts.get(offset)
        if fact is not None:
            out.append(Event(record=record, canonical=LAZY, payload=LAZY, problems=found, facts=fact,
                             structure=structure_for(record.stream), canonical_of=canonical_of))
        elif offset in payloads:
            out.append(Event(record=record, canonical=LAZY, payload=payloads[offset], problems=found,
                             canonical_of=canonical_of))
        elif status.get(offset, 1):
            out.append(Event(record=record, canonical=None, payload=None, problems=found))
        else:  # valid, of a stream with no typed table of its own: structured on demand
            out.append(Event(record=record, canonical=LAZY, payload=LAZY, problems=found,
                             structure=structure_for(record.stream), canonical_of=canonical_of))
    return out
