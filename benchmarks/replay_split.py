#!/usr/bin/env python
"""Where a replay's time goes: read, decode, and each built-in projection, per event.

Rebuilds every projection of a copy of a log the way the runner does (same batches, one
transaction per batch, the garbage collector paused) and times each stage with
``time.thread_time`` (the CPU of this thread: the log's checkpoint thread copies pages
beside it, and its CPU belongs to no stage here); repeats and keeps the best time of each
stage, since the machines are noisy. The stages are measured inside one loop, so they add
up to the rebuild (less the runner's own bookkeeping).

Each projection's time is split into the SQL it runs (statements timed through a thin
wrapper of the connection, results fetched inside the timer) and the rest, its Python.
With the commits and ``orjson.loads`` (timed apart, over the same records), that gives the
part of a replay that is SQLite and C: what would remain if the Python cost nothing.

    python benchmarks/replay_split.py                        # sample --orders 30000 --days 3 --seed 5
    python benchmarks/replay_split.py --db shop.db --repeat 5
    python benchmarks/replay_split.py --db shop.db --catch-up   # only what its projections have not seen
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

clock = time.thread_time


class _Rows:
    """A cursor's rows, fetched while the statement was timed."""

    def __init__(self, cursor: Any) -> None:
        self.rows = cursor.fetchall()
        self.rowcount, self.lastrowid, self.description = cursor.rowcount, cursor.lastrowid, cursor.description

    def __iter__(self):
        return iter(self.rows)

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return self.rows


class _TimedConnection:
    """Adds the time of every statement (and of fetching its rows) to ``seconds[key]``."""

    def __init__(self, conn: Any, seconds: dict[str, float], key: str) -> None:
        self._conn, self._seconds, self.key = conn, seconds, key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, params: Any = ()) -> _Rows:
        t = clock()
        rows = _Rows(self._conn.execute(sql, params))
        self._seconds[self.key] += clock() - t
        return rows

    def executemany(self, sql: str, rows: Any) -> None:
        t = clock()
        self._conn.executemany(sql, rows)
        self._seconds[self.key] += clock() - t


def _timed_db(db: Any, seconds: dict[str, float]) -> tuple[Any, _TimedConnection]:
    """A copy of the ``Database`` whose connection is timed (sqlite-utils calls go through
    ``db.conn`` too)."""
    import copy

    timed = copy.copy(db)
    timed.conn = _TimedConnection(db.conn, seconds, "")
    return timed, timed.conn


def make_log(workdir: Path, orders: int, days: int, seed: int) -> Path:
    from fastcommerce import Pipeline
    # the sample's file names (each stream declares its own default_file)
    DEFAULT_FILES = {"catalog": "product_catalog.json", "inventory": "inventory_updates.csv", "orders": "orders_stream.jsonl"}
    from fastcommerce.sample import write_sample

    write_sample(workdir / "sample", orders=orders, days=days, seed=seed)
    db = workdir / "log.db"
    with Pipeline(db, load_entrypoints=False) as p:
        for stream in ("catalog", "inventory", "orders"):
            p.ingest(stream, workdir / "sample" / DEFAULT_FILES[stream])
    return db


def one_pass(db: Path, work: Path, batch_size: int, catch_up: bool = False) -> tuple[int, dict[str, float]]:
    import orjson

    from fastcommerce import Pipeline
    from fastcommerce.projections.runner import BatchByStreams

    shutil.copy(db, work)
    p = Pipeline(work, load_entrypoints=False)
    runner = p.projections
    low = 0
    if catch_up:  # the tables as they are; every projection must be at the same offset
        offsets = {last for _version, last in runner.state().values()}
        if len(offsets) != 1 or len(runner.state()) != len(runner.projections):
            raise SystemExit(f"{db}: --catch-up needs every projection built up to one offset ({runner.state()})")
        low = offsets.pop()
    else:
        for name in runner.projections:
            runner._reset(runner._get(name))
    seconds: dict[str, float] = defaultdict(float)
    view, events_seen, orjson_seconds = p.reader.catalog_at(p.log, low), 0, 0.0
    batches = p.log.read_batches(low, batch_size=batch_size)
    timed_db, timed = _timed_db(p.log.db, seconds)
    start = clock()
    gc.disable()
    try:
        while True:
            t = clock()
            batch = next(batches, None)
            seconds["read (SQL + LogRecord)"] += clock() - t
            if batch is None:
                break
            events_seen += len(batch)
            t = clock()
            events = list(p.reader.decode_all(batch, view))
            seconds["decode"] += clock() - t
            t = clock()
            by_streams = BatchByStreams(events)  # as the runner does
            selected = {name: by_streams.get(proj.streams) for name, (_plugin, proj) in runner.projections.items()}
            seconds["filter by stream"] += clock() - t
            transaction = p.log.transaction()
            transaction.__enter__()
            for name, (_plugin, proj) in sorted(runner.projections.items()):
                timed.key = f"  of which SQL ({name})"
                t = clock()
                proj.apply(timed_db, selected[name])
                seconds[f"projection {name}"] += clock() - t
            t = clock()
            transaction.__exit__(None, None, None)
            seconds["commit"] += clock() - t
            t = clock()
            for record in batch:  # apart: not part of the total
                try:
                    orjson.loads(record.raw)
                except orjson.JSONDecodeError:
                    pass
            orjson_seconds += clock() - t
            t = clock()
            del events, by_streams, selected  # the batch's objects, freed by reference counting
            seconds["free the batch"] += clock() - t
        seconds["total"] = clock() - start - orjson_seconds
        seconds["  orjson.loads alone (apart)"] = orjson_seconds
    finally:
        gc.enable()
        p.close()
    return events_seen, seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, help="an existing log to replay (default: generate a sample)")
    ap.add_argument("--orders", type=int, default=30_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=5)
    from fastcommerce.projections.runner import BATCH_SIZE

    ap.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"default {BATCH_SIZE:,}, the runner's")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--catch-up", action="store_true",
                    help="with --db: keep its projection tables and replay only the records after them "
                         "(projections.py's catch-up, as one run of batches)")
    args = ap.parse_args(argv)
    if args.catch_up and not args.db:
        ap.error("--catch-up goes with --db")
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="fc-split-") as tmp:
        workdir = Path(tmp)
        db = args.db or make_log(workdir, args.orders, args.days, args.seed)
        best: dict[str, float] = {}
        n = 0
        for _ in range(args.repeat):
            n, seconds = one_pass(db, workdir / "replay.db", args.batch_size, args.catch_up)
            for stage, s in seconds.items():
                best[stage] = min(best.get(stage, s), s)
    what = "catch-up" if args.catch_up else "replay"
    print(f"{what} of {n:,} events, batch {args.batch_size:,}, best of {args.repeat} (CPU seconds of this thread):")
    for stage, s in best.items():
        if stage.startswith("  "):
            continue  # printed under the stage they belong to
        print(f"  {stage:<30} {s:7.2f} s  {s / n * 1e6:7.1f} us/event")
        name = stage.removeprefix("projection ")
        for sub in (f"  of which SQL ({name})",) if stage.startswith("projection ") else ():
            if sub in best:
                print(f"  {sub:<30} {best[sub]:7.2f} s  {best[sub] / n * 1e6:7.1f} us/event")
    apart = "  orjson.loads alone (apart)"
    print(f"  {apart:<30} {best[apart]:7.2f} s  {best[apart] / n * 1e6:7.1f} us/event")
    print(f"  -> {n / best['total']:,.0f} events/s of CPU")
    floor = sum(s for stage, s in best.items() if stage.startswith("  ") or stage == "commit")  # SQL, orjson
    print(f"  SQLite (projections' SQL and the commits) and orjson.loads: {floor / n * 1e6:.1f} us/event, "
          f"{floor / best['total']:.0%} of the total; the rest is Python (reading the rows' SQL is "
          "counted with the Python, in \"read\")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
