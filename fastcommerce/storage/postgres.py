"""The log on PostgreSQL: the same :class:`~fastcommerce.eventlog.EventLog`, another engine.

What differs from SQLite, and why:

- **Connections.** :class:`PgConnection` gives a psycopg 3 connection the face the code
  already uses of ``sqlite3.Connection`` (``execute``, ``executemany``, ``in_transaction``,
  ``lastrowid``), translating each statement once (:mod:`fastcommerce.storage.dialect`).
  It runs in autocommit mode; :meth:`PostgresEventLog.transaction` opens the transactions,
  as ``BEGIN IMMEDIATE`` does on SQLite.
- **Offsets.** SQLite's write lock makes ``MAX(offset) + 1`` safe. PostgreSQL lets writers
  run together, so an append first locks the one row of ``log_head`` (``SELECT ... FOR
  UPDATE``, held to commit) and numbers its rows from it: offsets are gap-free and in commit
  order (docs/decisions.md, "Offsets on PostgreSQL").
- **Append-only.** PL/pgSQL triggers refuse UPDATE, DELETE and TRUNCATE on the log;
  docs/postgres.md shows a role that has no UPDATE or DELETE on it either.
- **Bulk appends** go through ``COPY``, the log's and the canonical tables' alike.
- **Schema.** The same migrations as SQLite's (:mod:`fastcommerce.schema`) run through the
  dialect, recorded in the same ``_sqlite_migrations`` table, under a transaction-scoped
  advisory lock so processes opening one database together apply each once.

A URL may name a schema (``postgresql://host/db?schema=shop``): the log lives there, and it
is created if missing (the tests give each test its own).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from .. import canonical, chain, schema
from ..errors import AppendOnlyViolation, DatabaseLockedError, EventLogError
from ..eventlog import EventLog
from ..logs import get_logger
from ..schema import CHECKPOINT_TABLE, LOG_TABLE, MIGRATIONS_TABLE, RUNS_TABLE
from ..urls import redact_text
from .dialect import FUNCTIONS, SKIP, insert_or, to_postgres

logger = get_logger(__name__)

HEAD_TABLE = "log_head"
"""One row: the next offset to give. Locked by every append, to commit."""

SCHEMES = ("postgresql://", "postgres://")

# the offset, what EventLog.insert's rows hold, then the two hashes fastcommerce.chain adds
_LOG_COLUMNS = ('"offset", stream, content_hash, natural_key, event_time, recorded_at, source, line, '
                "variant, schema_version, rejected, reason, raw, raw_hash, chain_hash")
_PLAIN_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)\s*(\([^)]*\))?\s*VALUES\s*\(\s*\?(\s*,\s*\?)*\s*\)\s*$",
                           re.IGNORECASE)
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ANALYZE_AFTER = 10_000
"""Records appended by a process before it has the tables analyzed (then at every 20% growth)."""
COPY_MIN_ROWS = 50
"""From this many rows an ``executemany`` of a plain INSERT goes through COPY."""


def is_postgres(target: object) -> bool:
    return isinstance(target, str) and target.startswith(SCHEMES)


def split_url(url: str) -> tuple[str, str | None]:
    """The connection URL without our own ``schema`` parameter, and that schema (checked)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    found = [v for k, v in query if k == "schema"]
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    name = found[-1] if found else None
    if name is not None and not _SCHEMA_NAME.match(name):
        raise EventLogError(f"schema {name!r}: lower-case letters, digits and _ only, at most 63")
    return urlunsplit(parts._replace(query=rest)), name


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # the optional extra
        raise EventLogError("PostgreSQL needs psycopg 3: pip install 'fastcommerce[postgres]'") from exc
    return psycopg


def translate_error(exc: Exception) -> EventLogError:
    text = str(exc).strip()
    if "append-only" in text:
        return AppendOnlyViolation(text)
    name = type(exc).__name__
    if name in ("LockNotAvailable", "DeadlockDetected", "SerializationFailure", "QueryCanceled"):
        return DatabaseLockedError(f"the database is locked by another process ({text})")
    return EventLogError(text)


class _NumericAsSQLite:
    """``SUM`` of integers is NUMERIC on PostgreSQL, an integer on SQLite: integral values
    load as ``int``, others as ``float`` (what SQLite gives), so reports print alike."""

    @staticmethod
    def load(data: Any) -> int | float:
        text = bytes(data).decode()
        if "." in text or "e" in text or "N" in text:
            return float(text)
        return int(text)


def _register_loaders(conn: Any) -> None:
    from psycopg.adapt import Loader

    class NumericLoader(Loader):
        def load(self, data: Any) -> int | float:
            return _NumericAsSQLite.load(data)

    conn.adapters.register_loader("numeric", NumericLoader)


class PgCursor:
    """What the code reads of an ``sqlite3.Cursor``."""

    __slots__ = ("_conn", "_cur")

    def __init__(self, conn: PgConnection, cur: Any) -> None:
        self._conn, self._cur = conn, cur

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description else []

    def fetchmany(self, size: int) -> list[Any]:
        return self._cur.fetchmany(size) if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur) if self._cur.description else iter(())

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    @property
    def lastrowid(self) -> int:
        """The identity value the last INSERT of this session took (SQLite's rowid)."""
        return int(self._conn.raw.execute("SELECT lastval()").fetchone()[0])


class _Nothing:
    description = None
    rowcount = 0

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())


class PgConnection:
    """A psycopg connection with the face of the ``sqlite3.Connection`` the code uses."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._or: dict[str, str] = {}  # INSERT OR ... statements, resolved against the catalogue

    def _resolve(self, sql: str) -> str:
        if not sql.lstrip()[:10].upper().startswith("INSERT OR"):
            return sql
        found = self._or.get(sql)
        if found is None:
            found = self._or[sql] = insert_or(sql, self._columns_of)
        return found

    def _columns_of(self, table: str) -> tuple[list[str], list[str]]:
        columns = [r[0] for r in self.raw.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s ORDER BY ordinal_position", [table])]
        key = [r[0] for r in self.raw.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
            "ORDER BY array_position(i.indkey, a.attnum)", [table])]
        return columns, key

    @property
    def in_transaction(self) -> bool:
        return bool(self.raw.info.transaction_status != 0)  # 0: IDLE

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> PgCursor:
        bound = params is not None and len(params) > 0
        text = to_postgres(self._resolve(sql), bound)
        if text == SKIP:
            return PgCursor(self, _Nothing())
        try:
            return PgCursor(self, self.raw.execute(text, params if bound else None))
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise translate_error(exc) from exc
            raise

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return
        plain = _PLAIN_INSERT.match(sql)
        try:
            if plain and len(rows) >= COPY_MIN_ROWS:
                self.copy_rows(plain.group(1), plain.group(2) or "", rows)
            else:
                with self.raw.cursor() as cur:
                    cur.executemany(to_postgres(self._resolve(sql), True), rows)
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise translate_error(exc) from exc
            raise

    def copy_rows(self, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        """Rows into ``table`` by ``COPY`` (names from our code: the caller's statement)."""
        with self.raw.cursor() as cur, cur.copy(f"COPY {table} {columns} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


class _Table:
    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db, self.name = db, name

    def exists(self) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               [self.name]).fetchone() is not None


class PgDatabase:
    """What the code uses of a ``sqlite_utils.Database``: ``conn``, ``execute``, ``db[name].exists()``."""

    dialect = "postgresql"  # what a migration asks when it must do something its own way

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> PgCursor:
        return self.conn.execute(sql, params)

    def __getitem__(self, name: str) -> _Table:
        return _Table(self, name)


def _lock_key(name: str) -> int:
    """A 63-bit advisory lock key for ``name`` within the connection's schema."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


def advisory_key(conn: PgConnection, name: str) -> int:
    found = conn.execute("SELECT current_schema()").fetchone()
    return _lock_key(f"{found[0] if found else ''}/{name}")


def _applied(db: PgDatabase) -> set[tuple[str, str]]:
    if not db[MIGRATIONS_TABLE].exists():
        return set()
    return {(s, n) for s, n in db.execute(f"SELECT migration_set, name FROM {MIGRATIONS_TABLE}")}


def _pending(db: PgDatabase) -> bool:
    applied = _applied(db)
    return any((s.name, m.name) not in applied for s in schema.SETS for m in s._migrations)


_APPEND_ONLY = f"""
CREATE OR REPLACE FUNCTION {LOG_TABLE}_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'fastcommerce: the event log is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$
"""


def _install_postgres_parts(db: PgDatabase) -> None:
    """What PostgreSQL does its own way: the log's triggers, its head row, offsets given by us.
    PostgreSQL's own statements: run as they are, not through the dialect."""
    raw = db.conn.raw
    raw.execute(f'ALTER TABLE {LOG_TABLE} ALTER COLUMN "offset" DROP IDENTITY IF EXISTS')
    raw.execute(_APPEND_ONLY)
    for function in FUNCTIONS:
        raw.execute(function)
    for op in ("UPDATE", "DELETE"):
        raw.execute(f"CREATE TRIGGER {LOG_TABLE}_no_{op.lower()} BEFORE {op} ON {LOG_TABLE} "
                    f"FOR EACH ROW EXECUTE FUNCTION {LOG_TABLE}_refuse()")
    raw.execute(f"CREATE TRIGGER {LOG_TABLE}_no_truncate BEFORE TRUNCATE ON {LOG_TABLE} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {LOG_TABLE}_refuse()")
    raw.execute(f"CREATE TABLE {HEAD_TABLE} (id BIGINT PRIMARY KEY CHECK (id = 1), next_offset BIGINT NOT NULL)")
    raw.execute(f'INSERT INTO {HEAD_TABLE} (id, next_offset) SELECT 1, COALESCE(MAX("offset"), 0) + 1 FROM {LOG_TABLE}')


def apply_schema(db: PgDatabase) -> None:
    """Apply the core's pending migrations (inside the caller's transaction, holding the
    schema's advisory lock), then, once, the parts PostgreSQL does its own way."""
    conn = db.conn
    conn.execute("SELECT pg_advisory_xact_lock(?)", [advisory_key(conn, "schema")])
    if not db[MIGRATIONS_TABLE].exists():
        conn.execute(f"CREATE TABLE {MIGRATIONS_TABLE} (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                     "migration_set TEXT, name TEXT, applied_at TEXT, UNIQUE (migration_set, name))")
    applied = _applied(db)
    for s in schema.SETS:
        for m in s._migrations:  # sqlite-utils' list of a set's migrations, in order
            if (s.name, m.name) in applied:
                continue
            m.fn(db)  # type: ignore[arg-type]  # what the migrations use of a Database
            conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (migration_set, name, applied_at) VALUES (?, ?, ?)",
                         [s.name, m.name, str(_dt.datetime.now(_dt.UTC))])
    if not db[HEAD_TABLE].exists():
        _install_postgres_parts(db)


def connect(url: str) -> PgConnection:
    """A connection in autocommit mode, its search path on the URL's schema (created if missing)."""
    psycopg = _psycopg()
    dsn, name = split_url(url)
    try:
        raw = psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        raise EventLogError(f"{redact_text(url)}: {str(exc).strip()}") from exc
    _register_loaders(raw)
    # a log grows from nothing: a plan cached while a table was empty (a sequential scan of
    # the log for the idempotency lookup) would stay; plan each execution with current sizes
    raw.execute("SET plan_cache_mode = force_custom_plan")
    if name is not None:
        if raw.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name]).fetchone() is None:
            raw.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')  # a role that may not create one can use one
        raw.execute(f'SET search_path TO "{name}"')
    return PgConnection(raw)


def holds_log(url: str) -> bool:
    """Whether the URL's schema (or the default one) already holds a log; creates nothing."""
    psycopg = _psycopg()
    dsn, name = split_url(url)
    try:
        with psycopg.connect(dsn, autocommit=True) as raw:
            if name is not None:
                raw.execute("SELECT set_config('search_path', %s, false)", [f'"{name}"'])
            return raw.execute("SELECT to_regclass(%s)", [LOG_TABLE]).fetchone()[0] is not None
    except psycopg.Error as exc:
        raise EventLogError(f"{redact_text(url)}: {str(exc).strip()}") from exc


class PostgresEventLog(EventLog):
    """:class:`EventLog` on PostgreSQL (see the module's docstring for what differs)."""

    def __init__(self, db: PgDatabase, url: str) -> None:
        self.db = db  # type: ignore[assignment]  # the Database face the code uses
        self.conn = db.conn  # type: ignore[assignment]
        self.pg: PgConnection = db.conn
        """The connection, as what it is (``conn`` has the type SQLite's has)."""
        self.url = url
        self._checkpointer = None
        self._stop_checkpointer = None
        self._next: int | None = None  # the next offset, while this transaction holds the head
        self._lock_wait = 5.0  # seconds: lock_timeout
        self._unanalyzed = 0  # records this process appended since it last had the tables analyzed
        self._analyzed_at = 0  # the log's size then
        if _pending(db):
            with self.transaction():
                apply_schema(db)

    @classmethod
    def open(cls, path: Any, *, busy_timeout: float = 5.0) -> PostgresEventLog:
        conn = connect(str(path))
        # a writer waits for another's append at most this long, then says so
        conn.raw.execute(f"SET lock_timeout = {int(busy_timeout * 1000)}")
        log = cls(PgDatabase(conn), str(path))
        log._lock_wait = busy_timeout
        return log

    @property
    def file(self) -> str:
        """The URL (without a password): another connection to the same log opens it."""
        return self.url

    @property
    def engine(self) -> str:
        return "postgresql"

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        conn = self.pg
        try:
            conn.raw.execute("BEGIN")
        except Exception as exc:
            raise translate_error(exc) from exc
        self._next = None
        try:
            yield conn
        except BaseException:
            self._next = None
            conn.rollback()
            raise
        self._next = None
        try:
            conn.raw.execute("COMMIT")
        except Exception as exc:
            conn.rollback()
            raise translate_error(exc) from exc
        if self._unanalyzed >= max(ANALYZE_AFTER, self._analyzed_at // 5):
            self.analyze()

    def analyze(self) -> None:
        """Fresh planner statistics for the log and the canonical tables. A log grows from
        nothing by COPY faster than autovacuum looks: planned on the statistics of an empty
        table, a catch-up joins 100,000 rows by nested loops (4x slower, measured)."""
        self.pg.raw.execute(f"ANALYZE {', '.join((LOG_TABLE, *canonical.TABLES))}")
        self._analyzed_at += self._unanalyzed
        self._unanalyzed = 0

    def lock_appends(self) -> None:
        """Lock the log's head row to commit: this transaction's appends are the next
        offsets, and no other writer appends (or checks a hash) until it commits."""
        if self._next is None:
            row = self.conn.execute(f"SELECT next_offset FROM {HEAD_TABLE} WHERE id = 1 FOR UPDATE").fetchone()
            self._next = int(row[0])

    def lock_projections(self, names: Iterable[str]) -> None:
        """One advisory lock per projection, to commit, taken in name order (no deadlock).
        Another process catching one of them up makes this one wait, at most the busy
        timeout, then stop with a message that says so."""
        for name in sorted(set(names)):
            try:
                self.pg.raw.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_key(self.pg, f"projection/{name}")])
            except Exception as exc:
                if type(exc).__name__ in ("LockNotAvailable", "QueryCanceled"):
                    raise DatabaseLockedError(
                        f"projection {name!r} is being caught up by another process; waited "
                        f"{self._lock_wait:g} s for it (try again when it is done)") from exc
                raise translate_error(exc) from exc

    def insert(self, rows: Sequence[tuple[Any, ...]], *, raw_hashes: Sequence[bytes] | None = None) -> None:
        """Append rows by COPY, numbered from the head (inside :meth:`transaction`);
        ``raw_hashes`` as :meth:`EventLog.insert` takes them."""
        if not rows:
            return
        self.lock_appends()
        first = self._next
        assert first is not None
        # chained to the head, read under the append lock (fastcommerce.chain)
        _last, prev = chain.head(self.conn, LOG_TABLE)
        numbered = [(first + i, *row) for i, row in enumerate(chain.chained(prev, first, rows, raw_hashes=raw_hashes))]
        try:
            self.pg.copy_rows(LOG_TABLE, f"({_LOG_COLUMNS})", numbered)
        except Exception as exc:
            raise translate_error(exc) from exc
        self._next = first + len(rows)
        self._unanalyzed += len(rows)
        self.conn.execute(f"UPDATE {HEAD_TABLE} SET next_offset = ? WHERE id = 1", [self._next])

    def check_chain(self, *, expect_head: str | None = None) -> chain.ChainCheck:
        """Recompute the hash chain (:func:`fastcommerce.chain.check`) in one REPEATABLE READ
        snapshot; what the log handed out is its head row's, not SQLite's sequence."""
        raw = self.pg.raw
        raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            handed_out = int(self.conn.execute(f"SELECT next_offset FROM {HEAD_TABLE} WHERE id = 1").fetchone()[0]) - 1
            return chain.check(self.conn, LOG_TABLE, expect_head=expect_head, handed_out=handed_out)
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise translate_error(exc) from exc
            raise
        finally:
            raw.execute("ROLLBACK")

    def adopt_copied_offsets(self) -> None:
        """After rows were copied in with their own offsets (``copy-log``, inside the
        transaction that holds the head): the next append follows the greatest."""
        self._next = int(self.conn.execute(f'SELECT COALESCE(MAX("offset"), 0) + 1 FROM {LOG_TABLE}').fetchone()[0])
        self.conn.execute(f"UPDATE {HEAD_TABLE} SET next_offset = ? WHERE id = 1", [self._next])

    def resync_identities(self) -> None:
        """Identity columns (run ids, decoder ids) go on after rows copied in with their own."""
        raw = self.pg.raw
        for table, column in raw.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND is_identity = 'YES'").fetchall():
            raw.execute(f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX("{column}"), 0) + 1, false) '
                        f'FROM "{table}"', [f'"{table}"', column])

    def last_offset(self) -> int:
        if self._next is not None:
            return self._next - 1
        return super().last_offset()

    def _lookup(self, stream: str, chunk: list[bytes]) -> Any:
        sql = f"SELECT content_hash FROM {LOG_TABLE} WHERE stream = %s AND content_hash = ANY(%s)"
        return (bytes(r[0]) for r in self.pg.raw.execute(sql, [stream, chunk]))

    def save_run(self, row: dict[str, Any]) -> int:
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        found = self.conn.execute(f"INSERT INTO {RUNS_TABLE} ({cols}) VALUES ({marks}) RETURNING id",
                                  list(row.values())).fetchone()
        return int(found[0])

    def checkpoints(self) -> list[Any]:
        out = super().checkpoints()
        return [_bytes_fingerprint(cp) for cp in out]

    def checkpoint(self, source_id: str) -> Any:
        cp = super().checkpoint(source_id)
        return None if cp is None else _bytes_fingerprint(cp)


def scratch_copy(log: PostgresEventLog) -> str:
    """A copy of the log's whole schema (every table, its rows, keys and indexes) in a new
    schema of the same database, taken in one REPEATABLE READ snapshot; its URL. What
    ``verify`` rebuilds in (SQLite's counterpart: the backup API into a scratch file)."""
    dsn, _ = split_url(log.url)
    name = f"fc_verify_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in dsn else "?"
    target = f"{dsn}{sep}schema={name}"
    raw = log.pg.raw
    raw.execute(f'CREATE SCHEMA "{name}"')
    try:
        raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        tables = [r[0] for r in raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        for table in tables:
            raw.execute(f'CREATE TABLE "{name}"."{table}" (LIKE "{table}" INCLUDING ALL)')
            raw.execute(f'INSERT INTO "{name}"."{table}" SELECT * FROM "{table}"')
        # identity columns start again at 1 in a copy: on from the copied rows' greatest
        for table, column in raw.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND is_identity = 'YES'", [name]).fetchall():
            raw.execute(f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX("{column}"), 0) + 1, false) '
                        f'FROM "{name}"."{table}"', [f'"{name}"."{table}"', column])
        raw.execute(f'SET LOCAL search_path TO "{name}"')
        for function in FUNCTIONS:
            raw.execute(function)
        raw.execute("COMMIT")
    except BaseException:
        log.pg.rollback()
        drop_schema(log.pg, target)
        raise
    return target


def drop_schema(conn: PgConnection, url: str) -> None:
    """Drop the schema a URL names (a scratch copy's)."""
    _, name = split_url(url)
    if name is not None:
        conn.raw.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _bytes_fingerprint(cp: Any) -> Any:
    return cp if isinstance(cp.fingerprint, bytes) else attrs.evolve(cp, fingerprint=bytes(cp.fingerprint))


__all__ = ["CHECKPOINT_TABLE", "PgConnection", "PgDatabase", "PostgresEventLog", "advisory_key", "connect",
           "is_postgres", "split_url"]
