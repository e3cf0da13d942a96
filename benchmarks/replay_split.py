#!/usr/bin/env python
"""Where a replay's time goes: read, decode, and each built-in projection, per event.

Rebuilds every projection of a copy of a log the way the runner does (same batches, one
transaction per batch, the garbage collector paused) and times each stage with
``time.process_time``; repeats and keeps the best time of each stage, since the machines
are noisy. The stages are measured inside one loop, so they add up to the rebuild (less the
runner's own bookkeeping).

    python benchmarks/replay_split.py                        # sample --orders 30000 --days 3 --seed 5
    python benchmarks/replay_split.py --db shop.db --repeat 5
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


def make_log(workdir: Path, orders: int, days: int, seed: int) -> Path:
    from fastcommerce import Pipeline
    from fastcommerce.pipeline import DEFAULT_FILES
    from fastcommerce.sample import write_sample

    write_sample(workdir / "sample", orders=orders, days=days, seed=seed)
    db = workdir / "log.db"
    with Pipeline(db, load_entrypoints=False) as p:
        for stream in ("catalog", "inventory", "orders"):
            p.ingest(stream, workdir / "sample" / DEFAULT_FILES[stream])
    return db


def one_pass(db: Path, work: Path, batch_size: int) -> tuple[int, dict[str, float]]:
    from fastcommerce import Pipeline
    from fastcommerce.projections.runner import BatchByStreams
    from fastcommerce.reading import CatalogView

    shutil.copy(db, work)
    p = Pipeline(work, load_entrypoints=False)
    runner = p.projections
    for name in runner.projections:
        runner._reset(runner._get(name))  # noqa: SLF001  (a benchmark may look inside)
    seconds: dict[str, float] = defaultdict(float)
    view, events_seen = CatalogView(), 0
    batches = p.log.read_batches(0, batch_size=batch_size)
    clock = time.process_time
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
            with p.log.transaction():
                for name, (_plugin, proj) in sorted(runner.projections.items()):
                    t = clock()
                    proj.apply(p.log.db, selected[name])
                    seconds[f"projection {name}"] += clock() - t
            t = clock()
            del events, by_streams, selected  # the batch's objects, freed by reference counting
            seconds["free the batch"] += clock() - t
        seconds["total"] = clock() - start
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
    args = ap.parse_args(argv)
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="fc-split-") as tmp:
        workdir = Path(tmp)
        db = args.db or make_log(workdir, args.orders, args.days, args.seed)
        best: dict[str, float] = {}
        n = 0
        for _ in range(args.repeat):
            n, seconds = one_pass(db, workdir / "replay.db", args.batch_size)
            for stage, s in seconds.items():
                best[stage] = min(best.get(stage, s), s)
    print(f"replay of {n:,} events, batch {args.batch_size:,}, best of {args.repeat} (CPU seconds):")
    for stage, s in best.items():
        print(f"  {stage:<26} {s:7.2f} s  {s / n * 1e6:7.1f} us/event")
    print(f"  -> {n / best['total']:,.0f} events/s of CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
