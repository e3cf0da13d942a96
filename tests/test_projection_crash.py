"""Crash test of the projections: SIGKILL a real catch-up process at random moments, resume
it until it completes, and compare the tables with an uninterrupted catch-up of a copy of
the same log.

The log (26k records from ``fastcommerce.sample``) is ingested once, in this process,
then copied byte for byte (SQLite backup), so both databases hold the same log with the same
offsets and recorded times. The uninterrupted catch-up runs in its own subprocess while the
crash loop runs, so the two use both cores. Each kill waits until the driver has committed
a seeded random point of the log (spread over the whole catch-up) and at least one batch
past the last kill (every run makes progress), then a random fraction of a batch, so it
lands in the middle of reading, applying or committing a batch; the first kill comes at a
random delay after the start (import, table creation, the first batches).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import structlog

from fastcommerce import Pipeline
from fastcommerce.sample import write_sample

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

DRIVER = r"""
import logging, sys
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from fastcommerce import Pipeline

with Pipeline(sys.argv[1], load_entrypoints=False) as p:
    p.projections.catch_up(None, batch_size=50)
print("done")
"""

SEED = 20240115
KILLS = 4  # plus one early kill
ORDERS = 9_000  # about 26k log records over two days


def driver(db: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as err:
        return subprocess.Popen([sys.executable, "-c", DRIVER, str(db)], stdout=subprocess.DEVNULL,
                                stderr=err, cwd=Path(__file__).resolve().parents[1])


def progress(db: Path) -> tuple[int, int]:
    """``(projections with a state row, their smallest offset)``, read without blocking."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("SELECT last_offset FROM projection_state").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return (0, 0)
    return (len(rows), min((r[0] for r in rows), default=0))


def passed(now: tuple[int, int], target: int, seen: tuple[int, int]) -> bool:
    return now[1] >= target and now > seen


def projection_tables(db: Path) -> dict[str, list[tuple]]:
    """Every table of every projection, all columns, rows sorted; and the state rows."""
    with Pipeline(db, load_entrypoints=False) as p:
        tables = [t for _name, (_plugin, proj) in sorted(p.projections.projections.items())
                  for t in proj.tables]
        out = {}
        for t in tables:
            cols = ", ".join(f"[{r[1]}]" for r in p.db.execute(f"PRAGMA table_info([{t}])"))
            out[t] = sorted(p.db.execute(f"SELECT {cols} FROM [{t}]").fetchall(), key=repr)
        out["projection_state"] = sorted(p.db.execute(
            "SELECT name, version, config, last_offset FROM projection_state").fetchall())
        return out


def test_catch_up_killed_at_random_moments_resumes_to_the_same_tables(tmp_path):
    rng = random.Random(SEED)
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        write_sample(tmp_path / "data", orders=ORDERS, days=2, seed=SEED)
        db, ref = tmp_path / "crash.db", tmp_path / "reference.db"
        with Pipeline(db, load_entrypoints=False) as p:
            for stream, name in (("catalog", "product_catalog.json"), ("inventory", "inventory_updates.csv"),
                                 ("orders", "orders_stream.jsonl")):
                p.ingest(stream, tmp_path / "data" / name)
            last = p.log.last_offset()
            dst = sqlite3.connect(ref)
            p.log.conn.backup(dst)
            dst.close()
    finally:
        structlog.configure(**saved)
    assert last > 24_000

    errors = tmp_path / "driver.stderr"
    reference = driver(ref, errors)  # uninterrupted, on the other core
    started = [reference]
    try:
        kills, seen = 0, progress(db)
        # the first kill at a random moment after the start (import, table creation, first
        # batches); the others once the catch-up has passed random points spread over the
        # log, plus a random fraction of a batch (reading, applying or committing it)
        targets = [None, *sorted(rng.sample(range(1, last - 400), KILLS))]
        for target in targets:
            proc = driver(db, errors)
            started.append(proc)
            deadline = time.monotonic() + 60
            if target is None:
                time.sleep(rng.uniform(0.2, 1.5))
            else:
                while not passed(progress(db), target, seen) and proc.poll() is None:
                    assert time.monotonic() < deadline, "the catch-up made no progress"
                    time.sleep(0.025)
                time.sleep(rng.uniform(0.0, 0.25))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
            now = progress(db)
            assert now >= seen  # a kill never loses a committed batch
            assert now[1] <= last
            seen = now
            if proc.returncode == 0:
                break
        assert kills >= 2, "the catch-up finished before it could be killed: use a longer log"

        final = subprocess.run([sys.executable, "-c", DRIVER, str(db)], capture_output=True, timeout=120,
                               cwd=Path(__file__).resolve().parents[1])
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        assert reference.wait(timeout=120) == 0, errors.read_text()[-2000:]
    finally:
        for proc in started:  # only the processes this test started
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    crashed, uninterrupted = projection_tables(db), projection_tables(ref)
    assert crashed.keys() == uninterrupted.keys()
    for table in crashed:
        assert crashed[table] == uninterrupted[table], f"{table} differs after {kills} kills"
    assert {row[3] for row in crashed["projection_state"]} == {last}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
        assert conn.execute('SELECT MAX("offset") FROM event_log').fetchone() == (last,)
