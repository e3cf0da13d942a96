"""The fraud plugin as a user meets it: a warning validator, a deterministic projection with
its own tables, a report, and loading through its entry point.

Every check goes through a real :class:`~fastcommerce.Pipeline` (an in-memory database
where a file is not needed), so ingestion, read-time validation against the catalog, the
projection runner's batches and its offsets all take part. A catalog is always loaded
before the orders: orders are checked against the catalog as it stands at their place in
the log.
"""

from __future__ import annotations

import functools
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

import fastcommerce_fraud
from fastcommerce import Pipeline
from fastcommerce.reports.formatting import render

UTC = timezone.utc
FIXED_NOW = datetime(2024, 1, 20, 12, 0, tzinfo=UTC)
BASE = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)
TABLES = ("fraud_orders", "fraud_customers", "fraud_signals")

CATALOG = [
    {"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 29.99},
    {"product_id": "PROD-002", "name": "Spoon", "category": "home", "price": 5.00},
    {"product_id": "PROD-003", "name": "Lamp", "category": "home", "price": 80.00},
]
CITIES = {"US": ("CA", "San Francisco"), "GB": (None, "London"), "DE": (None, "Berlin"),
          "FR": (None, "Paris")}


def at(minutes: float) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def order(order_id: str, customer: str, minutes: float, status: str = "confirmed", country: str = "US",
          items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A canonical (web) order event."""
    state, city = CITIES[country]
    address = {"country": country, "city": city, **({"state": state} if state else {})}
    return {"order_id": order_id, "customer_id": customer, "timestamp": at(minutes), "channel": "web",
            "items": items or [{"product_id": "PROD-001", "quantity": 1, "unit_price": 29.99}],
            "shipping_address": address, "status": status}


def make_pipeline(db: Any = None, **kwargs: Any) -> Pipeline:
    """Built-ins plus the plugin, registered explicitly (no entry points), a fixed clock and
    the catalog already in the log."""
    p = Pipeline(db if db is not None else Database(memory=True), load_entrypoints=False,
                 plugins=[fastcommerce_fraud], clock=lambda: FIXED_NOW, **kwargs)
    summary = p.ingest_records("catalog", CATALOG)
    assert summary.appended == len(CATALOG), summary
    return p


def fraud_tables(pipeline: Pipeline) -> dict[str, list[tuple]]:
    """Every row of the plugin's tables, in a canonical order."""
    out = {}
    for table in TABLES:
        cols = [r[1] for r in pipeline.db.execute(f"PRAGMA table_info([{table}])")]
        order_by = ", ".join(f"[{c}]" for c in cols)
        out[table] = pipeline.db.execute(f"SELECT * FROM [{table}] ORDER BY {order_by}").fetchall()
    return out


def codes(event) -> set[str]:
    return {p.code for p in event.problems}


# -- the validator: flags, never quarantines, never raises ----------------------------------


def test_suspicious_quantity_is_a_warning_and_the_order_still_counts():
    big = order("ORD-BIG", "CUST-1", 0, items=[{"product_id": "PROD-002", "quantity": 51, "unit_price": 5.00},
                                               {"product_id": "PROD-001", "quantity": 1, "unit_price": 29.99}])
    edge = order("ORD-EDGE", "CUST-2", 5, items=[{"product_id": "PROD-002", "quantity": 50, "unit_price": 5.00}])
    with make_pipeline() as p:
        p.ingest_records("orders", [big, edge])
        flagged, on_the_edge = p.events(stream="orders")
        assert codes(flagged) == {"suspicious_quantity"}
        (problem,) = flagged.problems
        assert problem.severity == "warning" and problem.validator == "fraud_quantity"
        assert "items[0].quantity 51 of 'PROD-002' is above 50" in problem.reason
        assert not flagged.quarantined and flagged.payload is not None
        assert on_the_edge.problems == ()  # 50 is not above 50

        quality = p.report("quality")
        assert quality.summary["codes"]["suspicious_quantity"] == {"severity": "warning", "records": 1}
        assert quality.summary["quarantined"] == 0
        revenue = p.report("revenue")  # the flagged order is revenue like any other
        assert revenue.summary["orders"] == 2
        assert revenue.summary["revenue"] == Decimal("534.99")  # 51 * 5.00 + 29.99 + 50 * 5.00
        customer = p.db.execute("SELECT orders, value_cents FROM fraud_customers WHERE customer_id = 'CUST-1'"
                                ).fetchone()
        assert customer == (1, 28499)
        assert p.report("fraud").summary["suspicious_quantity_events"] == 1


def test_warning_is_not_counted_on_a_quarantined_event():
    bad = order("ORD-BAD", "CUST-1", 0, items=[{"product_id": "PROD-999", "quantity": 80, "unit_price": 5.00}])
    with make_pipeline() as p:
        p.ingest_records("orders", [bad])
        (event,) = p.events(stream="orders")
        assert codes(event) == {"unknown_product", "suspicious_quantity"}
        assert event.quarantined  # by the catalog check, not by the plugin
        assert "suspicious_quantity" not in p.report("quality").summary["codes"]
        assert fraud_tables(p) == {t: [] for t in TABLES}


@pytest.mark.parametrize("record", [
    None, [], "items", 7, {}, {"items": None}, {"items": "PROD-001"}, {"items": [None, "x", 3]},
    {"items": [{"quantity": "99"}, {"quantity": 99.0}, {"quantity": True}, {"quantity": None}, {}]},
    {"items": [{"quantity": 10**30, "product_id": 5}]},
])
def test_validator_never_raises_on_odd_values(record):
    found = list(fastcommerce_fraud.check_quantity(record))
    if record == {"items": [{"quantity": 10**30, "product_id": 5}]}:
        assert [code for code, _ in found] == ["suspicious_quantity"]
    else:
        assert found == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["items", "quantity", "product_id", "x"]), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(json_values)
def test_validator_is_total(value):
    for record in (value, {"items": value}, {"items": [value]}):
        for code, reason in fastcommerce_fraud.check_quantity(record):
            assert code == "suspicious_quantity" and isinstance(reason, str)


def test_odd_records_through_the_pipeline_are_quarantined_by_the_built_ins_not_the_plugin():
    records = [{**order("ORD-1", "C", 0), "items": [{"product_id": "PROD-001", "quantity": "77", "unit_price": 29.99}]},
               {**order("ORD-2", "C", 0), "items": "PROD-001"},
               {**order("ORD-3", "C", 0), "items": [None]}]
    with make_pipeline() as p:
        p.ingest_records("orders", records)
        events = list(p.events(stream="orders"))
        assert [codes(e) for e in events] == [{"invalid_item"}] * 3
        assert all(e.quarantined for e in events)
        p.project()
        assert fraud_tables(p) == {t: [] for t in TABLES}


# -- the projection: signals on a crafted set of events -------------------------------------

SCENARIO: list[dict[str, Any]] = [
    # three distinct countries (the fourth order moved from FR to GB): many_countries
    order("W1", "CUST-WORLD", 0, country="US"),
    order("W2", "CUST-WORLD", 100, country="GB"),
    order("W3", "CUST-WORLD", 200, country="DE"),
    order("W4", "CUST-WORLD", 300, status="pending", country="FR"),
    order("W4", "CUST-WORLD", 310, status="confirmed", country="GB"),
    # two countries only
    order("T1", "CUST-TWO", 0, country="US"),
    order("T2", "CUST-TWO", 100, country="DE",
          items=[{"product_id": "PROD-002", "quantity": 60, "unit_price": 5.00}]),
    # 2 of 4 orders cancelled or refunded: high_refund_rate; the refund arrives before its confirmation
    order("R1", "CUST-REFUND", 500, status="refunded"),
    order("R1", "CUST-REFUND", 0, status="confirmed"),
    order("R2", "CUST-REFUND", 100, status="pending"),
    order("R2", "CUST-REFUND", 110, status="cancelled"),
    order("R3", "CUST-REFUND", 200, status="delivered"),
    order("R4", "CUST-REFUND", 300, status="shipped",
          items=[{"product_id": "PROD-003", "quantity": 2, "unit_price": 79.99}]),
    # 1 of 4 cancelled; and 3 of 3 cancelled (too few orders): neither is a signal
    *[order(f"OK{n}", "CUST-FINE", 100 * n, status="cancelled" if n == 0 else "delivered") for n in range(4)],
    *[order(f"F{n}", "CUST-FEW", 100 * n, status="cancelled") for n in range(3)],
    # 5 orders placed within exactly one hour: velocity (a later event does not move the placed time)
    *[order(f"V{n}", "CUST-FAST", m) for n, m in enumerate((0, 10, 20, 30, 60))],
    order("V0", "CUST-FAST", 400, status="shipped"),
    # 5 orders over 61 minutes: at most 4 within an hour
    *[order(f"S{n}", "CUST-SLOW", m) for n, m in enumerate((0, 15, 30, 45, 61))],
    # quarantined (a product the catalog does not hold): would have made CUST-SLOW fast
    order("S9", "CUST-SLOW", 50, items=[{"product_id": "PROD-999", "quantity": 1, "unit_price": 1.00}]),
    order("G1", "CUST-GHOST", 0, items=[{"product_id": "PROD-999", "quantity": 1, "unit_price": 1.00}]),
    # an order whose latest event names another customer belongs to that one only
    order("H1", "CUST-OLD", 0),
    order("H1", "CUST-NEW", 20, status="shipped"),
]
SCENARIO_LINES = [json.dumps(r) for r in SCENARIO]
# a re-delivery (an exact duplicate) and the same event written differently (a new record)
SCENARIO_LINES += [SCENARIO_LINES[0], json.dumps(SCENARIO[7], indent=1)]


def test_signals_on_a_crafted_set_of_events():
    with make_pipeline() as p:
        summary = p.ingest_records("orders", SCENARIO_LINES)
        assert (summary.appended, summary.duplicates) == (len(SCENARIO_LINES) - 1, 1)
        results = {r.name: r for r in p.project()}
        assert results["fraud"].events == len(SCENARIO_LINES) - 1  # orders only, quarantined included
        signals = p.db.execute("SELECT customer_id, signal, detail FROM fraud_signals ORDER BY 1, 2").fetchall()
        customers = {row[0]: row[1:] for row in p.db.execute(
            "SELECT customer_id, orders, countries, country_list, cancelled_refunded, value_cents, "
            "revenue_cents, max_orders_in_hour, first_placed_at, last_placed_at FROM fraud_customers")}
        orders = {row[0]: row[1:] for row in p.db.execute(
            "SELECT order_id, customer_id, status, country, placed_at, value_cents, events FROM fraud_orders")}

    assert signals == [
        ("CUST-FAST", "velocity", "5 orders placed within 3600 s from 2024-01-15T10:00:00.000000Z"),
        ("CUST-REFUND", "high_refund_rate", "2 of 4 orders cancelled or refunded"),
        ("CUST-WORLD", "many_countries", "3 shipping countries: DE, GB, US"),
    ]
    assert sorted(customers) == ["CUST-FAST", "CUST-FEW", "CUST-FINE", "CUST-NEW", "CUST-REFUND",
                                 "CUST-SLOW", "CUST-TWO", "CUST-WORLD"]  # no ghost, no old owner
    assert customers["CUST-WORLD"][:4] == (4, 3, "DE,GB,US", 0)
    assert customers["CUST-TWO"][:5] == (2, 2, "DE,US", 0, 2999 + 30000)
    # R1 refunded, R2 cancelled; R4 is 2 x 79.99; value counts every order, revenue the bearing ones
    assert customers["CUST-REFUND"][3:6] == (2, 3 * 2999 + 15998, 2999 + 15998)
    assert customers["CUST-FINE"][3] == 1 and customers["CUST-FEW"][:4] == (3, 1, "US", 3)
    assert customers["CUST-FAST"][6:] == (5, "2024-01-15T10:00:00.000000Z", "2024-01-15T11:00:00.000000Z")
    assert customers["CUST-SLOW"][0] == 5 and customers["CUST-SLOW"][6] == 4
    assert orders["R1"] == ("CUST-REFUND", "refunded", "US", "2024-01-15T10:00:00.000000Z", 2999, 3)
    assert orders["W4"][1:3] == ("confirmed", "GB")
    assert orders["H1"][:2] == ("CUST-NEW", "shipped") and orders["H1"][3] == "2024-01-15T10:00:00.000000Z"
    assert "S9" not in orders and "G1" not in orders


def test_signals_appear_and_disappear_as_events_arrive():
    with make_pipeline() as p:
        p.ingest_records("orders", [order(f"V{n}", "CUST-1", 10 * n) for n in range(4)])
        p.project()
        assert p.db.execute("SELECT COUNT(*) FROM fraud_signals").fetchone()[0] == 0
        p.ingest_records("orders", [order("V4", "CUST-1", 40)])
        p.project()
        assert p.db.execute("SELECT signal FROM fraud_signals").fetchall() == [("velocity",)]
        # a late event that places V0 earlier spreads the orders over more than an hour
        p.ingest_records("orders", [order("V0", "CUST-1", -30, status="pending")])
        p.project()
        assert p.db.execute("SELECT COUNT(*) FROM fraud_signals").fetchone()[0] == 0
        # the order moves to another customer: the first one keeps 4 orders
        p.ingest_records("orders", [order("V4", "CUST-2", 500, status="shipped")])
        p.project()
        assert p.db.execute("SELECT customer_id, orders FROM fraud_customers ORDER BY 1").fetchall() == [
            ("CUST-1", 4), ("CUST-2", 1)]


# -- determinism: rebuild vs catch-up in any batch sizes; any arrival order -----------------


def random_records(seed: int, orders: int = 40) -> list[str]:
    """Order event lines from a seeded generator: several events per order, several
    countries, cancellations and refunds, bursts of orders, a customer change now and then,
    quarantined events, re-deliveries and re-formatted copies."""
    rng = random.Random(seed)
    customers = [f"CUST-{n}" for n in range(6)]
    lines: list[str] = []
    for n in range(orders):
        customer = rng.choice(customers)
        start = rng.randrange(0, 300)
        items = [{"product_id": rng.choice(["PROD-001", "PROD-002", "PROD-003"]),
                  "quantity": rng.choice([1, 2, 3, 60]), "unit_price": rng.choice([29.99, 5.00, 79.50])}
                 for _ in range(rng.randint(1, 2))]
        country = rng.choice(sorted(CITIES))
        path = rng.choice([["pending", "confirmed", "shipped", "delivered"], ["confirmed", "cancelled"],
                           ["confirmed", "shipped", "refunded"], ["pending"]])
        minutes = start
        for status in path:
            if rng.random() < 0.1:
                customer = rng.choice(customers)
            if rng.random() < 0.1:
                country = rng.choice(sorted(CITIES))
            record = order(f"ORD-{seed}-{n}", customer, minutes, status, country, items)
            if rng.random() < 0.05:
                record["items"] = [{"product_id": "PROD-999", "quantity": 1, "unit_price": 1.00}]
            line = json.dumps(record)
            lines.append(line)
            if rng.random() < 0.1:
                lines.append(line)  # re-delivery
            if rng.random() < 0.05:
                lines.append(json.dumps(record, separators=(",", ":")))  # same event, other bytes
            minutes += rng.choice([0, 0, 5, 60, 240])  # equal timestamps too: ties by status, then bytes
    rng.shuffle(lines)
    return lines


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6),
       chunks=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       read_sizes=st.lists(st.integers(1, 30), min_size=1, max_size=6),
       ingest_batch=st.integers(1, 50))
def test_rebuild_equals_catch_ups_in_any_batch_sizes(seed, chunks, read_sizes, ingest_batch):
    lines = random_records(seed)
    with make_pipeline(batch_size=ingest_batch) as p:
        position, step = 0, 0
        while position < len(lines):
            size = chunks[step % len(chunks)]
            p.ingest_records("orders", lines[position:position + size])
            position += size
            p.projections.catch_up(["fraud"], batch_size=read_sizes[step % len(read_sizes)])
            step += 1
        incremental = fraud_tables(p)
        assert p.projections.state()["fraud"][1] == p.log.last_offset()

        p.rebuild(["fraud"])
        assert fraud_tables(p) == incremental
        p.projections.rebuild(["fraud"], batch_size=1)
        assert fraud_tables(p) == incremental
        assert incremental["fraud_orders"] and incremental["fraud_customers"]


def test_a_fixed_sample_gives_every_signal_and_verifies():
    with make_pipeline() as p:
        p.ingest_records("orders", random_records(7, orders=120))
        p.project()
        signals = {s for (s,) in p.db.execute("SELECT DISTINCT signal FROM fraud_signals")}
        assert signals == {"many_countries", "high_refund_rate", "velocity"}
    # verify() rebuilds every projection in a scratch copy of a file database
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        with make_pipeline(Path(tmp) / "log.db") as p:
            p.ingest_records("orders", random_records(7, orders=120))
            p.project()
            checks = [c for c in p.verify() if c.projection == "fraud"]
            assert [c.table for c in checks] == list(TABLES)
            assert all(c.ok and c.live_rows == c.rebuilt_rows for c in checks)


@functools.lru_cache(maxsize=None)
def in_order_tables(lines: tuple[str, ...]) -> dict[str, list[tuple]]:
    with make_pipeline() as p:
        p.ingest_records("orders", list(lines))
        p.project()
        return fraud_tables(p)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(SCENARIO_LINES))
def test_any_arrival_order_of_the_scenario_gives_the_same_tables(lines):
    with make_pipeline() as p:
        p.ingest_records("orders", lines)
        p.project()
        assert fraud_tables(p) == in_order_tables(tuple(SCENARIO_LINES))


RANDOM_LINES = tuple(random_records(11, orders=30))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(RANDOM_LINES), st.integers(1, 25))
def test_any_arrival_order_of_generated_records_gives_the_same_tables(lines, read_size):
    with make_pipeline() as p:
        p.ingest_records("orders", lines)
        p.projections.catch_up(["fraud"], batch_size=read_size)
        assert fraud_tables(p) == in_order_tables(RANDOM_LINES)


# -- the report ------------------------------------------------------------------------------


def test_fraud_report_through_the_pipeline_and_on_a_database():
    with make_pipeline() as p:
        p.ingest_records("orders", SCENARIO_LINES)
        report = p.report("fraud")  # catches the projections up first
        assert report.name == "fraud"
        assert report.columns == fastcommerce_fraud.FRAUD_COLUMNS
        assert [(r["customer_id"], r["signals"]) for r in report.rows] == [
            ("CUST-FAST", "velocity"), ("CUST-REFUND", "high_refund_rate"), ("CUST-WORLD", "many_countries")]
        refund = report.rows[1]
        assert (refund["orders"], refund["cancelled_refunded"], refund["value"]) == (4, 2, Decimal("249.95"))
        assert report.summary == {
            "customers": 8, "flagged_customers": 3,
            "signals": {"high_refund_rate": 1, "many_countries": 1, "velocity": 1},
            "suspicious_quantity_events": 1,
        }
        assert p.report("fraud", catch_up=False) == fastcommerce_fraud.fraud_report(p) == report
        only = fastcommerce_fraud.fraud_report(p, signal="velocity")
        assert [r["customer_id"] for r in only.rows] == ["CUST-FAST"]
        assert only.summary["flagged_customers"] == 3
        assert len(fastcommerce_fraud.fraud_report(p, limit=1).rows) == 1
        assert fastcommerce_fraud.fraud_report(p, limit=0).rows == []  # 0 means none, as in the built-in reports
        data = json.loads(render(report, "json"))
        assert data["rows"][1]["value"] == 249.95
        assert "CUST-WORLD" in render(report, "table") and "| customer_id |" in render(report, "markdown")
        with pytest.raises(ValueError, match="no date range"):
            fastcommerce_fraud.fraud_report(p, on="2024-01-15")
        with pytest.raises(ValueError, match="no fraud signal"):
            fastcommerce_fraud.fraud_report(p, signal="nope")


def test_fraud_report_before_the_projection_exists_is_empty():
    report = fastcommerce_fraud.fraud_report(Database(memory=True))
    assert report.rows == []
    assert report.summary == {"customers": 0, "flagged_customers": 0,
                              "signals": {"high_refund_rate": 0, "many_countries": 0, "velocity": 0},
                              "suspicious_quantity_events": None}


# -- installed: found through the entry point ------------------------------------------------


def test_entry_point_loads_the_plugin_with_its_distribution_version(tmp_path):
    with Pipeline(tmp_path / "x.db", only_entrypoints=["fraud"], clock=lambda: FIXED_NOW) as p:
        infos = {i.name: i for i in p.plugins()}
        assert "fraud" in infos, "entry point 'fraud' not found: pip install -e plugins/fastcommerce-fraud"
        info = infos["fraud"]
        assert info.version == "0.1.0"
        assert not info.builtin
        assert info.hooks == ("register_projections", "register_reports", "register_validators")
        assert "fraud" in p.projections.projections and "fraud" in p.reports
        assert "fraud_quantity" in {v.name for _, v in p.validators.all()}
        p.ingest_records("catalog", CATALOG)
        p.ingest_records("orders", [order(f"V{n}", "CUST-1", 5 * n) for n in range(5)])
        assert [r["customer_id"] for r in p.report("fraud").rows] == ["CUST-1"]


def test_blocking_the_entry_point_leaves_the_plugin_out(tmp_path):
    with Pipeline(tmp_path / "x.db", blocked=["fraud"]) as p:
        assert "fraud" not in {i.name for i in p.plugins()}
        assert "fraud" not in p.projections.projections
