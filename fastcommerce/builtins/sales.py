"""The sales projection: order state, enriched order lines, daily aggregates, lateness.

Order state follows the data contract (section 5): the current status, items, customer,
channel and address are those of the valid event with the greatest timestamp; ties go to
the later status (pending < confirmed < shipped < delivered < cancelled < refunded), then
to the greater raw record byte by byte. The placed time is the smallest timestamp. Because
that resolution depends only on the *set* of valid events, the tables below do not depend
on arrival order.

Daily revenue and product sales are kept as integer-cent aggregates updated by deltas:
each batch subtracts the touched orders' old contribution and adds the new one, so a
day-end report is a lookup. Rows that fall to zero orders are deleted, so the tables are
the same whatever path led to them.

Lateness describes the arrival itself: the watermark (greatest valid order timestamp seen
in log order, minus the allowed lateness) marks older events late and records
restatements of closed days.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import attrs
import orjson
from sqlite_utils import Database

from ..eventlog import LOG_TABLE, format_time, parse_time
from ..events import ORDER_STATUSES, Event, OrderFacts, Product
from ..hookspecs import hookimpl
from ..projections import Projection

ORDERS, LINES, DAILY, PRODUCTS_DAILY = "sales_orders", "sales_order_lines", "sales_daily_revenue", "sales_daily_products"
HOURLY = "sales_hourly"
CATALOG, WATERMARK, LATE, RESTATED = "sales_catalog", "sales_watermark", "sales_late_events", "sales_restatements"
REVENUE_STATUSES = frozenset({"confirmed", "shipped", "delivered"})
RANK = {s: i for i, s in enumerate(ORDER_STATUSES)}
DEFAULT_LATENESS = timedelta(hours=1)


def create(db: Database) -> None:
    db.execute(
        f"CREATE TABLE {ORDERS} (order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
        "channel TEXT NOT NULL, status TEXT NOT NULL, country TEXT NOT NULL, region TEXT NOT NULL, "
        "placed_at TEXT NOT NULL, order_date TEXT NOT NULL, revenue_bearing INTEGER NOT NULL, "
        "units INTEGER NOT NULL, value_cents INTEGER NOT NULL, events INTEGER NOT NULL, "
        "win_ts TEXT NOT NULL, win_rank INTEGER NOT NULL, win_offset INTEGER NOT NULL, lines_hash BLOB NOT NULL)"
    )
    db.execute(f"CREATE INDEX {ORDERS}_date ON {ORDERS} (order_date)")
    db.execute(
        f"CREATE TABLE {LINES} (order_id TEXT NOT NULL, line_no INTEGER NOT NULL, "
        "product_id TEXT NOT NULL, name TEXT, category TEXT, quantity INTEGER NOT NULL, "
        "unit_price_cents INTEGER NOT NULL, PRIMARY KEY (order_id, line_no)) WITHOUT ROWID"
    )
    db.execute(
        f"CREATE TABLE {DAILY} (date TEXT NOT NULL, channel TEXT NOT NULL, country TEXT NOT NULL, "
        "region TEXT NOT NULL, orders INTEGER NOT NULL, units INTEGER NOT NULL, "
        "revenue_cents INTEGER NOT NULL, PRIMARY KEY (date, channel, country, region))"
    )
    db.execute(
        f"CREATE TABLE {PRODUCTS_DAILY} (date TEXT NOT NULL, product_id TEXT NOT NULL, "
        "orders INTEGER NOT NULL, units INTEGER NOT NULL, revenue_cents INTEGER NOT NULL, "
        "PRIMARY KEY (date, product_id))"
    )
    db.execute(f"CREATE INDEX {PRODUCTS_DAILY}_product ON {PRODUCTS_DAILY} (product_id, date)")
    db.execute(
        f"CREATE TABLE {HOURLY} (hour TEXT NOT NULL, channel TEXT NOT NULL, orders INTEGER NOT NULL, "
        "units INTEGER NOT NULL, revenue_orders INTEGER NOT NULL, revenue_cents INTEGER NOT NULL, "
        "PRIMARY KEY (hour, channel))"
    )
    db.execute(
        f"CREATE TABLE {CATALOG} (product_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "category TEXT NOT NULL)"
    )
    db.execute(f"CREATE TABLE {WATERMARK} (id INTEGER PRIMARY KEY CHECK (id = 1), max_ts TEXT, watermark TEXT)")
    db.execute(f"INSERT INTO {WATERMARK} (id, max_ts, watermark) VALUES (1, NULL, NULL)")
    db.execute(
        f"CREATE TABLE {LATE} (\"offset\" INTEGER PRIMARY KEY, order_id TEXT NOT NULL, "
        "event_time TEXT NOT NULL, watermark TEXT NOT NULL, recorded_date TEXT NOT NULL)"
    )
    db.execute(f"CREATE INDEX {LATE}_recorded ON {LATE} (recorded_date)")
    db.execute(
        f"CREATE TABLE {RESTATED} (\"offset\" INTEGER PRIMARY KEY, date TEXT NOT NULL, "
        "order_id TEXT NOT NULL, event_time TEXT NOT NULL, watermark TEXT NOT NULL)"
    )


def _chunks(items: list[str], n: int = 500):
    for i in range(0, len(items), n):
        yield items[i:i + n]


@attrs.define(slots=True)
class OrderState:
    """An order as the projection holds it: its winning event and what it contributes."""

    customer_id: str
    channel: str
    status: str
    country: str
    region: str
    placed_at: str
    win_ts: str
    win_rank: int
    win_offset: int  # where the winning event is in the log: its raw bytes break ties
    events: int
    units: int
    value_cents: int
    lines_hash: bytes  # of the enriched lines (b"" until known): equal hashes, same lines
    lines: tuple | None = None  # (product, name, category, qty, cents) each, when known
    facts: Any = None  # the winning event's facts, until its lines are enriched
    win_raw: bytes | None = None  # the winning event's raw bytes, when known

    def contribution(self) -> tuple:
        """``(revenue_bearing, placed_at, channel, country, region, units, cents)``."""
        return (self.status in REVENUE_STATUSES, self.placed_at, self.channel, self.country, self.region,
                self.units, self.value_cents)


def _rows_for(conn, sql: str, order_ids: list[str]):
    """The rows of ``sql`` (its ``{marks}`` the placeholders of an ``IN`` list) for
    ``order_ids``, 500 ids per statement."""
    for chunk in _chunks(order_ids):
        yield from conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)


def _load(conn, order_ids: list[str]) -> dict[str, OrderState]:
    sql = (f"SELECT order_id, customer_id, channel, status, country, region, placed_at, win_ts, win_rank, "
           f"win_offset, events, units, value_cents, lines_hash FROM {ORDERS} WHERE order_id IN ({{marks}})")
    return {row[0]: OrderState(*row[1:]) for row in _rows_for(conn, sql, order_ids)}


def _stored_lines(conn, order_ids: list[str]) -> dict[str, tuple]:
    sql = (f"SELECT order_id, product_id, name, category, quantity, unit_price_cents FROM {LINES} "
           f"WHERE order_id IN ({{marks}}) ORDER BY order_id, line_no")
    lines: dict[str, list] = {}
    for oid, *line in _rows_for(conn, sql, order_ids):
        lines.setdefault(oid, []).append(tuple(line))
    return {oid: tuple(ls) for oid, ls in lines.items()}


def _lines_hash(lines: tuple) -> bytes:
    return hashlib.blake2b(orjson.dumps(lines), digest_size=16).digest()


def _bump(acc: dict, key: tuple, orders: int, units: int, cents: int) -> None:
    row = acc.get(key)
    if row is None:
        acc[key] = [orders, units, cents]
    else:
        row[0] += orders
        row[1] += units
        row[2] += cents


def _product_lines(date: str, lines: tuple, sign: int, products: dict) -> None:
    """An order counts once per product, however many lines name it."""
    seen: dict[str, list[int]] = {}
    for product, _name, _category, q, cents in lines:
        acc = seen.get(product)
        if acc is None:
            seen[product] = [q, q * cents]
        else:
            acc[0] += q
            acc[1] += q * cents
    for product, (q, cents) in seen.items():
        _bump(products, (date, product), sign, sign * q, sign * cents)


def _deltas(old: tuple | None, new: tuple, old_lines: tuple | None, new_lines: tuple | None,
            take_back: bool, daily: dict, products: dict, hourly: dict) -> None:
    """Subtract an order's old contribution from the aggregates and add its new one.
    ``take_back`` (see :func:`_needs_old_lines`): the old products must be subtracted, and
    ``old_lines`` holds them; otherwise the products move only if the order newly bears
    revenue."""
    for sign, c in ((-1, old), (1, new)):
        if c is None:
            continue
        bearing, placed, channel, country, region, units, cents = c
        key = (placed[:13], channel)
        row = hourly.get(key)
        if row is None:
            row = hourly[key] = [0, 0, 0, 0]
        row[0] += sign
        row[1] += sign * units
        if bearing:
            row[2] += sign
            row[3] += sign * cents
            _bump(daily, (placed[:10], channel, country, region), sign, sign * units, sign * cents)
    if take_back:
        _product_lines(old[1][:10], old_lines, -1, products)  # type: ignore[index]
    if new[0] and (take_back or old is None or not old[0]):
        _product_lines(new[1][:10], new_lines, 1, products)


def _needs_old_lines(old: tuple | None, new: tuple, same_lines: bool) -> bool:
    """The old contribution has products to take back that the new one does not restore."""
    return old is not None and old[0] and not (new[0] and old[1][:10] == new[1][:10] and same_lines)


_ORDER_COLUMNS = ("customer_id", "channel", "status", "country", "region", "placed_at", "revenue_bearing", "units",
                  "value_cents", "events", "win_ts", "win_rank", "win_offset", "lines_hash", "order_date", "order_id")
_INSERT_ORDER = (f"INSERT INTO {ORDERS} ({', '.join(_ORDER_COLUMNS)}) "
                 f"VALUES ({', '.join('?' * len(_ORDER_COLUMNS))})")
# Two updates: SQLite maintains an index only when the statement sets one of its columns,
# and most updates (a status change) leave the order's date, so its index entry, alone.
_UPDATE_ORDER = f"UPDATE {ORDERS} SET {', '.join(f'{c} = ?' for c in _ORDER_COLUMNS[:-2])} WHERE order_id = ?"
_UPDATE_ORDER_AND_DATE = (f"UPDATE {ORDERS} SET {', '.join(f'{c} = ?' for c in _ORDER_COLUMNS[:-1])} "
                          "WHERE order_id = ?")


def make_apply(lateness: timedelta):
    def apply(db: Database, events: Sequence[Event]) -> None:
        conn = db.conn
        catalog_updates: dict[str, tuple[str, str]] = {}
        states = _load(conn, sorted({e.facts.order_id for e in events if e.facts is not None}))
        before = {oid: (st.contribution(), st.lines_hash) for oid, st in states.items()}
        touched: set[str] = set()
        max_ts, watermark = conn.execute(f"SELECT max_ts, watermark FROM {WATERMARK}").fetchone()
        names: dict[str, tuple[str | None, str | None]] = {}  # the catalog as of here in the log

        def enrich(f: OrderFacts) -> tuple:
            lines = []
            for pid, q, c in f.lines:
                info = names.get(pid)
                if info is None:
                    row = conn.execute(f"SELECT name, category FROM {CATALOG} WHERE product_id = ?", [pid]).fetchone()
                    info = names[pid] = tuple(row) if row else (None, None)
                lines.append((pid, info[0], info[1], q, c))
            return tuple(lines)

        late_rows, restated_rows = [], []
        rank_of = RANK
        for e in events:
            f = e.facts
            if f is None:
                if e.record.stream == "catalog" and e.payload is not None:
                    p: Product = e.payload
                    # winners so far were named by the catalog before this change
                    for st in states.values():
                        if st.facts is not None:
                            st.lines, st.facts = enrich(st.facts), None
                    catalog_updates[p.product_id] = names[p.product_id] = (p.name, p.category)
                continue  # quarantined orders are invisible to the business tables
            ts = f.ts
            if watermark is not None and ts < watermark:
                late_rows.append((e.offset, f.order_id, ts, watermark, e.record.recorded_at.date().isoformat()))
                day_end = parse_time(ts[:10] + "T00:00:00.000000Z") + timedelta(days=1)
                if watermark > format_time(day_end):
                    restated_rows.append((e.offset, ts[:10], f.order_id, ts, watermark))
            if max_ts is None or ts > max_ts:
                max_ts = ts
                watermark = format_time(f.time - lateness)
            rank = rank_of[f.status]
            record = e.record
            oid = f.order_id
            touched.add(oid)
            st = states.get(oid)
            if st is None:
                states[oid] = OrderState(f.customer_id, f.channel, f.status, f.country, f.region, ts, ts, rank,
                                         record.offset, 1, f.units, f.value_cents, b"", None, f, record.raw)
                continue
            st.events += 1
            if ts < st.placed_at:
                st.placed_at = ts
            if ts < st.win_ts or (ts == st.win_ts and rank < st.win_rank):
                continue
            if ts == st.win_ts and rank == st.win_rank:  # a tie: the greater raw record wins
                if st.win_raw is None:
                    st.win_raw = conn.execute(f'SELECT raw FROM {LOG_TABLE} WHERE "offset" = ?',
                                              [st.win_offset]).fetchone()[0]
                if record.raw <= st.win_raw:
                    continue
            st.customer_id, st.channel, st.status = f.customer_id, f.channel, f.status
            st.country, st.region, st.win_ts, st.win_rank = f.country, f.region, ts, rank
            st.win_offset, st.win_raw = record.offset, record.raw
            st.units, st.value_cents, st.facts, st.lines_hash = f.units, f.value_cents, f, b""

        changes = []  # (order id, state, old contribution, new contribution, lines unchanged, take back)
        for oid in sorted(touched):
            st = states[oid]
            if st.facts is not None:
                st.lines, st.facts = enrich(st.facts), None
            if not st.lines_hash:  # a new winner (enriched here, or at a catalog change above)
                st.lines_hash = _lines_hash(st.lines)
            old, old_hash = before.get(oid, (None, None))
            new, same = st.contribution(), st.lines_hash == old_hash
            changes.append((oid, st, old, new, same, _needs_old_lines(old, new, same)))
        stored = _stored_lines(conn, [oid for oid, *_, take_back in changes if take_back])
        daily: dict = {}
        products: dict = {}
        hourly: dict = {}
        inserts, updates, date_updates, rewrite = [], [], [], []
        for oid, st, old, new, same, take_back in changes:
            if old != new or not same:
                old_lines = stored.get(oid)
                _deltas(old, new, old_lines, st.lines if st.lines is not None else old_lines, take_back,
                        daily, products, hourly)
            if not same:
                rewrite.append(oid)
            row = (st.customer_id, st.channel, st.status, st.country, st.region, st.placed_at, int(new[0]),
                   st.units, st.value_cents, st.events, st.win_ts, st.win_rank, st.win_offset, st.lines_hash)
            date = st.placed_at[:10]
            if old is None:
                inserts.append((*row, date, oid))
            elif old[1][:10] == date:
                updates.append((*row, oid))
            else:
                date_updates.append((*row, date, oid))

        if catalog_updates:
            conn.executemany(
                f"INSERT INTO {CATALOG} (product_id, name, category) VALUES (?, ?, ?) "
                "ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, category = excluded.category",
                [(pid, n, c) for pid, (n, c) in sorted(catalog_updates.items())],
            )
        for sql, rows in ((_INSERT_ORDER, inserts), (_UPDATE_ORDER, updates), (_UPDATE_ORDER_AND_DATE, date_updates)):
            if rows:
                conn.executemany(sql, rows)
        stale = [oid for oid in rewrite if oid in before]
        for chunk in _chunks(stale):
            conn.execute(f"DELETE FROM {LINES} WHERE order_id IN ({','.join('?' * len(chunk))})", chunk)
        if rewrite:
            conn.executemany(
                f"INSERT INTO {LINES} VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(oid, n, *line) for oid in rewrite for n, line in enumerate(states[oid].lines)],
            )
        _upsert(conn, DAILY, ("date", "channel", "country", "region"), daily)
        _upsert(conn, PRODUCTS_DAILY, ("date", "product_id"), products)
        _upsert(conn, HOURLY, ("hour", "channel"), hourly, ("orders", "units", "revenue_orders", "revenue_cents"))
        conn.execute(f"UPDATE {WATERMARK} SET max_ts = ?, watermark = ?", [max_ts, watermark])
        if late_rows:
            conn.executemany(f"INSERT INTO {LATE} VALUES (?, ?, ?, ?, ?)", late_rows)
        if restated_rows:
            conn.executemany(f"INSERT INTO {RESTATED} VALUES (?, ?, ?, ?, ?)", restated_rows)

    return apply


def _upsert(conn, table: str, keys: tuple[str, ...], deltas: dict,
            values: tuple[str, ...] = ("orders", "units", "revenue_cents")) -> None:
    rows = [(*k, *v) for k, v in sorted(deltas.items()) if any(v)]
    if not rows:
        return
    cols = ", ".join(keys)
    conn.executemany(
        f"INSERT INTO {table} ({cols}, {', '.join(values)}) "
        f"VALUES ({', '.join('?' * (len(keys) + len(values)))}) ON CONFLICT ({cols}) DO UPDATE SET "
        + ", ".join(f"{v} = {v} + excluded.{v}" for v in values),
        rows,
    )
    # a row with no orders left is removed, so the table is the same whatever path led here
    where = " AND ".join(f"{k} = ?" for k in keys)
    conn.executemany(f"DELETE FROM {table} WHERE {where} AND orders = 0", [r[:len(keys)] for r in rows])


def sales_projection(lateness: timedelta = DEFAULT_LATENESS) -> Projection:
    return Projection(
        name="sales", version=3, tables=(ORDERS, LINES, DAILY, PRODUCTS_DAILY, HOURLY, CATALOG, WATERMARK, LATE, RESTATED),
        create=create, apply=make_apply(lateness), streams=("catalog", "orders"),
        config=f"allowed_lateness={int(lateness.total_seconds())}s",
        description="order state, enriched order lines, daily revenue and product sales, lateness",
    )


@hookimpl
def register_projections(settings) -> list[Projection]:
    return [sales_projection(settings.allowed_lateness)]
