#!/usr/bin/env python
"""What does ``report --as-of`` cost? Against two baselines measured in the same run.

    python benchmarks/timetravel.py --orders 20000 --days 7 --repeat 3

On one generated sample (``fastcommerce.sample.write_sample``) ingested into a fresh file:

- ``as_of``: ``pipeline.report("revenue", as_of=CUT)`` (a scratch database of the log up to
  CUT: rows and canonical rows copied, projections built from offset 0), for CUT at half the
  log and at its end;
- baseline ``copy+rebuild``: what one would do without it for the end of the log: a
  consistent copy of the whole file (SQLite's backup API), ``rebuild()`` of every projection
  in it, then the report (``verify`` works this way);
- baseline ``live``: the same report on the live tables (a lookup).

Prints the median seconds of each and the ratios as_of / copy+rebuild and as_of / live;
``--json`` for a machine-readable line. Figures are this machine's, in this run: compare the
ratios, not the seconds, across machines.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import structlog

from fastcommerce import Pipeline
from fastcommerce.sample import write_sample


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import logging

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="fc-bench-asof-") as tmp:
        data, db = Path(tmp) / "data", Path(tmp) / "live.db"
        write_sample(data, orders=args.orders, days=args.days, seed=args.seed)
        with Pipeline(db, load_entrypoints=False) as p:
            p.run(data)
            last = p.log.last_offset()
            everything = {"start": "0001-01-01", "end": "9999-12-31", "limit": None}
            want = p.report("revenue", **everything).rows
            assert p.report("revenue", as_of=last, **everything).rows == want  # same numbers, or nothing to compare

            def copy_rebuild() -> None:
                copy = Path(tmp) / "copy.db"
                copy.unlink(missing_ok=True)
                dst = sqlite3.connect(copy)
                p.log.conn.backup(dst)
                dst.close()
                with p.clone(copy) as c:
                    c.rebuild()
                    assert c.report("revenue", catch_up=False, **everything).rows == want

            runs: dict[str, list[float]] = {"as_of_half": [], "as_of_end": [], "copy+rebuild": [], "live": []}
            for _ in range(args.repeat):  # interleaved: the machine's noise falls on every side alike
                runs["as_of_half"].append(_timed(lambda: p.report("revenue", as_of=last // 2, **everything)))
                runs["as_of_end"].append(_timed(lambda: p.report("revenue", as_of=last, **everything)))
                runs["copy+rebuild"].append(_timed(copy_rebuild))
                runs["live"].append(_timed(lambda: p.report("revenue", **everything)))
    medians = {k: statistics.median(v) for k, v in runs.items()}
    result = {"orders": args.orders, "days": args.days, "log_records": last, "repeat": args.repeat,
              "median_seconds": medians,
              "as_of_end_over_copy_rebuild": medians["as_of_end"] / medians["copy+rebuild"],
              "as_of_end_over_live": medians["as_of_end"] / medians["live"]}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.orders:,} orders, {last:,} log records, median of {args.repeat}:")
        for k, v in medians.items():
            print(f"  {k:<14} {v:8.3f} s")
        print(f"  as_of (end) / copy+rebuild = {result['as_of_end_over_copy_rebuild']:.2f}; "
              f"as_of (end) / live = {result['as_of_end_over_live']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
