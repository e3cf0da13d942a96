"""The sales projection: order state, enriched order lines, daily aggregates, lateness.

Order state follows the data contract (section 5): the current status, items, customer,
channel and address are those of the valid event with the greatest timestamp; ties go to
the later status (pending < confirmed < shipped < delivered < cancelled < refunded), then
to the greater raw record byte by byte. The placed time is the smallest timestamp. Because
that resolution depends only on the *set* of valid events, the tables below do not depend
on arrival order.

The fold is set-based SQL over the canonical tables (:mod:`fastcommerce.canonical`), a
batch of log offsets at a time: one ``GROUP BY`` over a sortable key picks each touched
order's winning event in the batch (raw records are read only for exact ties), one join
merges it with the order's stored state, and the daily
revenue, product and hourly aggregates move by ``INSERT ... SELECT ... GROUP BY ... ON
CONFLICT DO UPDATE`` deltas (the touched orders' old contribution out, the new one in), so a
day-end report is a lookup. Rows that fall to zero orders are deleted, so the tables are
the same whatever path led to them. Order lines carry the catalog's name and category as
of the winning event's place in the log. A first batch from offset 0 (a rebuild, a first
build: every table empty) skips the merge and builds each table with one ``INSERT ...
SELECT`` over the canonical rows.

Lateness describes the arrival itself: the watermark (greatest valid order timestamp seen
in log order, minus the allowed lateness) marks older events late and records
restatements of closed days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from ..canonical import CATALOG as CANON_CATALOG
from ..canonical import LINES as CANON_LINES
from ..canonical import ORDERS as CANON_ORDERS
from ..canonical import RECORDS as CANON_RECORDS
from ..eventlog import LOG_TABLE
from ..events import ORDER_STATUSES
from ..hookspecs import hookimpl
from ..projections import Projection
from ..tabledocs import Column, Table, money
from ..times import format_time

ORDERS, LINES, DAILY, PRODUCTS_DAILY = "sales_orders", "sales_order_lines", "sales_daily_revenue", "sales_daily_products"
HOURLY = "sales_hourly"
CATALOG, WATERMARK, LATE, RESTATED = "sales_catalog", "sales_watermark", "sales_late_events", "sales_restatements"
RANK = {s: i for i, s in enumerate(ORDER_STATUSES)}
DEFAULT_LATENESS = timedelta(hours=1)


_ORDER = Column("order_id", "the order's id", references=f"{ORDERS}.order_id")
_DATE = Column("date", "the order date: the UTC date of the order's earliest valid event")
_PRODUCT = Column("product_id", "the product's id", references=f"{CATALOG}.product_id")
DOCS = (
    Table(ORDERS, "one row per order: its state resolved from its valid events (data contract, section 5)", (
        Column("order_id", "the order's id"), Column("customer_id", "the customer's id"),
        Column("channel", "web, mobile, api, ... (of the winning event)"),
        Column("status", "the current status: that of the event with the greatest timestamp"),
        Column("country", "shipping country, upper case"), Column("region", "country-state (US-CA), or the country"),
        Column("placed_at", "the smallest timestamp among the order's valid events (UTC)"),
        Column("order_date", "the UTC date of placed_at"),
        Column("revenue_bearing", "1 when the status is confirmed, shipped or delivered"),
        Column("units", "items ordered (sum of quantities)", unit="count"),
        money("value_cents", "the order's value (sum of quantity x unit price)"),
        Column("events", "valid events seen for the order", unit="count"),
        Column("win_ts", "timestamp of the winning event"), Column("win_rank", "status rank of the winning event"),
        Column("win_offset", "log offset of the winning event", references=f"{LOG_TABLE}.offset"))),
    Table(LINES, "the lines of each order's winning event, named by the catalog as of that event", (
        _ORDER, Column("line_no", "position of the line in the order"), _PRODUCT,
        Column("name", "the product's name as of the event"), Column("category", "its category as of the event"),
        Column("quantity", "units ordered", unit="count"), money("unit_price_cents", "the unit price"))),
    Table(DAILY, "revenue-bearing orders per order date, channel and region", (
        _DATE, Column("channel", "the order's channel"), Column("country", "shipping country"),
        Column("region", "country-state, or the country"), Column("orders", "orders", unit="count"),
        Column("units", "units", unit="count"), money("revenue_cents", "revenue"))),
    Table(PRODUCTS_DAILY, "revenue-bearing sales per order date and product (an order counts once per product)", (
        _DATE, _PRODUCT, Column("orders", "distinct orders", unit="count"), Column("units", "units", unit="count"),
        money("revenue_cents", "revenue"))),
    Table(HOURLY, "orders per hour (UTC, of placed_at) and channel, every status", (
        Column("hour", "YYYY-MM-DDTHH of placed_at"), Column("channel", "the order's channel"),
        Column("orders", "orders, any status", unit="count"), Column("units", "units, any status", unit="count"),
        Column("revenue_orders", "revenue-bearing orders", unit="count"),
        money("revenue_cents", "revenue of the revenue-bearing orders"))),
    Table(CATALOG, "the catalog's current name and category per product", (
        Column("product_id", "the product's id"), Column("name", "its current name"),
        Column("category", "its current category")), label="name"),
    Table(WATERMARK, "the running watermark (one row): greatest valid order timestamp seen, less the allowed "
          "lateness", internal=True),
    Table(LATE, "order events older than the watermark when they were projected (they still count)", (
        Column("offset", "the event's log offset", references=f"{LOG_TABLE}.offset"), _ORDER,
        Column("event_time", "the event's timestamp (UTC)"), Column("watermark", "the watermark it was behind"),
        Column("recorded_date", "the UTC date the event was recorded"))),
    Table(RESTATED, "late events for a day already closed (the watermark had passed its end): that day's "
          "figures changed after the fact", (
        Column("offset", "the event's log offset", references=f"{LOG_TABLE}.offset"),
        Column("date", "the day restated"), _ORDER, Column("event_time", "the event's timestamp (UTC)"),
        Column("watermark", "the watermark when it arrived"))),
)


def create(db: Database) -> None:
    db.execute(
        f"CREATE TABLE {ORDERS} (order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
        "channel TEXT NOT NULL, status TEXT NOT NULL, country TEXT NOT NULL, region TEXT NOT NULL, "
        "placed_at TEXT NOT NULL, order_date TEXT NOT NULL, revenue_bearing INTEGER NOT NULL, "
        "units INTEGER NOT NULL, value_cents INTEGER NOT NULL, events INTEGER NOT NULL, "
        "win_ts TEXT NOT NULL, win_rank INTEGER NOT NULL, win_offset INTEGER NOT NULL) WITHOUT ROWID"
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


_MERGED = "temp._sales_merged"
_STATE = ("customer_id", "channel", "status", "country", "region", "units", "value_cents")
_BEARING = "CAST(({col} IN ('confirmed', 'shipped', 'delivered')) AS INTEGER)"
_RAW = f'(SELECT raw FROM {LOG_TABLE} WHERE "offset" = {{}})'
_RAW_B, _RAW_S = _RAW.format('o."offset"'), _RAW.format("s.win_offset")


def _scratch(conn) -> None:
    """The batch's working table (temporary: on this connection only, never in a backup)."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {_MERGED} (order_id TEXT PRIMARY KEY, existed INTEGER, "
        "old_bearing INTEGER, old_placed TEXT, old_channel TEXT, old_country TEXT, old_region TEXT, "
        "old_units INTEGER, old_cents INTEGER, old_win INTEGER, wins INTEGER, customer_id TEXT, "
        "channel TEXT, status TEXT, country TEXT, region TEXT, units INTEGER, value_cents INTEGER, "
        "placed_at TEXT, events INTEGER, win_ts TEXT, win_rank INTEGER, win_offset INTEGER, bearing INTEGER) WITHOUT ROWID")
    conn.execute(f"DELETE FROM {_MERGED}")


def _shift(column: str, seconds: str) -> str:
    """SQL for the fixed-width UTC time ``column`` moved by whole ``seconds`` (an SQL
    expression): the whole seconds move, the microseconds are kept as written (SQLite's own
    arithmetic keeps milliseconds only)."""
    return (f"(strftime('%Y-%m-%dT%H:%M:%S', substr({column}, 1, 19), ({seconds}) || ' seconds') "
            f"|| substr({column}, 20))")


def _lateness(conn, after: int, upto: int, lateness: timedelta) -> None:
    """The watermark, in log order over the batch's valid order events: an event strictly
    older than the watermark as it stood before it (the greatest timestamp before it, less
    the allowed lateness) is late, and restates its day when that watermark had already
    passed the day's end. A running ``MAX`` over the batch, seeded with the stored one."""
    seconds = int(lateness.total_seconds())
    max_ts, _watermark = conn.execute(f"SELECT max_ts, watermark FROM {WATERMARK}").fetchone()
    watermark = _shift("prev", f"-{seconds}")
    conn.execute(
        f"INSERT INTO {LATE} (\"offset\", order_id, event_time, watermark, recorded_date) "
        f"SELECT w.\"offset\", order_id, ts, {watermark}, r.recorded_date FROM ("
        "  SELECT \"offset\", order_id, ts, CASE WHEN run IS NULL THEN CAST(:max AS TEXT) "
        "    WHEN CAST(:max AS TEXT) IS NULL OR run > CAST(:max AS TEXT) THEN run ELSE CAST(:max AS TEXT) END AS prev FROM ("
        "    SELECT \"offset\", order_id, ts, MAX(ts) OVER (ORDER BY \"offset\" "
        "      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS run "
        f"    FROM {CANON_ORDERS} WHERE \"offset\" > :after AND \"offset\" <= :upto) b) w "
        f"JOIN {CANON_RECORDS} r ON r.\"offset\" = w.\"offset\" "
        f"WHERE prev IS NOT NULL AND ts < prev AND ts < {watermark} ORDER BY w.\"offset\"",  # cheap test first
        {"max": max_ts, "after": after, "upto": upto})
    day_end = "(date(substr(l.event_time, 1, 10), '+1 day') || 'T00:00:00.000000Z')"
    conn.execute(
        f"INSERT INTO {RESTATED} (\"offset\", date, order_id, event_time, watermark) "
        f"SELECT \"offset\", substr(event_time, 1, 10), order_id, event_time, watermark FROM {LATE} l "
        f"WHERE \"offset\" > ? AND \"offset\" <= ? AND watermark > {day_end} ORDER BY \"offset\"", [after, upto])
    top = conn.execute(f'SELECT MAX(ts) FROM {CANON_ORDERS} WHERE "offset" > ? AND "offset" <= ?',
                       [after, upto]).fetchone()[0]
    if top is not None and (max_ts is None or top > max_ts):
        conn.execute(f"UPDATE {WATERMARK} SET max_ts = ?, watermark = ?",
                     [top, format_time(datetime.fromisoformat(top) - lateness)])


_OFFSET_BASE = 1_000_000_000_000  # offsets below this print in 13 digits after it is added
_KEY = "ts || status_rank"  # fixed width: 27 characters of UTC time, one digit of rank


def _winners(after: str, upto: str) -> str:
    """SQL: each order with events in ``(after, upto]``, its winning event there, its events
    and its first timestamp. One ``GROUP BY`` over the sortable key (timestamp, status rank)
    with the offset appended in fixed width twice: the greatest offset and, inverted, the
    smallest among the events of the greatest key. They differ only on a tie of timestamp
    and status; only then are raw records read: the greater byte by byte wins (identical
    bytes, which the log's idempotency never stores twice: the earlier offset)."""
    tie = (f"(SELECT t.\"offset\" FROM {CANON_ORDERS} t JOIN {LOG_TABLE} e ON e.\"offset\" = t.\"offset\" "
           f"WHERE t.order_id = g.order_id AND t.\"offset\" > {after} AND t.\"offset\" <= {upto} "
           f"AND t.ts || t.status_rank = substr(g.hi, 1, 28) ORDER BY e.raw DESC, t.\"offset\" LIMIT 1)")
    hi = f"(CAST(substr(g.hi, 29) AS BIGINT) - {_OFFSET_BASE})"
    lo = f"({2 * _OFFSET_BASE} - CAST(substr(g.lo, 29) AS BIGINT))"
    return (
        f"SELECT g.order_id, CASE WHEN {hi} = {lo} THEN {hi} ELSE {tie} END AS win, g.n, g.first FROM ("
        f"  SELECT order_id, MAX({_KEY} || ({_OFFSET_BASE} + \"offset\")) AS hi, "
        f"    MAX({_KEY} || ({2 * _OFFSET_BASE} - \"offset\")) AS lo, COUNT(*) AS n, MIN(ts) AS first "
        f"  FROM {CANON_ORDERS} WHERE \"offset\" > {after} AND \"offset\" <= {upto} GROUP BY order_id) g")


def _merge(conn, after: int, upto: int) -> None:
    """Each touched order's winning event in the batch (:func:`_winners`), merged with its
    stored state in one statement: the batch's winner replaces the stored one if its
    (timestamp, status rank) is greater, or on a tie of both if its raw record is (a
    ``CASE``, so raw records are read for ties only)."""
    wins = ("CASE WHEN s.order_id IS NULL THEN 1 WHEN o.ts != s.win_ts THEN CAST(o.ts > s.win_ts AS INTEGER) "
            "WHEN o.status_rank != s.win_rank THEN CAST(o.status_rank > s.win_rank AS INTEGER) "
            f"ELSE CAST({_RAW_B} > {_RAW_S} AS INTEGER) END")
    new = ", ".join(f"o.{c} AS new_{c}" for c in (*_STATE, "ts", "status_rank", "offset"))
    old = ", ".join(f"s.{c} AS old_{c}" for c in (*_STATE, "win_ts", "win_rank", "win_offset", "placed_at",
                                                  "events", "revenue_bearing"))
    conn.execute(
        f"WITH j AS MATERIALIZED (SELECT w.order_id, CAST(s.order_id IS NOT NULL AS INTEGER) AS existed, w.n, w.first, {new}, "
        f"  {old}, {wins} AS wins FROM ({_winners(':after', ':upto')}) w "
        f"  JOIN {CANON_ORDERS} o ON o.\"offset\" = w.win LEFT JOIN {ORDERS} s ON s.order_id = w.order_id) "
        f"INSERT INTO {_MERGED} SELECT order_id, existed, old_revenue_bearing, old_placed_at, old_channel, "
        "old_country, old_region, old_units, old_value_cents, old_win_offset, wins, "
        + ", ".join(f"CASE WHEN wins = 1 THEN new_{c} ELSE old_{c} END" for c in _STATE)
        + ", CASE WHEN old_placed_at < first THEN old_placed_at ELSE first END, COALESCE(old_events, 0) + n, "
        "CASE WHEN wins = 1 THEN new_ts ELSE old_win_ts END, "
        "CASE WHEN wins = 1 THEN new_status_rank ELSE old_win_rank END, "
        "CASE WHEN wins = 1 THEN new_offset ELSE old_win_offset END, "
        f"{_BEARING.format(col='CASE WHEN wins = 1 THEN new_status ELSE old_status END')} FROM j ORDER BY order_id",
        {"after": after, "upto": upto})


def _aggregates(conn) -> None:
    """Move the aggregates by the touched orders' old contribution out and new one in."""
    old, new = "existed = 1 AND old_bearing = 1", "bearing = 1"
    conn.execute(
        f"INSERT INTO {DAILY} (date, channel, country, region, orders, units, revenue_cents) "
        "SELECT date, channel, country, region, SUM(o), SUM(u), SUM(c) FROM ("
        f"  SELECT substr(old_placed, 1, 10) AS date, old_channel AS channel, old_country AS country, "
        f"    old_region AS region, -1 AS o, -old_units AS u, -old_cents AS c FROM {_MERGED} WHERE {old} "
        f"  UNION ALL SELECT substr(placed_at, 1, 10), channel, country, region, 1, units, value_cents "
        f"    FROM {_MERGED} WHERE {new}) d "
        "GROUP BY date, channel, country, region HAVING SUM(o) != 0 OR SUM(u) != 0 OR SUM(c) != 0 "
        "ORDER BY date, channel, country, region "
        "ON CONFLICT (date, channel, country, region) DO UPDATE SET orders = orders + excluded.orders, "
        "units = units + excluded.units, revenue_cents = revenue_cents + excluded.revenue_cents")
    conn.execute(
        f"INSERT INTO {HOURLY} (hour, channel, orders, units, revenue_orders, revenue_cents) "
        "SELECT hour, channel, SUM(o), SUM(u), SUM(ro), SUM(c) FROM ("
        "  SELECT substr(old_placed, 1, 13) AS hour, old_channel AS channel, -1 AS o, -old_units AS u, "
        f"    -old_bearing AS ro, CASE WHEN old_bearing = 1 THEN -old_cents ELSE 0 END AS c FROM {_MERGED} WHERE existed = 1 "
        "  UNION ALL SELECT substr(placed_at, 1, 13), channel, 1, units, bearing, "
        f"    CASE WHEN bearing = 1 THEN value_cents ELSE 0 END FROM {_MERGED}) h "
        "GROUP BY hour, channel HAVING SUM(o) != 0 OR SUM(u) != 0 OR SUM(ro) != 0 OR SUM(c) != 0 "
        "ORDER BY hour, channel "
        "ON CONFLICT (hour, channel) DO UPDATE SET orders = orders + excluded.orders, units = units + excluded.units, "
        "revenue_orders = revenue_orders + excluded.revenue_orders, "
        "revenue_cents = revenue_cents + excluded.revenue_cents")
    # an order counts once per product, however many of its lines name it
    conn.execute(
        f"INSERT INTO {PRODUCTS_DAILY} (date, product_id, orders, units, revenue_cents) "
        "SELECT date, product_id, SUM(o), SUM(u), SUM(c) FROM ("
        "  SELECT substr(m.old_placed, 1, 10) AS date, l.product_id, -1 AS o, -SUM(l.quantity) AS u, "
        f"    -SUM(l.quantity * l.unit_price_cents) AS c FROM {_MERGED} m JOIN {CANON_LINES} l "
        f"    ON l.\"offset\" = m.old_win WHERE m.{old} GROUP BY m.order_id, l.product_id "
        "  UNION ALL SELECT substr(m.placed_at, 1, 10), l.product_id, 1, SUM(l.quantity), "
        f"    SUM(l.quantity * l.unit_price_cents) FROM {_MERGED} m JOIN {CANON_LINES} l "
        f"    ON l.\"offset\" = m.win_offset WHERE m.{new} GROUP BY m.order_id, l.product_id) p "
        "GROUP BY date, product_id HAVING SUM(o) != 0 OR SUM(u) != 0 OR SUM(c) != 0 "
        "ORDER BY date, product_id "
        "ON CONFLICT (date, product_id) DO UPDATE SET orders = orders + excluded.orders, "
        "units = units + excluded.units, revenue_cents = revenue_cents + excluded.revenue_cents")
    # a row with no orders left is removed, so the table is the same whatever path led here
    days = (f"SELECT substr(old_placed, 1, 10) FROM {_MERGED} WHERE existed = 1 "
            f"UNION SELECT substr(placed_at, 1, 10) FROM {_MERGED}")
    conn.execute(f"DELETE FROM {DAILY} WHERE orders = 0 AND date IN ({days})")
    conn.execute(f"DELETE FROM {PRODUCTS_DAILY} WHERE orders = 0 AND date IN ({days})")
    conn.execute(f"DELETE FROM {HOURLY} WHERE orders = 0 AND substr(hour, 1, 10) IN ({days})")


def _orders_and_lines(conn) -> None:
    """The touched orders' new state; the lines of each order whose winner changed, named
    by the catalog as of the winning event's place in the log."""
    conn.execute(f"DELETE FROM {LINES} WHERE order_id IN (SELECT order_id FROM {_MERGED} WHERE wins = 1 AND existed = 1)")
    conn.execute(
        f"INSERT INTO {LINES} (order_id, line_no, product_id, name, category, quantity, unit_price_cents) "
        "SELECT m.order_id, l.line_no, l.product_id, c.name, c.category, l.quantity, l.unit_price_cents "
        f"FROM {_MERGED} m JOIN {CANON_LINES} l ON l.\"offset\" = m.win_offset "
        f"LEFT JOIN {CANON_CATALOG} c ON c.\"offset\" = (SELECT MAX(\"offset\") FROM {CANON_CATALOG} k "
        "  WHERE k.product_id = l.product_id AND k.\"offset\" < m.win_offset) "
        "WHERE m.wins = 1 ORDER BY m.order_id, l.line_no")
    columns = ("order_id", "customer_id", "channel", "status", "country", "region", "placed_at", "order_date",
               "revenue_bearing", "units", "value_cents", "events", "win_ts", "win_rank", "win_offset")
    conn.execute(
        f"INSERT INTO {ORDERS} ({', '.join(columns)}) SELECT order_id, customer_id, channel, status, country, "
        "region, placed_at, substr(placed_at, 1, 10), bearing, units, value_cents, events, win_ts, win_rank, "
        f"win_offset FROM {_MERGED} WHERE true ORDER BY order_id ON CONFLICT (order_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns[1:]))


def _catalog(conn, after: int, upto: int) -> None:
    """The catalog's current names: each product's latest valid version in the batch."""
    conn.execute(
        f"INSERT INTO {CATALOG} (product_id, name, category) SELECT product_id, name, category "
        f"FROM {CANON_CATALOG} c WHERE \"offset\" = (SELECT MAX(\"offset\") FROM {CANON_CATALOG} k "
        "  WHERE k.product_id = c.product_id AND k.\"offset\" <= ?) AND \"offset\" > ? AND \"offset\" <= ? "
        "ORDER BY product_id "
        "ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, category = excluded.category",
        [upto, after, upto])


_ORDER_COLUMNS = ("order_id", "customer_id", "channel", "status", "country", "region", "placed_at", "order_date",
                  "revenue_bearing", "units", "value_cents", "events", "win_ts", "win_rank", "win_offset")
_LINE_COLUMNS = "order_id, line_no, product_id, name, category, quantity, unit_price_cents"
_NAMED_AS_OF = (f"LEFT JOIN {CANON_CATALOG} c ON c.\"offset\" = (SELECT MAX(\"offset\") FROM {CANON_CATALOG} k "
                "  WHERE k.product_id = l.product_id AND k.\"offset\" < {win})")


def _build(conn, upto: int) -> None:
    """A projection's first batch, every table still empty: each table by one ``INSERT ...
    SELECT`` over the canonical rows, what the batch path (:func:`_merge` and the deltas of
    :func:`_aggregates`) would reach from nothing, without its scratch tables."""
    conn.execute(
        f"INSERT INTO {ORDERS} ({', '.join(_ORDER_COLUMNS)}) SELECT w.order_id, o.customer_id, o.channel, "
        f"o.status, o.country, o.region, w.first, substr(w.first, 1, 10), {_BEARING.format(col='o.status')}, "
        f"o.units, o.value_cents, w.n, o.ts, o.status_rank, o.\"offset\" FROM ({_winners('0', ':upto')}) w "
        f"JOIN {CANON_ORDERS} o ON o.\"offset\" = w.win ORDER BY w.order_id", {"upto": upto})
    conn.execute(
        f"INSERT INTO {LINES} ({_LINE_COLUMNS}) SELECT s.order_id, l.line_no, l.product_id, c.name, c.category, "
        f"l.quantity, l.unit_price_cents FROM {ORDERS} s JOIN {CANON_LINES} l ON l.\"offset\" = s.win_offset "
        f"{_NAMED_AS_OF.format(win='s.win_offset')} ORDER BY s.order_id, l.line_no")
    conn.execute(
        f"INSERT INTO {DAILY} (date, channel, country, region, orders, units, revenue_cents) "
        f"SELECT order_date, channel, country, region, COUNT(*), SUM(units), SUM(value_cents) FROM {ORDERS} "
        "WHERE revenue_bearing = 1 GROUP BY order_date, channel, country, region ORDER BY 1, 2, 3, 4")
    conn.execute(
        f"INSERT INTO {HOURLY} (hour, channel, orders, units, revenue_orders, revenue_cents) "
        "SELECT substr(placed_at, 1, 13), channel, COUNT(*), SUM(units), SUM(revenue_bearing), "
        f"SUM(CASE WHEN revenue_bearing = 1 THEN value_cents ELSE 0 END) FROM {ORDERS} GROUP BY 1, 2 ORDER BY 1, 2")
    # an order counts once per product, however many of its lines name it
    conn.execute(
        f"INSERT INTO {PRODUCTS_DAILY} (date, product_id, orders, units, revenue_cents) "
        "SELECT date, product_id, COUNT(*), SUM(u), SUM(c) FROM ("
        "  SELECT s.order_date AS date, l.product_id, SUM(l.quantity) AS u, "
        f"    SUM(l.quantity * l.unit_price_cents) AS c FROM {ORDERS} s JOIN {CANON_LINES} l "
        "    ON l.\"offset\" = s.win_offset WHERE s.revenue_bearing = 1 GROUP BY s.order_id, l.product_id) p "
        "GROUP BY date, product_id ORDER BY date, product_id")


def make_apply(lateness: timedelta):
    def apply_range(db: Database, after: int, upto: int) -> None:
        conn = db.conn
        _catalog(conn, after, upto)
        _lateness(conn, after, upto, lateness)
        if after == 0:  # nothing applied yet: the tables are empty
            _build(conn, upto)
            return
        _scratch(conn)
        _merge(conn, after, upto)
        _aggregates(conn)
        _orders_and_lines(conn)

    return apply_range


def sales_projection(lateness: timedelta = DEFAULT_LATENESS) -> Projection:
    return Projection(
        name="sales", version=4, tables=(ORDERS, LINES, DAILY, PRODUCTS_DAILY, HOURLY, CATALOG, WATERMARK, LATE, RESTATED),
        create=create, apply_range=make_apply(lateness), streams=("catalog", "orders"),
        config=f"allowed_lateness={int(lateness.total_seconds())}s",
        description="order state, enriched order lines, daily revenue and product sales, lateness", docs=DOCS,
    )


@hookimpl
def register_projections(settings) -> list[Projection]:
    return [sales_projection(settings.allowed_lateness)]
