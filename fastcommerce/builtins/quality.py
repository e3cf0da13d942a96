"""The quality projection: every problem of every event, and per-day operations counts.

Quarantined events stay in the log; this projection is where they become visible, with
their source, line and reasons. It also counts, per date the events were recorded, how
many arrived, were valid or quarantined, and the distribution of their latency (recorded
time minus event time, in whole seconds) so percentiles are a lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlite_utils import Database

from ..events import Event
from ..hookspecs import hookimpl
from ..projections import Projection

PROBLEMS, DAILY, LATENCY = "quality_problems", "quality_daily", "quality_latency"


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


def apply(db: Database, events: Sequence[Event]) -> None:
    problems: list[tuple] = []
    counts: dict[tuple[str, str], list[int]] = {}  # (recorded date, stream) -> events, valid, quarantined
    latency: dict[tuple[str, str, int], int] = {}
    days: dict = {}  # recorded time -> date text: a batch shares a handful of recorded times
    for e in events:
        rec = e.record
        recorded, stream = rec.recorded_at, rec.stream
        day = days.get(recorded)
        if day is None:
            day = days[recorded] = recorded.date().isoformat()
        row = counts.get((day, stream))
        if row is None:
            row = counts[(day, stream)] = [0, 0, 0]
        row[0] += 1
        if e.problems:
            quarantined = e.quarantined
            for n, p in enumerate(e.problems):
                problems.append((e.offset, n, stream, rec.source, rec.line, day, p.code,
                                 p.severity, p.reason, int(quarantined)))
            if quarantined:
                row[2] += 1
                continue
        row[1] += 1
        facts = e.facts
        moment = facts.time if facts is not None else e.event_time
        if moment is not None:
            key = (day, stream, int((recorded - moment).total_seconds()))
            latency[key] = latency.get(key, 0) + 1
    conn = db.conn
    if problems:
        conn.executemany(f"INSERT INTO {PROBLEMS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", problems)
    conn.executemany(
        f"INSERT INTO {DAILY} VALUES (?, ?, ?, ?, ?) ON CONFLICT (recorded_date, stream) DO UPDATE SET "
        "events = events + excluded.events, valid = valid + excluded.valid, "
        "quarantined = quarantined + excluded.quarantined",
        [(d, s, *row) for (d, s), row in sorted(counts.items())],
    )
    conn.executemany(
        f"INSERT INTO {LATENCY} VALUES (?, ?, ?, ?) ON CONFLICT (recorded_date, stream, seconds) "
        "DO UPDATE SET events = events + excluded.events",
        [(*k, v) for k, v in sorted(latency.items())],
    )


@hookimpl
def register_projections() -> list[Projection]:
    return [
        Projection(name="quality", version=1, tables=(PROBLEMS, DAILY, LATENCY), create=create,
                   apply=apply, description="problems of every event; daily counts and latency"),
    ]
