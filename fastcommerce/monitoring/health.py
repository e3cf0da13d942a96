"""Pipeline health: per source, per projection, per run; as a dict or Prometheus text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlite_utils import Database

from ..schema import ALERTS, LOG_TABLE, PROJECTION_RUNS, PROJECTION_STATE, RUNS_TABLE
from ..tables import table_exists


def _age(now: datetime, text: str | None) -> float | None:
    return None if text is None else round((now - datetime.fromisoformat(text)).total_seconds(), 3)


def newest_valid_events(db) -> dict[str, str]:
    """The newest *valid* event time per stream, from the projections (a quarantined record
    dated 2099 must not make every other source look silent)."""
    newest = {}
    if table_exists(db, "sales_watermark"):
        t = db.execute("SELECT max_ts FROM sales_watermark").fetchone()
        if t and t[0]:
            newest["orders"] = t[0]
    if table_exists(db, "inventory_history"):
        t = db.execute("SELECT MAX(last_updated) FROM inventory_history").fetchone()
        if t and t[0]:
            newest["inventory"] = t[0]
    return newest


def health(db: Database, now: datetime, *, runs: int = 10) -> dict[str, Any]:
    """Per source: the last ingest, its records/s, rejects and freshness (time since the
    newest event); per projection: offset, lag and the last catch-up; the latest runs."""
    last_offset = db.execute(f'SELECT MAX("offset") FROM {LOG_TABLE}').fetchone()[0] or 0
    sources: dict[str, dict[str, Any]] = {}
    newest = newest_valid_events(db)
    for stream, records, rejected_at_ingest in db.execute(
        f"SELECT stream, COUNT(*), COUNT(rejected) FROM {LOG_TABLE} GROUP BY stream ORDER BY stream"
    ):
        sources[stream] = {"records": records, "rejected_at_ingest": rejected_at_ingest, "quarantined": 0,
                           "newest_event": newest.get(stream), "freshness_seconds": _age(now, newest.get(stream))}
    if table_exists(db, "quality_problems"):
        for stream, n in db.execute("SELECT stream, COUNT(DISTINCT \"offset\") FROM quality_problems "
                                    "WHERE quarantined = 1 GROUP BY stream"):
            sources.setdefault(stream, {})["quarantined"] = n
    for stream, finished, read, appended, dups, malformed, seconds, p50, p95 in db.execute(
        "SELECT stream, finished_at, read, appended, duplicates, malformed, seconds, latency_p50_s, latency_p95_s "
        f"FROM {RUNS_TABLE} WHERE id IN (SELECT MAX(id) FROM {RUNS_TABLE} GROUP BY stream)"
    ):
        sources.setdefault(stream, {})["last_ingest"] = {
            "finished_at": finished, "age_seconds": _age(now, finished), "read": read, "appended": appended,
            "duplicates": dups, "malformed": malformed, "seconds": seconds,
            "records_per_second": round(read / seconds, 1) if seconds else None,
            "error_rate": round(malformed / read, 4) if read else 0.0,
            "latency_p50_s": p50, "latency_p95_s": p95,
        }
    projections: dict[str, dict[str, Any]] = {}
    if table_exists(db, PROJECTION_STATE):
        for name, version, offset in db.execute(f"SELECT name, version, last_offset FROM {PROJECTION_STATE} ORDER BY name"):
            projections[name] = {"version": version, "offset": offset, "lag": last_offset - offset}
    if table_exists(db, PROJECTION_RUNS):
        for name, finished, events, first, last, seconds, p50, p95 in db.execute(
            "SELECT name, finished_at, events, from_offset, to_offset, seconds, latency_p50_s, latency_p95_s "
            f"FROM {PROJECTION_RUNS} WHERE id IN (SELECT MAX(id) FROM {PROJECTION_RUNS} GROUP BY name)"
        ):
            if name in projections:
                # one catch-up reads each log event once for every projection: its rate is
                # log events read per second, shared by the projections it brought up
                projections[name]["last_catch_up"] = {
                    "finished_at": finished, "events": events, "seconds": seconds,
                    "latency_p50_s": p50, "latency_p95_s": p95,
                    "log_events_per_second": round((last - first) / seconds, 1) if seconds and last > first else None}
    recent = []
    for row in db.execute(
        "SELECT run_id, stream, source_id, started_at, finished_at, read, appended, duplicates, malformed, "
        f"seconds, latency_p50_s, latency_p95_s FROM {RUNS_TABLE} ORDER BY id DESC LIMIT ?", [runs]
    ):
        run_id, stream, source_id, started, finished, read, appended, dups, malformed, seconds, p50, p95 = row
        recent.append({"run_id": run_id, "stream": stream, "source": source_id.split(":", 1)[1],
                       "started_at": started, "finished_at": finished, "read": read, "appended": appended,
                       "duplicates": dups, "malformed": malformed,
                       "records_per_second": round(read / seconds, 1) if seconds else None,
                       "error_rate": round(malformed / read, 4) if read else 0.0,
                       "latency_p50_s": p50, "latency_p95_s": p95})
    active = []
    if table_exists(db, ALERTS):
        active = [{"rule": r, "severity": s, "count": n} for r, s, n in db.execute(
            f"SELECT rule, severity, COUNT(*) FROM {ALERTS} WHERE resolved_at IS NULL GROUP BY rule, severity "
            "ORDER BY rule")]
    return {"at": now.isoformat(), "log": {"last_offset": last_offset}, "sources": sources,
            "projections": projections, "runs": recent, "active_alerts": active}


def prometheus_text(snapshot: dict[str, Any]) -> str:
    """The snapshot in the Prometheus text exposition format (prometheus_client renders it)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    class Collector:
        def collect(self):
            def gauge(name, doc, labels=()):
                return GaugeMetricFamily(f"fastcommerce_{name}", doc, labels=list(labels))

            metrics = {
                "offset": gauge("log_last_offset", "Last offset of the event log."),
                "records": gauge("source_records", "Records in the log per stream.", ["stream"]),
                "quarantined": gauge("source_quarantined", "Quarantined records per stream.", ["stream"]),
                "fresh": gauge("source_freshness_seconds", "Seconds since the newest valid event.", ["stream"]),
                "last": gauge("source_last_ingest_age_seconds", "Seconds since the last ingest run ended.", ["stream"]),
                "rate": gauge("source_records_per_second", "Records read per second by the last ingest.", ["stream"]),
                "err": gauge("source_error_rate", "Malformed share of the records of the last ingest.", ["stream"]),
                "p95": gauge("source_latency_p95_seconds", "95th percentile of recorded minus event time, last ingest.", ["stream"]),
                "poff": gauge("projection_offset", "Offset a projection has reached.", ["projection"]),
                "lag": gauge("projection_lag_events", "Events a projection is behind the log.", ["projection"]),
                "cu": gauge("projection_last_catch_up_seconds", "Duration of the last catch-up.", ["projection"]),
                "alerts": gauge("alerts_active", "Active (unresolved) alerts.", ["rule", "severity"]),
            }
            metrics["offset"].add_metric([], snapshot["log"]["last_offset"])
            for stream, s in sorted(snapshot["sources"].items()):
                metrics["records"].add_metric([stream], s.get("records", 0))
                metrics["quarantined"].add_metric([stream], s.get("quarantined", 0))
                if s.get("freshness_seconds") is not None:
                    metrics["fresh"].add_metric([stream], s["freshness_seconds"])
                last = s.get("last_ingest")
                if last:
                    metrics["last"].add_metric([stream], last["age_seconds"])
                    if last["records_per_second"] is not None:
                        metrics["rate"].add_metric([stream], last["records_per_second"])
                    metrics["err"].add_metric([stream], last["error_rate"])
                    if last["latency_p95_s"] is not None:
                        metrics["p95"].add_metric([stream], last["latency_p95_s"])
            for name, p in sorted(snapshot["projections"].items()):
                metrics["poff"].add_metric([name], p["offset"])
                metrics["lag"].add_metric([name], p["lag"])
                if "last_catch_up" in p:
                    metrics["cu"].add_metric([name], p["last_catch_up"]["seconds"])
            for a in snapshot["active_alerts"]:
                metrics["alerts"].add_metric([a["rule"], a["severity"]], a["count"])
            yield from metrics.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry).decode()
