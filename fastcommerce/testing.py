"""Helpers for plugin authors' tests: a throwaway pipeline, hypothesis strategies, waiting
for something another thread or process does.

hypothesis is imported only when a strategy is asked for, so importing this module needs
nothing beyond fastcommerce itself.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .events import ORDER_STATUSES
from .pipeline import Pipeline
from .sample import CATALOG_FILE, INVENTORY_FILE, ORDERS_FILE

FIXED_CLOCK = datetime(2030, 1, 1, tzinfo=UTC)
"""Recorded time of :func:`make_test_pipeline`'s records: late enough that any generated
order timestamp is 'not in the future'."""


def make_test_pipeline(plugins: Iterable[Any] = (), *, path: str | Path | None = None,
                       blocked: Iterable[str] = (), **kwargs: Any) -> Pipeline:
    """A pipeline on a fresh SQLite file with the built-ins and ``plugins`` only.

    Installed entry points are not loaded, so other packages never leak into your tests,
    and the clock is fixed, so recorded times are reproducible.
    """
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="fastcommerce-test-")) / "log.db"
    kwargs.setdefault("clock", lambda: FIXED_CLOCK)
    return Pipeline(path, plugins=plugins, load_entrypoints=False, blocked=blocked, **kwargs)


def canonical_orders():
    """A hypothesis strategy of canonical (web-shape) order dicts with exact 2-decimal prices."""
    from decimal import Decimal

    from hypothesis import strategies as st

    ids = st.integers(1, 10**6)
    prices = st.integers(0, 10**7).map(lambda cents: Decimal(cents) / 100)
    items = st.lists(
        st.fixed_dictionaries({
            "product_id": ids.map(lambda n: f"PROD-{n:03d}"),
            "quantity": st.integers(1, 1000),
            "unit_price": prices,
        }),
        min_size=1, max_size=5,
    )
    moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2029, 12, 31),
                           timezones=st.just(UTC))
    address = st.fixed_dictionaries({
        "country": st.sampled_from(["US", "GB", "DE"]),
        "state": st.sampled_from(["CA", "NY", "TX"]),
        "city": st.sampled_from(["San Francisco", "New York", "Austin"]),
    })
    return st.fixed_dictionaries({
        "order_id": ids.map(lambda n: f"ORD-{n:06d}"),
        "customer_id": ids.map(lambda n: f"CUST-{n}"),
        "timestamp": moments.map(lambda d: d.isoformat().replace("+00:00", "Z")),
        "channel": st.sampled_from(["web", "partner", "store"]),
        "items": items,
        "shipping_address": address,
        "status": st.sampled_from(ORDER_STATUSES),
    })


def dumps(record: dict[str, Any]) -> bytes:
    """JSON bytes of a record whose prices are ``Decimal``, written as JSON numbers exactly
    (``29.90`` stays ``29.90``; never through a binary float)."""
    from decimal import Decimal

    def mark(o: Any) -> Any:
        if isinstance(o, Decimal):
            return f"__decimal__{o}__"
        if isinstance(o, dict):
            return {k: mark(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [mark(v) for v in o]
        return o

    text = json.dumps(mark(record), separators=(",", ":"))
    return re.sub(r'"__decimal__([-0-9.Ee+]+)__"', r"\1", text).encode()


_TIMESTAMP = re.compile(rb'"timestamp": ?"([^"]{19,40})"')


def epoch_seconds(text: bytes) -> float | None:
    """Seconds since the epoch of an ISO-8601 timestamp with an offset; None otherwise."""
    try:
        moment = datetime.fromisoformat(text.decode("utf-8", "replace"))
    except ValueError:
        return None
    return None if moment.tzinfo is None else moment.timestamp()


def split_sample_by_day(summary: Any, days: int, start: datetime) -> tuple[bytes, list[bytes], list[bytes]]:
    """Cut a generated sample (``fastcommerce.sample.write_sample``'s summary) into days, to
    replay it as daily batches: the inventory header, then the inventory and order lines of
    each day. A line goes to the day of the newest timestamp seen so far in its file
    (timestamps after the data's end ignored): the files are written in arrival order, so a
    late or re-delivered line stays with the day it arrived, not the day it describes."""
    base, end = start.timestamp(), start.timestamp() + days * 86400

    def chunks(lines: Any, stamp: Any) -> list[bytes]:
        out: list[list[bytes]] = [[] for _ in range(days)]
        newest = base
        for line in lines:
            t = stamp(line)
            if t is not None and t < end:
                newest = max(newest, t)
            out[min(int(newest - base) // 86400, days - 1)].append(line)
        return [b"".join(c) for c in out]

    def order_time(line: bytes) -> float | None:
        m = _TIMESTAMP.search(line)
        return epoch_seconds(m.group(1)) if m else None

    def row_time(line: bytes) -> float | None:
        parts = line.split(b",")
        return epoch_seconds(parts[3]) if len(parts) == 5 else None

    with open(summary.inventory_path, "rb") as f:
        header = f.readline()
        inventory = chunks(f, row_time)
    with open(summary.orders_path, "rb") as f:
        orders = chunks(f, order_time)
    return header, inventory, orders


def feed_by_day(summary: Any, days: int, start: datetime, live: Path) -> Iterator[tuple[int, datetime]]:
    """Replay a generated sample as daily batches into the directory ``live``: the catalog
    and the inventory header first, then, before day ``d`` is yielded, that day's inventory
    and order lines appended (see :func:`split_sample_by_day`). Yields ``(d, the end of day
    d)``, the time to run that day's batch at."""
    header, inventory, orders = split_sample_by_day(summary, days, start)
    live.mkdir(parents=True, exist_ok=True)
    shutil.copy(summary.catalog_path, live / CATALOG_FILE)
    (live / INVENTORY_FILE).write_bytes(header)
    (live / ORDERS_FILE).write_bytes(b"")
    for d in range(days):
        with open(live / INVENTORY_FILE, "ab") as f:
            f.write(inventory[d])
        with open(live / ORDERS_FILE, "ab") as f:
            f.write(orders[d])
        yield d, start + timedelta(days=d + 1)


def wait_for(predicate: Any, timeout: float = 30.0) -> float:
    """Seconds until ``predicate()`` holds; ``AssertionError`` after ``timeout``. The
    generous timeout only keeps a loaded machine from failing a test; how fast something
    happened is for the test to assert on the returned time."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
