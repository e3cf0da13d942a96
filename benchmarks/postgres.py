#!/usr/bin/env python
"""PostgreSQL: ingest lines/s with one writer and two, and rebuild time against SQLite's.

1. Generates about N order lines with ``fastcommerce.sample.write_sample`` (the contract's
   shapes, with its catalog and inventory, so the orders are valid and the rebuild does the
   sales projection's work), and cuts the order file into two halves.
2. **One writer**: a child process ingests both files, one after the other, into a fresh
   PostgreSQL schema. **Two writers**: two child processes ingest one file each, at once,
   into another fresh schema. Lines per second = N / wall time of the children. Every
   child runs ``Pipeline(target, load_entrypoints=False).ingest(...)``, decode included.
3. **SQLite, for the same run**: one child ingests both files into a fresh SQLite file.
4. **Rebuild**: ``pipeline.rebuild()`` (every built-in projection from offset 0) on the
   one-writer PostgreSQL log and on the SQLite log, which hold the same records, each
   ``--repeat`` times in a fresh process (best kept: the machine is shared); the ratio
   PostgreSQL / SQLite is the figure (target: within 2x).
5. Checks that the three logs hold the same number of records (exit status 1 if not),
   and drops the schemas it made.

    FASTCOMMERCE_BENCH_POSTGRES=postgresql://postgres@127.0.0.1:5432/test python benchmarks/postgres.py
    python benchmarks/postgres.py --lines 200000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import code_version  # benchmarks/ is on sys.path when a script here runs

from fastcommerce.sample import write_sample

TARGET_LINES_PER_S = 50_000
TARGET_TWO_WRITERS = 1.5
TARGET_REBUILD_RATIO = 2.0

_INGEST = """
import sys
from fastcommerce import Pipeline
with Pipeline(sys.argv[1], load_entrypoints=False, busy_timeout=600) as p:
    for path in sys.argv[2:]:
        p.ingest(path.rsplit("/", 1)[1].split(".")[0].split("_")[0], path)
"""
_PREPARE = """
import sys
from fastcommerce import Pipeline
with Pipeline(sys.argv[1], load_entrypoints=False) as p:
    p.ingest("catalog", sys.argv[2])
    p.ingest("inventory", sys.argv[3])
"""

_REBUILD = """
import sys, time, json
from fastcommerce import Pipeline
with Pipeline(sys.argv[1], load_entrypoints=False) as p:
    t = time.perf_counter()
    p.rebuild()
    print(json.dumps({"seconds": time.perf_counter() - t, "records": p.log.last_offset()}))
"""


def _children(jobs: list[list[str]]) -> float:
    """Start every job at once; the wall time until the last has finished."""
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", _INGEST, *job]) for job in jobs]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"an ingest child failed with status {proc.returncode}")
    return time.perf_counter() - start


def _rebuild(target: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _REBUILD, target], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _schema_url(server: str, name: str) -> str:
    return f"{server}{'&' if '?' in server else '?'}schema={name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=os.environ.get("FASTCOMMERCE_BENCH_POSTGRES",
                                                            "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--repeat", type=int, default=3, help="rebuilds of each log; the best is kept")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import psycopg

    tag = uuid.uuid4().hex[:8]
    one_url, two_url = _schema_url(args.postgres, f"bench_one_{tag}"), _schema_url(args.postgres, f"bench_two_{tag}")
    with tempfile.TemporaryDirectory(prefix="fc-bench-pg-") as tmp:
        data = Path(tmp) / "data"
        write_sample(data, orders=max(1, args.lines * 10 // 29), days=3, seed=args.seed)  # ~2.9 lines an order
        every = (data / "orders_stream.jsonl").read_bytes().splitlines(keepends=True)
        a, b = Path(tmp) / "orders_a.jsonl", Path(tmp) / "orders_b.jsonl"
        a.write_bytes(b"".join(every[: len(every) // 2]))
        b.write_bytes(b"".join(every[len(every) // 2:]))
        lines = len(every)
        prepare = [str(data / "product_catalog.json"), str(data / "inventory_updates.csv")]
        sqlite_db = str(Path(tmp) / "log.db")
        try:
            for target in (sqlite_db, one_url, two_url):
                subprocess.run([sys.executable, "-c", _PREPARE, target, *prepare], check=True)
            sqlite_s = _children([[sqlite_db, str(a), str(b)]])
            one_s = _children([[one_url, str(a), str(b)]])
            two_s = _children([[two_url, str(a)], [two_url, str(b)]])
            pg_rebuild, sqlite_rebuild = (min((_rebuild(t) for _ in range(args.repeat)), key=lambda r: r["seconds"])
                                          for t in (one_url, sqlite_db))
            two_records = _rebuild(two_url)["records"]
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                for url in (one_url, two_url):
                    conn.execute(f'DROP SCHEMA IF EXISTS "{url.rsplit("=", 1)[1]}" CASCADE')
    result = {
        "lines": lines,
        "sqlite_1_writer_lines_per_s": round(lines / sqlite_s),
        "postgres_1_writer_lines_per_s": round(lines / one_s),
        "postgres_2_writers_lines_per_s": round(lines / two_s),
        "two_writers_over_one": round(one_s / two_s, 2),
        "rebuild_seconds": {"postgres": round(pg_rebuild["seconds"], 2), "sqlite": round(sqlite_rebuild["seconds"], 2)},
        "rebuild_postgres_over_sqlite": round(pg_rebuild["seconds"] / sqlite_rebuild["seconds"], 2),
        "records": {"sqlite": sqlite_rebuild["records"], "postgres_1": pg_rebuild["records"],
                    "postgres_2": two_records},
        "targets": {"lines_per_s": TARGET_LINES_PER_S, "two_writers": TARGET_TWO_WRITERS,
                    "rebuild_ratio": TARGET_REBUILD_RATIO},
        "cpus": os.cpu_count(), "code": code_version(__import__("fastcommerce").__file__),
    }
    same = len(set(result["records"].values())) == 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
        print("records agree" if same else "RECORD COUNTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
