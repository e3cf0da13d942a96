"""The sales projection's order state on ties, and its build from nothing.

Section 5 of the data contract: the winning event of an order has the greatest timestamp,
then the later status, then the greater raw record byte by byte. The projection picks the
winner by one ``GROUP BY`` over (timestamp, status rank) and reads raw records only where
that key ties, within a batch and against the stored state; a first batch from offset 0
builds every table with one statement each instead. These properties put many events of
one order on the same timestamp and status, in any arrival order and any batches, and
check the winner against the contract's words and the one-shot build against the
batch-by-batch path, table by table.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from test_projection_properties import (
    BASE,
    CATALOG_LINES,
    PROPERTY_SETTINGS,
    RANK,
    SLOT,
    VARIANT_CHANNEL,
    VARIANTS,
    OrderEv,
    assert_same,
    copy_database,
    deliver,
    deliveries,
    full_snapshot,
    item_lists,
    new_dir,
    open_pipeline,
)

STATUS_PAIRS = (("pending", "confirmed"), ("confirmed", "shipped"), ("shipped", "cancelled"))


@st.composite
def tied_orders(draw) -> list[OrderEv]:
    """A few orders whose events mostly share one timestamp (and often one status): the
    same event in other variants and with other items, so only the raw bytes decide."""
    events: list[OrderEv] = []
    for i in range(draw(st.integers(1, 4))):
        slot = draw(st.integers(0, 3))
        statuses = draw(st.sampled_from(STATUS_PAIRS))
        for _ in range(draw(st.integers(2, 6))):
            ev = OrderEv(f"ORD-{i + 1:06d}", draw(st.sampled_from(["CUST-1", "CUST-2"])),
                         BASE + (slot + draw(st.integers(0, 1)) * draw(st.integers(0, 1))) * SLOT,
                         draw(st.sampled_from(statuses)), draw(item_lists()), "US", "CA", "San Francisco",
                         draw(st.sampled_from(VARIANTS)))
            events.append(ev)
            if draw(st.booleans()):  # the same event once more, written in another variant
                events.append(replace(ev, variant=draw(st.sampled_from([v for v in VARIANTS if v != ev.variant]))))
    return events


def expected_winners(events: list[OrderEv]) -> dict[str, OrderEv]:
    """Section 5 in its own words: greatest timestamp, then status rank, then raw bytes."""
    best: dict[str, OrderEv] = {}
    for e in events:
        key = (e.ts, RANK[e.status], e.raw)
        if e.order_id not in best or key > (best[e.order_id].ts, RANK[best[e.order_id].status],
                                             best[e.order_id].raw):
            best[e.order_id] = e
    return best


def winners_in(p) -> dict[str, tuple]:
    return {oid: (raw, channel, customer, units, cents) for oid, raw, channel, customer, units, cents in p.db.execute(
        "SELECT s.order_id, e.raw, s.channel, s.customer_id, s.units, s.value_cents FROM sales_orders s "
        'JOIN event_log e ON e."offset" = s.win_offset')}


def expected_row(e: OrderEv) -> tuple:
    return (e.raw, VARIANT_CHANNEL[e.variant], e.customer_id, sum(q for _, q, _ in e.items),
            int(sum(q * p for _, q, p in e.items) * 100))


@settings(max_examples=40, **PROPERTY_SETTINGS)
@given(events=tied_orders(), data=st.data())
def test_ties_go_to_the_greater_raw_record_in_any_order_and_batches(tmp_path, events, data):
    records = deliveries(data, [("orders", e.raw) for e in events])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(records)), max_size=4), label="cuts"))
    d = new_dir(tmp_path)
    with open_pipeline(d / "live.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        for a, b in zip([0, *cuts], [*cuts, len(records)]):
            deliver(p, records[a:b])
            p.projections.catch_up(None, batch_size=data.draw(st.integers(1, 5), label="batch"))
        want = {oid: expected_row(e) for oid, e in expected_winners(events).items()}
        assert winners_in(p) == want
        copy_database(p, d / "copy.db")
        with open_pipeline(d / "copy.db") as q:
            q.rebuild()  # one batch from offset 0: the build path
            assert winners_in(q) == want
            assert_same(full_snapshot(p), full_snapshot(q))


@settings(max_examples=25, **PROPERTY_SETTINGS)
@given(events=tied_orders(), data=st.data())
def test_a_build_in_one_batch_equals_any_batches_from_offset_0(tmp_path, events, data):
    """The same log caught up from nothing: once whole (the build path), once in batches of
    any size (the first batch small, then merged batch by batch)."""
    records = deliveries(data, [("orders", e.raw) for e in events])
    d = new_dir(tmp_path)
    with open_pipeline(d / "whole.db") as p:
        p.ingest_records("catalog", CATALOG_LINES)
        deliver(p, records)
        copy_database(p, d / "batches.db")
        p.project()
        with open_pipeline(d / "batches.db") as q:
            q.projections.catch_up(None, batch_size=data.draw(st.integers(1, 9), label="batch"))
            assert_same(full_snapshot(p), full_snapshot(q))
