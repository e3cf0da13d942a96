"""Alerts: rules find problems, the engine keeps their state, sinks are told.

A rule returns :class:`Finding` objects. A *condition* (low stock, a silent source, a high
quarantine rate) stays raised while the rule keeps finding it: it is notified when raised,
again only after the cooldown, and once more when it resolves. An *instant* finding (a
volume spike in one hour) is raised once for its key and never resolves. The ``alerts``
table holds the state; every notification goes to every sink, and a sink that fails is
logged and counted (``alert_deliveries``), never allowed to stop the pipeline. Both tables
are created with the log, by its migrations (:mod:`fastcommerce.schema`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs
import orjson
from sqlite_utils import Database

from ..eventlog import format_time
from ..logs import get_logger
from ..schema import ALERTS, DELIVERIES  # created with the log (fastcommerce.schema)
from ..urls import redact_text
from .config import MonitoringConfig

logger = get_logger(__name__)

SEVERITIES = ("info", "warning", "critical")


@attrs.frozen(kw_only=True, slots=True)
class Finding:
    """What a rule found: ``key`` tells one occurrence from another (a product, a channel
    and hour); ``instant`` findings are events in time, not conditions that can resolve."""

    rule: str
    key: str
    severity: str
    message: str
    value: float | None = None
    threshold: float | None = None
    instant: bool = False
    details: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True, slots=True)
class AlertContext:
    """What a rule may look at: the database, the configuration and the time of evaluation."""

    db: Database
    config: MonitoringConfig
    now: datetime


@attrs.frozen(kw_only=True, slots=True)
class AlertRule:
    """A named check over the projections; ``evaluate(context)`` returns findings and must
    not write to the database."""

    name: str
    evaluate: Callable[[AlertContext], Iterable[Finding]]
    description: str = ""


@attrs.frozen(kw_only=True, slots=True)
class Notification:
    """One message to the sinks: an alert ``raised``, a ``reminder`` after the cooldown, or
    ``resolved``."""

    alert_id: int
    kind: str
    at: str
    finding: Finding
    raised_at: str

    def as_dict(self) -> dict[str, Any]:
        f = self.finding
        return {"alert_id": self.alert_id, "kind": self.kind, "at": self.at, "raised_at": self.raised_at,
                "rule": f.rule, "key": f.key, "severity": f.severity, "message": f.message,
                "value": f.value, "threshold": f.threshold, "details": f.details}


@attrs.frozen(kw_only=True, slots=True)
class AlertSink:
    """Somewhere notifications go. ``send`` may raise: the engine records the failure."""

    name: str
    send: Callable[[Notification], None]
    description: str = ""


@attrs.define
class EvaluationResult:
    findings: int = 0
    raised: list[Notification] = attrs.field(factory=list)
    reminded: list[Notification] = attrs.field(factory=list)
    resolved: list[Notification] = attrs.field(factory=list)
    rule_errors: dict[str, str] = attrs.field(factory=dict)
    delivery_failures: int = 0


class AlertEngine:
    def __init__(self, db: Database, config: MonitoringConfig, rules: Iterable[tuple[str, AlertRule]],
                 sinks: Iterable[tuple[str, AlertSink]], transaction) -> None:
        self.db, self.config, self.transaction = db, config, transaction
        self.rules = sorted(rules, key=lambda pr: pr[1].name)
        self.sinks = sorted(sinks, key=lambda ps: ps[1].name)

    def evaluate(self, now: datetime) -> EvaluationResult:
        result = EvaluationResult()
        context = AlertContext(db=self.db, config=self.config, now=now)
        findings: dict[tuple[str, str], Finding] = {}
        source: dict[tuple[str, str], str] = {}
        evaluated: set[str] = set()
        for plugin, checker in self.rules:
            try:
                found = list(checker.evaluate(context))
                evaluated.add(checker.name)
                for f in found:
                    findings[(f.rule, f.key)] = f
                    source[(f.rule, f.key)] = checker.name
            except Exception as exc:  # noqa: BLE001  (a broken rule must not silence the others)
                result.rule_errors[checker.name] = f"{type(exc).__name__}: {exc}"
                logger.error("alert_rule_failed", rule=checker.name, plugin=plugin, error=str(exc))
        result.findings = len(findings)
        at = format_time(now)
        cooldown = timedelta(minutes=self.config.cooldown_minutes)
        with self.transaction():
            known = {
                (r[1], r[2]): r for r in self.db.execute(
                    f"SELECT id, rule, key, raised_at, notified_at, resolved_at, instant, source FROM {ALERTS} "
                    "WHERE resolved_at IS NULL OR instant = 1")
            }
            for (rule, key), f in sorted(findings.items()):
                row = known.get((rule, key))
                details = orjson.dumps(f.details, default=str, option=orjson.OPT_SORT_KEYS).decode()
                if row is None:
                    alert_id = self.db.execute(
                        f"INSERT INTO {ALERTS} (rule, key, source, severity, message, value, threshold, details, "
                        "instant, raised_at, last_seen_at, notified_at, resolved_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [rule, key, source[(rule, key)], f.severity, f.message, f.value, f.threshold, details, int(f.instant),
                         at, at, at, at if f.instant else None]).lastrowid
                    assert alert_id is not None  # an INSERT's rowid
                    result.raised.append(Notification(alert_id=alert_id, kind="raised", at=at, finding=f, raised_at=at))
                    continue
                if row[6]:  # an instant alert is raised once per key
                    continue
                self.db.execute(
                    f"UPDATE {ALERTS} SET severity = ?, message = ?, value = ?, threshold = ?, details = ?, "
                    "last_seen_at = ? WHERE id = ?", [f.severity, f.message, f.value, f.threshold, details, at, row[0]])
                notified = datetime.fromisoformat(row[4])
                if now - notified >= cooldown:
                    self.db.execute(f"UPDATE {ALERTS} SET notified_at = ? WHERE id = ?", [at, row[0]])
                    result.reminded.append(Notification(alert_id=row[0], kind="reminder", at=at, finding=f,
                                                        raised_at=row[3]))
            for (rule, key), row in sorted(known.items()):
                if row[6] or (rule, key) in findings or row[7] not in evaluated:
                    continue
                self.db.execute(f"UPDATE {ALERTS} SET resolved_at = ? WHERE id = ?", [at, row[0]])
                last = self.db.execute(
                    f"SELECT severity, message, value, threshold FROM {ALERTS} WHERE id = ?", [row[0]]).fetchone()
                finding = Finding(rule=rule, key=key, severity=last[0], message=last[1], value=last[2],
                                  threshold=last[3])
                result.resolved.append(Notification(alert_id=row[0], kind="resolved", at=at, finding=finding,
                                                    raised_at=row[3]))
        self._deliver(result.raised + result.reminded + result.resolved, result)
        return result

    def _deliver(self, notifications: list[Notification], result: EvaluationResult) -> None:
        rows: list[tuple[int, str, str, str, int, str | None]] = []
        for note in notifications:
            for plugin, sink in self.sinks:
                try:
                    sink.send(note)
                    rows.append((note.alert_id, sink.name, note.kind, note.at, 1, None))
                except Exception as exc:  # noqa: BLE001  (a failing sink is recorded, never fatal)
                    result.delivery_failures += 1
                    error = redact_text(str(exc))  # a plugin's sink may quote its URL, token and all
                    rows.append((note.alert_id, sink.name, note.kind, note.at, 0, f"{type(exc).__name__}: {error}"))
                    logger.error("alert_delivery_failed", sink=sink.name, plugin=plugin, alert_id=note.alert_id,
                                 rule=note.finding.rule, error=error)
        if rows:
            with self.transaction():
                self.db.conn.executemany(
                    f"INSERT INTO {DELIVERIES} (alert_id, sink, kind, at, ok, error) VALUES (?, ?, ?, ?, ?, ?)", rows)


def list_alerts(db: Database, *, include_resolved: bool = False, only_open: bool = False,
                limit: int | None = 50) -> list[dict[str, Any]]:
    """Alerts, newest first (by the time they were raised): by default the open conditions
    and the instant events; ``include_resolved`` adds resolved conditions; ``only_open``
    keeps the open conditions only."""
    if only_open:
        where = "WHERE resolved_at IS NULL"
    else:
        where = "" if include_resolved else "WHERE resolved_at IS NULL OR instant = 1"
    sql = (f"SELECT id, rule, key, source, severity, message, value, threshold, details, instant, raised_at, "
           f"last_seen_at, notified_at, resolved_at FROM {ALERTS} {where} ORDER BY raised_at DESC, id DESC")
    params: list[Any] = []
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    cur = db.execute(sql, params)
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        item = dict(zip(names, row))
        item["details"] = orjson.loads(item["details"])
        item["instant"] = bool(item["instant"])
        out.append(item)
    return out
