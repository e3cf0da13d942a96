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

import os
import sqlite3
import threading
import weakref
from pathlib import Path

from .logs import get_logger

logger = get_logger(__name__)

BACKSTOP_PAGES = 10_000
"""``wal_autocheckpoint`` of the committing connection when the thread does the work:
about 40 MB of WAL, ten catch-up steps. Only reached if the thread falls behind."""


class BackgroundCheckpointer:
    """A daemon thread that checkpoints the WAL of the database file at ``path`` each time
    it is nudged (nudges that arrive while it works are folded into one).

    ``path`` should be absolute (the log passes SQLite's own name for the file), so a later
    ``chdir`` cannot point the thread elsewhere. Each checkpoint opens its own connection
    (``mode=rw``: it never creates a file) and closes it, so between checkpoints no second
    connection holds the file, and changing its journal mode still works. Nothing here may
    make a commit fail: problems are logged, and the backstop and the final close still
    checkpoint. A forked child starts a thread of its own on its first nudge.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float) -> None:
        self.path, self.busy_timeout = str(path), busy_timeout
        self._stopping = False
        self._reset()
        self.checkpoints = 0  # completed ones (not those a reader kept from finishing)
        _LIVE.add(self)

    def _reset(self) -> None:
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def nudge(self) -> None:
        """Ask for a checkpoint soon; starts the thread on first use."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping:
                    thread = threading.Thread(target=self._run, name="fastcommerce-checkpoint", daemon=True)
                    thread.start()  # may raise (no threads left): then there is no thread to join
                    self._thread = thread
        self._wake.set()

    def stop(self) -> None:
        """Let the current checkpoint finish, then end the thread."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        uri = f"{Path(self.path).resolve().as_uri()}?mode=rw"
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout)
                try:
                    busy, log_frames, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                finally:
                    conn.close()
                if not busy and log_frames >= 0:
                    self.checkpoints += 1
            except sqlite3.Error as exc:
                logger.warning("background_checkpoint_failed", path=self.path, error=str(exc))


_LIVE: weakref.WeakSet[BackgroundCheckpointer] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for checkpointer in list(_LIVE):  # the parent's thread does not exist here
        checkpointer._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
