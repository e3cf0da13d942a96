#!/usr/bin/env python
"""Release check: a real ``logrotate`` against a real follower loses no line, reads none twice.

A writer appends order lines (reopening the file for each, as a logging library that
reopens does), ``fastcommerce ingest orders live.jsonl --follow`` follows the file, and
``logrotate -f`` rotates it every ``--interval`` seconds with numbered files, in ``create``
mode (rename, new file) and in ``copytruncate`` mode (copy, then empty in place). Then:
every order line that is in some file (``live.jsonl*``) must be in the log exactly once,
with no duplicate counted, and nothing quarantined but lines torn in the files themselves.
(``copytruncate`` itself loses the lines written between its copy and its truncation; those
are in no file and not counted here.)

    python examples/logrotate_check.py --workdir /tmp/lr          # both modes, 8 rotations

Needs the ``logrotate`` program (Debian: ``apt-get install logrotate``). Exit status 1 if a
line is missing or doubled.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

ORDER = {"customer_id": "C1", "timestamp": "2024-01-15T10:00:00Z", "channel": "web",
         "items": [{"product_id": "P1", "quantity": 1, "unit_price": 10}],
         "shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": "confirmed"}


def _orders_logged(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM event_log WHERE stream = 'orders'").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0
    finally:
        conn.close()


def check(mode: str, workdir: Path, rotations: int, interval: float) -> bool:
    d = workdir / mode
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    live, db = d / "live.jsonl", d / "f.db"
    conf = d / "logrotate.conf"
    conf.write_text(f"{live} {{\n    rotate {rotations + 5}\n    {mode}\n    missingok\n    nocompress\n}}\n")
    catalog = d / "catalog.json"
    catalog.write_text(json.dumps([{"product_id": "P1", "name": "Mug", "category": "home", "price": 10}]))
    cli = [sys.executable, "-m", "fastcommerce.cli", "--db", str(db)]
    env = {**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": ""}
    subprocess.run([*cli, "ingest", "catalog", str(catalog)], check=True, env=env, capture_output=True)
    live.touch()
    follower = subprocess.Popen([*cli, "ingest", "orders", str(live), "--follow", "--poll", "0.1"], env=env,
                                stdout=subprocess.DEVNULL, stderr=open(d / "follower.log", "w"))
    stop, written = threading.Event(), [0]

    def write() -> None:
        while not stop.is_set():
            written[0] += 1
            with open(live, "a") as fh:
                fh.write(json.dumps({"order_id": f"O{written[0]}", **ORDER}) + "\n")
            time.sleep(0.002)

    writer = threading.Thread(target=write)
    writer.start()
    started = time.monotonic()
    while not _orders_logged(db) and time.monotonic() - started < 60:  # the follower has started reading
        time.sleep(0.05)
    for _ in range(rotations):
        time.sleep(interval)
        subprocess.run(["logrotate", "-f", "-s", str(d / "state"), str(conf)], check=True, capture_output=True)
    time.sleep(interval)
    stop.set()
    writer.join()
    time.sleep(3.0)  # the rotation grace (2 s) and a few polls
    follower.send_signal(signal.SIGINT)
    follower.wait(timeout=30)
    in_files, torn = set(), 0
    for name in glob.glob(f"{live}*"):
        with open(name) as fh:
            for line in fh:
                try:
                    in_files.add(json.loads(line)["order_id"])
                except ValueError:  # copytruncate's own race can leave a line torn in a file
                    torn += 1
    conn = sqlite3.connect(db)
    logged = [k for (k,) in conn.execute("SELECT natural_key FROM event_log WHERE stream = 'orders'")]
    rejected = conn.execute("SELECT COUNT(*) FROM event_log WHERE rejected IS NOT NULL").fetchone()[0]
    duplicates = conn.execute("SELECT COALESCE(SUM(duplicates), 0) FROM ingest_runs WHERE stream = 'orders'").fetchone()[0]
    conn.close()
    missing, doubled = in_files - set(logged), len(logged) - len(set(logged))
    ok = not missing and not doubled and not duplicates and rejected <= torn and follower.returncode == 0
    print(f"{mode:<13} written {written[0]:,}, in files {len(in_files):,}, logged {len(logged):,}: "
          f"missing {len(missing)}, logged twice {doubled}, duplicates counted {duplicates}, "
          f"quarantined {rejected} (torn lines in the files {torn}), follower exit {follower.returncode}  "
          f"[{'OK' if ok else 'FAIL'}]")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("logrotate-check"))
    parser.add_argument("--mode", choices=("create", "copytruncate", "both"), default="both")
    parser.add_argument("--rotations", type=int, default=8)
    parser.add_argument("--interval", type=float, default=0.7, help="seconds between rotations")
    args = parser.parse_args(argv)
    if shutil.which("logrotate") is None:
        print("logrotate_check: the logrotate program is not installed", file=sys.stderr)
        return 2
    modes = ("create", "copytruncate") if args.mode == "both" else (args.mode,)
    results = [check(m, args.workdir, args.rotations, args.interval) for m in modes]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
