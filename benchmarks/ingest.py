#!/usr/bin/env python
"""Ingest throughput and peak memory of fastcommerce, against a plain-SQLite baseline.

1. Generates N order lines (JSON Lines) deterministically: the contract's four
   variants (canonical web ~60%, mobile ~15%, api v3 ~15%, legacy v1 ~10%), ~1% exact
   duplicate lines and ~0.5% malformed lines, ~250-350 bytes each.
2. Times ``Pipeline(db, load_entrypoints=False).ingest("orders", file)`` (plus the
   ``close``) into a fresh SQLite file, in a child process, so that the child's peak
   RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) is the ingest's alone.
3. Times the baseline in this process: the same lines stored by a plain ``sqlite3``
   ``executemany`` of ``INSERT OR IGNORE`` into a table with the log's columns and
   keys, the same PRAGMAs and the same rows per transaction, with values computed
   minimally (the stripped line, its SHA-256, constants for the rest): the cost of the
   storage alone.
4. Alternates baseline and fastcommerce ``--repeat`` times, keeps the best of each (wall
   time, and process CPU time, which a busy machine disturbs less), checks both tables
   hold the same number of rows (exit status 1 if not) and prints a compact block, or
   JSON with ``--json``.

    python benchmarks/ingest.py                      # 1,000,000 orders
    python benchmarks/ingest.py --orders 200000 --repeat 2 --json
    python benchmarks/ingest.py --orders 200000 --profile /tmp/ingest.prof
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import code_version  # benchmarks/ is on sys.path when a script here runs

TARGET_RATIO_MIN = 0.5
TARGET_RATIO_AIM = 0.8
TARGET_PEAK_MB = 200.0

# -- the generator ---------------------------------------------------------------------

_COUNTRIES = (
    ("US", "CA", "San Francisco"), ("US", "NY", "New York"), ("US", "TX", "Austin"),
    ("US", "WA", "Seattle"), ("CA", "ON", "Toronto"), ("GB", None, "London"),
    ("DE", None, "Berlin"), ("FR", None, "Paris"), ("IN", "KA", "Bengaluru"),
)
_STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled")
_PRICES = tuple(f"{d}.{c:02d}" for d, c in
                ((9, 99), (14, 50), (19, 99), (24, 0), (29, 99), (49, 95), (89, 0), (129, 99), (249, 99)))
_BASE_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z


def _address_json(country: str, state: str | None, city: str) -> str:
    if state is None:
        return f'{{"country":"{country}","city":"{city}"}}'
    return f'{{"country":"{country}","state":"{state}","city":"{city}"}}'


def _cents(price: str) -> int:
    d, c = price.split(".")
    return int(d) * 100 + int(c)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def generate(path: Path, n: int, seed: int) -> dict[str, int]:
    """Write ``n`` lines to ``path``; return how many of each kind were written."""
    rng = random.Random(seed)
    rand, randrange = rng.random, rng.randrange
    counts = dict.fromkeys(("web", "mobile", "api", "legacy", "duplicate", "malformed"), 0)
    recent: list[bytes] = []  # ring of recent lines: duplicates within and across batches
    ring = 4096
    out: list[bytes] = []
    with open(path, "wb") as fh:
        for i in range(n):
            r = rand()
            if r < 0.01 and recent:
                line = recent[randrange(len(recent))]
                counts["duplicate"] += 1
            else:
                order_id = f"ORD-{seed % 1000:03d}-{i:08d}"
                customer = f"CUST-{randrange(1, 200_000):06d}"
                t = _BASE_EPOCH + i * 3 + randrange(3)
                items = []
                total = 0
                v = rand()
                # one item or two; api v3 items are the widest, legacy v1 ones the narrowest
                one = 0.85 if 0.75 <= v < 0.90 else 0.35 if v >= 0.90 else 0.55
                for _ in range(1 if rand() < one else 2):
                    price = _PRICES[randrange(len(_PRICES))]
                    qty = 1 + randrange(4)
                    total += _cents(price) * qty
                    items.append((f"PROD-{randrange(1, 5000):05d}", qty, price))
                country, state, city = _COUNTRIES[randrange(len(_COUNTRIES))]
                status = _STATUSES[randrange(len(_STATUSES))]
                if r >= 0.995:  # ~0.5% malformed: a line cut short, or not an object
                    base = (f'{{"order_id":"{order_id}","customer_id":"{customer}",'
                            f'"timestamp":"{_iso(t)}","channel":"web","items":[{{"product_id":"')
                    line = (base[: 40 + randrange(len(base) - 40)] if v < 0.8
                            else f'["{order_id}","{customer}",{total}]').encode()
                    counts["malformed"] += 1
                elif v < 0.60:
                    items_json = ",".join(
                        f'{{"product_id":"{p}","quantity":{q},"unit_price":{pr}}}' for p, q, pr in items)
                    line = (f'{{"order_id":"{order_id}","customer_id":"{customer}",'
                            f'"timestamp":"{_iso(t)}","channel":"web","items":[{items_json}],'
                            f'"shipping_address":{_address_json(country, state, city)},'
                            f'"status":"{status}","order_total":{_money(total)}}}').encode()
                    counts["web"] += 1
                elif v < 0.75:
                    items_json = ",".join(
                        f'{{"product_id":"{p}","quantity":{q},"unit_price":"{pr}"}}' for p, q, pr in items)
                    line = (f'{{"order_id":"{order_id}","customerId":"{customer}",'
                            f'"timestamp":"{_iso_ist(t)}","channel":"mobile","items":[{items_json}],'
                            f'"shipping_address":{_address_json(country, state, city)},'
                            f'"status":"{status.upper()}","app_version":"5.{randrange(20)}.{randrange(10)}"}}'
                            ).encode()
                    counts["mobile"] += 1
                elif v < 0.90:
                    items_json = ",".join(
                        f'{{"product_id":"{p}","quantity":{q},"price":{{"amount":"{pr}","currency":"USD"}}}}'
                        for p, q, pr in items)
                    line = (f'{{"schema_version":3,"order_id":"{order_id}","customer_id":"{customer}",'
                            f'"timestamp":"{_iso(t)}","channel":"api","items":[{items_json}],'
                            f'"shipping_address":{_address_json(country.lower(), state, city)},'
                            f'"status":"{status}","order_total":"{_money(total)}",'
                            f'"metadata":{{"partner":"P{randrange(100):03d}"}}}}').encode()
                    counts["api"] += 1
                else:
                    items_json = ",".join(
                        f'{{"product_id":"{p}","quantity":{q},"price":{pr}}}' for p, q, pr in items)
                    st = f'"state":"{state}",' if state else ""
                    line = (f'{{"order_id":"{order_id}","customer_id":"{customer}",'
                            f'"timestamp":"{_iso(t)}","items":[{items_json}],'
                            f'"country":"{country}",{st}"city":"{city}","status":"{status}"}}').encode()
                    counts["legacy"] += 1
                if len(recent) < ring:
                    recent.append(line)
                else:
                    recent[randrange(ring)] = line
            out.append(line)
            if len(out) >= 8192:
                out.append(b"")
                fh.write(b"\n".join(out))
                out.clear()
        if out:
            out.append(b"")
            fh.write(b"\n".join(out))
    return counts


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _iso_ist(t: int) -> str:  # the same instant, written at +05:30 as the mobile app does
    return time.strftime("%Y-%m-%dT%H:%M:%S+05:30", time.gmtime(t + 19_800))


# -- the baseline ----------------------------------------------------------------------

BASELINE_DDL = """
CREATE TABLE event_log (
    "offset" INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    natural_key TEXT,
    event_time TEXT,
    recorded_at TEXT NOT NULL,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    variant TEXT,
    schema_version INTEGER,
    rejected TEXT,
    reason TEXT,
    raw BLOB NOT NULL,
    UNIQUE (stream, content_hash)
)
"""
BASELINE_INSERT = (
    "INSERT OR IGNORE INTO event_log (stream, content_hash, natural_key, event_time, recorded_at, "
    "source, line, variant, schema_version, rejected, reason, raw) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def run_baseline(db_path: Path, input_path: Path, batch_size: int) -> tuple[float, float]:
    """Store every line as the log would, with nothing computed but its hash.
    ``(wall seconds, CPU seconds)``."""
    sha256 = hashlib.sha256
    source = str(input_path)
    # Constants of the widths the log stores, so the rows weigh about the same.
    recorded_at = "2024-01-20T12:00:00.000000Z"
    natural_key, event_time = "ORD-000-00000000", "2024-01-01T00:00:00.000000Z"
    t0, c0 = time.perf_counter(), time.process_time()
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(BASELINE_DDL)
    with open(input_path, "rb") as fh:
        lineno = 0
        rows = []
        for raw in fh:
            lineno += 1
            body = raw[:-1] if raw.endswith(b"\n") else raw
            rows.append(("orders", sha256(body).digest(), natural_key, event_time, recorded_at,
                         source, lineno, "web", 2, None, None, body))
            if len(rows) == batch_size:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(BASELINE_INSERT, rows)
                conn.execute("COMMIT")
                rows = []
        if rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(BASELINE_INSERT, rows)
            conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - t0, time.process_time() - c0


def count_rows(db_path: Path) -> int:
    conn = sqlite3.connect(str(db_path))
    try:
        return conn.execute("SELECT COUNT(*) FROM event_log").fetchone()[0]
    finally:
        conn.close()


def remove_db(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)


# -- the fastcommerce child ------------------------------------------------------------

def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child_main(args: argparse.Namespace) -> None:
    """In a fresh process: import fastcommerce, ingest, write a JSON result file."""
    import fastcommerce  # noqa: F401  (the import is part of the measured baseline RSS)
    from fastcommerce import Pipeline

    after_import = {"rss_kib": _rss_kib(),
                    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    profiler = None
    if args.child_profile:
        import cProfile
        profiler = cProfile.Profile()
    t0, c0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    p = Pipeline(args.child_db, load_entrypoints=False, batch_size=args.batch_size)
    summary = p.ingest("orders", args.child_input)
    p.close()
    if profiler:
        profiler.disable()
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    if profiler:
        profiler.dump_stats(args.child_profile)
    totals = summary.totals()["orders"]
    Path(args.child_result).write_text(json.dumps({
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "after_import": after_import,
        "maxrss_self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "fastcommerce_file": fastcommerce.__file__,
        "summary": totals,
    }))


def run_fastcommerce_child(script_args: list[str], db_path: Path, input_path: Path,
                           workdir: Path, tag: str, profile: Path | None = None) -> dict:
    result = workdir / f"result-{tag}.json"
    log = workdir / f"child-{tag}.log"  # the child's stdout and stderr (the library's warnings)
    try:  # the child runs with this interpreter's flags (e.g. -S), as multiprocessing does
        flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    except AttributeError:
        flags = []
    cmd = [sys.executable, *flags, os.path.abspath(__file__), "--child", *script_args,
           "--child-db", str(db_path), "--child-input", str(input_path), "--child-result", str(result)]
    if profile is not None:
        cmd += ["--child-profile", str(profile)]
    with open(log, "wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"fastcommerce child failed with status {proc.returncode} (log: {log})")
    data = json.loads(result.read_text())
    data["rusage_children_maxrss_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return data


# -- main ------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=1_000_000, help="order lines to generate (default 1,000,000)")
    ap.add_argument("--batch-size", type=int, default=10_000,
                    help="records per transaction, for both fastcommerce and the baseline (default 10,000)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the input and databases go (default: a temporary directory, removed after)")
    ap.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="baseline/fastcommerce pairs to run, alternately; the best of each is reported")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout (the text block then goes to stderr)")
    ap.add_argument("--keep", action="store_true", help="keep the input and database files")
    ap.add_argument("--profile", type=Path, default=None,
                    help="after the timed runs, run one more fastcommerce ingest under cProfile, "
                         "save the stats to this file and print the top functions")
    # hidden: the child process that runs the fastcommerce ingest
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-db", help=argparse.SUPPRESS)
    ap.add_argument("--child-input", help=argparse.SUPPRESS)
    ap.add_argument("--child-result", help=argparse.SUPPRESS)
    ap.add_argument("--child-profile", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.orders < 1 or args.batch_size < 1 or args.repeat < 1:
        ap.error("--orders, --batch-size and --repeat must be positive")
    return args


def print_profile(path: Path, top: int = 15) -> str:
    import io
    import pstats
    buf = io.StringIO()
    st = pstats.Stats(str(path), stream=buf)
    st.strip_dirs().sort_stats("cumulative").print_stats(top)
    st.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return 0

    own_tmp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="fc-bench-")) if own_tmp else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    input_path = workdir / "orders_stream.jsonl"
    say = (lambda *a: print(*a, file=sys.stderr, flush=True))
    try:
        t0 = time.perf_counter()
        kinds = generate(input_path, args.orders, args.seed)
        gen_s = time.perf_counter() - t0
        size = input_path.stat().st_size
        say(f"generated {args.orders:,} lines, {size / 1e6:.1f} MB "
            f"({size / args.orders:.0f} B/line) in {gen_s:.1f}s: {kinds}")

        child_args = ["--batch-size", str(args.batch_size)]
        base_runs, base_cpu, fc_runs, loads = [], [], [], [os.getloadavg()[0]]
        base_rows = fc_rows = None
        for i in range(args.repeat):
            db = workdir / f"baseline-{i}.db"
            remove_db(db)
            load_before = os.getloadavg()[0]
            secs, cpu = run_baseline(db, input_path, args.batch_size)
            base_rows = count_rows(db)
            base_runs.append(secs)
            base_cpu.append(cpu)
            say(f"[{i + 1}/{args.repeat}] baseline     {secs:7.2f}s (cpu {cpu:6.2f}s)  "
                f"{args.orders / secs:>10,.0f} rec/s  rows={base_rows:,}  load {load_before:.1f}")
            if not args.keep:
                remove_db(db)

            db = workdir / f"fastcommerce-{i}.db"
            remove_db(db)
            res = run_fastcommerce_child(child_args, db, input_path, workdir, str(i))
            fc_rows = count_rows(db)
            res["rows"] = fc_rows
            fc_runs.append(res)
            say(f"[{i + 1}/{args.repeat}] fastcommerce {res['seconds']:7.2f}s (cpu {res['cpu_seconds']:6.2f}s)  "
                f"{args.orders / res['seconds']:>10,.0f} rec/s  rows={fc_rows:,}  "
                f"peak RSS {res['maxrss_self_kib'] / 1024:.0f} MB  load {os.getloadavg()[0]:.1f}")
            loads.append(os.getloadavg()[0])
            if not args.keep:
                remove_db(db)

        best_base = min(base_runs)
        best_fc = min(r["seconds"] for r in fc_runs)
        best_base_cpu = min(base_cpu)
        best_fc_cpu = min(r["cpu_seconds"] for r in fc_runs)
        cpu_ratio = best_base_cpu / best_fc_cpu
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # max over the children
        import_kib = max(r["after_import"]["maxrss_kib"] for r in fc_runs)
        ratio = best_base / best_fc  # fastcommerce throughput / baseline throughput
        last = fc_runs[-1]["summary"]
        rows_ok = base_rows == fc_rows == last["appended"]
        result = {
            "orders": args.orders,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "repeat": args.repeat,
            "input_bytes": size,
            "generated": kinds,
            "baseline": {"best_seconds": best_base, "records_per_s": args.orders / best_base,
                         "runs_seconds": base_runs, "best_cpu_seconds": best_base_cpu,
                         "runs_cpu_seconds": base_cpu, "rows": base_rows},
            "fastcommerce": {"best_seconds": best_fc, "records_per_s": args.orders / best_fc,
                             "runs_seconds": [r["seconds"] for r in fc_runs],
                             "best_cpu_seconds": best_fc_cpu,
                             "runs_cpu_seconds": [r["cpu_seconds"] for r in fc_runs], "rows": fc_rows,
                             "summary": last},
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "memory": {"peak_rss_mb": peak_kib / 1024, "after_import_rss_mb": import_kib / 1024,
                       "increment_mb": (peak_kib - import_kib) / 1024},
            "targets": {"ratio_min": TARGET_RATIO_MIN, "ratio_aim": TARGET_RATIO_AIM,
                        "peak_rss_mb_max": TARGET_PEAK_MB,
                        "ratio_met": ratio >= TARGET_RATIO_MIN, "ratio_aim_met": ratio >= TARGET_RATIO_AIM,
                        "memory_met": peak_kib / 1024 < TARGET_PEAK_MB},
            "rows_equal": rows_ok,
            "code": code_version(fc_runs[-1]["fastcommerce_file"]),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
                        "load_avg_1min": loads},
        }

        code = result["code"]
        if args.profile is not None:
            db = workdir / "fastcommerce-profile.db"
            remove_db(db)
            prof = run_fastcommerce_child(child_args, db, input_path, workdir, "profile", profile=args.profile)
            result["profile"] = {"file": str(args.profile), "seconds_under_profiler": prof["seconds"]}
            if not args.keep:
                remove_db(db)
            say(print_profile(args.profile))

        mark = lambda ok: "OK " if ok else "MISS"  # noqa: E731
        text = (f"""\
fastcommerce ingest benchmark: {args.orders:,} order lines ({size / 1e6:.0f} MB), batch {args.batch_size:,}, best of {args.repeat}
  baseline (sqlite3 executemany)  {args.orders / best_base:>10,.0f} rec/s  {best_base:7.2f}s
  fastcommerce Pipeline.ingest    {args.orders / best_fc:>10,.0f} rec/s  {best_fc:7.2f}s
  ratio fastcommerce/baseline     {ratio:>10.2f}x    target >= {TARGET_RATIO_MIN}x (aim {TARGET_RATIO_AIM}x)  [{mark(ratio >= TARGET_RATIO_MIN)}]
    by CPU time (less noisy)      {cpu_ratio:>10.2f}x    cpu: baseline {best_base_cpu:.2f}s, fastcommerce {best_fc_cpu:.2f}s
  peak RSS of the ingest child    {peak_kib / 1024:>10.1f} MB    target < {TARGET_PEAK_MB:.0f} MB  [{mark(peak_kib / 1024 < TARGET_PEAK_MB)}]
    after importing fastcommerce  {import_kib / 1024:>10.1f} MB    (increment {(peak_kib - import_kib) / 1024:.1f} MB)
  rows: baseline {base_rows:,}  fastcommerce {fc_rows:,}  appended {last['appended']:,}  [{mark(rows_ok)}]
    read {last['read']:,}, duplicates {last['duplicates']:,}, malformed {last['malformed']:,}, unknown schema {last['unknown_schema']:,}
  fastcommerce: {code['path']} (commit {code['commit'] or 'unknown'}{', with local changes' if code['dirty'] else ''})
  machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, 1-min load during runs {min(loads):.1f}-{max(loads):.1f}""")
        if args.json:  # JSON on stdout, the readable block with the progress on stderr
            say(text)
            print(json.dumps(result, indent=2))
        else:
            print(text)
        if not rows_ok:
            say(f"ERROR: row counts differ: baseline {base_rows}, fastcommerce {fc_rows}, "
                f"appended {last['appended']}")
            return 1
        return 0
    finally:
        if own_tmp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
