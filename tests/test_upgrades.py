"""Files written by an older fastcommerce open under this one: missing columns are added,
once, even when two processes open the same old file at the same moment."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from fastcommerce import Pipeline
from fastcommerce.sample import write_sample

OPEN_AND_CATCH_UP = r"""
import logging, sys, time
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from fastcommerce import Pipeline
start = float(sys.argv[2])
while time.time() < start:  # both processes open the file together
    time.sleep(0.001)
with Pipeline(sys.argv[1], load_entrypoints=False) as p:
    results = p.project()
print(sorted(r.why or "-" for r in results))
"""


def _make_old(db: Path) -> None:
    """The columns this version added to the projection bookkeeping, removed again, and
    with them the record of the migrations that added them (a file written before the
    projections' migrations existed has none: its tables were made on every open)."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("ALTER TABLE projection_state DROP COLUMN reading")
        conn.execute("ALTER TABLE projection_runs DROP COLUMN latency_p95_s")
        conn.execute("ALTER TABLE projection_runs DROP COLUMN latency_p50_s")
        conn.execute("DELETE FROM _sqlite_migrations WHERE migration_set = 'fastcommerce.projections'")
    conn.close()


def _columns(db: Path, table: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def test_two_processes_opening_an_old_file_at_once_both_upgrade_it(tmp_path: Path) -> None:
    sample = tmp_path / "sample"
    write_sample(sample, orders=300, days=1, seed=3)
    db = tmp_path / "log.db"
    with Pipeline(db, load_entrypoints=False) as p:
        p.run(sample)
    for attempt in range(2):
        _make_old(db)
        assert "reading" not in _columns(db, "projection_state")
        start = str(time.time() + 1.0)
        # the write lock is held while both open the file: each sees the old columns,
        # then both wait to change the table
        lock = sqlite3.connect(db, timeout=10)
        lock.execute("BEGIN IMMEDIATE")
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_AND_CATCH_UP, str(db), start],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        time.sleep(3.0)
        lock.rollback()
        lock.close()
        outcomes = [proc.communicate(timeout=120) for proc in procs]
        for proc, (out, err) in zip(procs, outcomes):
            assert proc.returncode == 0, (attempt, err[-2000:])
        # one of them rebuilt the projections (the file did not say which plugins read the log)
        assert any("built before fastcommerce recorded" in out for out, _err in outcomes), outcomes
        assert _columns(db, "projection_state").count("reading") == 1
        assert _columns(db, "projection_runs")[-2:] == ["latency_p50_s", "latency_p95_s"]
    with Pipeline(db, load_entrypoints=False) as p:
        assert all(r.ok for r in p.verify())
