"""Operations (per recorded date) and data quality (per contract code).

Queries over the quality and sales projections' tables and the core's ingest runs, each
named by the module that declares it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..reports.base import Report, check_limit, database, iso, limited
from ..schema import LOG_TABLE, RUNS_TABLE
from ..stats import percentile
from ..tables import table_exists
from . import quality as quality_projection
from . import sales

OPERATIONS_COLUMNS = ("date", "events", "valid", "quarantined", "duplicates", "late",
                      "latency_p50_s", "latency_p95_s")


def operations(source: Any, *, on=None, start=None, end=None, limit: int | None = None, **_: Any) -> Report:
    """Per date the events were recorded: events, valid, quarantined, duplicates, late, and
    order latency percentiles (recorded time minus event time, seconds). The summary covers
    every date; ``limit`` only shortens the list."""
    check_limit(limit)
    db = database(source)
    lo, hi = (iso(on), iso(on)) if on else (iso(start), iso(end))
    lo, hi = lo or "0000-00-00", hi or "9999-99-99"
    days: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(OPERATIONS_COLUMNS[1:], 0))
    if table_exists(db, quality_projection.DAILY):
        for d, events, valid, quarantined in db.execute(
            f"SELECT recorded_date, SUM(events), SUM(valid), SUM(quarantined) FROM {quality_projection.DAILY} "
            "WHERE recorded_date BETWEEN ? AND ? GROUP BY recorded_date", [lo, hi]
        ):
            days[d].update(events=events, valid=valid, quarantined=quarantined)
    for d, dups in db.execute(
        f"SELECT substr(started_at, 1, 10), SUM(duplicates) FROM {RUNS_TABLE} "
        "WHERE substr(started_at, 1, 10) BETWEEN ? AND ? GROUP BY 1", [lo, hi]
    ):
        days[d]["duplicates"] = dups
    if table_exists(db, sales.LATE):
        for d, late in db.execute(
            f"SELECT recorded_date, COUNT(*) FROM {sales.LATE} WHERE recorded_date BETWEEN ? AND ? "
            "GROUP BY recorded_date", [lo, hi]
        ):
            days[d]["late"] = late
    if table_exists(db, quality_projection.LATENCY):
        hist: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for d, seconds, count in db.execute(
            f"SELECT recorded_date, seconds, events FROM {quality_projection.LATENCY} WHERE stream = 'orders' "
            "AND recorded_date BETWEEN ? AND ? ORDER BY recorded_date, seconds", [lo, hi]
        ):
            hist[d].append((seconds, count))
        for d, h in hist.items():
            days[d]["latency_p50_s"] = percentile(h, 0.50)
            days[d]["latency_p95_s"] = percentile(h, 0.95)
    rows = [{"date": d, **days[d]} for d in sorted(days)]
    totals = {k: sum(r[k] for r in rows) for k in ("events", "valid", "quarantined", "duplicates", "late")}
    summary = {**totals, "error_rate": round(totals["quarantined"] / totals["events"], 4) if totals["events"] else None}
    return Report(name="operations", rows=limited(rows, limit), summary=summary, columns=OPERATIONS_COLUMNS)


QUALITY_COLUMNS = ("offset", "stream", "source", "line", "key", "codes", "reasons")


def quality(source: Any, *, on=None, start=None, end=None, limit: int | None = 50, **_: Any) -> Report:
    """Quarantined records with their source, line, key (order or product id, when readable)
    and reasons; per code, the records that
    carry it (warnings counted on valid records only, as the contract says)."""
    check_limit(limit)
    db = database(source)
    lo, hi = (iso(on), iso(on)) if on else (iso(start), iso(end))
    lo, hi = lo or "0000-00-00", hi or "9999-99-99"
    counts: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    quarantined = 0
    if table_exists(db, quality_projection.PROBLEMS):
        for code, severity, n in db.execute(
            f"SELECT code, severity, COUNT(DISTINCT \"offset\") FROM {quality_projection.PROBLEMS} "
            "WHERE recorded_date BETWEEN ? AND ? AND (severity = 'error' OR quarantined = 0) "
            "GROUP BY code, severity ORDER BY code", [lo, hi]
        ):
            counts[code] = {"severity": severity, "records": n}
        quarantined = db.execute(
            f"SELECT COUNT(DISTINCT \"offset\") FROM {quality_projection.PROBLEMS} WHERE quarantined = 1 "
            "AND recorded_date BETWEEN ? AND ?", [lo, hi]).fetchone()[0]
        sql = (
            "SELECT q.\"offset\", q.stream, q.source, q.line, e.natural_key, q.codes, q.reasons FROM ("
            "SELECT \"offset\", stream, source, line, group_concat(code, ',') AS codes, "
            "group_concat(reason, ' | ') AS reasons "
            f"FROM (SELECT * FROM {quality_projection.PROBLEMS} WHERE quarantined = 1 AND recorded_date BETWEEN ? AND ? "
            "ORDER BY \"offset\", n) p GROUP BY \"offset\", stream, source, line) q "
            f"LEFT JOIN {LOG_TABLE} e ON e.\"offset\" = q.\"offset\" ORDER BY q.\"offset\""
        )
        params: list[Any] = [lo, hi]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        for offset, stream, src, line, key, codes, reasons in db.execute(sql, params):
            rows.append({"offset": offset, "stream": stream, "source": src, "line": line, "key": key,
                         "codes": ",".join(sorted(set(codes.split(",")))), "reasons": reasons})
    if table_exists(db, sales.LATE):
        late = db.execute(f"SELECT COUNT(*) FROM {sales.LATE} WHERE recorded_date BETWEEN ? AND ?",
                          [lo, hi]).fetchone()[0]
        if late:
            counts["late_event"] = {"severity": "warning", "records": late}
    summary = {"quarantined": quarantined, "codes": dict(sorted(counts.items()))}
    return Report(name="quality", rows=rows, summary=summary, columns=QUALITY_COLUMNS)
