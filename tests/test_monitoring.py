"""Monitoring: the alert engine's semantics, its configuration, pipeline health, the CLI's
health/alerts/run output and its logging, and the built-in stock rule. Real SQLite files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fastcommerce import Pipeline, hookimpl
from fastcommerce.eventlog import format_time
from fastcommerce.monitoring import ConfigError, load_config
from fastcommerce.monitoring.alerts import AlertRule, AlertSink, Finding, list_alerts
from fastcommerce.monitoring.health import prometheus_text

T0 = datetime(2024, 1, 20, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


# -- throwaway rules and sinks -----------------------------------------------------------


class Probe:
    """A rule whose findings (or failure) the test sets between evaluations."""

    def __init__(self, name: str = "probe") -> None:
        self.name = name
        self.findings: list[Finding] = []
        self.error: Exception | None = None
        self.calls = 0

    def evaluate(self, ctx):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return list(self.findings)


def cond(key: str, rule: str = "probe_condition", severity: str = "warning") -> Finding:
    return Finding(rule=rule, key=key, severity=severity, message=f"{key} is wrong", value=1.0, threshold=0.5)


def inst(key: str, rule: str = "probe_spike") -> Finding:
    return Finding(rule=rule, key=key, severity="info", message=f"spike {key}", instant=True)


def probe_plugin(*probes: Probe, sent: list | None = None):
    """A plain class with @hookimpl functions: the probes as rules, a recording sink."""

    class ProbePlugin:
        __name__ = "probe-plugin"

        @hookimpl
        def register_alert_rules():
            return [AlertRule(name=p.name, evaluate=p.evaluate, description="test probe") for p in probes]

        @hookimpl
        def register_alert_sinks():
            if sent is None:
                return []
            return [AlertSink(name="recorder", send=sent.append, description="records notifications")]

    return ProbePlugin


def open_pipeline(tmp_path: Path, *plugins, **kwargs) -> Pipeline:
    kwargs.setdefault("clock", lambda: T0)
    return Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=list(plugins), **kwargs)


def alert_rows(p: Pipeline, rule: str | None = None) -> list[dict]:
    cur = p.db.execute("SELECT * FROM alerts ORDER BY id")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    return [r for r in rows if rule is None or r["rule"] == rule]


def delivery_rows(p: Pipeline, sink: str | None = None) -> list[dict]:
    cur = p.db.execute("SELECT * FROM alert_deliveries ORDER BY id")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    return [r for r in rows if sink is None or r["sink"] == sink]


def summary(result) -> tuple[list, list, list]:
    return ([(n.finding.rule, n.finding.key) for n in result.raised],
            [(n.finding.rule, n.finding.key) for n in result.reminded],
            [(n.finding.rule, n.finding.key) for n in result.resolved])


# -- the engine ------------------------------------------------------------------------


def test_condition_raised_once_reminded_after_cooldown_and_resolved(tmp_path):
    probe, sent = Probe(), []
    p = open_pipeline(tmp_path, probe_plugin(probe, sent=sent))
    assert p.monitoring.cooldown_minutes == 360

    probe.findings = [cond("A")]
    r = p.alerts(now=T0)
    assert r.rule_errors == {}
    assert summary(r) == ([("probe_condition", "A")], [], [])
    assert [(n.kind, n.finding.key) for n in sent] == [("raised", "A")]
    [row] = alert_rows(p, "probe_condition")
    alert_id = row["id"]
    assert row["raised_at"] == row["notified_at"] == row["last_seen_at"] == format_time(T0)
    assert row["resolved_at"] is None and row["instant"] == 0 and row["source"] == "probe"

    # still true, within the cooldown: seen, not sent again
    r = p.alerts(now=T0 + HOUR)
    assert summary(r) == ([], [], [])
    r = p.alerts(now=T0 + 6 * HOUR - timedelta(seconds=1))
    assert summary(r) == ([], [], [])
    assert len(sent) == 1
    [row] = alert_rows(p, "probe_condition")
    assert row["last_seen_at"] == format_time(T0 + 6 * HOUR - timedelta(seconds=1))
    assert row["notified_at"] == format_time(T0)

    # the cooldown (360 min) has passed: one reminder, and the cooldown starts again from it
    r = p.alerts(now=T0 + 6 * HOUR)
    assert summary(r) == ([], [("probe_condition", "A")], [])
    assert r.reminded[0].alert_id == alert_id and r.reminded[0].raised_at == format_time(T0)
    r = p.alerts(now=T0 + 7 * HOUR)
    assert summary(r) == ([], [], [])
    assert [n.kind for n in sent] == ["raised", "reminder"]
    [row] = alert_rows(p, "probe_condition")
    assert row["notified_at"] == format_time(T0 + 6 * HOUR) and row["resolved_at"] is None

    # no longer found: resolved once, with the time recorded
    probe.findings = []
    r = p.alerts(now=T0 + 8 * HOUR)
    assert summary(r) == ([], [], [("probe_condition", "A")])
    assert r.resolved[0].alert_id == alert_id and r.resolved[0].kind == "resolved"
    assert r.resolved[0].finding.message == "A is wrong"
    [row] = alert_rows(p, "probe_condition")
    assert row["resolved_at"] == format_time(T0 + 8 * HOUR)
    r = p.alerts(now=T0 + 9 * HOUR)
    assert summary(r) == ([], [], [])
    assert [(n.kind, n.alert_id) for n in sent] == [("raised", alert_id), ("reminder", alert_id),
                                                    ("resolved", alert_id)]

    # every notification went to every sink, and was recorded
    for sink in ("log", "recorder"):
        assert [(d["alert_id"], d["kind"], d["ok"]) for d in delivery_rows(p, sink)] == [
            (alert_id, "raised", 1), (alert_id, "reminder", 1), (alert_id, "resolved", 1)]

    # true again: a new alert, raised anew
    probe.findings = [cond("A")]
    r = p.alerts(now=T0 + 10 * HOUR)
    assert summary(r) == ([("probe_condition", "A")], [], [])
    assert r.raised[0].alert_id != alert_id
    rows = alert_rows(p, "probe_condition")
    assert [r_["resolved_at"] is None for r_ in rows] == [False, True]
    assert [a["id"] for a in list_alerts(p.db)] == [rows[1]["id"]]  # only the open one
    p.close()


def test_cooldown_comes_from_the_configuration(tmp_path):
    cfg = tmp_path / "monitoring.toml"
    cfg.write_text("cooldown_minutes = 30\n")
    probe, sent = Probe(), []
    p = open_pipeline(tmp_path, probe_plugin(probe, sent=sent), monitoring=cfg)
    probe.findings = [cond("A")]
    p.alerts(now=T0)
    assert summary(p.alerts(now=T0 + timedelta(minutes=29))) == ([], [], [])
    assert summary(p.alerts(now=T0 + timedelta(minutes=30))) == ([], [("probe_condition", "A")], [])
    p.close()


def test_severity_and_message_follow_the_latest_finding(tmp_path):
    probe = Probe()
    p = open_pipeline(tmp_path, probe_plugin(probe))
    probe.findings = [cond("A", severity="warning")]
    p.alerts(now=T0)
    probe.findings = [Finding(rule="probe_condition", key="A", severity="critical", message="worse", value=9.0)]
    p.alerts(now=T0 + HOUR)
    [row] = alert_rows(p, "probe_condition")
    assert (row["severity"], row["message"], row["value"]) == ("critical", "worse", 9.0)
    probe.findings = []
    r = p.alerts(now=T0 + 2 * HOUR)
    assert r.resolved[0].finding.severity == "critical" and r.resolved[0].finding.message == "worse"
    p.close()


def test_instant_finding_is_raised_once_per_key_and_never_resolved(tmp_path):
    probe, sent = Probe(), []
    p = open_pipeline(tmp_path, probe_plugin(probe, sent=sent))

    probe.findings = [inst("web@10")]
    r = p.alerts(now=T0)
    assert summary(r) == ([("probe_spike", "web@10")], [], [])
    r = p.alerts(now=T0 + HOUR)
    assert summary(r) == ([], [], [])
    # gone: nothing resolves
    probe.findings = []
    r = p.alerts(now=T0 + 2 * HOUR)
    assert summary(r) == ([], [], [])
    # found again long after any cooldown: still not raised (nor reminded) again
    probe.findings = [inst("web@10")]
    r = p.alerts(now=T0 + 48 * HOUR)
    assert summary(r) == ([], [], [])
    # another key is another event
    probe.findings = [inst("web@10"), inst("web@11")]
    r = p.alerts(now=T0 + 49 * HOUR)
    assert summary(r) == ([("probe_spike", "web@11")], [], [])

    assert [(n.kind, n.finding.key) for n in sent] == [("raised", "web@10"), ("raised", "web@11")]
    rows = alert_rows(p, "probe_spike")
    assert [(r_["key"], r_["instant"]) for r_ in rows] == [("web@10", 1), ("web@11", 1)]
    assert {d["kind"] for d in delivery_rows(p)} == {"raised"}
    # instant alerts stay listed (as events), newest first, and are never active conditions
    listed = list_alerts(p.db)
    assert [(a["key"], a["instant"]) for a in listed] == [("web@11", True), ("web@10", True)]
    assert p.health(now=T0)["active_alerts"] == []
    p.close()


def test_a_failing_rule_does_not_stop_the_others_nor_resolve_its_alerts(tmp_path):
    broken, steady, sent = Probe("a_broken"), Probe("z_steady"), []
    p = open_pipeline(tmp_path, probe_plugin(broken, steady, sent=sent))
    broken.findings = [cond("X", rule="broken_condition")]
    steady.findings = [cond("Y", rule="steady_condition")]
    r = p.alerts(now=T0)
    assert sorted(summary(r)[0]) == [("broken_condition", "X"), ("steady_condition", "Y")]

    broken.error = RuntimeError("database says no")
    steady.findings = [cond("Y", rule="steady_condition"), cond("Z", rule="steady_condition")]
    r = p.alerts(now=T0 + HOUR)
    assert r.rule_errors == {"a_broken": "RuntimeError: database says no"}
    assert broken.calls == 2 and steady.calls == 2
    # the rule after the broken one still ran: its new finding is raised
    assert summary(r) == ([("steady_condition", "Z")], [], [])
    # the broken rule's open alert is not resolved: it was not looked at
    [x] = alert_rows(p, "broken_condition")
    assert x["resolved_at"] is None
    assert "resolved" not in [n.kind for n in sent]

    # once the rule works again and no longer finds X, X resolves
    broken.error, broken.findings = None, []
    r = p.alerts(now=T0 + 2 * HOUR)
    assert r.rule_errors == {}
    assert summary(r) == ([], [], [("broken_condition", "X")])
    p.close()


def test_a_failing_sink_is_recorded_and_the_others_still_receive(tmp_path):
    probe, sent = Probe(), []

    class BadSink:
        __name__ = "bad-sink"

        @hookimpl
        def register_alert_sinks():
            def send(note):
                raise ConnectionError("nobody home")
            return [AlertSink(name="bad", send=send)]

    p = open_pipeline(tmp_path, probe_plugin(probe, sent=sent), BadSink)
    probe.findings = [cond("A")]
    r = p.alerts(now=T0)
    assert r.delivery_failures == 1 and len(sent) == 1
    [bad] = delivery_rows(p, "bad")
    assert bad["ok"] == 0 and bad["error"] == "ConnectionError: nobody home"
    assert [d["ok"] for d in delivery_rows(p, "recorder")] == [1]
    assert len(alert_rows(p, "probe_condition")) == 1
    p.close()


# -- configuration -----------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitoring.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, name", [
    ("cooldown_minute = 5\n", "cooldown_minute"),
    ("[sinks]\nwebhook = 'http://x'\n", "webhook"),
    ("[stocks]\nlow_stock = false\n", "stocks"),
    ("[freshness]\norders_silent_minute = 5\n", "orders_silent_minute"),
])
def test_unknown_setting_is_a_config_error_naming_it(tmp_path, text, name):
    with pytest.raises(ConfigError, match=re.escape(name)):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("text, name", [
    ("cooldown_minutes = 'soon'\n", "cooldown_minutes"),
    ("cooldown_minutes = [1, 2]\n", "cooldown_minutes"),
    ("stock = 3\n", "stock"),
    ("[freshness]\nreference = 'wall'\n", "freshness"),
    ("[sinks]\nwebhook_retries = 'three'\n", "webhook_retries"),
    # the following are silently coerced by cattrs today (see the report): "no" -> True,
    # 2.5 -> 2, true -> 1, 5 -> "5"
    ("[stock]\nlow_stock = 'no'\n", "low_stock"),
    ("[sinks]\nwebhook_retries = 2.5\n", "webhook_retries"),
    ("[quality]\nmin_records = true\n", "min_records"),
    ("[sinks]\njsonl_path = 5\n", "jsonl_path"),
])
def test_wrong_type_is_a_config_error(tmp_path, text, name):
    with pytest.raises(ConfigError, match=re.escape(name)):
        load_config(write(tmp_path, text))


def test_unreadable_or_invalid_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "cooldown_minutes = \n"))
    with pytest.raises(ConfigError):
        Pipeline(tmp_path / "log.db", load_entrypoints=False, monitoring=write(tmp_path, "nope = 1\n"))


def test_override_merges_with_the_defaults(tmp_path):
    defaults = load_config()
    cfg = load_config(write(tmp_path, "cooldown_minutes = 15\n[quality]\nwindow_hours = 2\n"
                                      "[sinks]\nwebhook_retries = 0\n"))
    assert cfg.cooldown_minutes == 15
    assert cfg.quality.window_hours == 2
    # the rest of the overridden sections keeps the defaults
    assert cfg.quality.max_source_rate == defaults.quality.max_source_rate
    assert cfg.quality.min_records == defaults.quality.min_records
    assert cfg.sinks.webhook_retries == 0
    assert cfg.sinks.webhook_timeout_seconds == defaults.sinks.webhook_timeout_seconds
    # untouched sections are the defaults
    for section in ("volume", "patterns", "stock", "freshness"):
        assert getattr(cfg, section) == getattr(defaults, section)
    # the pipeline takes the file path as well
    p = Pipeline(tmp_path / "log.db", load_entrypoints=False, monitoring=tmp_path / "monitoring.toml")
    assert p.monitoring == cfg
    p.close()


def test_jsonl_path_enables_the_jsonl_sink(tmp_path):
    probe = Probe()
    plain = open_pipeline(tmp_path, probe_plugin(probe))
    assert [s.name for _, s in plain.alert_sinks] == ["log"]
    plain.close()

    out = tmp_path / "alerts" / "alerts.jsonl"
    cfg = write(tmp_path, f"[sinks]\njsonl_path = {json.dumps(str(out))}\n")
    p = open_pipeline(tmp_path, probe_plugin(probe), monitoring=cfg)
    assert sorted(s.name for _, s in p.alert_sinks) == ["jsonl", "log"]
    probe.findings = [cond("A")]
    p.alerts(now=T0)
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["key"] == "A"
    assert [d["ok"] for d in delivery_rows(p, "jsonl")] == [1]
    p.close()


# -- health ------------------------------------------------------------------------------

CATALOG = [
    {"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 29.99, "reorder_point": 10},
    {"product_id": "PROD-002", "name": "Cup", "category": "home", "price": 9.99, "reorder_point": 5},
]
WEB = {"order_id": "ORD-1", "customer_id": "CUST-1", "timestamp": "2024-01-20T10:30:00Z", "channel": "web",
       "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": 29.99}],
       "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"}, "status": "confirmed"}
ORDERS = [WEB | {"order_id": f"ORD-{i}"} for i in range(4)] + [
    WEB | {"order_id": "ORD-X", "items": [{"product_id": "PROD-999", "quantity": 1, "unit_price": 1.0}]},  # unknown_product
    "{broken",  # malformed
]
INVENTORY = [
    {"product_id": "PROD-001", "available_quantity": "3", "warehouse_location": "WH-SF",
     "last_updated": "2024-01-20T09:00:00Z"},
    {"product_id": "PROD-002", "available_quantity": "50", "warehouse_location": "WH-SF",
     "last_updated": "2024-01-20T09:00:00Z"},
]


def ingest_small(p: Pipeline) -> None:
    p.ingest_records("catalog", CATALOG)
    p.ingest_records("orders", ORDERS)
    p.ingest_records("inventory", INVENTORY)
    p.project()


def test_health_per_source_and_projection(tmp_path):
    p = open_pipeline(tmp_path)  # records at T0 (12:00)
    ingest_small(p)
    h = p.health(now=T0 + timedelta(minutes=30))
    assert h["log"]["last_offset"] == 10
    src = h["sources"]
    assert {s: src[s]["records"] for s in src} == {"catalog": 2, "orders": 6, "inventory": 2}
    assert src["orders"]["quarantined"] == 2  # the unknown product and the malformed line
    assert src["catalog"].get("quarantined", 0) == 0 and src["inventory"].get("quarantined", 0) == 0
    assert src["orders"]["rejected_at_ingest"] == 1

    orders = src["orders"]["last_ingest"]
    assert orders["read"] == 6 and orders["appended"] == 6 and orders["malformed"] == 1
    assert orders["error_rate"] == pytest.approx(1 / 6, abs=1e-4)
    assert orders["records_per_second"] > 0
    assert orders["finished_at"] == format_time(T0)
    assert orders["age_seconds"] == 1800
    assert orders["latency_p50_s"] == 5400  # recorded 12:00, ordered 10:30
    assert src["inventory"]["last_ingest"]["error_rate"] == 0.0
    # freshness: the newest valid event against the injected now
    assert src["orders"]["newest_event"] == "2024-01-20T10:30:00.000000Z"
    assert src["orders"]["freshness_seconds"] == 2 * 3600
    assert src["inventory"]["freshness_seconds"] == 3.5 * 3600
    assert src["catalog"]["freshness_seconds"] is None

    projections = h["projections"]
    assert set(projections) >= {"catalog", "inventory", "quality", "sales"}
    assert all(v["offset"] == 10 and v["lag"] == 0 for v in projections.values())
    assert projections["sales"]["last_catch_up"]["seconds"] >= 0
    assert [r["stream"] for r in h["runs"]] == ["inventory", "orders", "catalog"]
    assert {r["run_id"] for r in h["runs"]} == {p.run_id}

    # more data, not projected: every projection lags by it
    p.ingest_records("orders", [WEB | {"order_id": f"ORD-LATE-{i}"} for i in range(3)])
    h = p.health(now=T0 + HOUR)
    assert h["log"]["last_offset"] == 13
    assert {name: v["lag"] for name, v in h["projections"].items()} == dict.fromkeys(projections, 3)
    assert h["sources"]["orders"]["last_ingest"]["read"] == 3  # the latest run of the stream
    p.project()
    assert all(v["lag"] == 0 for v in p.health(now=T0 + HOUR)["projections"].values())
    p.close()


def metrics(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_prometheus_text_parses_with_expected_names_and_labels(tmp_path):
    p = open_pipeline(tmp_path)
    ingest_small(p)
    p.alerts(now=T0)  # PROD-001 is at 3, reorder point 10: low_stock
    p.ingest_records("orders", [WEB | {"order_id": "ORD-LATE"}])
    m = metrics(prometheus_text(p.health(now=T0 + timedelta(minutes=30))))
    names = {name for name, _ in m}
    assert names >= {
        "fastcommerce_log_last_offset", "fastcommerce_source_records", "fastcommerce_source_quarantined",
        "fastcommerce_source_freshness_seconds", "fastcommerce_source_last_ingest_age_seconds",
        "fastcommerce_source_records_per_second", "fastcommerce_source_error_rate",
        "fastcommerce_source_latency_p95_seconds", "fastcommerce_projection_offset",
        "fastcommerce_projection_lag_events", "fastcommerce_projection_last_catch_up_seconds",
        "fastcommerce_alerts_active",
    }
    assert m[("fastcommerce_log_last_offset", ())] == 11
    assert m[("fastcommerce_source_records", (("stream", "orders"),))] == 7
    assert m[("fastcommerce_source_records", (("stream", "catalog"),))] == 2
    assert m[("fastcommerce_source_quarantined", (("stream", "orders"),))] == 2
    assert m[("fastcommerce_source_quarantined", (("stream", "inventory"),))] == 0
    assert m[("fastcommerce_source_freshness_seconds", (("stream", "orders"),))] == 7200
    assert m[("fastcommerce_source_last_ingest_age_seconds", (("stream", "orders"),))] == 1800
    assert m[("fastcommerce_source_error_rate", (("stream", "orders"),))] == 0.0  # the latest run: clean
    assert m[("fastcommerce_projection_lag_events", (("projection", "sales"),))] == 1
    assert m[("fastcommerce_projection_offset", (("projection", "inventory"),))] == 10
    assert m[("fastcommerce_alerts_active", (("rule", "low_stock"), ("severity", "warning")))] == 1
    for (name, labels) in m:
        if name.startswith("fastcommerce_source_"):
            assert [k for k, _ in labels] == ["stream"], name
        elif name.startswith("fastcommerce_projection_"):
            assert [k for k, _ in labels] == ["projection"], name
    p.close()


def test_prometheus_text_of_an_empty_log_parses(tmp_path):
    p = open_pipeline(tmp_path)
    m = metrics(prometheus_text(p.health(now=T0)))
    assert m == {("fastcommerce_log_last_offset", ()): 0}
    p.close()


# -- the stock rule ----------------------------------------------------------------------


def test_stock_rule_raises_low_stock_and_resolves_after_a_restock(tmp_path):
    p = open_pipeline(tmp_path)
    p.ingest_records("catalog", CATALOG + [
        {"product_id": "PROD-003", "name": "Pot", "category": "home", "price": 19.99, "reorder_point": 7}])
    p.ingest_records("inventory", [
        {"product_id": "PROD-001", "available_quantity": "3", "warehouse_location": "WH-SF",
         "last_updated": "2024-01-20T09:00:00Z"},       # below its reorder point (10)
        {"product_id": "PROD-002", "available_quantity": "50", "warehouse_location": "WH-SF",
         "last_updated": "2024-01-20T09:00:00Z"},       # well above (5)
        {"product_id": "PROD-003", "available_quantity": "7", "warehouse_location": "WH-NY",
         "last_updated": "2024-01-20T09:00:00Z"},       # exactly at (7)
    ])
    p.project()
    r = p.alerts(now=T0)
    assert r.rule_errors == {}
    low = sorted(n.finding.key for n in r.raised if n.finding.rule == "low_stock")
    assert low == ["PROD-001", "PROD-003"]
    f = next(n.finding for n in r.raised if n.finding.key == "PROD-001")
    assert (f.value, f.threshold, f.severity) == (3, 10, "warning")
    assert [a["source"] for a in alert_rows(p, "low_stock")] == ["stock", "stock"]

    # restock PROD-001 with a newer row; an older row never overrides it
    p.ingest_records("inventory", [
        {"product_id": "PROD-001", "available_quantity": "120", "warehouse_location": "WH-SF",
         "last_updated": "2024-01-20T11:00:00Z"},
        {"product_id": "PROD-001", "available_quantity": "1", "warehouse_location": "WH-SF",
         "last_updated": "2024-01-20T08:00:00Z"},
    ])
    assert summary(p.alerts(now=T0 + HOUR)) == ([], [], [])  # not projected yet: nothing changes
    p.project()
    r = p.alerts(now=T0 + 2 * HOUR)
    assert [(n.finding.rule, n.finding.key) for n in r.resolved] == [("low_stock", "PROD-001")]
    assert r.raised == []
    rows = {a["key"]: a for a in alert_rows(p, "low_stock")}
    assert rows["PROD-001"]["resolved_at"] == format_time(T0 + 2 * HOUR)
    assert rows["PROD-003"]["resolved_at"] is None
    assert [(d["kind"], d["ok"]) for d in delivery_rows(p, "log") if d["alert_id"] == rows["PROD-001"]["id"]] == [
        ("raised", 1), ("resolved", 1)]
    p.close()


def test_stock_rule_ignores_products_with_no_known_stock_level(tmp_path):
    p = open_pipeline(tmp_path)
    p.ingest_records("catalog", CATALOG)  # active products, no inventory file yet
    p.project()
    assert [r["product_id"] for r in p.report("inventory").rows if r["low_stock"]]  # the report lists them
    assert [n for n in p.alerts(now=T0).raised if n.finding.rule == "low_stock"] == []  # no alert storm
    p.ingest_records("inventory", [
        {"product_id": "PROD-001", "available_quantity": "3", "warehouse_location": "WH-SF",
         "last_updated": "2024-01-20T09:00:00Z"}])
    p.project()
    assert [n.finding.key for n in p.alerts(now=T0 + HOUR).raised if n.finding.rule == "low_stock"] == ["PROD-001"]
    p.close()


def test_stock_rule_can_be_switched_off(tmp_path):
    p = open_pipeline(tmp_path, monitoring=write(tmp_path, "[stock]\nlow_stock = false\n"))
    ingest_small(p)
    r = p.alerts(now=T0)
    assert [n for n in r.raised if n.finding.rule == "low_stock"] == []
    p.close()


# -- the command line, as a user runs it ----------------------------------------------------


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "fastcommerce"
    if script.exists():
        return [str(script)]
    found = shutil.which("fastcommerce")
    return [found] if found else [sys.executable, "-m", "fastcommerce.cli"]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTCOMMERCE_")}
    env["FASTCOMMERCE_LOAD_PLUGINS"] = ""  # built-ins only: installed plugins never leak in
    return env


def cli(cwd: Path, *args, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*cli_command(), *map(str, args)], cwd=cwd, env=cli_env(), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "product_catalog.json").write_text(json.dumps({"products": CATALOG}))
    (d / "orders_stream.jsonl").write_text("\n".join(
        o if isinstance(o, str) else json.dumps(o) for o in ORDERS) + "\n")
    (d / "inventory_updates.csv").write_text(
        "product_id,available_quantity,warehouse_location,last_updated\n"
        "PROD-001,3,WH-SF,2024-01-20T09:00:00Z\nPROD-002,50,WH-SF,2024-01-20T09:00:00Z\n")
    return d


def test_cli_health_json_and_prometheus(tmp_path):
    db = tmp_path / "shop.db"
    p = Pipeline(db, load_entrypoints=False, clock=lambda: T0)
    ingest_small(p)
    p.close()

    snapshot = json.loads(cli(tmp_path, "--db", db, "health", "--format", "json").stdout)
    assert {s: v["records"] for s, v in snapshot["sources"].items()} == {"catalog": 2, "orders": 6, "inventory": 2}
    assert snapshot["sources"]["orders"]["quarantined"] == 2
    assert snapshot["sources"]["orders"]["freshness_seconds"] > 0  # against the real clock
    assert snapshot["sources"]["orders"]["last_ingest"]["error_rate"] == pytest.approx(1 / 6, abs=1e-4)
    assert {n: v["lag"] for n, v in snapshot["projections"].items()} == dict.fromkeys(snapshot["projections"], 0)
    assert snapshot["log"]["last_offset"] == 10

    m = metrics(cli(tmp_path, "--db", db, "health", "--format", "prometheus").stdout)
    assert m[("fastcommerce_source_records", (("stream", "orders"),))] == 6
    assert m[("fastcommerce_projection_lag_events", (("projection", "sales"),))] == 0


def test_cli_alerts_json_newest_first(tmp_path):
    db = tmp_path / "shop.db"
    probe = Probe()
    # the built-in rules are blocked here: PROD-001 is low, and the CLI's evaluation raises it, now
    p = Pipeline(db, load_entrypoints=False, clock=lambda: T0, plugins=[probe_plugin(probe)],
                 blocked=["fastcommerce.builtins.alert_rules"])
    ingest_small(p)
    probe.findings = [inst("first")]
    p.alerts(now=T0 - 2 * HOUR)
    probe.findings = [inst("second")]
    p.alerts(now=T0 - HOUR)
    p.close()

    out = json.loads(cli(tmp_path, "--db", db, "alerts", "--evaluate", "--format", "json").stdout)
    evaluation = out["evaluation"]
    assert evaluation["rule_errors"] == {} and evaluation["raised"] >= 1
    raised = [a["raised_at"] for a in out["alerts"]]
    assert raised == sorted(raised, reverse=True)
    keys = [(a["rule"], a["key"]) for a in out["alerts"]]
    assert ("low_stock", "PROD-001") in keys
    assert keys[-2:] == [("probe_spike", "second"), ("probe_spike", "first")]
    assert keys.index(("low_stock", "PROD-001")) < keys.index(("probe_spike", "second"))

    # listing only (the default): nothing evaluated, the same rows
    for flags in ((), ("--no-evaluate",)):
        listed = json.loads(cli(tmp_path, "--db", db, "alerts", *flags, "--format", "json").stdout)
        assert listed["evaluation"] is None
        assert [a["id"] for a in listed["alerts"]] == [a["id"] for a in out["alerts"]]


def test_cli_alerts_lists_without_notifying_and_evaluate_notifies(tmp_path, data_dir):
    """Issue 17, 4i: `alerts` reads like a listing, so it has no side effect on the sinks;
    `alerts --evaluate` and `run` evaluate the rules and notify them."""
    db, out = tmp_path / "shop.db", tmp_path / "sent.jsonl"
    (tmp_path / "fastcommerce.toml").write_text(f"[sinks]\njsonl_path = {json.dumps(str(out))}\n")
    p = Pipeline(db, load_entrypoints=False)
    p.ingest("catalog", data_dir / "product_catalog.json")
    p.ingest("inventory", data_dir / "inventory_updates.csv")
    p.project()
    p.close()

    listed = cli(tmp_path, "--db", db, "alerts")
    assert not out.exists(), "a listing notified the sinks"
    assert "no alerts recorded (--evaluate evaluates the rules now)" in listed.stdout
    assert json.loads(cli(tmp_path, "--db", db, "alerts", "--format", "json").stdout)["alerts"] == []

    evaluated = json.loads(cli(tmp_path, "--db", db, "alerts", "--evaluate", "--format", "json").stdout)
    assert evaluated["evaluation"]["raised"] >= 1  # PROD-001 is low on stock
    sent = out.read_text().splitlines()
    assert len(sent) == evaluated["evaluation"]["raised"]
    again = json.loads(cli(tmp_path, "--db", db, "alerts", "--format", "json").stdout)
    assert [a["id"] for a in again["alerts"]] == [a["id"] for a in evaluated["alerts"]]
    assert out.read_text().splitlines() == sent, "listing again notified again"


def test_cli_run_notifies_the_sinks(tmp_path, data_dir):
    out = tmp_path / "sent.jsonl"
    (tmp_path / "fastcommerce.toml").write_text(f"[sinks]\njsonl_path = {json.dumps(str(out))}\n")
    cli(tmp_path, "--db", tmp_path / "shop.db", "run", data_dir)
    assert any(json.loads(line)["key"] == "PROD-001" for line in out.read_text().splitlines())


def test_cli_run_prints_an_alerts_line(tmp_path, data_dir):
    proc = cli(tmp_path, "--db", tmp_path / "shop.db", "run", data_dir)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("alerts:"))
    m = re.fullmatch(r"alerts: (\d+) raised, (\d+) resolved.*", line)
    assert m and int(m.group(1)) >= 1 and m.group(2) == "0"  # PROD-001 is low on stock


def test_cli_logs_json_lines_with_one_run_id_and_no_progress(tmp_path, data_dir):
    db = tmp_path / "shop.db"
    proc = cli(tmp_path, "--db", db, "-v", "run", data_dir)
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr  # no progress display on a pipe
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert lines, "-v logs progress"
    records = [json.loads(l) for l in lines]  # every line is JSON
    assert {r.get("run_id") for r in records} != {None}
    assert all("run_id" in r for r in records), [r for r in records if "run_id" not in r]
    [run_id] = {r["run_id"] for r in records}
    assert {r["event"] for r in records} >= {"batch_appended", "alert_raised"}
    assert all({"level", "timestamp", "event"} <= set(r) for r in records)
    # the same id is in the run table
    p = Pipeline(db, load_entrypoints=False)
    assert {r[0] for r in p.db.execute("SELECT run_id FROM ingest_runs")} == {run_id}
    p.close()

    # a second process is another run
    again = cli(tmp_path, "--db", db, "-v", "alerts", "--format", "json")
    ids = {json.loads(l)["run_id"] for l in again.stderr.splitlines() if l.strip()}
    assert len(ids) <= 1 and run_id not in ids


def test_cli_ingest_on_a_pipe_writes_nothing_to_stderr(tmp_path, data_dir):
    proc = cli(tmp_path, "--db", tmp_path / "shop.db", "ingest", "orders", data_dir / "orders_stream.jsonl")
    assert proc.stderr == ""  # no progress line, and nothing at the default level


def test_importing_the_library_never_configures_logging(tmp_path):
    code = (
        "import structlog, fastcommerce, fastcommerce.monitoring, fastcommerce.monitoring.health\n"
        "import fastcommerce.builtins.alert_sinks, fastcommerce.builtins.alert_rules\n"
        "assert not structlog.is_configured(), 'configured by import'\n"
        "from datetime import datetime, timezone\n"
        f"p = fastcommerce.Pipeline({str(tmp_path / 'lib.db')!r}, load_entrypoints=False)\n"
        "p.health(); p.alerts(now=datetime(2024, 1, 20, tzinfo=timezone.utc)); p.close()\n"
        "print(structlog.is_configured())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(),
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_catch_up_run_records_how_long_events_waited_to_be_projected(tmp_path):
    """Each catch-up row carries the latency from recorded time to projection (p50/p95);
    a rebuild records none, since replaying old events says nothing about freshness."""
    from datetime import datetime, timedelta, timezone

    from fastcommerce import Pipeline

    times = iter([datetime(2024, 1, 20, 12, 0, tzinfo=timezone.utc) + timedelta(seconds=30 * i) for i in range(100)])
    p = Pipeline(tmp_path / "lat.db", load_entrypoints=False, clock=lambda: next(times))
    p.ingest_records("catalog", [{"product_id": "P1", "name": "Mug", "category": "home", "price": 1.00}])
    p.project()
    rows = p.db.execute("SELECT rebuilt, latency_p50_s, latency_p95_s FROM projection_runs ORDER BY id").fetchall()
    # first catch-up builds the projections from offset 0: a rebuild, no latency
    assert {r[0] for r in rows} == {1} and {r[1] for r in rows} == {None}
    p.ingest_records("catalog", [{"product_id": "P2", "name": "Cup", "category": "home", "price": 2.00}])
    p.project()
    last = p.db.execute("SELECT latency_p50_s, latency_p95_s FROM projection_runs WHERE rebuilt = 0").fetchall()
    assert last and all(p50 is not None and 0 < p50 <= p95 <= 300 for p50, p95 in last)
    assert p.health()["projections"]["catalog"]["last_catch_up"]["latency_p95_s"] == last[-1][1]
    p.close()
