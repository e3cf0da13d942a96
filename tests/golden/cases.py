"""The golden cases: what each one feeds the pipeline, the clock it runs under, the reports
it records, and how its per-order state is read. Shared by ``make_golden.py`` (which writes
``tests/golden/<case>/``) and ``tests/test_golden_reports.py`` (which rebuilds every case and
compares byte for byte), so the two can never disagree on how a case is built.

Recorded times matter to the reports (the operations report's dates and latencies, the
duplicates per ingest day, ``invalid_timestamp`` for an event more than a day after it was
recorded), so the clock is a :class:`StepClock`: a fixed time that the harness sets before
each batch it feeds. It never advances by itself, so what it returns does not depend on how
many times, or where, the pipeline reads it.

Generated inputs are not stored: ``fastcommerce.sample.write_sample`` gives byte-identical
files for the same arguments, and ``inputs.json`` in each case folder records the sha256 of
every batch fed, so a changed generator shows up as "the input changed", not as a report
regression.

The one place that reads projection tables directly is :func:`read_state` (``state.json``):
when the rewrite renames or reshapes ``sales_orders`` / ``inventory_current``, update that
function only; the rows it returns must stay the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastcommerce import Pipeline
from fastcommerce.reports.formatting import render
from fastcommerce.sample import CATALOG_FILE, INVENTORY_FILE, ORDERS_FILE, write_sample
from fastcommerce.settings import Settings
from fastcommerce.testing import split_sample_by_day

GOLDEN_DIR = Path(__file__).resolve().parent
REPO = GOLDEN_DIR.parent.parent
BUNDLED = REPO / "sample_data"
FORMATS = ("json", "csv")
INPUT_FILES = (CATALOG_FILE, INVENTORY_FILE, ORDERS_FILE)


class StepClock:
    """A clock that returns ``now`` until the harness sets another time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """One golden case.

    :param seed: ``None`` for the bundled ``sample_data/``, else ``write_sample``'s seed
        (with ``orders``, ``days`` and ``start``).
    :param batches: how many arrival batches the input is fed in: 1 is one ``run``; more
        split the files by arrival day (``fastcommerce.testing.split_sample_by_day``) into
        that many consecutive groups of days, each appended to a live folder, ingested and
        projected (a catch-up) before the next.
    :param products: catalog size of a generated input (``write_sample``'s ``products``).
    :param clock_shift: the recorded time of batch ``i`` is midnight UTC at the end of its
        last day, plus this (negative: recorded before some events happened).
    :param lateness: the allowed lateness (``Settings.allowed_lateness``).
    :param rebuild_check: also rebuild every projection at the end and require the very
        same outputs (catch-up and replay from offset 0 must agree).
    """

    name: str
    description: str
    seed: int | None = None
    orders: int = 0
    days: int = 3
    start: date = date(2024, 1, 15)
    products: int = 60
    batches: int = 1
    clock_shift: timedelta = timedelta(0)
    lateness: timedelta = Settings().allowed_lateness
    rebuild_check: bool = False

    def batch_days(self) -> list[list[int]]:
        """The days of each batch: ``days`` split into ``batches`` consecutive groups."""
        n, k = self.days, self.batches
        bounds = [round(i * n / k) for i in range(k + 1)]
        return [list(range(bounds[i], bounds[i + 1])) for i in range(k)]

    def clock_times(self) -> list[datetime]:
        return [midnight(self.start + timedelta(days=group[-1] + 1)) + self.clock_shift
                for group in self.batch_days()]


CASES: dict[str, Case] = {c.name: c for c in (
    Case("bundled", "sample_data/ as shipped (2000 orders, 3 days, seed 42), one run",
         days=3, start=date(2024, 1, 15)),
    Case("seed1", "generated, seed 1, 700 orders over 3 days, one run", seed=1, orders=700, days=3),
    Case("seed2", "generated, seed 2, 500 orders over 4 days, one run", seed=2, orders=500, days=4),
    Case("seed3", "generated, seed 3, 900 orders over 2 days, one run", seed=3, orders=900, days=2),
    Case("seed4-lateness0", "generated, seed 4, 300 orders over 2 days, allowed lateness 0 "
         "(all cases but the two seed4 ones have the default, 1 hour)",
         seed=4, orders=300, days=2, lateness=timedelta(0)),
    Case("seed4-lateness6h", "seed4-lateness0's input with allowed lateness 6 hours",
         seed=4, orders=300, days=2, lateness=timedelta(hours=6)),
    Case("seed2-halves", "seed2's input in two halves by arrival day (days 1-2, then 3-4), "
         "project() after each (a catch-up), then a full rebuild must agree",
         seed=2, orders=500, days=4, batches=2, rebuild_check=True),
    Case("seed1-daily", "seed1's input one arrival day at a time, recorded at each day's end, "
         "project() after each, then a full rebuild must agree",
         seed=1, orders=700, days=3, batches=3, rebuild_check=True),
    Case("seed5-early-clock", "generated, seed 5, 250 orders of 20 products over 2 days, recorded "
         "at 18:00 on the first day: events of the last 6 hours are more than a day after their "
         "recorded time (invalid_timestamp), and latencies are negative",
         seed=5, orders=250, days=2, products=20, clock_shift=timedelta(hours=-30)),
)}


# -- reports -------------------------------------------------------------------------

def report_invocations(case: Case) -> list[tuple[str, str, dict[str, Any]]]:
    """``(file stem, report name, options)`` of every report recorded for a case: each
    built-in report over every date (no ``limit``), products ranked both ways, and the
    command line's defaults (the latest day of revenue; the top 10 products) besides."""
    first, last = case.start, case.start + timedelta(days=case.days - 1)
    second = case.start + timedelta(days=1)
    return [
        ("revenue", "revenue", {"start": first, "end": last}),
        ("revenue-latest", "revenue", {}),
        ("products-units", "products", {"by": "units", "limit": None}),
        ("products-revenue", "products", {"by": "revenue", "limit": None}),
        ("products-top10", "products", {}),
        ("products-day2", "products", {"on": second, "by": "revenue", "limit": None}),
        ("inventory", "inventory", {}),
        ("inventory-day2", "inventory", {"on": second}),
        ("customers", "customers", {"limit": None}),
        ("customers-day2", "customers", {"on": second, "limit": None}),
        ("operations", "operations", {}),
        ("quality", "quality", {"limit": None}),
    ]


def render_reports(pipeline: Pipeline, case: Case) -> dict[str, bytes]:
    """``{file name: bytes}``: each report as ``fastcommerce report NAME --format FMT``
    prints it (the rendered text and click.echo's newline)."""
    out: dict[str, bytes] = {}
    for stem, name, options in report_invocations(case):
        result = pipeline.report(name, **options)
        for fmt in FORMATS:
            out[f"{stem}.{fmt}"] = (render(result, fmt) + "\n").encode("utf-8")
    return out


# -- state: the one place that knows projection table names --------------------------

def read_state(db: Any) -> dict[str, Any]:
    """Per-order and per-stock-level state, as plain sorted rows. The adapter to update when
    the tables are renamed: the rows must stay the same."""
    orders = [list(r) for r in db.execute(
        "SELECT order_id, status, customer_id, channel, country, region, order_date, units, value_cents "
        "FROM sales_orders ORDER BY order_id")]
    stock = [list(r) for r in db.execute(
        "SELECT product_id, warehouse, last_updated, quantity FROM inventory_current "
        "ORDER BY product_id, warehouse")]
    return {
        "orders_columns": ["order_id", "status", "customer_id", "channel", "country", "region",
                           "order_date", "units", "value_cents"],
        "orders": orders,
        "inventory_columns": ["product_id", "warehouse", "last_updated", "quantity"],
        "inventory": stock,
    }


def state_bytes(state: dict[str, Any]) -> bytes:
    """``state.json``: digests and counts first, then one row per line (diffable)."""
    def digest(rows: list) -> str:
        return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()

    lines = ["{",
             f'  "orders_count": {len(state["orders"])},',
             f'  "orders_sha256": "{digest(state["orders"])}",',
             f'  "inventory_count": {len(state["inventory"])},',
             f'  "inventory_sha256": "{digest(state["inventory"])}",',
             f'  "orders_columns": {json.dumps(state["orders_columns"])},',
             f'  "inventory_columns": {json.dumps(state["inventory_columns"])},']
    for key in ("orders", "inventory"):
        rows = [json.dumps(r, separators=(",", ":")) for r in state[key]]
        lines.append(f'  "{key}": [')
        lines.extend(f"    {r}{',' if i < len(rows) - 1 else ''}" for i, r in enumerate(rows))
        lines.append("  ]" + ("," if key == "orders" else ""))
    lines.append("}")
    return ("\n".join(lines) + "\n").encode()


# -- building a case -----------------------------------------------------------------

def write_input(case: Case, folder: Path) -> Path:
    """The case's three input files in ``folder``: generated from the seed, or copied."""
    folder.mkdir(parents=True, exist_ok=True)
    if case.seed is None:
        for name in INPUT_FILES:
            shutil.copyfile(BUNDLED / name, folder / name)
    else:
        write_sample(folder, orders=case.orders, days=case.days, seed=case.seed, start=case.start,
                     products=case.products)
    return folder


def batches(case: Case, data: Path) -> list[dict[str, bytes]]:
    """What each batch appends to each live file (the catalog is whole in every batch:
    ``run`` reads it whole each time, as a shop re-sending its catalog would)."""
    catalog = (data / CATALOG_FILE).read_bytes()
    if case.batches == 1:
        return [{name: (data / name).read_bytes() for name in INPUT_FILES}]
    files = SimpleNamespace(inventory_path=data / INVENTORY_FILE, orders_path=data / ORDERS_FILE)
    header, inventory, orders = split_sample_by_day(files, case.days, midnight(case.start))
    out = []
    for i, group in enumerate(case.batch_days()):
        out.append({CATALOG_FILE: catalog,
                    INVENTORY_FILE: (header if i == 0 else b"") + b"".join(inventory[d] for d in group),
                    ORDERS_FILE: b"".join(orders[d] for d in group)})
    return out


def input_digests(feed: list[dict[str, bytes]]) -> dict[str, Any]:
    return {"batches": [{name: {"bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                         for name, b in batch.items()} for batch in feed]}


@dataclass
class Built:
    inputs: dict[str, Any]
    files: dict[str, bytes]
    """``{file name: bytes}`` of every recorded file but ``inputs.json``."""
    rebuilt: dict[str, bytes] | None = None
    """The same after a full rebuild (cases with ``rebuild_check``)."""


def build(case: Case, workdir: Path, *, on_pipeline: Callable[[Pipeline], None] | None = None) -> Built:
    """Build ``case`` from scratch in ``workdir`` (input, live folder, database) and return
    what it records. Files are ingested from inside the live folder, so each record's source
    is the bare file name (``orders_stream.jsonl``), as the quality report shows it."""
    data = write_input(case, workdir / "input")
    feed = batches(case, data)
    live = workdir / "live"
    live.mkdir()
    for name in INPUT_FILES:
        (live / name).write_bytes(b"")
    times = case.clock_times()
    clock = StepClock(times[0])
    pipeline = Pipeline(workdir / "log.db", load_entrypoints=False, clock=clock,
                        settings=Settings(allowed_lateness=case.lateness))
    try:
        with contextlib.chdir(live):
            for at, batch in zip(times, feed):
                clock.now = at
                (live / CATALOG_FILE).write_bytes(batch[CATALOG_FILE])
                for name in (INVENTORY_FILE, ORDERS_FILE):
                    with open(live / name, "ab") as f:
                        f.write(batch[name])
                pipeline.run(".")  # ingests (resuming) and projects: a catch-up after the first
        files = render_reports(pipeline, case)
        files["state.json"] = state_bytes(read_state(pipeline.db))
        rebuilt = None
        if case.rebuild_check:
            pipeline.rebuild()
            rebuilt = render_reports(pipeline, case)
            rebuilt["state.json"] = state_bytes(read_state(pipeline.db))
        if on_pipeline is not None:
            on_pipeline(pipeline)
    finally:
        pipeline.close()
    return Built(inputs=input_digests(feed), files=files, rebuilt=rebuilt)


def inputs_bytes(inputs: dict[str, Any]) -> bytes:
    return (json.dumps(inputs, indent=2, sort_keys=True) + "\n").encode()
