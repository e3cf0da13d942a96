"""Time travel: a report as it stood when the log ended at an offset, and what changed since.

The log is append-only and every report is a function of its prefix, so "the revenue
report as of offset 5,000" is exact, not a guess: a scratch database gets the log's rows
and canonical rows up to that offset (copied by SQL, in one transaction, from the live file
attached beside it; or, for a cut near the end, the whole file by SQLite's backup API with
the tail deleted), and the projections are built there from offset 0 in one batch (the
rebuild's fast path: each table by one ``INSERT ... SELECT``). The live tables are only read.

``revenue_changes_since(offset)`` compares the revenue report of then and of now, day by
day, and names the order events since that offset behind each difference.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from . import canonical
from .eventlog import LOG_TABLE, EventLog
from .reports.base import Report
from .schema import RUNS_TABLE
from .settings import Settings
from .times import format_time

COPIED_BY_OFFSET = (LOG_TABLE, canonical.RECORDS, canonical.PROBLEMS, canonical.ORDERS, canonical.LINES,
                    canonical.INVENTORY, canonical.CATALOG)
"""The tables keyed by log offset that a scratch database takes up to the cut."""
COPIED_WHOLE = (canonical.DECODERS, canonical.META)
"""Which plugins decoded the canonical rows: copied whole, so nothing is decoded again."""
EVERY_DAY = {"start": "0001-01-01", "end": "9999-12-31"}
_DIGITS = re.compile(r"\d+")


class TimeTravelling(Protocol):
    """What time travel needs of a :class:`~fastcommerce.pipeline.Pipeline`."""

    log: EventLog
    settings: Settings
    reports: dict[str, Any]

    def clone(self, db: Any) -> Any: ...

    def project(self, names: Any = None, *, on_batch: Any = None) -> Any: ...

    def report(self, name: str, *, catch_up: bool = True, **options: Any) -> Any: ...


def resolve_offset(log: EventLog, at: int | str | datetime) -> int:
    """The log offset ``at`` names: an offset (0 to the last), or a time (an aware
    ``datetime`` or ISO-8601 text with an offset), meaning the last offset recorded at or
    before it (0 when nothing was)."""
    last = log.last_offset()
    if isinstance(at, str) and _DIGITS.fullmatch(at.strip()):
        at = int(at)
    if isinstance(at, int) and not isinstance(at, bool):
        if not 0 <= at <= last:
            raise ValueError(f"offset {at:,} is outside the log (0 to {last:,})")
        return at
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at.strip().replace("z", "Z"))
        except ValueError:
            raise ValueError(f"{at!r} is neither a log offset nor an ISO-8601 time (2024-01-15T12:00:00Z)") from None
    if not isinstance(at, datetime):
        raise TypeError(f"as of what? {at!r} is neither a log offset nor a time")
    if at.tzinfo is None:
        raise ValueError(f"{at.isoformat()} has no timezone: give one (Z for UTC)")
    found = log.conn.execute(f'SELECT MAX("offset") FROM {LOG_TABLE} WHERE recorded_at <= ?',
                             [format_time(at)]).fetchone()[0]
    return found or 0


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA {schema}.table_info([{table}])")]


def copy_prefix(scratch: EventLog, live_file: str, cut: int) -> None:
    """The live log's rows and canonical rows up to ``cut`` into the (new) ``scratch``
    log, in one transaction: one consistent read of the live file. Ingest runs go along
    when they had finished by the time the record at ``cut`` was recorded (the operations
    report's duplicates come from them)."""
    conn = scratch.conn
    conn.execute("ATTACH DATABASE ? AS live", [live_file])
    try:
        with scratch.transaction():
            for table in COPIED_WHOLE:
                conn.execute(f"DELETE FROM main.[{table}]")
            for table in (*COPIED_WHOLE, *COPIED_BY_OFFSET, RUNS_TABLE):
                cols = ", ".join(f"[{c}]" for c in _columns(conn, "main", table)
                                 if c in set(_columns(conn, "live", table)))
                where = ""
                args: list[Any] = []
                if table in COPIED_BY_OFFSET:
                    where, args = ' WHERE "offset" <= ?', [cut]
                elif table == RUNS_TABLE:
                    where = (f' WHERE finished_at <= (SELECT recorded_at FROM live.{LOG_TABLE} WHERE "offset" = ?)')
                    args = [cut]
                conn.execute(f"INSERT INTO main.[{table}] ({cols}) SELECT {cols} FROM live.[{table}]{where}", args)
    finally:
        conn.execute("DETACH DATABASE live")


BACKUP_FROM = 0.75
"""A cut this far into the log (or further) copies the whole file and cuts the tail off;
an earlier one copies the prefix row by row. Measured (``benchmarks/timetravel.py``): the
page copy costs the same whatever the cut, and deleting a short tail is cheap, while
inserting most of a long log is the slowest of the four."""


def _scratch(log: EventLog) -> None:
    """A scratch log is thrown away: no durability, and the append-only triggers (which
    check every inserted row and refuse the tail's deletion) are dropped from it."""
    log.conn.execute("PRAGMA synchronous = OFF")
    for (name,) in log.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", [LOG_TABLE]).fetchall():
        log.conn.execute(f"DROP TRIGGER [{name}]")


def cut_tail(scratch: EventLog, cut: int) -> None:
    """In a whole copy of the live file: delete what came after ``cut`` (rows, canonical
    rows, the ingest runs that finished after the record at ``cut`` was recorded)."""
    conn = scratch.conn
    with scratch.transaction():
        conn.execute(f"DELETE FROM {RUNS_TABLE} WHERE finished_at > COALESCE((SELECT recorded_at FROM {LOG_TABLE} "
                     'WHERE "offset" = ?), \'\')', [cut])
        for table in COPIED_BY_OFFSET:
            conn.execute(f'DELETE FROM [{table}] WHERE "offset" > ?', [cut])


def scratch_log(pipeline: TimeTravelling, path: Path, cut: int) -> EventLog:
    """A new log at ``path`` holding the live one up to ``cut``: a whole copy (SQLite's
    backup API, one consistent read) with the tail cut off when ``cut`` is near the end or
    the live log is in memory, else the prefix copied (:func:`copy_prefix`)."""
    last = pipeline.log.last_offset()
    whole = not pipeline.log.file or (last > 0 and cut >= last * BACKUP_FROM)
    if whole:
        dst = sqlite3.connect(path)
        try:
            pipeline.log.conn.backup(dst)
        finally:
            dst.close()
    log = EventLog.open(path)
    try:
        _scratch(log)
        if whole:
            cut_tail(log, cut)
        else:
            copy_prefix(log, pipeline.log.file, cut)
    except BaseException:
        log.close()
        raise
    return log


@contextlib.contextmanager
def as_of(pipeline: TimeTravelling, at: int | str | datetime) -> Iterator[Any]:
    """A pipeline (same plugins and settings) on a scratch database holding the log up to
    ``at`` (:func:`resolve_offset`), its projections rebuilt from offset 0 (one batch: each
    table by one ``INSERT ... SELECT``); removed on leaving. The live file is only read."""
    cut = resolve_offset(pipeline.log, at)
    with tempfile.TemporaryDirectory(prefix="fastcommerce-as-of-") as tmp:
        past = pipeline.clone(scratch_log(pipeline, Path(tmp) / "as_of.db", cut))
        try:
            past.rebuild()
            yield past
        finally:
            past.close()


def report_as_of(pipeline: TimeTravelling, name: str, at: int | str | datetime, **options: Any) -> Report:
    """Report ``name`` as it stood when the log ended at ``at``."""
    if name not in pipeline.reports:
        raise ValueError(f"no report named {name!r}; known: {', '.join(pipeline.reports)}")
    with as_of(pipeline, at) as past:
        return past.report(name, catch_up=False, **options)


CHANGE_COLUMNS = ("date", "restated", "orders_before", "orders_after", "revenue_before", "revenue_after",
                  "revenue_change", "changed", "events", "order_ids", "offsets")


LISTED = 20
"""Items a row's lists name before saying how many more there are (an open day's new
orders run to hundreds; a closed day's restatements are usually a few)."""


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown if len(items) <= LISTED else f"{shown}, ... (+{len(items) - LISTED:,} more)"


def _key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return row["date"], row["channel"], row["country"], row["region"]


REVENUE_BEARING = ("confirmed", "shipped", "delivered")
"""Statuses whose orders count in revenue (data contract, section 5)."""


def _contributions(conn: sqlite3.Connection, since: int, upto: int | None) -> dict[str, tuple | None]:
    """Per order with events after ``since``: what it added to the revenue rows when the
    log ended at ``upto`` (``None``: now), as ``(date, channel, region, value_cents)``, or
    ``None`` when nothing (not revenue-bearing, or no valid event yet). The winning event is
    the contract's (greatest timestamp, then status), a tie of both going to the later
    offset: this only picks which events are named, never a number."""
    o, bound = canonical.ORDERS, "" if upto is None else ' AND "offset" <= :upto'
    statuses = ", ".join(f"'{s}'" for s in REVENUE_BEARING)
    rows = conn.execute(
        f"WITH touched AS (SELECT DISTINCT order_id FROM {o} WHERE \"offset\" > :since), "
        f"ranked AS (SELECT e.order_id, e.channel, e.region, e.status, e.value_cents, "
        "  MIN(e.ts) OVER (PARTITION BY e.order_id) AS first, ROW_NUMBER() OVER (PARTITION BY e.order_id "
        "  ORDER BY e.ts DESC, e.status_rank DESC, e.\"offset\" DESC) AS n "
        f"  FROM {o} e JOIN touched t ON t.order_id = e.order_id WHERE 1{bound}) "
        f"SELECT order_id, substr(first, 1, 10), channel, region, value_cents, status IN ({statuses}) "
        "FROM ranked WHERE n = 1", {"since": since, "upto": upto}).fetchall()
    return {oid: (day, channel, region, cents) if bearing else None
            for oid, day, channel, region, cents, bearing in rows}


def _causes(conn: sqlite3.Connection, since: int) -> dict[str, list[tuple[int, str]]]:
    """Per order date, the valid order events after ``since`` of the orders whose
    contribution to that date's revenue rows changed since (dated that day then or now):
    ``(offset, order_id)`` in log order. An order's date is the UTC date of its earliest
    valid event (data contract, section 5)."""
    then, now = _contributions(conn, since, since), _contributions(conn, since, None)
    days: dict[str, set[str]] = {}
    for order_id, after in now.items():
        before = then.get(order_id)
        if before != after:
            for d in {c[0] for c in (before, after) if c is not None}:
                days.setdefault(d, set()).add(order_id)
    by_order: dict[str, list[int]] = {}
    for offset, order_id in conn.execute(
            f'SELECT "offset", order_id FROM {canonical.ORDERS} WHERE "offset" > ? ORDER BY "offset"', [since]):
        by_order.setdefault(order_id, []).append(offset)
    return {d: sorted((off, oid) for oid in orders for off in by_order.get(oid, ())) for d, orders in days.items()}


def _closed_days_end(conn: sqlite3.Connection, since: int, lateness: timedelta) -> str | None:
    """The watermark when the log ended at ``since`` (greatest valid order time up to it,
    less the allowed lateness): a day whose end it had passed was closed then."""
    top = conn.execute(f'SELECT MAX(ts) FROM {canonical.ORDERS} WHERE "offset" <= ?', [since]).fetchone()[0]
    return None if top is None else format_time(datetime.fromisoformat(top) - lateness)


def revenue_changes_since(pipeline: TimeTravelling, since: int | str | datetime) -> Report:
    """Each day whose revenue rows differ between the log as it ended at ``since`` and the
    log now: its orders and revenue then and now, which channel/region rows changed,
    whether the day had been closed then (``restated``: the watermark had passed its end),
    and the order events since (offsets, order ids) of the orders whose contribution to
    that day changed."""
    cut = resolve_offset(pipeline.log, since)
    pipeline.project()
    now_rows = pipeline.report("revenue", catch_up=False, limit=None, **EVERY_DAY).rows
    with as_of(pipeline, cut) as past:
        then_rows = past.report("revenue", catch_up=False, limit=None, **EVERY_DAY).rows
    before, after = {_key(r): r for r in then_rows}, {_key(r): r for r in now_rows}
    changed: dict[str, list[tuple[str, str, str, str]]] = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changed.setdefault(key[0], []).append(key)
    conn = pipeline.log.conn
    causes = _causes(conn, cut)
    watermark = _closed_days_end(conn, cut, pipeline.settings.allowed_lateness)
    rows = []
    for day, keys in sorted(changed.items()):
        day_end = format_time(datetime.fromisoformat(f"{date.fromisoformat(day) + timedelta(days=1)}T00:00:00+00:00"))
        was = [r for k, r in before.items() if k[0] == day]
        now = [r for k, r in after.items() if k[0] == day]
        events = causes.get(day, [])
        revenue_before = sum((r["revenue"] for r in was), Decimal("0.00"))
        revenue_after = sum((r["revenue"] for r in now), Decimal("0.00"))
        rows.append({
            "date": day, "restated": watermark is not None and watermark > day_end,
            "orders_before": sum(r["orders"] for r in was), "orders_after": sum(r["orders"] for r in now),
            "revenue_before": revenue_before, "revenue_after": revenue_after,
            "revenue_change": revenue_after - revenue_before,
            "changed": _listed([f"{ch}/{region}" for _d, ch, _c, region in keys]),
            "events": len(events),
            "order_ids": _listed(list(dict.fromkeys(oid for _off, oid in events))),
            "offsets": _listed([str(off) for off, _oid in events]),
        })
    summary = {"since": cut, "upto": pipeline.log.last_offset(),
               "from": rows[0]["date"] if rows else None, "to": rows[-1]["date"] if rows else None, "days": len(rows),
               "restated_days": sum(r["restated"] for r in rows),
               "revenue_change": sum((r["revenue_change"] for r in rows), Decimal("0.00"))}
    return Report(name="revenue_changes", rows=rows, summary=summary, columns=CHANGE_COLUMNS)
