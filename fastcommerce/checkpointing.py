"""WAL checkpoints on a thread of their own, so a commit does not wait for one.

In WAL mode a commit appends the changed pages to the ``-wal`` file, and that is all a
reader needs to see them. By default the connection that commits past 1,000 WAL pages
then copies the pages back into the database file and syncs it, before its commit
returns. A catch-up step dirties pages all over the order table (status changes land on
orders placed hours or days ago), so that copy was a fifth of each step.

SQLite's documentation suggests running checkpoints "in a separate thread or process"
instead. :class:`BackgroundCheckpointer` does that: after each commit the log nudges it,
and its thread runs a ``PASSIVE`` checkpoint on its own connection. Python's sqlite3
releases the GIL while SQLite works, so the copy runs beside the next batch. It never
blocks a writer or a reader. The committing connection keeps a high automatic threshold
as a backstop, in case the thread falls behind. Closing the log stops the thread; the
last connection to close checkpoints what is left, as before.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import structlog

logger = structlog.get_logger(__name__)

BACKSTOP_PAGES = 10_000
"""``wal_autocheckpoint`` of the committing connection when the thread does the work:
about 40 MB of WAL, ten catch-up steps. Only reached if the thread falls behind."""


class BackgroundCheckpointer:
    """A daemon thread that checkpoints ``path``'s WAL each time it is nudged (nudges that
    arrive while it works are folded into one)."""

    def __init__(self, path: str | Path, *, busy_timeout: float) -> None:
        self.path, self.busy_timeout = str(path), busy_timeout
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.checkpoints = 0  # how many ran: for tests and benchmarks

    def nudge(self) -> None:
        """Ask for a checkpoint soon; starts the thread on first use."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping:
                    self._thread = threading.Thread(target=self._run, name="fastcommerce-checkpoint", daemon=True)
                    self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """Let the current checkpoint finish, then end the thread and close its connection."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout)
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # the backstop and the final close still checkpoint
                    logger.warning("background_checkpoint_failed", path=self.path, error=str(exc))
        finally:
            conn.close()
