"""The quality projection: every problem of every event, and per-day operations counts.

Quarantined events stay in the log; this projection is where they become visible, with
their source, line and reasons. It also counts, per date the events were recorded, how
many arrived, were valid or quarantined, and the distribution of their latency (recorded
time minus event time, in whole seconds) so percentiles are a lookup.
"""

from __future__ import annotations

from sqlite_utils import Database

from ..canonical import PROBLEMS as CANON_PROBLEMS
from ..canonical import RECORDS as CANON_RECORDS
from ..eventlog import LOG_TABLE
from ..hookspecs import hookimpl
from ..projections import Projection
from ..tabledocs import Column, Table

PROBLEMS, DAILY, LATENCY = "quality_problems", "quality_daily", "quality_latency"


_RECORDED = Column("recorded_date", "the UTC date the record was received")
_STREAM = Column("stream", "orders, inventory, catalog, ...")
DOCS = (
    Table(PROBLEMS, "every problem found on every record: quarantined records with all of theirs, valid ones with "
          "their warnings", (
        Column("offset", "the record's log offset", references=f"{LOG_TABLE}.offset"),
        Column("n", "the problem's number on the record"), _STREAM,
        Column("source", "the file (or other source) it came from"), Column("line", "its line in that file"),
        _RECORDED, Column("code", "the data contract's code (missing_field, invalid_item, ...)"),
        Column("severity", "error (the record is quarantined) or warning (it counts, flagged)"),
        Column("reason", "what was wrong, in words"), Column("quarantined", "1 when the record is quarantined"))),
    Table(DAILY, "records per recorded date and stream: received, valid, quarantined", (
        _RECORDED, _STREAM, Column("events", "records received", unit="count"),
        Column("valid", "valid records", unit="count"), Column("quarantined", "quarantined records", unit="count"))),
    Table(LATENCY, "how late valid records arrived: a histogram per recorded date and stream", (
        _RECORDED, _STREAM, Column("seconds", "recorded time minus event time, whole seconds", unit="s"),
        Column("events", "valid records with that latency", unit="count"))),
)


def create(db: Database) -> None:
    db.execute(
        f"CREATE TABLE {PROBLEMS} (\"offset\" INTEGER NOT NULL, n INTEGER NOT NULL, "
        "stream TEXT NOT NULL, source TEXT NOT NULL, line INTEGER NOT NULL, "
        "recorded_date TEXT NOT NULL, code TEXT NOT NULL, severity TEXT NOT NULL, "
        "reason TEXT NOT NULL, quarantined INTEGER NOT NULL, PRIMARY KEY (\"offset\", n))"
    )
    db.execute(f"CREATE INDEX {PROBLEMS}_code ON {PROBLEMS} (code, quarantined)")
    db.execute(
        f"CREATE TABLE {DAILY} (recorded_date TEXT NOT NULL, stream TEXT NOT NULL, "
        "events INTEGER NOT NULL, valid INTEGER NOT NULL, quarantined INTEGER NOT NULL, "
        "PRIMARY KEY (recorded_date, stream))"
    )
    db.execute(
        f"CREATE TABLE {LATENCY} (recorded_date TEXT NOT NULL, stream TEXT NOT NULL, "
        "seconds INTEGER NOT NULL, events INTEGER NOT NULL, PRIMARY KEY (recorded_date, stream, seconds))"
    )


_IN_BATCH = 'r."offset" > ? AND r."offset" <= ?'


def apply_range(db: Database, after: int, upto: int) -> None:
    """Set-based, from ``canon_records`` and ``canon_problems``: warnings count on valid
    events only; a quarantined event's every problem is listed. Latency (recorded time
    minus event time, whole seconds) was worked out once, at decode."""
    conn, span = db.conn, [after, upto]
    conn.execute(
        f"INSERT INTO {PROBLEMS} SELECT p.\"offset\", p.n, r.stream, e.source, e.line, "
        "r.recorded_date, p.code, p.severity, p.reason, r.quarantined "
        f"FROM {CANON_RECORDS} r JOIN {CANON_PROBLEMS} p ON p.\"offset\" = r.\"offset\" "
        f"JOIN {LOG_TABLE} e ON e.\"offset\" = r.\"offset\" WHERE {_IN_BATCH} ORDER BY p.\"offset\", p.n", span)
    conn.execute(
        f"INSERT INTO {DAILY} (recorded_date, stream, events, valid, quarantined) "
        "SELECT recorded_date, stream, COUNT(*), SUM(1 - quarantined), SUM(quarantined) "
        f"FROM {CANON_RECORDS} r WHERE {_IN_BATCH} GROUP BY recorded_date, stream ORDER BY recorded_date, stream "
        "ON CONFLICT (recorded_date, stream) DO UPDATE SET events = events + excluded.events, "
        "valid = valid + excluded.valid, quarantined = quarantined + excluded.quarantined", span)
    conn.execute(
        f"INSERT INTO {LATENCY} (recorded_date, stream, seconds, events) "
        f"SELECT recorded_date, stream, latency_s, COUNT(*) FROM {CANON_RECORDS} r "
        f"WHERE {_IN_BATCH} AND quarantined = 0 AND latency_s IS NOT NULL "
        "GROUP BY recorded_date, stream, latency_s ORDER BY recorded_date, stream, latency_s "
        "ON CONFLICT (recorded_date, stream, seconds) DO UPDATE SET events = events + excluded.events", span)


@hookimpl
def register_projections() -> list[Projection]:
    return [
        Projection(name="quality", version=2, tables=(PROBLEMS, DAILY, LATENCY), create=create,
                   apply_range=apply_range, description="problems of every event; daily counts and latency",
                   docs=DOCS),
    ]
