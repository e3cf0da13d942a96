"""The append-only event log: one SQLite table, an offset that is never reused.

Every record of every stream is appended as received, with its content hash as the
idempotency key within its stream. The database itself refuses UPDATE and DELETE on the
log (triggers), so no code path, ours or a plugin's, can rewrite history. A batch of
appended records and its source checkpoint commit in one transaction: after a crash the
log and the checkpoints always agree.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .checkpointing import BACKSTOP_PAGES, BackgroundCheckpointer
from .errors import AppendOnlyViolation, DatabaseLockedError, EventLogError
from .events import LogRecord
from .logs import get_logger
from .times import format_time, parse_time  # noqa: F401  (re-exported: the log's time form)

logger = get_logger(__name__)

LOG_TABLE = "event_log"
CHECKPOINT_TABLE = "checkpoints"
RUNS_TABLE = "ingest_runs"
DEFAULT_BUSY_TIMEOUT = 5.0

migrations = Migrations("fastcommerce.eventlog")


@migrations()
def m001_event_log(db: Database) -> None:
    db.execute(
        f"""
        CREATE TABLE {LOG_TABLE} (
            "offset" INTEGER PRIMARY KEY AUTOINCREMENT,
            stream TEXT NOT NULL,
            content_hash BLOB NOT NULL,
            natural_key TEXT,
            event_time TEXT,
            recorded_at TEXT NOT NULL,
            source TEXT NOT NULL,
            line INTEGER NOT NULL,
            variant TEXT,
            schema_version INTEGER,
            rejected TEXT,
            reason TEXT,
            raw BLOB NOT NULL,
            UNIQUE (stream, content_hash)
        )
        """
    )
    for op in ("UPDATE", "DELETE"):
        db.execute(
            f"""
            CREATE TRIGGER {LOG_TABLE}_no_{op.lower()} BEFORE {op} ON {LOG_TABLE}
            BEGIN
                SELECT RAISE(ABORT, 'fastcommerce: the event log is append-only ({op} refused)');
            END
            """
        )
    db.execute(
        f"""
        CREATE TABLE {CHECKPOINT_TABLE} (
            source_id TEXT PRIMARY KEY,
            stream TEXT NOT NULL,
            path TEXT NOT NULL,
            byte_offset INTEGER NOT NULL,
            line INTEGER NOT NULL,
            fingerprint BLOB NOT NULL,
            last_offset INTEGER,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        f"""
        CREATE TABLE {RUNS_TABLE} (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL,
            source_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            read INTEGER NOT NULL,
            appended INTEGER NOT NULL,
            duplicates INTEGER NOT NULL,
            malformed INTEGER NOT NULL,
            skipped INTEGER NOT NULL
        )
        """
    )


@migrations()
def m002_refuse_replace(db: Database) -> None:
    """``INSERT OR REPLACE`` deletes the conflicting row without firing DELETE triggers
    (unless recursive_triggers is on), so an insert that collides with a logged offset or
    content hash is refused before conflict resolution can run."""
    db.execute(
        f"""
        CREATE TRIGGER {LOG_TABLE}_no_replace BEFORE INSERT ON {LOG_TABLE}
        WHEN (NEW."offset" IS NOT NULL AND EXISTS (SELECT 1 FROM {LOG_TABLE} WHERE "offset" = NEW."offset"))
          OR EXISTS (SELECT 1 FROM {LOG_TABLE} WHERE stream = NEW.stream AND content_hash = NEW.content_hash)
        BEGIN
            SELECT RAISE(ABORT, 'fastcommerce: the event log is append-only (a logged record cannot be replaced)');
        END
        """
    )


@migrations()
def m003_run_metrics(db: Database) -> None:
    """Throughput and latency of each ingest run (pipeline health), and an index for the
    quality rules that look at what was recorded in the last hours."""
    for column in ("seconds REAL", "latency_p50_s INTEGER", "latency_p95_s INTEGER"):
        db.execute(f"ALTER TABLE {RUNS_TABLE} ADD COLUMN {column}")
    db.execute(f"CREATE INDEX {LOG_TABLE}_recorded ON {LOG_TABLE} (recorded_at, stream)")


@migrations()
def m004_rotated_from(db: Database) -> None:
    """The path a checkpoint was given from by a rotation: only a file rotated away from a
    path is read again as part of that path (see :mod:`fastcommerce.rotation`)."""
    db.execute(f"ALTER TABLE {CHECKPOINT_TABLE} ADD COLUMN rotated_from TEXT")


@migrations()
def m005_canonical(db: Database) -> None:
    """The canonical rows beside the raw ones (:mod:`fastcommerce.canonical`). A log that
    already holds records gets them derived once, on open, from its raw bytes
    (:meth:`fastcommerce.decoding.Decoder.sync`)."""
    from . import canonical

    for statement in canonical.DDL:
        db.execute(statement)
    # records already in the log (written by an earlier version) are derived on open
    db.execute(f"INSERT INTO {canonical.META} (key, value) VALUES ('backfill_done', 0), "
               f"('backfill_upto', (SELECT COALESCE(MAX(\"offset\"), 0) FROM {LOG_TABLE}))")


def _main_file(conn: sqlite3.Connection) -> str:
    """The absolute path of the connection's main database file (``""`` in memory)."""
    return next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")


@attrs.frozen(kw_only=True, slots=True)
class Checkpoint:
    """How far a source file has been ingested, committed with the records it covers."""

    source_id: str
    stream: str
    path: str
    byte_offset: int
    line: int
    fingerprint: bytes
    last_offset: int | None
    updated_at: str
    rotated_from: str | None = None  # the path a rotation moved this file away from


_COLUMNS = (
    '"offset", stream, content_hash, natural_key, event_time, recorded_at, source, line, '
    "variant, schema_version, rejected, reason, raw"
)
_INSERT = (
    f"INSERT INTO {LOG_TABLE} (stream, content_hash, natural_key, event_time, recorded_at, "
    "source, line, variant, schema_version, rejected, reason, raw) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_from_text = datetime.fromisoformat


def _to_record(row: Sequence[Any]) -> LogRecord:
    """A row of ``SELECT {_COLUMNS}`` as a :class:`LogRecord`, its times parsed."""
    event_time = row[4]
    return LogRecord(row[0], row[1], row[2], row[3],
                     None if event_time is None else _from_text(event_time),  # nearly all distinct: no cache
                     parse_time(row[5]), *row[6:])


def _translate(exc: sqlite3.Error) -> EventLogError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return DatabaseLockedError(f"the database is locked by another process ({text})")
    if "append-only" in text:
        return AppendOnlyViolation(text)
    return EventLogError(text)


class EventLog:
    """The log and its checkpoints in one SQLite file.

    Open it with :meth:`open` (a path, WAL mode, a busy timeout) or pass a
    ``sqlite_utils.Database`` you already hold.
    """

    def __init__(self, db: Database, *, checkpointer: BackgroundCheckpointer | None = None) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self._checkpointer = checkpointer
        # stops the thread of a log that is dropped without close()
        self._stop_checkpointer = weakref.finalize(self, checkpointer.stop) if checkpointer else None
        try:
            if migrations.pending(db):  # read-only: most opens find nothing to do and take no lock
                # under the write lock, waiting for it as long as the busy timeout says: processes
                # opening a new file together would otherwise race to create the same tables
                with self.transaction():
                    migrations.apply(db)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    @classmethod
    def open(cls, path: str | Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> EventLog:
        """Open (or create) the log file with WAL journaling and a busy timeout.

        ``synchronous=NORMAL`` in WAL mode keeps every commit atomic and the database
        consistent after a crash of the process; only a power loss can lose the last
        commits, which the checkpoint transaction then simply re-reads. WAL pages are
        copied back into the file by a :class:`~fastcommerce.checkpointing.BackgroundCheckpointer`,
        so commits do not wait for that.
        """
        checkpointer = None
        try:
            conn = sqlite3.connect(str(path), timeout=busy_timeout)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            wal = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
            conn.execute("PRAGMA synchronous = NORMAL")
            # 32 MiB of page cache: the idempotency index has random keys, and the default
            # 2 MiB makes every probe a read once the log outgrows it
            conn.execute("PRAGMA cache_size = -32768")
            if wal:
                conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
                checkpointer = BackgroundCheckpointer(_main_file(conn), busy_timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        return cls(Database(conn, execute_plugins=False), checkpointer=checkpointer)

    @property
    def file(self) -> str:
        """The database file's absolute path; ``""`` for a database in memory."""
        return _main_file(self.conn)

    def close(self) -> None:
        if self._stop_checkpointer is not None:
            self._stop_checkpointer()  # first, so this connection is the last and checkpoints the rest
        self.conn.close()

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: take the write lock up front, so a check-then-insert in
        the block can never race another writer; commit or roll back as a whole."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise _translate(exc) from exc
        if self._checkpointer is not None:
            try:
                self._checkpointer.nudge()
            except RuntimeError as exc:  # no thread to be had: committed all the same
                logger.warning("background_checkpoint_unavailable", error=str(exc))

    # -- writing -----------------------------------------------------------------------

    def known_hashes(self, stream: str, hashes: Iterable[bytes]) -> set[bytes]:
        """Which of ``hashes`` the log already holds for ``stream``."""
        found: set[bytes] = set()
        chunk: list[bytes] = []
        for h in hashes:
            chunk.append(h)
            if len(chunk) == 500:
                found.update(self._lookup(stream, chunk))
                chunk = []
        if chunk:
            found.update(self._lookup(stream, chunk))
        return found

    def _lookup(self, stream: str, chunk: list[bytes]) -> Iterable[bytes]:
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT content_hash FROM {LOG_TABLE} WHERE stream = ? AND content_hash IN ({marks})"
        return (r[0] for r in self.conn.execute(sql, [stream, *chunk]))

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Append rows (inside :meth:`transaction`). Each row: stream, content_hash,
        natural_key, event_time, recorded_at, source, line, variant, schema_version,
        rejected, reason, raw."""
        try:
            self.conn.executemany(_INSERT, rows)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def save_checkpoint(self, cp: Checkpoint) -> None:
        """Upsert a source checkpoint (inside the same transaction as its records)."""
        self.conn.execute(
            f"INSERT INTO {CHECKPOINT_TABLE} (source_id, stream, path, byte_offset, line, "
            "fingerprint, last_offset, updated_at, rotated_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source_id) DO UPDATE SET byte_offset = excluded.byte_offset, "
            "line = excluded.line, fingerprint = excluded.fingerprint, "
            "last_offset = excluded.last_offset, updated_at = excluded.updated_at",
            attrs.astuple(cp),
        )

    def move_checkpoint(self, from_id: str, to_id: str, to_path: str) -> bool:
        """Give the checkpoint of ``from_id`` to ``to_id`` (a file that a rotation renamed),
        replacing any checkpoint ``to_id`` had (inside :meth:`transaction`), and record the
        path it was first rotated away from. Whether there was one to give."""
        if self.checkpoint(from_id) is None:
            return False
        if from_id == to_id:  # the same name (a symlink's target, say): nothing moves
            return True
        self.conn.execute(f"DELETE FROM {CHECKPOINT_TABLE} WHERE source_id = ?", [to_id])
        self.conn.execute(f"UPDATE {CHECKPOINT_TABLE} SET source_id = ?, path = ?, "
                          "rotated_from = COALESCE(rotated_from, path) WHERE source_id = ?",
                          [to_id, to_path, from_id])
        return True

    def save_run(self, row: dict[str, Any]) -> int:
        """Insert an ingest run's row (inside :meth:`transaction`); its id. The column names
        come from our own code, never from input."""
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        return self.conn.execute(f"INSERT INTO {RUNS_TABLE} ({cols}) VALUES ({marks})", list(row.values())).lastrowid

    def update_run(self, run: int, values: dict[str, Any]) -> None:
        """Update columns of the run row ``run`` (inside :meth:`transaction`)."""
        sets = ", ".join(f"{c} = ?" for c in values)
        self.conn.execute(f"UPDATE {RUNS_TABLE} SET {sets} WHERE id = ?", [*values.values(), run])

    # -- reading -----------------------------------------------------------------------

    def read(
        self,
        from_offset: int = 0,
        *,
        stream: str | None = None,
        to_offset: int | None = None,
        batch_size: int = 5000,
        streams: tuple[str, ...] | None = None,
    ) -> Iterator[LogRecord]:
        """Records with ``offset > from_offset`` (up to ``to_offset``), in log order, of
        ``stream`` (or of ``streams``).

        Reads in keyset-paginated batches, so memory stays flat however long the log is.
        """
        for batch in self.read_batches(from_offset, stream=stream, to_offset=to_offset, batch_size=batch_size,
                                       streams=streams):
            yield from batch

    def read_batches(
        self,
        from_offset: int = 0,
        *,
        stream: str | None = None,
        to_offset: int | None = None,
        batch_size: int = 5000,
        streams: tuple[str, ...] | None = None,
    ) -> Iterator[list[LogRecord]]:
        where = ['"offset" > ?']
        params: list[Any] = []
        if stream is not None:
            where.append("stream = ?")
            params.append(stream)
        if streams is not None:
            where.append(f"stream IN ({', '.join('?' * len(streams))})")
            params.extend(streams)
        if to_offset is not None:
            where.append('"offset" <= ?')
            params.append(to_offset)
        sql = (
            f"SELECT {_COLUMNS} FROM {LOG_TABLE} WHERE {' AND '.join(where)} "
            f'ORDER BY "offset" LIMIT ?'
        )
        last = from_offset
        while True:
            try:
                rows = self.conn.execute(sql, [last, *params, batch_size]).fetchall()
            except sqlite3.Error as exc:
                raise _translate(exc) from exc
            if not rows:
                return
            batch = [_to_record(r) for r in rows]
            last = batch[-1].offset
            yield batch
            if len(rows) < batch_size:
                return

    def get(self, offset: int) -> LogRecord | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM {LOG_TABLE} WHERE \"offset\" = ?", [offset]).fetchone()
        return None if row is None else _to_record(row)

    def last_offset(self) -> int:
        row = self.conn.execute(f'SELECT MAX("offset") FROM {LOG_TABLE}').fetchone()
        return row[0] or 0

    def counts(self) -> dict[str, dict[str, int]]:
        """Per stream: records, rejected at ingest, last offset."""
        out: dict[str, dict[str, int]] = {}
        for stream, n, rejected, last in self.conn.execute(
            f'SELECT stream, COUNT(*), COUNT(rejected), MAX("offset") FROM {LOG_TABLE} '
            "GROUP BY stream ORDER BY stream"
        ):
            out[stream] = {"records": n, "rejected": rejected, "last_offset": last}
        return out

    def checkpoint(self, source_id: str) -> Checkpoint | None:
        row = self.conn.execute(
            f"SELECT source_id, stream, path, byte_offset, line, fingerprint, last_offset, "
            f"updated_at, rotated_from FROM {CHECKPOINT_TABLE} WHERE source_id = ?",
            [source_id],
        ).fetchone()
        return None if row is None else Checkpoint(**dict(zip(attrs.fields_dict(Checkpoint), row)))

    def checkpoints(self) -> list[Checkpoint]:
        rows = self.conn.execute(
            f"SELECT source_id, stream, path, byte_offset, line, fingerprint, last_offset, "
            f"updated_at, rotated_from FROM {CHECKPOINT_TABLE} ORDER BY stream, path"
        ).fetchall()
        return [Checkpoint(**dict(zip(attrs.fields_dict(Checkpoint), r))) for r in rows]

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            f"SELECT * FROM {RUNS_TABLE} ORDER BY finished_at DESC, source_id LIMIT ?", [limit]
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
