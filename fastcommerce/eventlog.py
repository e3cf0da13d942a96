"""The append-only event log: one SQLite table, an offset that is never reused.

Every record of every stream is appended as received, with its content hash as the
idempotency key within its stream. The database itself refuses UPDATE and DELETE on the
log (triggers), so no code path, ours or a plugin's, can rewrite history. A batch of
appended records and its source checkpoint commit in one transaction: after a crash the
log and the checkpoints always agree.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import attrs
from sqlite_utils import Database

from . import chain, schema
from .checkpointing import BACKSTOP_PAGES, BackgroundCheckpointer
from .errors import AppendOnlyViolation, DatabaseLockedError, EventLogError
from .events import LogRecord
from .logs import get_logger
from .schema import CHECKPOINT_TABLE, LOG_TABLE, RUNS_TABLE
from .times import format_time, parse_time  # noqa: F401  (re-exported: the log's time form)

logger = get_logger(__name__)

DEFAULT_BUSY_TIMEOUT = 5.0


def _main_file(conn: sqlite3.Connection) -> str:
    """The absolute path of the connection's main database file (``""`` in memory)."""
    return next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")


def _create_owner_only(path: str | Path) -> None:
    """Create a new database file readable and writable by its owner only (it holds customer
    data); SQLite gives its ``-wal`` and ``-shm`` the database file's mode. An existing file
    keeps the mode its owner gave it."""
    text = str(path)
    if text == ":memory:" or text.startswith("file:") or text == "":
        return
    try:
        fd = os.open(text, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # a directory, a missing folder: connecting says what is wrong, in SQLite's words
    os.close(fd)


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
    "source, line, variant, schema_version, rejected, reason, raw, raw_hash, chain_hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_from_text = datetime.fromisoformat
_recorded_at = cast("Callable[[str], datetime]", parse_time)  # recorded_at is NOT NULL


def _to_record(row: Sequence[Any]) -> LogRecord:
    """A row of ``SELECT {_COLUMNS}`` as a :class:`LogRecord`, its times parsed."""
    event_time = row[4]
    return LogRecord(row[0], row[1], row[2], row[3],
                     None if event_time is None else _from_text(event_time),  # nearly all distinct: no cache
                     _recorded_at(row[5]), *row[6:])


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
    ``sqlite_utils.Database`` you already hold. Opening creates or upgrades every table
    the core keeps in the file (:mod:`fastcommerce.schema`), once.
    """

    def __init__(self, db: Database, *, checkpointer: BackgroundCheckpointer | None = None) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self._checkpointer = checkpointer
        # stops the thread of a log that is dropped without close()
        self._stop_checkpointer = weakref.finalize(self, checkpointer.stop) if checkpointer else None
        try:
            if schema.pending(db):  # read-only: most opens find nothing to do and take no lock
                # under the write lock, waiting for it as long as the busy timeout says: processes
                # opening a new file together would otherwise race to create the same tables
                with self.transaction():
                    schema.apply(db)  # every core table: the log's, the projections', the alerts'
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
        _create_owner_only(path)
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

    def lock_appends(self) -> None:
        """Make this transaction the log's only appender until it commits (first thing in an
        append's transaction). SQLite's ``BEGIN IMMEDIATE`` already did; PostgreSQL's log
        locks its head row (:mod:`fastcommerce.storage.postgres`)."""

    def lock_projections(self, names: Iterable[str]) -> None:
        """Make this transaction the only one applying to these projections until it commits
        (first thing in a catch-up's transaction). SQLite's write lock already did;
        PostgreSQL takes an advisory lock per projection."""

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

    def insert(self, rows: Sequence[tuple[Any, ...]], *, raw_hashes: Sequence[bytes] | None = None) -> None:
        """Append rows (inside :meth:`transaction`). Each row: stream, content_hash,
        natural_key, event_time, recorded_at, source, line, variant, schema_version,
        rejected, reason, raw. Each gets its raw hash and its link in the hash chain
        (:mod:`fastcommerce.chain`), computed for the offsets AUTOINCREMENT hands out next;
        the head is read here, under the transaction's write lock, so two writers never
        chain to one head. (The offsets are not given explicitly: the trigger that refuses a
        replacing insert would then look each one up.) ``raw_hashes``: SHA-256 of each row's
        raw bytes, when the caller computed them already (computed here otherwise)."""
        if not rows:
            return
        try:
            last, prev = chain.head(self.conn, LOG_TABLE)
            first = max(last, chain.reached(self.conn, LOG_TABLE)) + 1
            self.conn.executemany(_INSERT, chain.chained(prev, first, rows, raw_hashes=raw_hashes))
            end = self.conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        if end != first + len(rows) - 1:  # cannot happen under the write lock; refuse a broken chain
            raise EventLogError(f"the log handed out offsets up to {end}, not {first + len(rows) - 1} as chained: "
                                "the batch is not appended; run `fastcommerce verify --log-only`")

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
        run = self.conn.execute(f"INSERT INTO {RUNS_TABLE} ({cols}) VALUES ({marks})", list(row.values())).lastrowid
        assert run is not None  # an INSERT's rowid
        return run

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

    def head(self) -> tuple[int, str]:
        """``(offset, chain hash in hex)`` of the last record: write it down elsewhere, and
        ``verify --expect-head`` proves later that the log was not rewritten up to it."""
        offset, digest = chain.head(self.conn, LOG_TABLE)
        return offset, digest.hex()

    def check_chain(self, *, expect_head: str | None = None) -> chain.ChainCheck:
        """Recompute the hash chain over every record (:func:`fastcommerce.chain.check`)."""
        own = not self.conn.in_transaction  # one snapshot: an append meanwhile is not a removal
        try:
            if own:
                self.conn.execute("BEGIN")
            try:
                return chain.check(self.conn, LOG_TABLE, expect_head=expect_head)
            finally:
                if own:
                    self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

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
