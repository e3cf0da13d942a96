"""Fraud signals, as a fastcommerce plugin.

Three things, each through the public hooks or the public report API:

* a validator, ``fraud_quantity``, that flags an order whose single item has a quantity
  above :data:`SUSPICIOUS_QUANTITY` with the *warning* ``suspicious_quantity`` (the
  event still counts; the quality report shows it);
* a projection, ``fraud``, with its own tables: ``fraud_orders`` (each order's state,
  resolved as the data contract says), ``fraud_customers`` (per customer: orders,
  distinct shipping countries, cancelled or refunded orders, value in integer cents, the
  most orders placed within one hour) and ``fraud_signals`` (one row per customer and
  signal: ``many_countries``, ``high_refund_rate``, ``velocity``);
* a report, :func:`fraud_report`, registered as ``"fraud"`` through ``register_reports``,
  so ``pipeline.report("fraud")`` works once the plugin is loaded.

Determinism. An order's state is that of its valid event with the greatest timestamp;
on a tie the later status (pending < ... < refunded); on a tie of both the greater raw
record, byte by byte. Its placed time is the smallest timestamp of its valid events. That
resolution depends only on the *set* of valid events, and every per-customer row is
recomputed from ``fraud_orders`` for the customers a batch touches, so a rebuild, any
sequence of catch-ups in any batch sizes, and any arrival order of the same records give
the same tables. Nothing reads the clock, draws random numbers or iterates a set unsorted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
from sqlite_utils import Database

from fastcommerce import Event, OrderEvent, Projection, ValidationContext, Validator, hookimpl
from fastcommerce.events import ORDER_STATUSES, REVENUE_STATUSES
from fastcommerce.money import from_cents, to_cents
from fastcommerce.reports.base import Report, ReportSpec, check_limit, database, limited, table_exists

__all__ = [
    "CUSTOMERS", "FRAUD_COLUMNS", "MANY_COUNTRIES", "ORDERS", "REFUND_MIN_ORDERS", "SIGNALS",
    "SIGNAL_NAMES", "SUSPICIOUS_QUANTITY", "VELOCITY_ORDERS", "VELOCITY_WINDOW", "check_quantity",
    "fraud_projection", "fraud_report",
]

# -- thresholds ------------------------------------------------------------------------

SUSPICIOUS_QUANTITY = 50
"""An item quantity strictly above this is ``suspicious_quantity`` (a warning)."""
MANY_COUNTRIES = 3
"""``many_countries``: a customer's orders ship to at least this many distinct countries."""
REFUND_MIN_ORDERS = 4
"""``high_refund_rate``: at least this many orders, and at least half of them (``cancelled``
or ``refunded`` as their current status)."""
VELOCITY_ORDERS = 5
VELOCITY_WINDOW = timedelta(hours=1)
"""``velocity``: at least ``VELOCITY_ORDERS`` orders whose placed times lie within one
window (the last at most ``VELOCITY_WINDOW`` after the first, bounds included)."""

ORDERS, CUSTOMERS, SIGNALS = "fraud_orders", "fraud_customers", "fraud_signals"
SIGNAL_NAMES = ("high_refund_rate", "many_countries", "velocity")
RANK = {status: n for n, status in enumerate(ORDER_STATUSES)}
REFUND_STATUSES = frozenset({"cancelled", "refunded"})


def _text(moment: datetime) -> str:
    """UTC, fixed width (``0999-12-31T23:00:00.000000Z``), so text order is time order.
    Written field by field: ``strftime("%Y")`` does not pad years before 1000 everywhere."""
    m = moment if moment.utcoffset() == timedelta(0) else moment.astimezone(timezone.utc)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
            f".{m.microsecond:06d}Z")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


# -- the validator ---------------------------------------------------------------------


def check_quantity(record: Any, context: ValidationContext | None = None) -> Iterator[tuple[str, str]]:
    """``suspicious_quantity`` for each item whose quantity is an integer above the threshold.

    Pure and total: anything that is not a list of objects with an integer quantity is left
    to the built-in validators (``invalid_item``, ``missing_field``), never raised on.
    """
    items = record.get("items") if isinstance(record, dict) else None
    if not isinstance(items, list):
        return
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        qty = item.get("quantity")
        if type(qty) is int and qty > SUSPICIOUS_QUANTITY:
            product = item.get("product_id")
            what = f" of {product!r}" if isinstance(product, str) else ""
            yield "suspicious_quantity", (
                f"items[{n}].quantity {qty}{what} is above {SUSPICIOUS_QUANTITY}"
            )


@hookimpl
def register_validators() -> list[Validator]:
    return [
        Validator(name="fraud_quantity", stream="orders", codes={"suspicious_quantity": "warning"},
                  check=check_quantity,
                  description=f"a single item quantity above {SUSPICIOUS_QUANTITY} is flagged"),
    ]


# -- the projection --------------------------------------------------------------------


@attrs.define(slots=True)
class _Order:
    order_id: str
    customer_id: str
    status: str
    country: str
    placed_at: str
    value_cents: int
    events: int
    win_ts: str
    win_rank: int
    win_raw: bytes

    def row(self) -> tuple:
        return (self.order_id, self.customer_id, self.status, self.country, self.placed_at,
                self.value_cents, self.events, self.win_ts, self.win_rank, self.win_raw)


def create(db: Database) -> None:
    db.execute(
        f"CREATE TABLE {ORDERS} (order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
        "status TEXT NOT NULL, country TEXT NOT NULL, placed_at TEXT NOT NULL, "
        "value_cents INTEGER NOT NULL, events INTEGER NOT NULL, win_ts TEXT NOT NULL, "
        "win_rank INTEGER NOT NULL, win_raw BLOB NOT NULL)"
    )
    db.execute(f"CREATE INDEX {ORDERS}_customer ON {ORDERS} (customer_id, placed_at)")
    db.execute(
        f"CREATE TABLE {CUSTOMERS} (customer_id TEXT PRIMARY KEY, orders INTEGER NOT NULL, "
        "countries INTEGER NOT NULL, country_list TEXT NOT NULL, cancelled_refunded INTEGER NOT NULL, "
        "value_cents INTEGER NOT NULL, revenue_cents INTEGER NOT NULL, "
        "max_orders_in_hour INTEGER NOT NULL, first_placed_at TEXT NOT NULL, last_placed_at TEXT NOT NULL)"
    )
    db.execute(
        f"CREATE TABLE {SIGNALS} (customer_id TEXT NOT NULL, signal TEXT NOT NULL, "
        "detail TEXT NOT NULL, PRIMARY KEY (customer_id, signal))"
    )


def _chunks(items: list[str], n: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _load(conn, order_ids: list[str]) -> dict[str, _Order]:
    states: dict[str, _Order] = {}
    for chunk in _chunks(order_ids):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT order_id, customer_id, status, country, placed_at, value_cents, events, "
            f"win_ts, win_rank, win_raw FROM {ORDERS} WHERE order_id IN ({marks})", chunk
        ):
            states[row[0]] = _Order(*row)
    return states


def _value_cents(order: OrderEvent) -> int:
    return sum(item.quantity * to_cents(item.unit_price) for item in order.items)


def _country(order: OrderEvent) -> str:
    address = order.shipping_address
    return (address.country or "").strip().upper() if address is not None else ""


def apply(db: Database, events: Sequence[Event]) -> None:
    """Fold valid order events into ``fraud_orders``, then recompute the customers they touch."""
    conn = db.conn
    batch = [e for e in events if e.stream == "orders" and isinstance(e.payload, OrderEvent)]
    if not batch:
        return  # quarantined events are invisible here, as in every business projection
    states = _load(conn, sorted({e.payload.order_id for e in batch}))
    customers = {st.customer_id for st in states.values()}  # before: an order may change hands
    touched: set[str] = set()
    for e in batch:
        o: OrderEvent = e.payload
        ts, rank, raw = _text(o.timestamp), RANK[o.status], e.record.raw
        st = states.get(o.order_id)
        if st is None:
            states[o.order_id] = _Order(o.order_id, o.customer_id, o.status, _country(o), ts,
                                        _value_cents(o), 1, ts, rank, raw)
        else:
            if (ts, rank, raw) > (st.win_ts, st.win_rank, st.win_raw):
                st.customer_id, st.status, st.country = o.customer_id, o.status, _country(o)
                st.value_cents = _value_cents(o)
                st.win_ts, st.win_rank, st.win_raw = ts, rank, raw
            st.events += 1
            st.placed_at = min(st.placed_at, ts)
        touched.add(o.order_id)
    conn.executemany(f"INSERT OR REPLACE INTO {ORDERS} VALUES ({', '.join('?' * 10)})",
                     [states[oid].row() for oid in sorted(touched)])
    customers.update(states[oid].customer_id for oid in touched)
    for cid in sorted(customers):
        _recompute_customer(conn, cid)


def max_within(placed: list[datetime], window: timedelta) -> tuple[int, datetime | None]:
    """The most of the sorted ``placed`` times within one window, and where the first such
    window starts (the earliest one)."""
    best, start, j = 0, None, 0
    for i, first in enumerate(placed):
        while j < len(placed) and placed[j] - first <= window:
            j += 1
        if j - i > best:
            best, start = j - i, first
    return best, start


def signals_of(orders: int, countries: list[str], refunds: int, in_window: int,
               window_start: datetime | None) -> list[tuple[str, str]]:
    """``(signal, detail)`` pairs, sorted by signal."""
    found = []
    if refunds * 2 >= orders >= REFUND_MIN_ORDERS:
        found.append(("high_refund_rate", f"{refunds} of {orders} orders cancelled or refunded"))
    if len(countries) >= MANY_COUNTRIES:
        found.append(("many_countries", f"{len(countries)} shipping countries: {', '.join(countries)}"))
    if in_window >= VELOCITY_ORDERS and window_start is not None:
        found.append(("velocity", f"{in_window} orders placed within {int(VELOCITY_WINDOW.total_seconds())} s "
                                  f"from {_text(window_start)}"))
    return sorted(found)


def _recompute_customer(conn, customer_id: str) -> None:
    rows = conn.execute(
        f"SELECT status, country, placed_at, value_cents FROM {ORDERS} WHERE customer_id = ? "
        "ORDER BY placed_at, order_id", [customer_id]).fetchall()
    conn.execute(f"DELETE FROM {SIGNALS} WHERE customer_id = ?", [customer_id])
    if not rows:  # every order of it went to another customer: no row, whatever the path
        conn.execute(f"DELETE FROM {CUSTOMERS} WHERE customer_id = ?", [customer_id])
        return
    countries = sorted({country for _, country, _, _ in rows if country})
    refunds = sum(status in REFUND_STATUSES for status, _, _, _ in rows)
    value = sum(cents for _, _, _, cents in rows)
    revenue = sum(cents for status, _, _, cents in rows if status in REVENUE_STATUSES)
    placed = [_moment(p) for _, _, p, _ in rows]  # sorted by the query
    in_window, window_start = max_within(placed, VELOCITY_WINDOW)
    conn.execute(
        f"INSERT OR REPLACE INTO {CUSTOMERS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [customer_id, len(rows), len(countries), ",".join(countries), refunds, value, revenue,
         in_window, rows[0][2], rows[-1][2]],
    )
    found = signals_of(len(rows), countries, refunds, in_window, window_start)
    if found:
        conn.executemany(f"INSERT INTO {SIGNALS} VALUES (?, ?, ?)",
                         [(customer_id, signal, detail) for signal, detail in found])


def fraud_projection() -> Projection:
    return Projection(
        name="fraud", version=1, tables=(ORDERS, CUSTOMERS, SIGNALS), create=create, apply=apply,
        streams=("orders",),
        # thresholds change the output: a change of them rebuilds the projection
        config=(f"many_countries>={MANY_COUNTRIES};high_refund_rate>=1/2of>={REFUND_MIN_ORDERS};"
                f"velocity>={VELOCITY_ORDERS}/{int(VELOCITY_WINDOW.total_seconds())}s"),
        description="per-customer order facts and fraud signals (many_countries, high_refund_rate, velocity)",
    )


@hookimpl
def register_projections() -> list[Projection]:
    # the hook offers ``settings``; nothing here depends on them, so it is not asked for
    return [fraud_projection()]


# -- the report ------------------------------------------------------------------------

FRAUD_COLUMNS = ("customer_id", "signals", "orders", "countries", "cancelled_refunded",
                 "max_orders_in_hour", "value", "details")


def fraud_report(source: Any, *, signal: str | None = None, limit: int | None = None,
                 on: Any = None, start: Any = None, end: Any = None, **_: Any) -> Report:
    """Customers with at least one fraud signal, most signals first (ties by customer_id).

    ``source`` is a ``sqlite_utils.Database`` or a :class:`~fastcommerce.Pipeline` (whose
    projections the caller has caught up; ``pipeline.report("fraud")`` does). The signals
    describe the whole log, so no date range is taken. ``signal`` keeps only the customers
    with that signal. The summary counts customers, flagged customers, customers per signal
    and the valid order events flagged ``suspicious_quantity`` (from the quality projection,
    when it is built).
    """
    check_limit(limit)
    if on is not None or start is not None or end is not None:
        raise ValueError("the fraud report covers the whole log; it takes no date range")
    if signal is not None and signal not in SIGNAL_NAMES:
        raise ValueError(f"no fraud signal named {signal!r}; known: {', '.join(SIGNAL_NAMES)}")
    db = database(source)
    rows: list[dict[str, Any]] = []
    per_signal = dict.fromkeys(SIGNAL_NAMES, 0)
    customers = 0
    flagged: dict[str, list[tuple[str, str]]] = {}
    if table_exists(db, SIGNALS) and table_exists(db, CUSTOMERS):
        customers = db.execute(f"SELECT COUNT(*) FROM {CUSTOMERS}").fetchone()[0]
        for cid, name, detail in db.execute(
                f"SELECT customer_id, signal, detail FROM {SIGNALS} ORDER BY customer_id, signal"):
            flagged.setdefault(cid, []).append((name, detail))
            per_signal[name] += 1
        facts = {
            row[0]: row[1:] for row in db.execute(
                f"SELECT customer_id, orders, countries, cancelled_refunded, max_orders_in_hour, value_cents "
                f"FROM {CUSTOMERS} WHERE customer_id IN (SELECT customer_id FROM {SIGNALS}) ORDER BY customer_id")
        }
        for cid, found in flagged.items():
            if signal is not None and signal not in {name for name, _ in found}:
                continue
            orders, countries, refunds, in_hour, cents = facts[cid]
            rows.append({"customer_id": cid, "signals": ",".join(name for name, _ in found),
                         "orders": orders, "countries": countries, "cancelled_refunded": refunds,
                         "max_orders_in_hour": in_hour, "value": from_cents(cents),
                         "details": "; ".join(detail for _, detail in found)})
        rows.sort(key=lambda r: (-len(r["signals"].split(",")), r["customer_id"]))
    suspicious = None
    if table_exists(db, "quality_problems"):
        suspicious = db.execute(
            "SELECT COUNT(DISTINCT \"offset\") FROM quality_problems WHERE code = 'suspicious_quantity' "
            "AND quarantined = 0").fetchone()[0]
    summary = {
        "customers": customers,
        "flagged_customers": len(flagged),
        "signals": {name: per_signal[name] for name in sorted(per_signal)},
        "suspicious_quantity_events": suspicious,
    }
    return Report(name="fraud", rows=limited(rows, limit), summary=summary, columns=FRAUD_COLUMNS)


@hookimpl
def register_reports() -> list[ReportSpec]:
    return [ReportSpec(name="fraud", function=fraud_report,
                       description="customers with fraud signals (many countries, refunds, velocity)")]
