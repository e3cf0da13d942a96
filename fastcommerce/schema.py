"""Every table the core keeps in the database file, created and upgraded by one mechanism.

Three sqlite-utils ``Migrations`` sets share the one ``_sqlite_migrations`` table: the log
with its checkpoints, ingest runs and canonical rows (``fastcommerce.eventlog``, the name
files have carried since the first version), the projections' bookkeeping
(``fastcommerce.projections``) and the alert engine's state (``fastcommerce.alerts``).
:class:`~fastcommerce.eventlog.EventLog` applies them, in that order, when it opens a
file, under the write lock; nothing else issues DDL for these tables, so opening a file
that is up to date only reads the migrations table.

Not here, on purpose: the tables a projection declares (a built-in's or a plugin's). They
are derived data, not state: the runner drops them and builds them again from the log
whenever the projection's version, config or reading plugins change
(:meth:`~fastcommerce.projections.runner.ProjectionRunner._reset`), so their DDL is the
projection's own ``create`` and never needs a migration.

A migration is never edited once released: a new column or table is a new function at
the end of its set. Files written before a set existed already hold its tables (older
versions created them on every open), which is why the first migrations of the
projections and alerts sets say ``IF NOT EXISTS`` and add a column only when it is missing.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from . import canonical, chain

LOG_TABLE = "event_log"
CHECKPOINT_TABLE = "checkpoints"
RUNS_TABLE = "ingest_runs"
PROJECTION_STATE = "projection_state"
PROJECTION_RUNS = "projection_runs"
ALERTS, DELIVERIES = "alerts", "alert_deliveries"
EXPORT_STATE = "export_state"
MIGRATIONS_TABLE = Migrations.migrations_table

log = Migrations("fastcommerce.eventlog")
projections = Migrations("fastcommerce.projections")
alerts = Migrations("fastcommerce.alerts")
SETS = (log, projections, alerts)
"""In the order they are applied: a later set may refer to an earlier one's tables."""

CORE_TABLES = frozenset(t.lower() for t in (
    LOG_TABLE, CHECKPOINT_TABLE, RUNS_TABLE, PROJECTION_STATE, PROJECTION_RUNS, ALERTS, DELIVERIES, EXPORT_STATE,
    MIGRATIONS_TABLE, *canonical.TABLES))
"""Lower case, as SQLite compares names: a projection may claim none of them (nor ``sqlite_*``)."""


def pending(db: Database) -> bool:
    """Whether any set has a migration this file lacks (read-only: takes no lock)."""
    return any(s.pending(db) for s in SETS)


def apply(db: Database) -> None:
    """Apply what is pending, set by set (inside the caller's write transaction, so two
    processes opening one file apply each migration once)."""
    for s in SETS:
        s.apply(db)


def _columns(db: Database, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info([{table}])")}


def _add_missing(db: Database, table: str, columns: tuple[str, ...]) -> None:
    """For files whose table an older version created, and perhaps already widened."""
    present = _columns(db, table)
    for column in columns:
        if column.split()[0] not in present:
            db.execute(f"ALTER TABLE [{table}] ADD COLUMN {column}")


# -- the log -----------------------------------------------------------------------------


@log()
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


@log()
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


@log()
def m003_run_metrics(db: Database) -> None:
    """Throughput and latency of each ingest run (pipeline health), and an index for the
    quality rules that look at what was recorded in the last hours."""
    for column in ("seconds REAL", "latency_p50_s INTEGER", "latency_p95_s INTEGER"):
        db.execute(f"ALTER TABLE {RUNS_TABLE} ADD COLUMN {column}")
    db.execute(f"CREATE INDEX {LOG_TABLE}_recorded ON {LOG_TABLE} (recorded_at, stream)")


@log()
def m004_rotated_from(db: Database) -> None:
    """The path a checkpoint was given from by a rotation: only a file rotated away from a
    path is read again as part of that path (see :mod:`fastcommerce.rotation`)."""
    db.execute(f"ALTER TABLE {CHECKPOINT_TABLE} ADD COLUMN rotated_from TEXT")


@log()
def m005_canonical(db: Database) -> None:
    """The canonical rows beside the raw ones (:mod:`fastcommerce.canonical`). A log that
    already holds records gets them derived once, on open, from its raw bytes
    (:meth:`fastcommerce.decoding.Decoder.sync`)."""
    for statement in canonical.DDL:
        db.execute(statement)
    # records already in the log (written by an earlier version) are derived on open
    db.execute(f"INSERT INTO {canonical.META} (key, value) VALUES ('backfill_done', 0), "
               f"('backfill_upto', (SELECT COALESCE(MAX(\"offset\"), 0) FROM {LOG_TABLE}))")


@log()
def m006_hash_chain(db: Database) -> None:
    """Tamper evidence (:mod:`fastcommerce.chain`): each row's raw hash and chain hash.
    Rows already in the log are chained here, in offset order, with the UPDATE trigger
    lifted for that alone (inside the migration's transaction); an insert without a chain
    hash is refused from now on, by the trigger that refuses a replacing insert."""
    if getattr(db, "dialect", "sqlite") == "postgresql":
        # a PostgreSQL log is new with this version (no rows to chain): the columns are
        # required, and its triggers are PostgreSQL's own (storage/postgres.py)
        db.execute(f"ALTER TABLE {LOG_TABLE} ADD COLUMN raw_hash BLOB NOT NULL")
        db.execute(f"ALTER TABLE {LOG_TABLE} ADD COLUMN chain_hash BLOB NOT NULL")
        return
    db.execute(f"ALTER TABLE {LOG_TABLE} ADD COLUMN raw_hash BLOB")
    db.execute(f"ALTER TABLE {LOG_TABLE} ADD COLUMN chain_hash BLOB")
    db.execute(f"DROP TRIGGER {LOG_TABLE}_no_update")
    chain.backfill(db.conn, LOG_TABLE)
    db.execute(
        f"""
        CREATE TRIGGER {LOG_TABLE}_no_update BEFORE UPDATE ON {LOG_TABLE}
        BEGIN
            SELECT RAISE(ABORT, 'fastcommerce: the event log is append-only (UPDATE refused)');
        END
        """
    )
    # one BEFORE INSERT trigger, not two: each runs once per appended row
    db.execute(f"DROP TRIGGER {LOG_TABLE}_no_replace")
    db.execute(
        f"""
        CREATE TRIGGER {LOG_TABLE}_no_replace BEFORE INSERT ON {LOG_TABLE}
        WHEN NEW.chain_hash IS NULL OR NEW.raw_hash IS NULL
          OR (NEW."offset" IS NOT NULL AND EXISTS (SELECT 1 FROM {LOG_TABLE} WHERE "offset" = NEW."offset"))
          OR EXISTS (SELECT 1 FROM {LOG_TABLE} WHERE stream = NEW.stream AND content_hash = NEW.content_hash)
        BEGIN
            SELECT RAISE(ABORT, 'fastcommerce: the event log is append-only (a record without its chain hash)')
            WHERE NEW.chain_hash IS NULL OR NEW.raw_hash IS NULL;
            SELECT RAISE(ABORT, 'fastcommerce: the event log is append-only (a logged record cannot be replaced)');
        END
        """
    )


@log()
def m007_export_state(db: Database) -> None:
    """How far each export directory was written (``fastcommerce export parquet``): the
    canonical rows up to ``upto_offset``, by the decoders ``decoders`` names, with the
    ``export_id`` its marker file carries (:mod:`fastcommerce.parquet_export`)."""
    db.execute(f"CREATE TABLE {EXPORT_STATE} (target TEXT NOT NULL, format TEXT NOT NULL, "
               "export_id TEXT NOT NULL, upto_offset INTEGER NOT NULL, decoders TEXT NOT NULL, "
               "exported_at TEXT NOT NULL, PRIMARY KEY (target, format))")


# -- the projections' bookkeeping ---------------------------------------------------------


@projections()
def m001_projection_state(db: Database) -> None:
    """How far each projection is built, and under which version and config; one row per
    catch-up (``projection_runs``). ``IF NOT EXISTS``: versions before this set created
    both tables on every open."""
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {PROJECTION_STATE} "
        "(name TEXT PRIMARY KEY, version INTEGER NOT NULL, config TEXT NOT NULL, "
        "last_offset INTEGER NOT NULL)"
    )
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {PROJECTION_RUNS} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "run_id TEXT NOT NULL, name TEXT NOT NULL, started_at TEXT NOT NULL, "
        "finished_at TEXT NOT NULL, from_offset INTEGER NOT NULL, to_offset INTEGER NOT NULL, "
        "events INTEGER NOT NULL, seconds REAL NOT NULL, rebuilt INTEGER NOT NULL)"
    )


@projections()
def m002_run_latency(db: Database) -> None:
    """The latency of the events each catch-up applied (pipeline health)."""
    _add_missing(db, PROJECTION_RUNS, ("latency_p50_s INTEGER", "latency_p95_s INTEGER"))


@projections()
def m003_reading(db: Database) -> None:
    """The plugins that read the log when a projection was built (see
    ``plugins.reading_fingerprint``); NULL in older files, so those are rebuilt once."""
    _add_missing(db, PROJECTION_STATE, ("reading TEXT",))


# -- the alert engine --------------------------------------------------------------------


@alerts()
def m001_alerts(db: Database) -> None:
    """Alerts and their state, and every delivery to a sink (:mod:`fastcommerce.monitoring.alerts`).
    ``IF NOT EXISTS``: versions before this set created them when alerts were evaluated."""
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {ALERTS} (id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, "
        "key TEXT NOT NULL, source TEXT NOT NULL, severity TEXT NOT NULL, message TEXT NOT NULL, "
        "value REAL, threshold REAL, details TEXT NOT NULL, instant INTEGER NOT NULL, "
        "raised_at TEXT NOT NULL, last_seen_at TEXT NOT NULL, notified_at TEXT NOT NULL, resolved_at TEXT)"
    )
    db.execute(f"CREATE INDEX IF NOT EXISTS {ALERTS}_open ON {ALERTS} (rule, key, resolved_at)")
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {DELIVERIES} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "alert_id INTEGER NOT NULL, sink TEXT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL, "
        "ok INTEGER NOT NULL, error TEXT)"
    )
