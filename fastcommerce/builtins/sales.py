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

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import attrs
from sqlite_utils import Database

from ..eventlog import format_time, parse_time
from ..events import ORDER_STATUSES, Event, OrderEvent, Product
from ..hookspecs import hookimpl
from ..money import to_cents
from ..projections import Projection

ORDERS, LINES, DAILY, PRODUCTS_DAILY = "sales_orders", "sales_order_lines", "sales_daily_revenue", "sales_daily_products"
HOURLY = "sales_hourly"
CATALOG, WATERMARK, LATE, RESTATED = "sales_catalog", "sales_watermark", "sales_late_events", "sales_restatements"
REVENUE_STATUSES = frozenset({"confirmed", "shipped", "delivered"})
RANK = {s: i for i, s in enumerate(ORDER_STATUSES)}
DEFAULT_LATENESS = timedelta(hours=1)


def region_of(address: Any) -> tuple[str, str]:
    """``(country, region)``: the country upper-cased; ``US-CA``, or the country alone."""
    if address is None or not address.country:
        return "", ""
    country = address.country.upper()
    state = (address.state or "").strip()
    return country, f"{country}-{state}" if state else country


@attrs.define(slots=True)
class OrderState:
    order_id: str
    customer_id: str
    channel: str
    status: str
    country: str
    region: str
    placed_at: str
    win_ts: str
    win_rank: int
    win_raw: bytes
    lines: list[tuple[str, str | None, str | None, int, int]]  # product, name, category, qty, cents
    events: int = 1

    @property
    def order_date(self) -> str:
        return self.placed_at[:10]

    @property
    def revenue_bearing(self) -> bool:
        return self.status in REVENUE_STATUSES

    def contribution(self) -> tuple[dict, dict]:
        """What this order adds to the daily tables (nothing unless revenue-bearing)."""
        if not self.revenue_bearing:
            return {}, {}
        units = sum(q for _, _, _, q, _ in self.lines)
        cents = sum(q * c for _, _, _, q, c in self.lines)
        daily = {(self.order_date, self.channel, self.country, self.region): (1, units, cents)}
        per_product: dict[str, list[int]] = {}
        for product, _, _, q, c in self.lines:
            acc = per_product.setdefault(product, [1, 0, 0])
            acc[1] += q
            acc[2] += q * c
        products = {(self.order_date, p): tuple(v) for p, v in per_product.items()}
        return daily, products

    def hourly(self) -> dict:
        """Orders placed per hour and channel, whatever their status, and the revenue of
        those that bear it: the volume and revenue baselines of the anomaly rules."""
        units = sum(q for _, _, _, q, _ in self.lines)
        cents = sum(q * c for _, _, _, q, c in self.lines) if self.revenue_bearing else 0
        return {(self.placed_at[:13], self.channel): (1, units, int(self.revenue_bearing), cents)}


def create(db: Database) -> None:
    db.execute(
        f"CREATE TABLE {ORDERS} (order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
        "channel TEXT NOT NULL, status TEXT NOT NULL, country TEXT NOT NULL, region TEXT NOT NULL, "
        "placed_at TEXT NOT NULL, order_date TEXT NOT NULL, revenue_bearing INTEGER NOT NULL, "
        "units INTEGER NOT NULL, value_cents INTEGER NOT NULL, events INTEGER NOT NULL, "
        "win_ts TEXT NOT NULL, win_rank INTEGER NOT NULL, win_raw BLOB NOT NULL)"
    )
    db.execute(f"CREATE INDEX {ORDERS}_customer ON {ORDERS} (customer_id, revenue_bearing)")
    db.execute(f"CREATE INDEX {ORDERS}_date ON {ORDERS} (order_date)")
    db.execute(
        f"CREATE TABLE {LINES} (order_id TEXT NOT NULL, line_no INTEGER NOT NULL, "
        "product_id TEXT NOT NULL, name TEXT, category TEXT, quantity INTEGER NOT NULL, "
        "unit_price_cents INTEGER NOT NULL, PRIMARY KEY (order_id, line_no))"
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


def _load(db: Database, order_ids: list[str]) -> dict[str, OrderState]:
    conn = db.conn
    states: dict[str, OrderState] = {}
    lines: dict[str, list] = defaultdict(list)
    for chunk in _chunks(order_ids):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT order_id, customer_id, channel, status, country, region, placed_at, win_ts, "
            f"win_rank, win_raw, events FROM {ORDERS} WHERE order_id IN ({marks})", chunk
        ):
            states[row[0]] = OrderState(*row[:10], lines=[], events=row[10])
        for row in conn.execute(
            f"SELECT order_id, product_id, name, category, quantity, unit_price_cents FROM {LINES} "
            f"WHERE order_id IN ({marks}) ORDER BY order_id, line_no", chunk
        ):
            lines[row[0]].append(tuple(row[1:]))
    for oid, st in states.items():
        st.lines = lines.get(oid, [])
    return states


def _add(acc: Counter, contribution: dict, sign: int) -> None:
    for key, values in contribution.items():
        old = acc.get(key, (0,) * len(values))
        acc[key] = tuple(o + sign * v for o, v in zip(old, values))


def make_apply(lateness: timedelta):
    def apply(db: Database, events: Sequence[Event]) -> None:
        conn = db.conn
        catalog_updates: dict[str, tuple[str, str]] = {}
        order_ids = sorted({e.payload.order_id for e in events if e.stream == "orders" and e.payload is not None})
        states = _load(db, order_ids)
        before = {oid: (*st.contribution(), st.hourly()) for oid, st in states.items()}
        touched: set[str] = set()
        max_ts, watermark = conn.execute(f"SELECT max_ts, watermark FROM {WATERMARK}").fetchone()
        names: dict[str, tuple[str, str]] = {}

        def product_info(pid: str) -> tuple[str | None, str | None]:
            if pid in catalog_updates:
                return catalog_updates[pid]
            if pid not in names:
                row = conn.execute(f"SELECT name, category FROM {CATALOG} WHERE product_id = ?", [pid]).fetchone()
                names[pid] = tuple(row) if row else (None, None)
            return names[pid]

        late_rows, restated_rows = [], []
        for e in events:
            if e.payload is None:
                continue  # quarantined: invisible to the business tables
            if e.stream == "catalog":
                p: Product = e.payload
                catalog_updates[p.product_id] = (p.name, p.category)
                continue
            if e.stream != "orders":
                continue
            o: OrderEvent = e.payload
            ts = format_time(o.timestamp)
            if watermark is not None and ts < watermark:
                late_rows.append((e.offset, o.order_id, ts, watermark, e.record.recorded_at.date().isoformat()))
                day_end = (parse_time(ts[:10] + "T00:00:00.000000Z") + timedelta(days=1))
                if watermark > format_time(day_end):
                    restated_rows.append((e.offset, ts[:10], o.order_id, ts, watermark))
            if max_ts is None or ts > max_ts:
                max_ts = ts
                watermark = format_time(o.timestamp - lateness)
            rank = RANK[o.status]
            raw = e.record.raw
            st = states.get(o.order_id)
            if st is not None and (ts, rank, raw) <= (st.win_ts, st.win_rank, st.win_raw):
                st.events += 1
                if ts < st.placed_at:
                    st.placed_at = ts
                touched.add(o.order_id)
                continue
            country, region = region_of(o.shipping_address)
            lines = []
            for item in o.items:
                name, category = product_info(item.product_id)
                lines.append((item.product_id, name, category, item.quantity, to_cents(item.unit_price)))
            if st is None:
                states[o.order_id] = OrderState(
                    o.order_id, o.customer_id, o.channel, o.status, country, region, ts, ts, rank, raw, lines)
            else:
                st.customer_id, st.channel, st.status = o.customer_id, o.channel, o.status
                st.country, st.region, st.win_ts, st.win_rank, st.win_raw = country, region, ts, rank, raw
                st.lines = lines
                st.events += 1
                if ts < st.placed_at:
                    st.placed_at = ts
            touched.add(o.order_id)

        daily: Counter = Counter()
        products: Counter = Counter()
        hourly: Counter = Counter()
        for oid in sorted(touched):
            st = states[oid]
            old_daily, old_products, old_hourly = before.get(oid, ({}, {}, {}))
            new_daily, new_products = st.contribution()
            for acc, old, new in ((daily, old_daily, new_daily), (products, old_products, new_products),
                                  (hourly, old_hourly, st.hourly())):
                _add(acc, old, -1)
                _add(acc, new, +1)

        if catalog_updates:
            conn.executemany(
                f"INSERT INTO {CATALOG} (product_id, name, category) VALUES (?, ?, ?) "
                "ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, category = excluded.category",
                [(pid, n, c) for pid, (n, c) in sorted(catalog_updates.items())],
            )
        if touched:
            rows = []
            for oid in sorted(touched):
                st = states[oid]
                units = sum(q for _, _, _, q, _ in st.lines)
                cents = sum(q * c for _, _, _, q, c in st.lines)
                rows.append((oid, st.customer_id, st.channel, st.status, st.country, st.region,
                             st.placed_at, st.order_date, int(st.revenue_bearing), units, cents,
                             st.events, st.win_ts, st.win_rank, st.win_raw))
            conn.executemany(f"INSERT OR REPLACE INTO {ORDERS} VALUES ({', '.join('?' * 15)})", rows)
            for chunk in _chunks(sorted(touched)):
                conn.execute(f"DELETE FROM {LINES} WHERE order_id IN ({','.join('?' * len(chunk))})", chunk)
            conn.executemany(
                f"INSERT INTO {LINES} VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(oid, n, *line) for oid in sorted(touched) for n, line in enumerate(states[oid].lines)],
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


def _upsert(conn, table: str, keys: tuple[str, ...], deltas: Counter,
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
        name="sales", version=2, tables=(ORDERS, LINES, DAILY, PRODUCTS_DAILY, HOURLY, CATALOG, WATERMARK, LATE, RESTATED),
        create=create, apply=make_apply(lateness), streams=("catalog", "orders"),
        config=f"allowed_lateness={int(lateness.total_seconds())}s",
        description="order state, enriched order lines, daily revenue and product sales, lateness",
    )


@hookimpl
def register_projections(settings) -> list[Projection]:
    return [sales_projection(settings.allowed_lateness)]
