"""``verify``: check the file's integrity, then rebuild every projection in a scratch copy
and compare table checksums.

A projection that is deterministic gives, rebuilt from offset 0, exactly the tables that
incremental catch-ups built. Any difference points at a projection that depends on
something other than the log (a clock, dict order, a bug in an incremental update).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from ..errors import DatabaseDamagedError
from ..protocols import PipelineLike
from ..storage.postgres import PostgresEventLog, drop_schema, scratch_copy


@attrs.frozen(kw_only=True, slots=True)
class TableCheck:
    projection: str
    table: str
    live_rows: int
    rebuilt_rows: int
    live_checksum: str
    rebuilt_checksum: str
    live_exists: bool = True  # a live table dropped by hand is a difference, not a crash
    offset: int = 0  # the log offset both sides describe: the one the live tables had reached

    @property
    def ok(self) -> bool:
        return self.live_exists and self.live_checksum == self.rebuilt_checksum


MISSING = "missing"
"""The checksum of a table that does not exist (no sha256 digest looks like it)."""


def table_checksum(conn: sqlite3.Connection, table: str) -> tuple[int, str]:
    """``(rows, sha256)`` of a table's rows in a canonical order (every column);
    ``(0, MISSING)`` when there is no such table."""
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
    if not cols:
        return 0, MISSING
    order = ", ".join(f"[{c}]" for c in cols)
    digest = hashlib.sha256()
    n = 0
    for row in conn.execute(f"SELECT {order} FROM [{table}] ORDER BY {order}"):
        digest.update(repr(row).encode())
        n += 1
    return n, digest.hexdigest()


INTEGRITY_MESSAGES = 5
"""How many of SQLite's integrity-check messages a damaged file's error quotes."""


def _check_integrity(copy: sqlite3.Connection, pipeline: PipelineLike) -> None:
    """Raise :class:`DatabaseDamagedError` if SQLite finds the copy damaged. The copy has the
    live file's pages as they are; a rebuild and the checksums read only the tables, so a
    damaged index (the one that keeps the log free of duplicates, say) would pass them."""
    try:
        found = [" ".join(m.split()) for (m,) in copy.execute(f"PRAGMA integrity_check({INTEGRITY_MESSAGES})")]
    except sqlite3.DatabaseError as exc:  # damaged beyond what the check can walk
        found = [str(exc)]
    if found != ["ok"]:
        name = pipeline.log.file or "the database"
        raise DatabaseDamagedError(
            f"{name}: the database file is damaged (SQLite's integrity check: {'; '.join(found)}); "
            "restore it from a backup, or ingest the source files into a new database")


SCRATCH_PREFIX = "fastcommerce-verify-"
LOCK_NAME = "in-use.lock"
LEGACY_STALE_SECONDS = 24 * 3600
"""A scratch folder left by a version before the lock file is taken for stale after this."""


class _Stopped(BaseException):
    """SIGTERM during verify: unwinds like Ctrl-C, so the scratch copy is removed."""


def remove_stale_scratch(parent: str | Path | None = None) -> list[Path]:
    """Remove the scratch folders of verifies that were killed (SIGKILL, a power cut): a live
    verify holds the lock file in its folder, a dead one's lock can be taken. The removed
    folders."""
    removed = []
    root = Path(parent or tempfile.gettempdir())
    for folder in root.glob(SCRATCH_PREFIX + "*"):
        try:
            if not folder.is_dir() or folder.is_symlink() or folder.stat().st_uid != os.getuid():
                continue
            lock = folder / LOCK_NAME
            if lock.exists():
                with open(lock, "rb") as fh:
                    try:
                        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a verify running now
            elif time.time() - folder.stat().st_mtime < LEGACY_STALE_SECONDS:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def _scratch_folder() -> Iterator[Path]:
    """A private temporary folder, locked while in use, removed on the way out, also when
    SIGTERM or SIGINT stop the process (a scheduled verify with a timeout); stale folders
    of earlier killed verifies are removed first."""
    remove_stale_scratch()
    previous = None
    if threading.current_thread() is threading.main_thread():
        def stop(signum, _frame):
            raise _Stopped(signal.Signals(signum).name)
        previous = signal.signal(signal.SIGTERM, stop)
    try:
        with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as tmp, open(Path(tmp) / LOCK_NAME, "wb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield Path(tmp)
    except _Stopped:
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def verify(pipeline: PipelineLike) -> list[TableCheck]:
    """Catch up, take one consistent copy of the database, and in that copy compare each
    projection's tables with a rebuild of it up to the offset its tables had reached.
    Comparing inside the copy keeps an ingest or a catch-up running beside ``verify``
    (a follower, say) from showing as a difference: both sides describe the same events."""
    # catch up first, except a projection with a live table missing (dropped by hand, say):
    # applying to it would fail, and its missing table is a difference to report
    projections = pipeline.projections.projections
    complete = [name for name, (_plugin, p) in sorted(projections.items())
                if all(pipeline.db[t].exists() for t in p.tables)]
    if complete:
        pipeline.project(complete)
    with _scratch_folder() as tmp:
        if isinstance(pipeline.log, PostgresEventLog):  # a scratch schema, dropped at the end
            scratch_path: str | Path = scratch_copy(pipeline.log)
        else:
            scratch_path = tmp / "scratch.db"
            dst = sqlite3.connect(scratch_path)
            pipeline.log.conn.backup(dst)  # one snapshot: the log and the tables as they stood together
            try:
                _check_integrity(dst, pipeline)
            finally:
                dst.close()
        try:
            return _compare(pipeline, scratch_path)
        finally:
            if isinstance(pipeline.log, PostgresEventLog):
                drop_schema(pipeline.log.pg, str(scratch_path))


def _compare(pipeline: PipelineLike, scratch_path: str | Path) -> list[TableCheck]:
    """In the copy: each projection's tables as they stood, then rebuilt, compared."""
    projections = pipeline.projections.projections
    scratch = pipeline.clone(scratch_path)
    try:
        built = scratch.projections.state()
        reached = {name: built[name][1] if name in built else scratch.log.last_offset() for name in projections}
        live = {(name, table): table_checksum(scratch.log.conn, table)
                for name, (_plugin, projection) in sorted(projections.items()) for table in projection.tables}
        by_offset: dict[int, list[str]] = {}
        for name in sorted(projections):
            by_offset.setdefault(reached[name], []).append(name)
        for offset, names in sorted(by_offset.items()):
            scratch.projections.rebuild(names, to_offset=offset)
        checks = []
        for (name, table), (live_n, live_sum) in live.items():
            new_n, new_sum = table_checksum(scratch.log.conn, table)
            checks.append(TableCheck(projection=name, table=table, live_rows=live_n,
                                     rebuilt_rows=new_n, live_checksum=live_sum,
                                     rebuilt_checksum=new_sum, live_exists=live_sum != MISSING,
                                     offset=reached[name]))
    finally:
        scratch.close()
    return checks
