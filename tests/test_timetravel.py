"""Time travel: a report as of an offset is the report of a fresh database that ingested
only the records up to it; changes-since lists exactly the days whose revenue rows differ."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcommerce import Pipeline
from fastcommerce.cli import main
from fastcommerce.projections.verify import table_checksum
from fastcommerce.timetravel import BACKUP_FROM

START = datetime(2024, 1, 15, 8, tzinfo=UTC)
PRODUCTS = {"P1": 10.0, "P2": 25.5, "P3": 4.99}
REGIONS = [("US", "CA"), ("US", "NY"), ("GB", None)]
STATUSES = ["pending", "confirmed", "shipped", "delivered", "cancelled"]
ALL_DAYS = {"start": "0001-01-01", "end": "9999-12-31"}


def _order(rng: random.Random, order_id: str, at: datetime, status: str) -> str:
    country, state = REGIONS[int(order_id[1:]) % len(REGIONS)]
    address = {"country": country, "city": "Town", **({"state": state} if state else {})}
    items = [{"product_id": p, "quantity": rng.randint(1, 3), "unit_price": PRODUCTS[p]}
             for p in sorted(rng.sample(sorted(PRODUCTS), rng.randint(1, 2)))]
    return json.dumps({"order_id": order_id, "customer_id": f"C{int(order_id[1:]) % 4}",
                       "timestamp": at.isoformat().replace("+00:00", "Z"),
                       "channel": ["web", "mobile_web"][int(order_id[1:]) % 2], "items": items,
                       "shipping_address": address, "status": status}, sort_keys=True)


def generate(seed: int) -> list[tuple[str, str, datetime, list]]:
    """``(stream, source, recorded_at, records)`` batches over three days: orders in time
    order with status changes, late events for closed days, exact re-deliveries, a line
    that is not JSON, and inventory readings."""
    rng = random.Random(seed)
    batches: list[tuple[str, str, datetime, list]] = [
        ("catalog", "catalog.json", START, [{"product_id": p, "name": f"Product {p}", "category": "c", "price": price,
                                             "reorder_point": 5} for p, price in PRODUCTS.items()])]
    sent: list[str] = []
    placed: dict[str, datetime] = {}
    clock = START
    for b in range(9):
        clock = START + timedelta(hours=8 * b + 1)
        records: list = []
        for _ in range(rng.randint(3, 7)):
            roll = rng.random()
            if roll < 0.15 and sent:
                records.append(rng.choice(sent))  # an exact re-delivery
                continue
            if roll < 0.35 and placed:  # a later status change, or a late event of an old order
                oid = rng.choice(sorted(placed))
                late = rng.random() < 0.5
                at = placed[oid] + timedelta(minutes=rng.randint(1, 90)) if late else clock - timedelta(minutes=5)
                line = _order(rng, oid, at, rng.choice(STATUSES))
            else:
                oid = f"O{len(placed) + 1}"
                at = clock - timedelta(minutes=rng.randint(0, 400))  # some behind the watermark already
                placed[oid] = at
                line = _order(rng, oid, at, rng.choice(STATUSES[:4]))
            records.append(line)
            sent.append(line)
        if b == 4:
            records.append("{not json")
        batches.append(("orders", f"orders-{b}.jsonl", clock, records))
        if b % 3 == 1:
            batches.append(("inventory", f"inventory-{b}.csv", clock, [
                {"product_id": p, "available_quantity": str(rng.randint(0, 40)), "warehouse_location": "W1",
                 "last_updated": (clock - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")}
                for p in sorted(PRODUCTS)]))
    return batches


def _pipeline(path: Path, now: list[datetime]) -> Pipeline:
    return Pipeline(path, load_entrypoints=False, clock=lambda: now[0])


def ingest(path: Path, batches, *, upto: int | None = None) -> list[int]:
    """Ingest ``batches`` (each at its recorded time, under its source name), stopping when
    the log reaches offset ``upto``: the last offset after each batch."""
    now = [START]
    ends = []
    with _pipeline(path, now) as p:
        for stream, source, at, records in batches:
            now[0] = at
            before = p.log.last_offset()
            if upto is not None and before >= upto:
                break
            if upto is not None:
                records = _prefix(stream, records, p, upto - before)
            p.ingest_records(stream, records, source=source)
            ends.append(p.log.last_offset())
        p.project()
    return ends


def _prefix(stream: str, records: list, p: Pipeline, wanted: int) -> list:
    """The shortest prefix of ``records`` that appends ``wanted`` new records (exact
    duplicates of what the log holds, or of earlier ones here, append none)."""
    seen = {bytes(raw) for (raw,) in p.db.execute("SELECT raw FROM event_log WHERE stream = ?", [stream])}
    out = []
    for record in records:
        if wanted == 0:
            break
        body = record.encode() if isinstance(record, str) else json.dumps(record).encode()
        out.append(record)
        if isinstance(record, dict) or body not in seen:
            seen.add(body)
            wanted -= 1
    return out


def _same(a, b) -> None:
    assert a.rows == b.rows
    assert a.summary == b.summary


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> tuple[Path, list, list[int]]:
    path = tmp_path_factory.mktemp("live") / "live.db"
    batches = generate(seed=17)
    ends = ingest(path, batches)
    with Pipeline(path, load_entrypoints=False) as p:
        assert p.db.execute("SELECT COUNT(*) FROM sales_restatements").fetchone()[0] > 0, "no restatement generated"
        assert p.db.execute("SELECT COUNT(*) FROM sales_late_events").fetchone()[0] > 0
    return path, batches, ends


REPORTS: dict[str, Callable[[Pipeline], dict]] = {
    "revenue": lambda p: {**ALL_DAYS, "limit": None},
    "products": lambda p: {**ALL_DAYS, "limit": None, "by": "revenue"},
    "customers": lambda p: {"limit": None},
    "inventory": lambda p: {},
    "quality": lambda p: {"limit": None},
}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_as_of_equals_a_fresh_database_of_the_prefix(live, tmp_path_factory, data):
    path, batches, ends = live
    cut = data.draw(st.integers(min_value=0, max_value=ends[-1]), label="cut")
    fresh_path = tmp_path_factory.mktemp("fresh") / "fresh.db"
    ingest(fresh_path, batches, upto=cut)
    with Pipeline(path, load_entrypoints=False) as p, Pipeline(fresh_path, load_entrypoints=False) as fresh:
        assert fresh.log.last_offset() == cut
        for name, options in REPORTS.items():
            _same(p.report(name, as_of=cut, **options(p)), fresh.report(name, **options(fresh)))
        then, want = p.report("operations", as_of=cut), fresh.report("operations")
        drop = lambda rows: [{k: v for k, v in r.items() if k != "duplicates"} for r in rows]
        assert drop(then.rows) == drop(want.rows)  # duplicates come from whole ingest runs


@pytest.mark.parametrize("where", [0.0, 0.3, BACKUP_FROM - 0.01, BACKUP_FROM, 0.9, 1.0])
def test_both_ways_of_copying_give_the_prefix(live, tmp_path, where):
    """Below BACKUP_FROM the prefix is copied row by row, from it on the whole file is copied
    and its tail cut off: either way, the report of a fresh database of the prefix."""
    path, batches, ends = live
    cut = int(ends[-1] * where)
    ingest(tmp_path / "fresh.db", batches, upto=cut)
    with Pipeline(path, load_entrypoints=False) as p, Pipeline(tmp_path / "fresh.db", load_entrypoints=False) as fresh:
        for name in ("revenue", "quality", "inventory"):
            _same(p.report(name, as_of=cut, **REPORTS[name](p)), fresh.report(name, **REPORTS[name](fresh)))


def test_the_live_tables_are_only_read(live):
    path, _batches, ends = live
    with Pipeline(path, load_entrypoints=False) as p:
        p.project()
        tables = [t for _plugin, proj in p.projections.projections.values() for t in proj.tables]
        before = {t: table_checksum(p.log.conn, t) for t in [*tables, "event_log", "projection_state"]}
        p.report("revenue", as_of=ends[3])
        p.revenue_changes_since(ends[3])
        assert {t: table_checksum(p.log.conn, t) for t in before} == before


def test_a_timestamp_means_the_last_offset_recorded_at_or_before_it(live):
    path, batches, ends = live
    with Pipeline(path, load_entrypoints=False) as p:
        recorded = batches[4][2]
        at_batch = p.report("revenue", as_of=ends[4], **ALL_DAYS)
        for moment in (recorded, recorded + timedelta(minutes=30)):
            _same(p.report("revenue", as_of=moment.isoformat(), **ALL_DAYS), at_batch)
        _same(p.report("revenue", as_of="2000-01-01T00:00:00Z", **ALL_DAYS), p.report("revenue", as_of=0, **ALL_DAYS))
        with pytest.raises(ValueError, match="timezone"):
            p.report("revenue", as_of="2024-01-15T12:00:00")
        with pytest.raises(ValueError, match="outside the log"):
            p.report("revenue", as_of=ends[-1] + 1)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_changes_since_lists_exactly_the_days_whose_rows_differ(live, tmp_path_factory, data):
    path, batches, ends = live
    cut = data.draw(st.integers(min_value=0, max_value=ends[-1]), label="since")
    fresh_path = tmp_path_factory.mktemp("since") / "fresh.db"
    ingest(fresh_path, batches, upto=cut)
    with Pipeline(path, load_entrypoints=False) as p, Pipeline(fresh_path, load_entrypoints=False) as fresh:
        then = {(r["date"], r["channel"], r["region"]): r for r in fresh.report("revenue", **ALL_DAYS).rows}
        now = {(r["date"], r["channel"], r["region"]): r for r in p.report("revenue", **ALL_DAYS).rows}
        differ = sorted({k[0] for k in set(then) | set(now) if then.get(k) != now.get(k)})
        watermark = fresh.db.execute("SELECT watermark FROM sales_watermark").fetchone()[0]
        changes = p.revenue_changes_since(cut)
    assert [r["date"] for r in changes.rows] == differ
    for row in changes.rows:
        day = row["date"]
        assert row["revenue_before"] == sum((r["revenue"] for k, r in then.items() if k[0] == day), Decimal(0))
        assert row["revenue_after"] == sum((r["revenue"] for k, r in now.items() if k[0] == day), Decimal(0))
        assert row["orders_after"] - row["orders_before"] == sum(
            r["orders"] for k, r in now.items() if k[0] == day) - sum(r["orders"] for k, r in then.items() if k[0] == day)
        offsets = [int(o) for o in row["offsets"].split(", ") if o.isdigit()]  # the first LISTED of them
        assert offsets and all(o > cut for o in offsets)  # some event since the cut is behind every change
        day_end = (datetime.fromisoformat(day) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00.000000Z")
        assert row["restated"] == (watermark is not None and watermark > day_end)


def test_the_report_command_travels(live):
    path, _batches, ends = live
    runner = CliRunner()
    out = runner.invoke(main, ["--db", str(path), "report", "revenue", "--as-of", str(ends[2]), "--format", "json",
                               "--from", "2024-01-15", "--to", "2024-01-17"])
    assert out.exit_code == 0, out.output
    with Pipeline(path, load_entrypoints=False) as p:
        want = p.report("revenue", as_of=ends[2], start="2024-01-15", end="2024-01-17")
    assert [r["orders"] for r in json.loads(out.output)["rows"]] == [r["orders"] for r in want.rows]
    changed = runner.invoke(main, ["--db", str(path), "report", "revenue", "--changes-since", str(ends[2])])
    assert changed.exit_code == 0 and "revenue_change" in changed.output
    wrong = runner.invoke(main, ["--db", str(path), "report", "products", "--changes-since", "1"])
    assert wrong.exit_code == 2 and "revenue report only" in wrong.output


def test_a_restatement_since_the_offset_is_listed_with_its_event(live):
    path, _batches, _ends = live
    with Pipeline(path, load_entrypoints=False) as p:
        offset, day, order_id = p.db.execute(
            'SELECT "offset", date, order_id FROM sales_restatements ORDER BY "offset" LIMIT 1').fetchone()
        changes = {r["date"]: r for r in p.revenue_changes_since(offset - 1).rows}
        unchanged = p.revenue_changes_since(p.log.last_offset())
    assert changes[day]["restated"]  # (the generated log's first restatement moves revenue)
    assert str(offset) in changes[day]["offsets"].split(", ") and order_id in changes[day]["order_ids"]
    assert changes[day]["events"] >= 1
    assert unchanged.rows == [] and unchanged.summary["days"] == 0


def test_as_of_hands_a_scratch_pipeline_and_removes_it(live):
    path, _batches, ends = live
    with Pipeline(path, load_entrypoints=False) as p:
        with p.as_of(ends[5]) as past:
            scratch = Path(past.log.file)
            assert scratch.exists() and scratch != path.resolve()
            assert past.log.last_offset() == ends[5]
            assert past.report("revenue", catch_up=False, **ALL_DAYS).rows == p.report(
                "revenue", as_of=ends[5], **ALL_DAYS).rows
        assert not scratch.exists()


def test_a_log_in_memory_travels_too(live):
    path, batches, ends = live
    now = [START]
    with Pipeline(":memory:", load_entrypoints=False, clock=lambda: now[0]) as p:
        for stream, source, at, records in batches:
            now[0] = at
            p.ingest_records(stream, records, source=source)
        assert p.log.last_offset() == ends[-1]
        with Pipeline(path, load_entrypoints=False) as on_file:
            _same(p.report("revenue", as_of=ends[4], **ALL_DAYS), on_file.report("revenue", as_of=ends[4], **ALL_DAYS))
