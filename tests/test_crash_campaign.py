"""The crash campaign (issue 18, item 5): SIGKILL real processes at random moments over
ingest, follow, catch-up, decode, rebuild and backup, resume each step until it completes,
and compare the log (hash chain included), the canonical rows and the business reports with
a run that was never killed: nothing lost, nothing doubled.

``FASTCOMMERCE_CRASH_KILLS`` sets how many kills are sent (default 100), spread over the
steps; the kills are seeded, their moments random within each step's usual duration.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastcommerce.sample import write_sample

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")]

KILLS = int(os.environ.get("FASTCOMMERCE_CRASH_KILLS", "100"))

DRIVER = r"""
import json, logging, sys
from datetime import datetime, timezone
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from fastcommerce import Pipeline
from fastcommerce.backup import backup

NOW = datetime(2024, 1, 20, 12, 0, tzinfo=timezone.utc)  # recorded times, and so the chain, repeatable
step, db, *args = sys.argv[1:]
with Pipeline(db, load_entrypoints=False, batch_size=150, clock=lambda: NOW) as p:
    if step == "ingest":
        p.ingest(args[0], args[1])
    elif step == "follow":  # runs until killed
        p.follow(args[0], args[1], poll_interval=0.05)
    elif step == "project":
        p.project()
    elif step == "decode":
        p.decode(redecode=True)
    elif step == "rebuild":
        p.rebuild()
    elif step == "backup":
        backup(p.log.conn, args[0])
    elif step == "reports":
        out = {name: p.report(name, **opts).rows for name, opts in
               (("revenue", {}), ("products", {"limit": None}), ("inventory", {}), ("customers", {"limit": None}))}
        print(json.dumps(out, default=str, sort_keys=True))
"""

CANONICAL = ("canon_records", "canon_problems", "canon_orders", "canon_order_lines", "canon_inventory",
             "canon_catalog")


def _start(cwd: Path, *args: str, piped: bool = True) -> subprocess.Popen:
    """``piped=False`` for a process to be killed: its forked decode workers outlive it until
    their slice is decoded (they write nothing), and would hold its pipes open meanwhile."""
    env = {**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": ""}
    out = subprocess.PIPE if piped else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-c", DRIVER, *args], cwd=cwd, env=env,
                            stdout=out, stderr=out, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def _steps(data: Path, copy: Path) -> list[tuple[str, list[str], int]]:
    """``(step, arguments, share of the kills)``, in the order a day's work runs them."""
    return [("ingest", ["catalog", str(data / "product_catalog.json")], 5),
            ("ingest", ["inventory", str(data / "inventory_updates.csv")], 10),
            ("follow", ["orders", str(data / "orders_stream.jsonl")], 10),
            ("ingest", ["orders", str(data / "orders_stream.jsonl")], 20),
            ("project", [], 15),
            ("decode", [], 15),
            ("rebuild", [], 15),
            ("backup", [str(copy)], 10)]


def _dump(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        out = {"event_log": conn.execute('SELECT * FROM event_log ORDER BY "offset"').fetchall(),
               "checkpoints": conn.execute("SELECT source_id, byte_offset, line, fingerprint, last_offset "
                                           "FROM checkpoints ORDER BY source_id").fetchall()}
        for table in CANONICAL:
            out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        return out
    finally:
        conn.close()


def test_a_hundred_kills_over_every_step_lose_and_double_nothing(tmp_path):
    data = tmp_path / "data"
    write_sample(data, orders=1500, days=2, seed=18)
    clean_db, crash_db = tmp_path / "clean.db", tmp_path / "crashed.db"
    clean_copy, crash_copy = tmp_path / "clean-copy.db", tmp_path / "crashed-copy.db"

    took = []  # each step's duration in the clean run: the kills are drawn inside it
    for step, args, _share in _steps(data, clean_copy):
        begun = time.monotonic()
        if step != "follow":
            _finish(_start(tmp_path, step, str(clean_db), *args))
        took.append(max(time.monotonic() - begun, 1.0))  # a follower: killed within its first second

    rng = random.Random(18)
    total_share = sum(share for _s, _a, share in _steps(data, crash_copy))
    landed = 0
    started = time.monotonic()
    for (step, args, share), duration in zip(_steps(data, crash_copy), took):
        kills = max(1, round(KILLS * share / total_share))
        for _ in range(kills):
            proc = _start(tmp_path, step, str(crash_db), *args, piped=False)
            time.sleep(rng.uniform(0.05, duration))  # anywhere in the step: start, work, commit
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                landed += 1
            proc.wait(timeout=60)
        if step != "follow":  # a follower never completes: the next step reads the rest
            _finish(_start(tmp_path, step, str(crash_db), *args))
    # a step resumed after kills has less left to do, so some kills find it finished already
    assert landed >= KILLS // 3, f"only {landed} of {KILLS} kills landed while a process ran"
    assert time.monotonic() - started < 1800

    clean, crashed = _dump(clean_db), _dump(crash_db)
    assert crashed["event_log"] == clean["event_log"]  # every record once, in order, chain hashes alike
    for table in ("checkpoints", *CANONICAL):
        assert crashed[table] == clean[table], table
    reports = [_finish(_start(tmp_path, "reports", str(db))) for db in (clean_db, crash_db)]
    assert json.loads(reports[0]) == json.loads(reports[1])

    from fastcommerce.backup import check_backup
    from fastcommerce.chain import check

    conn = sqlite3.connect(crash_db)
    try:
        assert check(conn, "event_log").ok
    finally:
        conn.close()
    info = check_backup(crash_copy)  # the last backup, made after kills mid-backup
    assert info.head_offset == len(clean["event_log"])
    assert not list(tmp_path.glob("*.partial"))  # a killed backup's partial file is replaced by the next
