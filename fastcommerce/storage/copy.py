"""``copy-log``: a whole log from one engine to another (SQLite <-> PostgreSQL, or the same).

What is copied is what the log *is*: every record with its offset, content hash and raw
bytes, every source checkpoint and ingest run, and every canonical row with the decoders
that wrote them. Projection tables are derived data and are not copied: the destination
builds them from the copied canonical rows at its first catch-up, and ``verify`` there
proves they match a rebuild. The copy commits in one transaction on the destination, which
must hold no record yet; the source is read in one snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .. import canonical
from ..errors import EventLogError
from ..eventlog import EventLog
from ..schema import CHECKPOINT_TABLE, LOG_TABLE, RUNS_TABLE
from .postgres import PostgresEventLog

TABLES = (LOG_TABLE, CHECKPOINT_TABLE, RUNS_TABLE, canonical.DECODERS, canonical.RECORDS, canonical.PROBLEMS,
          canonical.ORDERS, canonical.LINES, canonical.INVENTORY, canonical.CATALOG, canonical.META)
"""In the order they are copied."""

CHUNK = 20_000


@attrs.frozen
class CopiedTable:
    table: str
    rows: int


def _columns(log: EventLog, table: str) -> list[str]:
    return [r[1] for r in log.conn.execute(f"PRAGMA table_info([{table}])")]


def copy_log(src: EventLog, dst: EventLog, *, on_table: Callable[[CopiedTable], None] | None = None
             ) -> list[CopiedTable]:
    """Copy ``src``'s log, checkpoints, runs and canonical rows into the empty ``dst``."""
    if dst.last_offset() != 0:
        raise EventLogError(f"the destination already holds a log (last offset {dst.last_offset():,}); "
                            "copy-log writes into an empty one only")
    copied = []
    with _snapshot(src), dst.transaction() as out:
        top = src.last_offset()
        dst.lock_appends()
        out.execute(f"DELETE FROM {canonical.META}")  # the destination's own, from its creation
        for table in TABLES:
            present = set(_columns(src, table))
            columns = [c for c in _columns(dst, table) if c in present]
            names = ", ".join(f'"{c}"' for c in columns)
            insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
            n = 0
            for rows in _chunks(src, table, names, "offset" in columns, top):
                out.executemany(insert, [tuple(_plain(v) for v in r) for r in rows])
                n += len(rows)
            if isinstance(dst, PostgresEventLog) and table == LOG_TABLE:
                dst.adopt_copied_offsets()
            copied.append(CopiedTable(table, n))
            if on_table is not None:
                on_table(copied[-1])
        if isinstance(dst, PostgresEventLog):
            dst.resync_identities()
    if isinstance(dst, PostgresEventLog):
        dst.analyze()
    return copied


def _chunks(src: EventLog, table: str, names: str, by_offset: bool, top: int) -> Any:
    """The table's rows, a range of offsets at a time (memory stays flat), or all at once
    for the small tables keyed otherwise."""
    if not by_offset:
        yield src.conn.execute(f"SELECT {names} FROM {table}").fetchall()
        return
    lo = 0
    while lo < top:
        yield src.conn.execute(f'SELECT {names} FROM {table} WHERE "offset" > ? AND "offset" <= ? '
                               f'ORDER BY "offset"', [lo, lo + CHUNK]).fetchall()
        lo += CHUNK


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


class _snapshot:
    """The source read in one snapshot: SQLite's read transaction, PostgreSQL's REPEATABLE READ."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def __enter__(self) -> None:
        if isinstance(self.log, PostgresEventLog):
            self.log.pg.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            self.log.conn.execute("BEGIN")

    def __exit__(self, *exc: object) -> None:
        self.log.conn.rollback()
