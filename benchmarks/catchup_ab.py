#!/usr/bin/env python
"""Is one version of fastcommerce faster at catching up than another? Interleaved runs.

The machines here are noisy: two whole benchmark runs minutes apart can differ by more than
a change does. This runs the catch-up of ``projections.py`` alone (the last 10% of the
order lines ingested in 10 parts, ``project()`` after each, only ``project()`` timed), for
two or more source trees in turn, round after round, each time on a fresh copy of the same
database built up to the 90% mark, and prints every run and each tree's median.

    git worktree add /tmp/before HEAD~3
    python benchmarks/projections.py --workdir /tmp/fc-proj --report-mode skip   # sample and parts
    python benchmarks/catchup_ab.py --workdir /tmp/fc-proj /tmp/before .          # 3 rounds

Each run is a subprocess importing fastcommerce from its tree. Each tree gets its own base
database (ingest of the first 90%, ``rebuild()``), built by that tree once and kept in the
workdir under a digest of its ``fastcommerce/`` sources: a base built by other code would
be rebuilt in the first step, since the projections record the code that reads the log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, shutil, sys, time
from pathlib import Path
tree, base, db, parts, adopt = sys.argv[1:6]
sys.path.insert(0, tree)
import logging, structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
import fastcommerce
from fastcommerce import Pipeline
for suffix in ("", "-wal", "-shm"):
    Path(db + suffix).unlink(missing_ok=True)
if base != "-":
    shutil.copy(base, db)
p = Pipeline(db, load_entrypoints=False)
if adopt == "adopt":  # the base was built by another tree's reading code: claim it as this tree's
    from fastcommerce.plugins import reading_fingerprint
    with p.log.transaction() as conn:
        conn.execute("UPDATE projection_state SET reading = ?", [reading_fingerprint(p.pm)])
wall = cpu = 0.0
events = 0
for part in sorted(Path(parts).glob("orders-part-*.jsonl")):
    start = p.log.last_offset()
    p.ingest("orders", part)
    t, c = time.perf_counter(), time.process_time()
    p.project()
    wall += time.perf_counter() - t
    cpu += time.process_time() - c
    events += p.log.last_offset() - start
p.close()
print(json.dumps({"package": fastcommerce.__file__, "events": events, "wall": wall, "cpu": cpu}))
"""

BUILD = r"""
import sys
from pathlib import Path
tree, db, sample, head = sys.argv[1:5]
sys.path.insert(0, tree)
import logging, structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from fastcommerce import Pipeline
# the sample's file names (each stream declares its own default_file)
DEFAULT_FILES = {"catalog": "product_catalog.json", "inventory": "inventory_updates.csv", "orders": "orders_stream.jsonl"}
with Pipeline(db, load_entrypoints=False) as p:
    p.ingest("catalog", Path(sample) / DEFAULT_FILES["catalog"])
    p.ingest("inventory", Path(sample) / DEFAULT_FILES["inventory"])
    p.ingest("orders", Path(head))
    p.rebuild()
"""


def base_for(tree: Path, workdir: Path, sample: Path, head: Path) -> Path:
    """The tree's base database, built by it unless one from the same sources is kept."""
    digest = hashlib.blake2b(digest_size=8)
    for f in sorted((tree / "fastcommerce").rglob("*.py")):
        digest.update(f.relative_to(tree).as_posix().encode() + b"\0" + f.read_bytes())
    base = workdir / f"ab-base-{digest.hexdigest()}.db"
    if not base.is_file():
        print(f"building {base.name} with {tree} ...", file=sys.stderr)
        t = time.perf_counter()
        partial = base.with_suffix(".partial")
        subprocess.run([sys.executable, "-c", BUILD, str(tree), str(partial), str(sample), str(head)], check=True)
        partial.rename(base)
        for suffix in ("-wal", "-shm"):
            Path(str(partial) + suffix).unlink(missing_ok=True)
        print(f"  {time.perf_counter() - t:.0f}s", file=sys.stderr)
    return base


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", type=Path, help="source trees (each holding fastcommerce/)")
    ap.add_argument("--workdir", type=Path, required=True,
                    help="a projections.py --workdir: its sample-* and parts/ are used")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shared-base", action="store_true",
                    help="every tree starts from the first tree's base database: only for trees that differ "
                         "outside the code reading the log (else their first step rebuilds)")
    ap.add_argument("--adopt-reading", action="store_true",
                    help="with --shared-base: each tree records its own reading fingerprint in its copy of the "
                         "base, so a tree whose reading code changed does not rebuild. Only for changes that "
                         "alter speed, never what is read (the tests must show that)")
    args = ap.parse_args(argv)
    if args.adopt_reading and not args.shared_base:
        ap.error("--adopt-reading goes with --shared-base")
    trees = [t.resolve() for t in args.trees]
    for t in trees:
        if not (t / "fastcommerce" / "__init__.py").is_file():
            ap.error(f"{t}: no fastcommerce/ package there")
    parts = args.workdir / "parts"
    head = parts / "orders-head.jsonl"
    samples = sorted(args.workdir.glob("sample-*"))
    if not head.is_file() or not samples:
        ap.error(f"{args.workdir}: run benchmarks/projections.py --workdir {args.workdir} first")
    bases = {t: base_for(trees[0] if args.shared_base else t, args.workdir, samples[-1], head) for t in trees}
    work = args.workdir / "ab-run.db"
    runs: dict[Path, list[dict]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for t in trees:
            out = subprocess.run([sys.executable, "-c", CHILD, str(t), str(bases[t]), str(work), str(parts),
                                  "adopt" if args.adopt_reading else "-"],
                                 check=True, capture_output=True, text=True).stdout
            run = json.loads(out.strip().splitlines()[-1])
            runs[t].append(run)
            print(f"round {r + 1}  {t}: {run['events'] / run['wall']:>9,.0f} ev/s wall "
                  f"{run['events'] / run['cpu']:>9,.0f} ev/s cpu  ({run['package']})")
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    first = None
    for t in trees:
        wall = statistics.median(r["events"] / r["wall"] for r in runs[t])
        cpu = statistics.median(r["events"] / r["cpu"] for r in runs[t])
        first = first or (wall, cpu)
        print(f"median  {t}: {wall:>9,.0f} ev/s wall ({wall / first[0]:.2f}x)  "
              f"{cpu:>9,.0f} ev/s cpu ({cpu / first[1]:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
