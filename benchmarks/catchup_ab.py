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

With ``--cli`` it measures instead what ``scale.py`` reports as rebuild and catch-up, as
whole ``python -m fastcommerce.cli`` processes on ``scale.py``'s data (``--orders``,
``--days``, ``--seed``, cached in ``--workdir``): ``rebuild`` of a database that ``run``
built (events/s = log records / seconds), and ``project`` after the last 10% of the order
lines were ingested into a database projected up to the 90% mark (by the first tree, once;
a tree whose projections differ in version would rebuild there, which it reports), events/s
= new records / seconds. Besides the process's wall time it reads the
catch-up's own time from ``projection_runs.seconds`` (without the process start), and it
checks that every projection table is the same for every tree, after both steps:

    mkdir -p /tmp/before && git archive main fastcommerce | tar -x -C /tmp/before
    python benchmarks/catchup_ab.py --cli --workdir /tmp/fc-scale --orders 100000 /tmp/before .

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


CORE_PREFIXES = ("canon_", "event_log", "projection_", "ingest_", "sqlite_", "schema_", "checkpoint", "alert",
                 "_", "source_")


def projection_digests(db: Path) -> dict[str, str]:
    """A digest of each projection table's rows (in key order), to compare trees."""
    import sqlite3

    out = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for name in names:
            if name.startswith(CORE_PREFIXES):
                continue
            cols = ", ".join(f"[{r[1]}]" for r in conn.execute(f"PRAGMA table_info([{name}])"))
            h = hashlib.blake2b(digest_size=12)
            for row in conn.execute(f"SELECT {cols} FROM [{name}] ORDER BY {cols}"):
                h.update(repr(row).encode())
            out[name] = h.hexdigest()
    return out


def settle(db: Path) -> None:
    """Copy the WAL back into the file, so a plain file copy holds every commit."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def cli_rounds(args: argparse.Namespace, trees: list[Path]) -> int:
    """``scale.py``'s rebuild and catch-up steps, whole processes, tree after tree."""
    import shutil
    import sqlite3

    sys.path.insert(0, str(Path(__file__).parent))
    import scale

    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    clis = {}
    for t in trees:
        cli = scale.Cli(sys.executable, work)
        cli.env["PYTHONPATH"] = str(t)  # runs in the workdir: the tree comes first on sys.path
        clis[t] = cli
        where = subprocess.run([sys.executable, "-c", "import fastcommerce; print(fastcommerce.__file__)"],
                               capture_output=True, text=True, check=True, cwd=work, env=cli.env).stdout.strip()
        print(f"{t}: fastcommerce from {where}", file=sys.stderr)
    data, _meta = scale.ensure_data(clis[trees[0]], work, args.orders, args.days, args.seed)
    logs = work / "ab-logs"
    logs.mkdir(exist_ok=True)
    files = [str(data / n) for n in scale.INPUT_FILES]
    first = clis[trees[0]]
    full = work / f"ab-full-{args.orders}.db"
    if not full.is_file():  # the log and its canonical rows: the same for every tree that decodes alike
        first.step("ab_run", full, ["run", "--format", "json", str(data)], logs)
        settle(full)
    head = work / f"ab-head-{args.orders}.db"
    if not head.is_file():
        for stream, path in (("catalog", files[0]), ("inventory", files[1]),
                             ("orders", str(data / "split" / "orders_head.jsonl"))):
            first.step(f"ab_head_{stream}", head, ["ingest", "--format", "json", stream, path], logs)
        settle(head)
    base = work / f"ab-catchup-{args.orders}.db"
    if not base.is_file():  # the first 90% projected, the rest ingested (once: recorded times are in the rows)
        partial = base.with_suffix(".partial")
        shutil.copy(head, partial)
        first.step("ab_project_head", partial, ["project", "--format", "json"], logs)
        first.step("ab_ingest_tail", partial, ["ingest", "--format", "json", "orders",
                                               str(data / "split" / "orders_tail.jsonl")], logs)
        settle(partial)
        partial.rename(base)
    bases = dict.fromkeys(trees, base)

    def count(db: Path, sql: str) -> int:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute(sql).fetchone()[0]

    records = count(full, "SELECT COUNT(*) FROM event_log")
    new = {t: count(b, 'SELECT MAX("offset") FROM event_log') - count(b, "SELECT MIN(last_offset) FROM projection_state")
           for t, b in bases.items()}
    runs: dict[Path, dict[str, list[tuple[float, float]]]] = {t: {"rebuild": [], "catchup": []} for t in trees}
    digests: dict[str, dict[Path, dict[str, str]]] = {"rebuild": {}, "catchup": {}}
    db = work / "ab-step.db"
    for r in range(args.rounds):
        for t in trees:
            for step, src, cmd in (("rebuild", full, "rebuild"), ("catchup", bases[t], "project")):
                for suffix in ("", "-wal", "-shm"):
                    Path(str(db) + suffix).unlink(missing_ok=True)
                shutil.copy(src, db)
                res = clis[t].step(f"ab_{step}", db, [cmd, "--format", "json"], logs)
                if step == "catchup" and "rebuilt" in json.dumps(res["output"]).replace('"rebuilt": false', ""):
                    print(f"  {t} rebuilt a projection in its catch-up: its tables differ in version or "
                          "config from the first tree's, so this is not a catch-up", file=sys.stderr)
                inner = count(db, "SELECT seconds FROM projection_runs ORDER BY rowid DESC LIMIT 1")
                runs[t][step].append((res["seconds"], inner))
                n = records if step == "rebuild" else new[t]
                print(f"round {r + 1}  {step:<8} {t}: {n / res['seconds']:>9,.0f} ev/s process "
                      f"({res['seconds']:.2f} s), {n / inner:>9,.0f} ev/s in the catch-up ({inner:.2f} s)")
                if r == 0:
                    digests[step][t] = projection_digests(db)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    print(f"\n{args.orders:,} orders: rebuild of {records:,} log records; catch-up of "
          f"{', '.join(f'{n:,}' for n in sorted(set(new.values())))} new records (medians of {args.rounds})")
    same = True
    for step in ("rebuild", "catchup"):
        base = None
        for t in trees:
            n = records if step == "rebuild" else new[t]
            outer = n / statistics.median(w for w, _ in runs[t][step])
            inner = n / statistics.median(i for _, i in runs[t][step])
            base = base or (outer, inner)
            print(f"median  {step:<8} {t}: {outer:>9,.0f} ev/s process ({outer / base[0]:.2f}x)  "
                  f"{inner:>9,.0f} ev/s in the catch-up ({inner / base[1]:.2f}x)")
        tables = list(digests[step].values())
        equal = all(d == tables[0] for d in tables)
        same = same and equal
        print(f"        {step} tables of every tree: {'the same' if equal else 'DIFFERENT'} ({len(tables[0])} tables)")
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", type=Path, help="source trees (each holding fastcommerce/)")
    ap.add_argument("--workdir", type=Path, required=True,
                    help="a projections.py --workdir: its sample-* and parts/ are used (with --cli: scale.py's)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shared-base", action="store_true",
                    help="every tree starts from the first tree's base database: only for trees that differ "
                         "outside the code reading the log (else their first step rebuilds)")
    ap.add_argument("--adopt-reading", action="store_true",
                    help="with --shared-base: each tree records its own reading fingerprint in its copy of the "
                         "base, so a tree whose reading code changed does not rebuild. Only for changes that "
                         "alter speed, never what is read (the tests must show that)")
    ap.add_argument("--cli", action="store_true",
                    help="scale.py's rebuild and catch-up steps as whole CLI processes on its data")
    ap.add_argument("--orders", type=int, default=100_000, help="with --cli: orders of the sample")
    ap.add_argument("--days", type=int, default=10, help="with --cli: days of the sample")
    ap.add_argument("--seed", type=int, default=42, help="with --cli: seed of the sample")
    args = ap.parse_args(argv)
    trees = [t.resolve() for t in args.trees]
    if args.cli:
        return cli_rounds(args, trees)
    if args.adopt_reading and not args.shared_base:
        ap.error("--adopt-reading goes with --shared-base")
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
