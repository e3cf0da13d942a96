"""Behaviour of the projections against the data contract (sections 4, 5 and 6).

* (a) arrival order does not matter: any permutation of the same order and inventory
  records, with exact re-deliveries, gives the same report tables (except the tables that
  describe the arrival itself);
* (b) catching up in batches of any size, interleaved with ingestion and partial rebuilds,
  gives exactly what one rebuild from offset 0 gives, and ``verify`` agrees;
* (c) revenue, top products and customers equal an independent computation from the
  records, written here from the contract's words;
* (d) one test per contract rule: late events and restatements, the allowed lateness,
  inventory levels and the inventory report, plugins that bring quarantined records back.

Every example runs on real SQLite files: a fresh directory per example under ``tmp_path``
(function-scoped fixtures are not reset between hypothesis examples, so each example makes
its own directory).
"""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcommerce import Pipeline, Schema, Upcaster, Validator, hookimpl
from fastcommerce.reports import customers, inventory, operations, products, quality, revenue
from fastcommerce.settings import Settings
from fastcommerce.testing import dumps

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)  # recorded time: every generated event is in the past
BASE = datetime(2024, 1, 15, tzinfo=timezone.utc)
IST = timezone(timedelta(hours=5, minutes=30))
SLOT = timedelta(minutes=90)  # timestamps on a coarse grid, so ties are frequent

PROPERTY_SETTINGS = dict(
    deadline=None,
    database=None,  # no example database written into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)


def clock() -> datetime:
    return NOW


# -- the catalog (fixed, loaded first) ------------------------------------------------------

CATALOG = {
    # product_id: (name, category, price, reorder_point)
    "PROD-001": ("Widget", "tools", Decimal("10.00"), 20),
    "PROD-002": ("Gadget", "tools", Decimal("25.50"), 5),
    "PROD-003": ("Doohickey", "toys", Decimal("99.99"), 50),
    "PROD-004": ("Gizmo", "toys", Decimal("4.20"), 0),
    "PROD-005": ("Sprocket", "parts", Decimal("1000.00"), 20),
}
PRODUCT_IDS = sorted(CATALOG)


def catalog_record(pid: str, name: str, category: str, price: Decimal, rp: int) -> bytes:
    return dumps({"product_id": pid, "name": name, "category": category, "price": price,
                  "reorder_point": rp})


CATALOG_LINES = [catalog_record(pid, *CATALOG[pid]) for pid in PRODUCT_IDS]
# a changed catalog product, ingested part-way through in (b): new name and a price that
# flips the price_deviation warning of later events
CATALOG_CHANGE = catalog_record("PROD-002", "Gadget Pro", "tools", Decimal("60.00"), 5)


def new_dir(tmp_path: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix="ex-", dir=tmp_path))


def open_pipeline(path: Path, **kwargs: Any) -> Pipeline:
    kwargs.setdefault("clock", clock)
    return Pipeline(path, load_entrypoints=False, **kwargs)


def copy_database(p: Pipeline, path: Path) -> None:
    dst = sqlite3.connect(path)
    p.log.conn.backup(dst)
    dst.close()


# -- order events: a logical description, rendered in one of the contract's variants ------

STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled", "refunded")
RANK = {s: i for i, s in enumerate(STATUSES)}
REVENUE_STATUSES = {"confirmed", "shipped", "delivered"}
LIFECYCLES = (
    ("pending", "confirmed", "shipped", "delivered"),
    ("pending", "confirmed", "shipped", "delivered", "refunded"),
    ("pending", "cancelled"),
    ("pending", "confirmed", "cancelled"),
    ("confirmed", "shipped", "delivered"),
)
# variant -> the channel the order gets when this event wins
VARIANT_CHANNEL = {"web": "web", "store": "store", "mobile": "mobile", "api": "api",
                   "api_implicit": "api", "legacy": "web"}
VARIANTS = tuple(VARIANT_CHANNEL)
CORRUPTIONS = ("quantity_zero", "status_lost", "unknown_product", "no_offset", "truncated",
               "items_empty", "missing_customer", "three_decimals", "schema_7", "eur",
               "total_mismatch")


@dataclass(frozen=True)
class OrderEv:
    order_id: str
    customer_id: str
    ts: datetime  # UTC
    status: str
    items: tuple[tuple[str, int, Decimal], ...]
    country: str
    state: str | None
    city: str | None
    variant: str
    corrupt: str | None = None  # None: a valid event

    @property
    def valid(self) -> bool:
        return self.corrupt is None

    @property
    def raw(self) -> bytes:
        return render(self)


def z(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(ev: OrderEv) -> bytes:
    """The record's bytes in its variant (section 1), with its corruption if any."""
    c, v = ev.corrupt, ev.variant
    if c == "eur" and not v.startswith("api"):
        c = "quantity_zero"
    if c == "total_mismatch" and not v.startswith("api"):
        c = "status_lost"
    ts_text = ev.ts.astimezone(IST).isoformat() if v == "mobile" else z(ev.ts)
    if c == "no_offset":
        ts_text = ts_text[:-6] if v == "mobile" else ts_text[:-1]
    items = []
    for n, (pid, qty, price) in enumerate(ev.items):
        if n == 0:
            if c == "quantity_zero":
                qty = 0
            elif c == "unknown_product":
                pid = "PROD-999"
            elif c == "three_decimals":
                price = price + Decimal("0.005")
        if v == "mobile":
            item: dict[str, Any] = {"product_id": pid, "quantity": qty, "unit_price": str(price)}
        elif v.startswith("api"):
            currency = "EUR" if (n == 0 and c == "eur") else "USD"
            item = {"product_id": pid, "quantity": qty, "price": {"amount": str(price), "currency": currency}}
        elif v == "legacy":
            item = {"product_id": pid, "quantity": qty, "price": price}
        else:
            item = {"product_id": pid, "quantity": qty, "unit_price": price}
        items.append(item)
    if c == "items_empty":
        items = []
    status = "lost" if c == "status_lost" else ev.status
    if v == "mobile":
        status = status.upper()
    customer = "" if c == "missing_customer" else ev.customer_id
    address: dict[str, Any] = {"country": ev.country}
    if ev.state is not None:
        address["state"] = ev.state
    if ev.city is not None:
        address["city"] = ev.city
    if v == "mobile":
        d: dict[str, Any] = {"order_id": ev.order_id, "customerId": customer, "timestamp": ts_text,
                             "channel": "mobile", "items": items, "shipping_address": address,
                             "status": status}
    elif v.startswith("api"):
        total = sum((q * p for _, q, p in ev.items), Decimal("0.00"))
        if c == "total_mismatch":
            total += Decimal("0.02")
        d = {"schema_version": 3, "order_id": ev.order_id, "customer_id": customer,
             "timestamp": ts_text}
        if v == "api":
            d["channel"] = "api"
        d.update({"items": items, "shipping_address": {**address, "country": ev.country.lower()},
                  "status": status, "order_total": str(total), "metadata": {"source": "partner-x"},
                  "coupon_code": "SAVE5"})
    elif v == "legacy":
        d = {"order_id": ev.order_id, "customer_id": customer, "timestamp": ts_text, "items": items,
             **address, "status": status}
    else:
        d = {"order_id": ev.order_id, "customer_id": customer, "timestamp": ts_text, "channel": v,
             "items": items, "shipping_address": address, "status": status}
    if c == "schema_7":
        d = {"schema_version": 7, **{k: val for k, val in d.items() if k != "schema_version"}}
    raw = dumps(d)
    if c == "truncated":
        raw = raw[: len(raw) // 2]
    return raw


def inventory_row(pid: str, qty: str, warehouse: str, last_updated: str, reserved: str | None = None) -> bytes:
    row = {"product_id": pid, "available_quantity": qty, "warehouse_location": warehouse,
           "last_updated": last_updated}
    if reserved is not None:
        row["reserved_quantity"] = reserved  # an extra column: ignored
    return orjson.dumps(row)


# -- strategies ------------------------------------------------------------------------------

ADDRESSES = (
    ("US", "CA", "San Francisco"), ("US", "NY", "New York"), ("US", None, "Austin"),  # no state: warning
    ("GB", None, "London"), ("CA", "ON", "Toronto"), ("DE", None, None),  # no city: warning
)


@st.composite
def prices(draw, pid: str) -> Decimal:
    listed = CATALOG[pid][2]
    cents = int(listed * 100)
    if draw(st.integers(0, 9)) == 0:  # far from the catalog price: a warning only
        cents *= 3
    else:
        cents += draw(st.integers(-50, 50))
    return (Decimal(max(cents, 0)) / 100).quantize(Decimal("0.01"))


@st.composite
def item_lists(draw) -> tuple[tuple[str, int, Decimal], ...]:
    out = []
    for _ in range(draw(st.integers(1, 3))):  # the same product may appear on two lines
        pid = draw(st.sampled_from(PRODUCT_IDS))
        out.append((pid, draw(st.integers(1, 5)), draw(prices(pid))))
    return tuple(out)


@st.composite
def scenarios(draw, max_orders: int = 5) -> tuple[list[OrderEv], list[bytes]]:
    """Order events of a handful of orders (some invalid) and inventory rows (some invalid)."""
    events: list[OrderEv] = []
    for i in range(draw(st.integers(1, max_orders))):
        customer = draw(st.sampled_from(["CUST-1", "CUST-2", "CUST-3", "CUST-4"]))
        lifecycle = draw(st.sampled_from(LIFECYCLES))
        k = draw(st.integers(1, len(lifecycle)))
        slots = draw(st.lists(st.integers(0, 40), min_size=k, max_size=k))
        if draw(st.integers(0, 3)):
            slots.sort()  # usually in lifecycle order; sometimes not
        country, state, city = draw(st.sampled_from(ADDRESSES))
        items = draw(item_lists())
        for status, slot in zip(lifecycle[:k], slots):
            if draw(st.integers(0, 3)) == 0:
                items = draw(item_lists())  # the order changed with this status
            if draw(st.integers(0, 5)) == 0:
                country, state, city = draw(st.sampled_from(ADDRESSES))
            ev = OrderEv(f"ORD-{i + 1:06d}", customer, BASE + slot * SLOT, status, items,
                         country, state, city, draw(st.sampled_from(VARIANTS)))
            events.append(ev)
            if draw(st.integers(0, 4)) == 0:
                # the same event written differently (another variant, sometimes other items):
                # a new record, with the same timestamp and status; the raw bytes decide
                again = replace(ev, variant=draw(st.sampled_from([v for v in VARIANTS if v != ev.variant])))
                if draw(st.booleans()):
                    again = replace(again, items=draw(item_lists()))
                events.append(again)
    for j in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            base = draw(st.sampled_from(events))  # a corrupted copy of a real event
        else:  # an order with nothing valid: it does not exist for the reports
            base = OrderEv(f"ORD-BAD-{j}", "CUST-9", BASE + draw(st.integers(0, 40)) * SLOT,
                           draw(st.sampled_from(STATUSES)), draw(item_lists()), "US", "CA", "LA",
                           draw(st.sampled_from(VARIANTS)))
        events.append(replace(base, corrupt=draw(st.sampled_from(CORRUPTIONS))))
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        pid = draw(st.sampled_from(PRODUCT_IDS))
        qty = str(draw(st.integers(0, 200)))
        when = z(BASE + draw(st.integers(0, 40)) * SLOT)
        bad = draw(st.integers(0, 7))
        if bad == 0:
            pid = "PROD-999"  # unknown_product
        elif bad == 1:
            qty = "-3"  # invalid_quantity
        elif bad == 2:
            when = when[:-1]  # invalid_timestamp: no offset
        reserved = str(draw(st.integers(0, 5))) if draw(st.booleans()) else None
        rows.append(inventory_row(pid, qty, draw(st.sampled_from(["WH-A", "WH-B"])), when, reserved))
    return events, rows


def deliveries(data, records: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The records in a random order, some of them delivered again (exact re-deliveries)."""
    if not records:
        return []
    again = data.draw(st.lists(st.integers(0, len(records) - 1), max_size=4))
    return data.draw(st.permutations(records + [records[i] for i in again]))


def as_records(events: list[OrderEv], rows: list[bytes]) -> list[tuple[str, bytes]]:
    return [("orders", e.raw) for e in events] + [("inventory", r) for r in rows]


def deliver(p: Pipeline, records: list[tuple[str, bytes]]) -> None:
    for stream, group in itertools.groupby(records, key=lambda r: r[0]):
        p.ingest_records(stream, [raw for _, raw in group])


# -- table snapshots -------------------------------------------------------------------------

OFFSET_COLUMNS = {"offset", "first_offset", "last_offset", "win_offset"}
ARRIVAL_TABLES = {"sales_late_events", "sales_restatements", "sales_watermark", "quality_daily",
                  "quality_latency", "quality_problems"}


def table_rows(p: Pipeline, table: str, skip: set[str] = frozenset()) -> tuple[list[str], list[tuple]]:
    cols = [r[1] for r in p.db.execute(f"PRAGMA table_info([{table}])")]
    keep = [c for c in cols if c not in skip]
    rows = p.db.execute(f"SELECT {', '.join(f'[{c}]' for c in keep)} FROM [{table}]").fetchall()
    return keep, sorted(rows, key=repr)


def projection_tables(p: Pipeline, names: tuple[str, ...] | None = None) -> list[str]:
    return [t for name, (_plugin, proj) in sorted(p.projections.projections.items())
            if names is None or name in names for t in proj.tables]


def order_independent_snapshot(p: Pipeline) -> dict[str, Any]:
    snap: dict[str, Any] = {
        t: table_rows(p, t, OFFSET_COLUMNS)
        for t in projection_tables(p, ("catalog", "sales", "inventory", "quality"))
        if t not in ARRIVAL_TABLES
    }
    snap["quality_problems"] = Counter(p.db.execute(
        "SELECT stream, code, severity, reason FROM quality_problems").fetchall())
    return snap


def full_snapshot(p: Pipeline) -> dict[str, Any]:
    snap = {t: table_rows(p, t) for t in projection_tables(p)}
    snap["projection_state"] = table_rows(p, "projection_state")
    return snap


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for table in a:
        assert a[table] == b[table], f"table {table} differs"


# -- (a) arrival order does not matter ---------------------------------------------------------


@settings(max_examples=25, **PROPERTY_SETTINGS)
@given(scenario=scenarios(), data=st.data())
def test_any_permutation_with_redeliveries_gives_the_same_report_tables(tmp_path, scenario, data):
    events, rows = scenario
    records = as_records(events, rows)
    d = new_dir(tmp_path)
    snapshots = []
    for name in ("one.db", "two.db"):
        with open_pipeline(d / name) as p:
            p.ingest_records("catalog", CATALOG_LINES)
            deliver(p, deliveries(data, records))
            p.project()
            snapshots.append(order_independent_snapshot(p))
    assert_same(*snapshots)


# -- (b) catching up in any batches equals one rebuild ------------------------------------------

PROJECTIONS = ("catalog", "inventory", "quality", "sales")


@settings(max_examples=20, **PROPERTY_SETTINGS)
@given(scenario=scenarios(), data=st.data())
def test_incremental_catch_up_equals_a_full_rebuild(tmp_path, scenario, data):
    events, rows = scenario
    records = deliveries(data, as_records(events, rows))
    if data.draw(st.booleans(), label="catalog changes part-way"):
        at = data.draw(st.integers(0, len(records)), label="catalog change position")
        records.insert(at, ("catalog", CATALOG_CHANGE))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(records)), max_size=5), label="cuts"))
    chunks = [records[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)])]
    d = new_dir(tmp_path)
    with open_pipeline(d / "live.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        for chunk in chunks:
            deliver(p, chunk)
            action = data.draw(st.sampled_from(["catch_up", "catch_up", "some", "rebuild", "nothing"]))
            if action == "catch_up":
                p.projections.catch_up(None, batch_size=data.draw(st.integers(1, 7), label="batch"))
            elif action == "some":
                names = data.draw(st.lists(st.sampled_from(PROJECTIONS), min_size=1, unique=True))
                p.projections.catch_up(names, batch_size=data.draw(st.integers(1, 7), label="batch"))
            elif action == "rebuild":
                names = data.draw(st.lists(st.sampled_from(PROJECTIONS), min_size=1, unique=True))
                p.rebuild(names)
        p.projections.catch_up(None, batch_size=data.draw(st.integers(1, 7), label="batch"))
        last = p.log.last_offset()
        assert {off for _v, off in p.projections.state().values()} == {last}
        copy_database(p, d / "copy.db")
        with open_pipeline(d / "copy.db") as q:
            q.rebuild()
            assert_same(full_snapshot(p), full_snapshot(q))
        checks = p.verify()
        assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]


# -- (c) the reports equal an independent computation ---------------------------------------------


@dataclass(frozen=True)
class ResolvedOrder:
    order_id: str
    customer_id: str
    channel: str
    status: str
    country: str
    region: str
    order_date: str
    items: tuple[tuple[str, int, Decimal], ...]

    @property
    def revenue_bearing(self) -> bool:
        return self.status in REVENUE_STATUSES

    @property
    def units(self) -> int:
        return sum(q for _, q, _ in self.items)

    @property
    def value(self) -> Decimal:
        return sum((q * p for _, q, p in self.items), Decimal(0))


def resolve(events: list[OrderEv]) -> dict[str, ResolvedOrder]:
    """Section 5, from the set of valid events (re-deliveries are the same event)."""
    by_order: dict[str, dict[bytes, OrderEv]] = defaultdict(dict)
    for e in events:
        if e.valid:
            by_order[e.order_id][e.raw] = e
    out = {}
    for oid, evs in by_order.items():
        win = max(evs.values(), key=lambda e: (e.ts, RANK[e.status], e.raw))
        placed = min(e.ts for e in evs.values())
        country = win.country.upper()
        out[oid] = ResolvedOrder(
            order_id=oid, customer_id=win.customer_id, channel=VARIANT_CHANNEL[win.variant],
            status=win.status, country=country,
            region=f"{country}-{win.state}" if win.state else country,
            order_date=placed.astimezone(timezone.utc).date().isoformat(), items=win.items)
    return out


def expected_revenue(orders: dict[str, ResolvedOrder], lo: str, hi: str) -> list[dict[str, Any]]:
    acc: dict[tuple, list] = {}
    for o in orders.values():
        if o.revenue_bearing and lo <= o.order_date <= hi:
            a = acc.setdefault((o.order_date, o.channel, o.country, o.region), [0, 0, Decimal(0)])
            a[0] += 1
            a[1] += o.units
            a[2] += o.value
    return [{"date": k[0], "channel": k[1], "country": k[2], "region": k[3], "orders": v[0],
             "units": v[1], "revenue": v[2]} for k, v in sorted(acc.items())]


def expected_products(orders: dict[str, ResolvedOrder], lo: str, hi: str) -> dict[str, dict[str, Any]]:
    acc: dict[str, dict[str, Any]] = {}
    for o in orders.values():
        if not (o.revenue_bearing and lo <= o.order_date <= hi):
            continue
        for pid, q, price in o.items:
            name, category = CATALOG[pid][:2]
            a = acc.setdefault(pid, {"product_id": pid, "name": name, "category": category,
                                     "orders": set(), "units": 0, "revenue": Decimal(0)})
            a["orders"].add(o.order_id)
            a["units"] += q
            a["revenue"] += q * price
    for a in acc.values():
        a["orders"] = len(a["orders"])
    return acc


def expected_customers(orders: dict[str, ResolvedOrder], lo: str, hi: str):
    acc: dict[str, list] = {}
    for o in orders.values():
        if o.revenue_bearing and lo <= o.order_date <= hi:
            a = acc.setdefault(o.customer_id, [0, Decimal(0), o.order_date, o.order_date])
            a[0] += 1
            a[1] += o.value
            a[2] = min(a[2], o.order_date)
            a[3] = max(a[3], o.order_date)
    ranked = sorted(acc.items(), key=lambda kv: (-kv[1][1], kv[0]))  # by revenue, ties by customer_id
    rows = [{"customer_id": cid, "orders": n, "revenue": rev, "first_order_date": first,
             "last_order_date": last} for cid, (n, rev, first, last) in ranked]
    total = sum((r["revenue"] for r in rows), Decimal(0))
    top_n = -(-len(rows) // 10)  # ceil(10% of the customers), in integers
    summary = {
        "customers": len(rows),
        "repeat_rate": Fraction(sum(r["orders"] >= 2 for r in rows), len(rows)) if rows else None,
        "top_n": top_n,
        "top_share": Fraction(sum(r["revenue"] for r in rows[:top_n])) / Fraction(total) if total else None,
    }
    return rows, summary


def cents(x: Decimal | Fraction) -> Decimal:
    if isinstance(x, Fraction):
        x = Decimal(x.numerator) / Decimal(x.denominator)
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def close(reported: Decimal | None, exact: Fraction | None, places: int = 4) -> bool:
    if exact is None:
        return reported is None
    return reported is not None and abs(Fraction(reported) - exact) <= Fraction(1, 2 * 10**places)


DAYS = [(BASE.date() + timedelta(days=n)).isoformat() for n in range(-1, 4)]


@settings(max_examples=30, **PROPERTY_SETTINGS)
@given(scenario=scenarios(max_orders=8), data=st.data())
def test_reports_equal_an_independent_computation(tmp_path, scenario, data):
    events, rows = scenario
    lo, hi = sorted(data.draw(st.lists(st.sampled_from(DAYS), min_size=2, max_size=2), label="range"))
    orders = resolve(events)
    d = new_dir(tmp_path)
    with open_pipeline(d / "log.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        deliver(p, deliveries(data, as_records(events, rows)))
        p.project()

        for start, end in ((lo, hi), (DAYS[0], DAYS[-1])):
            got = revenue(p, start=start, end=end)
            assert got.rows == expected_revenue(orders, start, end)

            want = expected_products(orders, start, end)
            for by in ("units", "revenue"):
                got_products = products(p, start=start, end=end, by=by, limit=None).rows
                assert {r["product_id"]: r for r in got_products} == want
                keys = [r[by] for r in got_products]
                assert keys == sorted(keys, reverse=True)  # ranked (ties: see the dedicated test)

            rows_want, summary_want = expected_customers(orders, start, end)
            report = customers(p, start=start, end=end, limit=None)
            keys = ("customer_id", "orders", "revenue", "first_order_date", "last_order_date")
            assert [{k: r[k] for k in keys} for r in report.rows] == rows_want
            for r, w in zip(report.rows, rows_want):
                assert cents(r["avg_order_value"]) == cents(Fraction(w["revenue"]) / w["orders"])
            s = report.summary
            assert s["customers"] == summary_want["customers"]
            assert s["top_10pct_customers"] == summary_want["top_n"]
            assert close(s["repeat_customer_rate"], summary_want["repeat_rate"])
            assert close(s["top_10pct_revenue_share"], summary_want["top_share"])


def test_customers_summary_top_ten_percent_with_many_customers(tmp_path):
    """The ceiling of 10% of the customers, by revenue, ties by customer_id; repeat rate."""
    lines = []
    for n in range(31):  # 31 customers: the top 10% is 4 of them
        for k in range(1 + (n % 3 == 0)):  # every third customer orders twice
            lines.append(dumps({
                "order_id": f"ORD-{n:03d}-{k}", "customer_id": f"CUST-{n:03d}",
                "timestamp": z(BASE + timedelta(hours=n)), "channel": "web",
                "items": [{"product_id": "PROD-001", "quantity": 1 + n % 4, "unit_price": Decimal("10.00")}],
                "shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": "confirmed"}))
    with open_pipeline(tmp_path / "log.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        p.ingest_records("orders", lines)
        p.project()
        report = customers(p, limit=None)
    revenue_of = {f"CUST-{n:03d}": Decimal(10 * (1 + n % 4) * (1 + (n % 3 == 0))) for n in range(31)}
    ranked = sorted(revenue_of, key=lambda c: (-revenue_of[c], c))
    assert [r["customer_id"] for r in report.rows] == ranked
    s = report.summary
    assert s["customers"] == 31
    assert s["top_10pct_customers"] == 4
    top = sum(revenue_of[c] for c in ranked[:4])
    assert close(s["top_10pct_revenue_share"], Fraction(top) / Fraction(sum(revenue_of.values())))
    assert close(s["repeat_customer_rate"], Fraction(11, 31))


def test_top_products_ties_are_broken_by_product_id(tmp_path):
    """Contract section 5: 'ranked by units or by revenue, ties by product_id'."""
    def order(oid: str, pid: str, qty: int, price: str) -> bytes:
        return dumps({"order_id": oid, "customer_id": "CUST-1", "timestamp": z(BASE), "channel": "web",
                      "items": [{"product_id": pid, "quantity": qty, "unit_price": Decimal(price)}],
                      "shipping_address": {"country": "US", "state": "CA", "city": "SF"},
                      "status": "confirmed"})

    with open_pipeline(tmp_path / "log.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        p.ingest_records("orders", [
            order("O1", "PROD-001", 2, "10.00"),    # 2 units, 20.00
            order("O2", "PROD-002", 2, "25.50"),    # 2 units, 51.00
            order("O3", "PROD-003", 1, "100.00"),   # 1 unit, 100.00
            order("O4", "PROD-004", 1, "42.00"),    # 1 unit, 42.00 (price_deviation: still counts)
            order("O5", "PROD-005", 3, "14.00"),    # 3 units, 42.00 (price_deviation: still counts)
        ])
        p.project()
        by_units = [r["product_id"] for r in products(p, by="units", limit=None).rows]
        by_revenue = [r["product_id"] for r in products(p, by="revenue", limit=None).rows]
    # units: 3 (005), then 2 and 2 (001 before 002 by product_id), then 1 and 1 (003 before 004)
    assert by_units == ["PROD-005", "PROD-001", "PROD-002", "PROD-003", "PROD-004"]
    # revenue: 100 (003), 51 (002), then 42 and 42 (004 before 005 by product_id), 20 (001)
    assert by_revenue == ["PROD-003", "PROD-002", "PROD-004", "PROD-005", "PROD-001"]


# -- (d) one test per rule --------------------------------------------------------------------


def web_order(oid: str, ts: str, status: str = "confirmed", *, qty: int = 1, pid: str = "PROD-001",
              price: str = "10.00", customer: str = "CUST-1") -> bytes:
    return dumps({"order_id": oid, "customer_id": customer, "timestamp": ts, "channel": "web",
                  "items": [{"product_id": pid, "quantity": qty, "unit_price": Decimal(price)}],
                  "shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": status})


LATENESS_LOG = [
    ("orders", web_order("O1", "2024-01-15T10:00:00Z")),            # wm -> 09:00
    ("orders", web_order("O2", "2024-01-15T12:00:00Z")),            # wm -> 11:00
    ("orders", web_order("O3", "2024-01-15T11:00:00Z", "pending")),  # equal to the watermark: not late
    ("orders", web_order("O4", "2024-01-15T10:59:59Z")),            # late (day not closed)
    ("orders", web_order("OBAD1", "2024-01-16T05:00:00Z", qty=0)),  # quarantined: wm stays
    ("orders", web_order("OBAD2", "2024-01-16T06:00:00Z", pid="PROD-999")),  # quarantined
    ("inventory", inventory_row("PROD-001", "5", "WH-A", "2024-01-17T00:00:00Z")),  # not an order
    ("orders", web_order("O6", "2024-01-15T11:30:00Z")),            # not late: wm is still 11:00
    ("orders", web_order("O7", "2024-01-16T01:30:00Z")),            # wm -> 16T00:30: the 15th closes
    ("orders", web_order("O8", "2024-01-15T23:00:00Z", qty=3)),     # late, restates 2024-01-15
]


def ingest_in_order(p: Pipeline, records: list[tuple[str, bytes]]) -> None:
    for stream, raw in records:
        p.ingest_records(stream, [raw])


def late_orders(p: Pipeline) -> list[str]:
    return [r[0] for r in p.db.execute('SELECT order_id FROM sales_late_events ORDER BY "offset"')]


def restated(p: Pipeline) -> list[tuple[str, str]]:
    return [tuple(r) for r in p.db.execute('SELECT date, order_id FROM sales_restatements ORDER BY "offset"')]


def test_late_events_and_restatements_follow_the_watermark(tmp_path):
    with open_pipeline(tmp_path / "log.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        ingest_in_order(p, LATENESS_LOG)
        summary = p.ingest_records("orders", [LATENESS_LOG[-1][1]])  # an exact re-delivery
        assert summary.duplicates == 1
        p.project()
        assert late_orders(p) == ["O4", "O8"]
        assert restated(p) == [("2024-01-15", "O8")]
        wm = p.db.execute("SELECT max_ts, watermark FROM sales_watermark").fetchone()
        assert wm == ("2024-01-16T01:30:00.000000Z", "2024-01-16T00:30:00.000000Z")
        # late events still count: the 15th has O1 O2 O4 O6 O8 (O3 is pending)
        day = revenue(p, on="2024-01-15")
        assert day.summary["orders"] == 5 and day.summary["revenue"] == Decimal("70.00")
        assert quality(p).summary["codes"]["late_event"] == {"severity": "warning", "records": 2}
        assert operations(p).summary["late"] == 2


def test_allowed_lateness_changes_which_events_are_late_and_rebuilds_sales(tmp_path):
    two_hours = Settings(allowed_lateness=timedelta(hours=2))
    with open_pipeline(tmp_path / "two.db", settings=two_hours) as p:
        p.ingest_records("catalog", CATALOG_LINES)
        ingest_in_order(p, LATENESS_LOG)
        p.project()
        # wm 10:00 after O2: O4 is in time; after O7 the wm is 15T23:30, so the 15th is open
        assert late_orders(p) == ["O8"]
        assert restated(p) == []
        fresh = full_snapshot(p)

    with open_pipeline(tmp_path / "log.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        ingest_in_order(p, LATENESS_LOG)
        p.project()
        assert late_orders(p) == ["O4", "O8"]
    with open_pipeline(tmp_path / "log.db", settings=two_hours) as p:
        results = {r.name: r.rebuilt for r in p.project()}
        assert results.pop("sales") is True  # its config changed: rebuilt from offset 0
        assert not any(results.values())  # the others do not depend on the lateness
        assert late_orders(p) == ["O8"]
        assert restated(p) == []
        reopened = full_snapshot(p)
    sales = set(projection_tables(p, ("sales",)))
    assert {t: v for t, v in reopened.items() if t in sales} == {t: v for t, v in fresh.items() if t in sales}
    with open_pipeline(tmp_path / "log.db") as p:  # back to the default: rebuilt again
        assert {r.name: r.rebuilt for r in p.project()}["sales"] is True
        assert late_orders(p) == ["O4", "O8"]


def test_inventory_late_batch_never_overwrites_a_newer_level_and_report_by_hand(tmp_path):
    orders = [
        web_order("O1", "2024-01-15T10:00:00Z", qty=6, pid="PROD-001"),
        dumps({"order_id": "O2", "customer_id": "CUST-2", "timestamp": "2024-01-17T12:00:00Z",
               "channel": "web", "items": [
                   {"product_id": "PROD-001", "quantity": 3, "unit_price": Decimal("10.00")},
                   {"product_id": "PROD-002", "quantity": 4, "unit_price": Decimal("25.50")}],
               "shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": "shipped"}),
        web_order("O3", "2024-01-16T09:00:00Z", "pending", qty=50, pid="PROD-001"),  # not sold
    ]
    batch_1 = [
        inventory_row("PROD-001", "100", "WH-A", "2024-01-15T08:00:00Z"),
        inventory_row("PROD-004", "5", "WH-B", "2024-01-15T00:00:00Z", "2"),
    ]
    batch_2 = [
        inventory_row("PROD-001", "80", "WH-A", "2024-01-16T15:00:00Z"),
        inventory_row("PROD-001", "40", "WH-B", "2024-01-16T09:00:00Z"),
        inventory_row("PROD-002", "10", "WH-A", "2024-01-16T12:00:00Z"),
        inventory_row("PROD-001", "30", "WH-B", "2024-01-17T23:59:59Z"),
        inventory_row("PROD-002", "50", "WH-A", "2024-01-18T01:00:00Z"),  # after the period
    ]
    late_batch = [inventory_row("PROD-001", "90", "WH-A", "2024-01-15T20:00:00Z")]  # older than 80 @ 16th
    with open_pipeline(tmp_path / "log.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        p.ingest_records("orders", orders)
        p.ingest_records("inventory", batch_1)
        p.ingest_records("inventory", batch_2)
        p.project()
        p.ingest_records("inventory", late_batch)
        p.project()
        current = dict(((pid, wh), qty) for pid, wh, qty in p.db.execute(
            "SELECT product_id, warehouse, quantity FROM inventory_current"))
        assert current == {("PROD-001", "WH-A"): 80, ("PROD-001", "WH-B"): 30,
                           ("PROD-002", "WH-A"): 50, ("PROD-004", "WH-B"): 5}
        report = inventory(p)
    assert (report.summary["from"], report.summary["to"], report.summary["days"]) == ("2024-01-15", "2024-01-17", 3)
    rows = {r["product_id"]: r for r in report.rows}
    assert set(rows) == set(CATALOG)  # every active catalog product, stocked or not
    # PROD-003 and PROD-005: never stocked, never sold: nothing available, low on stock
    for pid in ("PROD-003", "PROD-005"):
        assert (rows[pid]["available"], rows[pid]["warehouses"], rows[pid]["units_sold"]) == (0, 0, 0)
        assert rows[pid]["low_stock"] is True and rows[pid]["turnover"] is None  # no stock days

    # PROD-001: closing 15th = A 90 (the late 20:00 level; B unknown) ; 16th = 80 + 40 ; 17th = 80 + 30
    avg_stock = Fraction(90 + 120 + 110, 3)
    want_1 = {"available": 110, "warehouses": 2, "units_sold": 9, "avg_daily_units": cents(Fraction(9, 3)),
              "days_of_cover": cents(Fraction(110) / Fraction(9, 3)), "turnover": cents(Fraction(9) / avg_stock),
              "reorder_point": 20, "low_stock": False}
    # PROD-002: no level known on the 15th (left out); 10 on the 16th and 17th
    want_2 = {"available": 50, "warehouses": 1, "units_sold": 4, "avg_daily_units": cents(Fraction(4, 3)),
              "days_of_cover": cents(Fraction(50) / Fraction(4, 3)), "turnover": cents(Fraction(4, 10)),
              "reorder_point": 5, "low_stock": False}
    # PROD-004: 5 in stock, reorder point 0 -> not low; nothing sold
    want_4 = {"available": 5, "warehouses": 1, "units_sold": 0, "avg_daily_units": Decimal("0.00"),
              "turnover": Decimal("0.00"), "reorder_point": 0, "low_stock": False}
    for pid, want in (("PROD-001", want_1), ("PROD-002", want_2), ("PROD-004", want_4)):
        assert {k: rows[pid][k] for k in want} == want, pid
    assert rows["PROD-004"]["days_of_cover"] is None  # nothing sold: no cover figure


def test_low_stock_is_available_at_or_below_the_reorder_point(tmp_path):
    with open_pipeline(tmp_path / "log.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        p.ingest_records("orders", [web_order("O1", "2024-01-15T10:00:00Z")])
        p.ingest_records("inventory", [
            inventory_row("PROD-001", "12", "WH-A", "2024-01-15T08:00:00Z"),
            inventory_row("PROD-001", "8", "WH-B", "2024-01-15T08:00:00Z"),   # 20 == reorder point 20
            inventory_row("PROD-002", "6", "WH-A", "2024-01-15T08:00:00Z"),   # 6 > 5
            inventory_row("PROD-003", "49", "WH-A", "2024-01-15T08:00:00Z"),  # 49 <= 50
        ])
        p.project()
        rows = {r["product_id"]: r for r in inventory(p).rows}
    assert {pid: r["low_stock"] for pid, r in rows.items()} == {
        "PROD-001": True, "PROD-002": False, "PROD-003": True,
        "PROD-004": True, "PROD-005": True}  # not stocked: 0 <= their reorder points (0 and 20)


def upcast_partner_v4(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": record["ref"], "customer_id": record["buyer"], "timestamp": record["at"],
        "channel": "partner",
        "items": [{"product_id": i["sku"], "quantity": i["n"], "unit_price": Decimal(i["cents"]) / 100}
                  for i in record["lines"]],
        "shipping_address": record["ship_to"], "status": record["state"],
    }


class PartnerV4:
    """A variant nobody knew at ingest: a plugin registers its schema and upcaster later."""

    __name__ = "partner-v4"

    @hookimpl
    def register_schemas(self):
        return [Schema(stream="orders", variant="partner", version=4,
                       detect=lambda r: isinstance(r, dict) and r.get("schema_version") == 4)]

    @hookimpl
    def register_upcasters(self):
        return [Upcaster(stream="orders", variant="partner", from_version=4, to_variant="web",
                         to_version=2, upcast=upcast_partner_v4)]


def test_a_plugin_upcaster_and_a_rebuild_bring_quarantined_records_back(tmp_path):
    def partner(ref: str, at: str, state: str, n: int) -> bytes:
        return dumps({"schema_version": 4, "ref": ref, "buyer": "CUST-7", "at": at,
                      "lines": [{"sku": "PROD-002", "n": n, "cents": 2550}],
                      "ship_to": {"country": "US", "state": "NY", "city": "NYC"}, "state": state})

    records = [web_order("O1", "2024-01-15T10:00:00Z"),
               partner("P1", "2024-01-15T11:00:00Z", "pending", 2),
               partner("P1", "2024-01-15T12:00:00Z", "confirmed", 2),
               partner("P2", "2024-01-16T09:00:00Z", "shipped", 1)]
    path = tmp_path / "log.db"
    with open_pipeline(path) as p:
        p.ingest_records("catalog", CATALOG_LINES)
        p.ingest_records("orders", records)
        p.project()
        log_size = p.log.last_offset()
        assert [r[0] for r in p.db.execute("SELECT order_id FROM sales_orders")] == ["O1"]
        codes = Counter(r[0] for r in p.db.execute("SELECT code FROM quality_problems"))
        assert codes == {"unknown_schema": 3}
    with open_pipeline(path, plugins=[PartnerV4()]) as p:
        p.rebuild()
        assert p.log.last_offset() == log_size  # nothing re-ingested
        got = {r[0]: r[1:] for r in p.db.execute(
            "SELECT order_id, customer_id, channel, status, region, order_date, units, value_cents "
            "FROM sales_orders")}
        assert got == {
            "O1": ("CUST-1", "web", "confirmed", "US-CA", "2024-01-15", 1, 1000),
            "P1": ("CUST-7", "partner", "confirmed", "US-NY", "2024-01-15", 2, 5100),
            "P2": ("CUST-7", "partner", "shipped", "US-NY", "2024-01-16", 1, 2550),
        }
        assert [(r["date"], r["channel"], r["revenue"])
                for r in revenue(p, start="2024-01-15", end="2024-01-16").rows] == [
            ("2024-01-15", "partner", Decimal("51.00")), ("2024-01-15", "web", Decimal("10.00")),
            ("2024-01-16", "partner", Decimal("25.50"))]
        assert p.db.execute("SELECT COUNT(*) FROM quality_problems WHERE code = 'unknown_schema'").fetchone()[0] == 0
        order_events = [e.payload.order_id for e in p.events(stream="orders") if e.payload is not None]
        assert order_events == ["O1", "P1", "P1", "P2"]


def test_catalog_checks_use_the_catalog_at_the_events_place_in_the_log(tmp_path):
    """unknown_product and price_deviation are judged against the catalog as it stood where
    the event sits in the log, so a rebuild reproduces them."""
    new_product = catalog_record("PROD-006", "Thingamajig", "toys", Decimal("30.00"), 20)
    repriced = catalog_record("PROD-001", "Widget", "tools", Decimal("30.00"), 20)
    with open_pipeline(tmp_path / "log.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        ingest_in_order(p, [
            ("orders", web_order("O1", "2024-01-15T10:00:00Z", pid="PROD-006", price="30.00")),  # unknown yet
            ("orders", web_order("O2", "2024-01-15T10:00:00Z", price="10.00")),  # at the catalog price
            ("catalog", new_product),
            ("catalog", repriced),
            ("orders", web_order("O1", "2024-01-15T11:00:00Z", "shipped", pid="PROD-006", price="30.00")),
            ("orders", web_order("O3", "2024-01-15T11:00:00Z", price="10.00")),  # 10 vs 30: > 50% away
        ])
        p.project()

        def problems() -> list[tuple]:
            return p.db.execute(
                'SELECT l.natural_key, q.code FROM quality_problems q JOIN event_log l USING ("offset") '
                'ORDER BY q."offset", q.n').fetchall()

        assert problems() == [("O1", "unknown_product"), ("O3", "price_deviation")]
        orders = {r[0]: r[1:] for r in p.db.execute(
            "SELECT order_id, status, order_date, value_cents FROM sales_orders")}
        assert orders == {"O1": ("shipped", "2024-01-15", 3000), "O2": ("confirmed", "2024-01-15", 1000),
                          "O3": ("confirmed", "2024-01-15", 1000)}
        assert [e.problems[0].code for e in p.events(stream="orders") if e.problems] == [
            "unknown_product", "price_deviation"]
        before = full_snapshot(p)
        p.rebuild()
        assert full_snapshot(p) == before


class NoPriceJumps:
    """A throwaway plugin: a catalog validator that reads the catalog so far
    (``context.catalog``) and quarantines a price more than doubled."""

    __name__ = "no-price-jumps"

    @hookimpl
    def register_validators(self):
        def check(record, context):
            before = (context.catalog or {}).get(record.get("product_id"))
            price = record.get("price")
            if before is not None and isinstance(price, Decimal) and price > 2 * before.price:
                yield "price_jump", f"{price} is more than double {before.price}"

        return [Validator(name="no_price_jumps", stream="catalog", codes={"price_jump": "error"}, check=check)]


def test_a_catch_up_starting_mid_log_reads_the_catalog_as_a_rebuild_does(tmp_path):
    """The catalog view a new runner folds up to where its projections stand checks each
    catalog record against the catalog before it, as reading the log in order does."""
    jump = catalog_record("PROD-001", "Widget", "tools", Decimal("30.00"), 20)  # from 10.00
    with open_pipeline(tmp_path / "log.db", plugins=[NoPriceJumps()]) as p:
        p.ingest_records("catalog", CATALOG_LINES)
        ingest_in_order(p, [("catalog", jump)])
        p.project()  # in log order: the jump is quarantined, PROD-001 stays at 10.00
    with open_pipeline(tmp_path / "log.db", plugins=[NoPriceJumps()]) as p:  # a new runner
        ingest_in_order(p, [("orders", web_order("O1", "2024-01-15T10:00:00Z", price="10.00"))])
        p.project()
        codes = p.db.execute("SELECT code FROM quality_problems ORDER BY \"offset\"").fetchall()
        assert codes == [("price_jump",)]  # and no price_deviation for O1
        assert all(check.ok for check in p.verify())


def test_each_catch_up_judges_against_the_catalog_so_far_and_reads_its_history_once(tmp_path):
    """The runner keeps the catalog as of where a catch-up ended, and the next one moves it
    on through the catalog records appended since: same checks as a rebuild, without
    decoding the catalog history at every catch-up."""
    repriced = catalog_record("PROD-001", "Widget", "tools", Decimal("30.00"), 20)
    with open_pipeline(tmp_path / "log.db") as p:
        catalog_reads: list[int] = []
        decode = p.reader.decode

        def counting(record, **kwargs):
            if record.stream == "catalog":
                catalog_reads.append(record.offset)
            return decode(record, **kwargs)

        p.reader.decode = counting
        p.ingest_records("catalog", CATALOG_LINES)
        ingest_in_order(p, [("orders", web_order("O1", "2024-01-15T10:00:00Z", price="10.00"))])
        p.project()
        first = len(catalog_reads)
        assert first == len(CATALOG_LINES)
        ingest_in_order(p, [("catalog", repriced),
                            ("orders", web_order("O2", "2024-01-15T11:00:00Z", price="10.00"))])  # 10 vs 30
        p.project()
        assert len(catalog_reads) == first + 1  # only the new catalog record
        ingest_in_order(p, [("orders", web_order("O3", "2024-01-15T12:00:00Z", price="30.00"))])
        p.project()
        assert len(catalog_reads) == first + 1
        codes = p.db.execute(
            'SELECT l.natural_key, q.code FROM quality_problems q JOIN event_log l USING ("offset") '
            'ORDER BY q."offset"').fetchall()
        assert codes == [("O2", "price_deviation")]
        before = full_snapshot(p)
        p.rebuild()
        assert full_snapshot(p) == before
