"""WAL checkpoints run on the log's own thread: committed pages reach the database file
without the committing call waiting, and the thread ends with the log."""

from __future__ import annotations

import gc
import shutil
import sqlite3
import time
from pathlib import Path

from fastcommerce.eventlog import EventLog


def _wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _main_file_rows(db: Path, tmp_path: Path) -> int | None:
    """Rows of ``t`` in the database file alone, as if its WAL were lost: what a
    checkpoint has copied back. ``None`` when the file does not have the table yet."""
    copy = tmp_path / "main-file-only.db"
    shutil.copyfile(db, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
        copy.unlink()


def test_committed_pages_reach_the_database_file_before_close(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    log = EventLog.open(db)
    with log.transaction() as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    # far below the committing connection's own threshold: only the thread copies them
    assert _wait_for(lambda: _main_file_rows(db, tmp_path) == 1000)
    assert log._checkpointer is not None and log._checkpointer.checkpoints >= 1
    assert (tmp_path / "log.db-wal").exists()  # the log is still open
    log.close()


def test_close_stops_the_thread_and_leaves_no_wal(tmp_path: Path) -> None:
    log = EventLog.open(tmp_path / "log.db")
    with log.transaction() as conn:
        conn.execute("CREATE TABLE t (x)")
    thread = log._checkpointer._thread
    assert thread is not None and thread.is_alive()
    log.close()
    assert not thread.is_alive()
    assert not (tmp_path / "log.db-wal").exists()  # the last connection checkpointed and removed it


def test_a_log_dropped_without_close_ends_its_thread(tmp_path: Path) -> None:
    log = EventLog.open(tmp_path / "log.db")
    with log.transaction() as conn:
        conn.execute("CREATE TABLE t (x)")
    thread = log._checkpointer._thread
    del log, conn
    gc.collect()
    assert _wait_for(lambda: not thread.is_alive())


def test_no_thread_without_a_wal_file(tmp_path: Path) -> None:
    log = EventLog.open(":memory:")
    with log.transaction() as conn:
        conn.execute("CREATE TABLE t (x)")
    assert log._checkpointer is None
    log.close()
