"""WAL checkpoints run on the log's own thread: committed pages reach the database file
without the committing call waiting, and the thread ends with the log."""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from fastcommerce import checkpointing
from fastcommerce.eventlog import EventLog
from fastcommerce.testing import wait_for


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
    wait_for(lambda: _main_file_rows(db, tmp_path) == 1000)
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
    wait_for(lambda: not thread.is_alive())


def test_no_thread_without_a_wal_file(tmp_path: Path) -> None:
    log = EventLog.open(":memory:")
    with log.transaction() as conn:
        conn.execute("CREATE TABLE t (x)")
    assert log._checkpointer is None
    log.close()


def test_a_relative_path_and_a_later_chdir_still_checkpoint_the_same_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    log = EventLog.open("log.db")
    monkeypatch.chdir(tmp_path / "elsewhere")
    with log.transaction() as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    wait_for(lambda: _main_file_rows(tmp_path / "here" / "log.db", tmp_path) == 100)
    assert list((tmp_path / "elsewhere").iterdir()) == []  # no stray database created there
    log.close()


def test_between_checkpoints_no_second_connection_holds_the_file(tmp_path: Path) -> None:
    """So a user can still take the file out of WAL mode."""
    log = EventLog.open(tmp_path / "log.db", busy_timeout=1.0)
    with log.transaction() as conn:
        conn.execute("CREATE TABLE t (x)")
    wait_for(lambda: log._checkpointer.checkpoints >= 1)
    assert log.conn.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    log.close()


def test_no_thread_to_be_had_still_commits_and_closes(tmp_path: Path, monkeypatch) -> None:
    class NoThreads(threading.Thread):
        def start(self) -> None:
            raise RuntimeError("can't start new thread")

    monkeypatch.setattr(checkpointing.threading, "Thread", NoThreads)
    db = tmp_path / "log.db"
    log = EventLog.open(db)
    with log.transaction() as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
    assert log.conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    log.close()
    assert _main_file_rows(db, tmp_path) == 1  # the close checkpointed it


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_checkpoints_with_a_thread_of_its_own(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    log = EventLog.open(db)
    with log.transaction() as conn:
        conn.execute("CREATE TABLE t (x)")
    wait_for(lambda: log._checkpointer.checkpoints >= 1)
    pid = os.fork()
    if pid == 0:  # the child: its own connection, the parent's checkpointer object
        code = 1
        try:
            child = EventLog.open(db)
            before = log._checkpointer.checkpoints
            log._checkpointer.nudge()  # the parent's thread does not exist here
            try:
                wait_for(lambda: log._checkpointer.checkpoints > before, 10)
                code = 0
            except AssertionError:
                code = 2
            child.close()
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60  # never hang the suite on a child that hangs
    while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if waited[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not finish in 60 s")
    status = waited[1]
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    log.close()
