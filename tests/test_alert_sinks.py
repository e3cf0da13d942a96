"""The built-in alert sinks: a JSON Lines file, and a webhook POSTed to a real local HTTP
server (retries on 5xx, connection errors and timeouts; no retry on 4xx); a failing
webhook never stops the pipeline, and its failures are recorded."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fastcommerce import Pipeline, hookimpl
from fastcommerce.builtins.alert_sinks import jsonl_sink, register_alert_sinks, webhook_sink
from fastcommerce.monitoring import load_config
from fastcommerce.monitoring.alerts import AlertRule, AlertSink, Finding, Notification

T0 = datetime(2024, 1, 20, 12, 0, tzinfo=timezone.utc)
AT = "2024-01-20T12:00:00.000000Z"


def note(kind: str = "raised", key: str = "PROD-001", alert_id: int = 1, **details) -> Notification:
    finding = Finding(rule="low_stock", key=key, severity="warning", message=f"{key}: 3 available",
                      value=3, threshold=10, details=details)
    return Notification(alert_id=alert_id, kind=kind, at=AT, finding=finding, raised_at=AT)


# -- a real HTTP server on 127.0.0.1 -------------------------------------------------------


class Hook:
    """A local webhook receiver. ``script`` is a list of (status, delay seconds) answers, one
    per request in order; once it runs out, every request gets 200 at once."""

    def __init__(self, script=()):
        self.script = list(script)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def _answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with hook.lock:
                    hook.requests.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers), "body": body})
                    status, delay, headers = hook.script.pop(0) if hook.script else (200, 0, {})
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client gave up (timeout) and closed the connection
                    pass

            do_POST = do_GET = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook_server():
    servers = []

    def start(script=()):
        script = [s if len(s) == 3 else (*s, {}) for s in script]
        server = Hook(script)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on: bound, then closed."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config_file(tmp_path: Path, **sinks) -> Path:
    lines = ["[sinks]"] + [f"{k} = {json.dumps(v)}" for k, v in sinks.items()]
    path = tmp_path / "monitoring.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def configured_webhook(tmp_path: Path, url: str, *, timeout=1.0, retries=2, backoff=0.01):
    """The webhook sink as the built-in plugin makes it from a configuration file."""
    cfg = load_config(config_file(tmp_path, webhook_url=url, webhook_timeout_seconds=timeout,
                                  webhook_retries=retries, webhook_backoff_seconds=backoff))
    sinks = {s.name: s for s in register_alert_sinks(cfg)}
    assert set(sinks) == {"log", "webhook"}
    return sinks["webhook"]


# -- JSON Lines ----------------------------------------------------------------------------


def test_jsonl_sink_writes_one_json_line_per_notification(tmp_path):
    path = tmp_path / "deep" / "er" / "alerts.jsonl"  # the directory is made on first use
    send = jsonl_sink(path)
    notes = [note("raised", amount=Decimal("12.50"), when=T0), note("reminder"), note("resolved")]
    for n in notes:
        send(n)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert [r["kind"] for r in records] == ["raised", "reminder", "resolved"]
    assert records[0] == {**notes[0].as_dict(), "details": {"amount": "12.50", "when": T0.isoformat()}}
    assert records[1] == notes[1].as_dict()
    # a later sink (another process) appends; it never truncates
    jsonl_sink(path)(note("raised", key="PROD-002", alert_id=2))
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == [
        "PROD-001", "PROD-001", "PROD-001", "PROD-002"]


class Probe:
    def __init__(self):
        self.findings: list[Finding] = []

    def plugin(self):
        probe = self

        class ProbeRules:
            __name__ = "probe-rules"

            @hookimpl
            def register_alert_rules():
                return [AlertRule(name="probe", evaluate=lambda ctx: list(probe.findings))]

        return ProbeRules


def cond(key: str) -> Finding:
    return Finding(rule="probe_condition", key=key, severity="critical", message=f"{key} broke")


def test_jsonl_sink_through_the_pipeline(tmp_path):
    out = tmp_path / "alerts.jsonl"
    probe = Probe()
    p = Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=[probe.plugin()],
                 monitoring=config_file(tmp_path, jsonl_path=str(out)), clock=lambda: T0)
    probe.findings = [cond("A"), cond("B")]
    p.alerts(now=T0)
    probe.findings = [cond("B")]
    p.alerts(now=T0.replace(hour=13))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["kind"], r["key"]) for r in records] == [("raised", "A"), ("raised", "B"), ("resolved", "A")]
    assert all(r["rule"] == "probe_condition" and r["severity"] == "critical" for r in records)
    p.close()


# -- webhook -------------------------------------------------------------------------------


def test_webhook_posts_the_notification_as_json(tmp_path, hook_server):
    server = hook_server()
    n = note("raised", amount=Decimal("1.10"))
    configured_webhook(tmp_path, server.url).send(n)
    [req] = server.requests
    assert req["method"] == "POST" and req["path"] == "/hook"
    assert req["headers"]["Content-Type"] == "application/json"
    assert json.loads(req["body"]) == {**n.as_dict(), "details": {"amount": "1.10"}}


def test_webhook_retries_5xx_then_succeeds(tmp_path, hook_server):
    server = hook_server([(500, 0), (503, 0), (200, 0)])
    configured_webhook(tmp_path, server.url, retries=3).send(note())
    assert len(server.requests) == 3
    assert len({r["body"] for r in server.requests}) == 1  # the same alert each time


def test_webhook_backoff_is_exponential(hook_server):
    server = hook_server([(500, 0), (500, 0), (500, 0), (200, 0)])
    sleeps: list[float] = []
    webhook_sink(server.url, timeout=1, retries=3, backoff=0.5, sleep=sleeps.append)(note())
    assert sleeps == [0.5, 1.0, 2.0] and len(server.requests) == 4


def test_webhook_gives_up_after_the_retries(tmp_path, hook_server):
    server = hook_server([(500, 0)] * 10)
    with pytest.raises(RuntimeError, match="after 3 attempts"):
        configured_webhook(tmp_path, server.url, retries=2).send(note())
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 404, 422])
def test_webhook_4xx_is_not_retried(tmp_path, hook_server, status):
    server = hook_server([(status, 0), (200, 0)])
    with pytest.raises(RuntimeError, match=f"HTTP {status}"):
        configured_webhook(tmp_path, server.url, retries=3).send(note())
    assert len(server.requests) == 1


def test_webhook_unreachable_fails_within_a_bounded_time(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/hook"
    sink = configured_webhook(tmp_path, url, timeout=0.5, retries=2, backoff=0.05)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="unreachable after 3 attempts"):
        sink.send(note())
    elapsed = time.monotonic() - start
    assert 0.14 <= elapsed < 5  # two backoffs (0.05 + 0.1) and three refused connections


def test_webhook_timeout_is_a_failure_and_is_retried(tmp_path, hook_server):
    server = hook_server([(200, 1.5), (200, 0)])  # the first answer comes too late
    start = time.monotonic()
    configured_webhook(tmp_path, server.url, timeout=0.3, retries=2).send(note())
    elapsed = time.monotonic() - start
    assert len(server.requests) == 2
    assert 0.3 <= elapsed < 1.5


def test_webhook_timeouts_every_time_fail(tmp_path, hook_server):
    server = hook_server([(200, 1.0)] * 3)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="after 3 attempts"):
        configured_webhook(tmp_path, server.url, timeout=0.25, retries=2).send(note())
    assert len(server.requests) == 3
    assert time.monotonic() - start < 3


def test_webhook_redirect_does_not_lose_the_alert(tmp_path, hook_server):
    """A 301/302 answer (an http -> https move, a load balancer): urllib follows it with a
    GET without the body. Either the alert arrives (as a POST with its body) or the sink
    fails; a bodiless GET must not count as delivered."""
    server = hook_server([(302, 0, {"Location": "/moved"}), (200, 0)])
    n = note()
    try:
        configured_webhook(tmp_path, server.url, retries=0).send(n)
    except RuntimeError:
        return  # failing loudly is acceptable
    posted = [r for r in server.requests if r["method"] == "POST" and r["body"] and r["path"] == "/moved"]
    assert [json.loads(r["body"]) for r in posted] == [n.as_dict()], server.requests


def test_a_webhook_that_is_down_never_stops_the_pipeline(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/hook"
    cfg = config_file(tmp_path, webhook_url=url, webhook_timeout_seconds=0.5, webhook_retries=1,
                      webhook_backoff_seconds=0.01)
    probe = Probe()
    p = Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=[probe.plugin()], monitoring=cfg,
                 clock=lambda: T0)
    assert sorted(s.name for _, s in p.alert_sinks) == ["log", "webhook"]
    probe.findings = [cond("A")]
    start = time.monotonic()
    result = p.alerts(now=T0)
    assert time.monotonic() - start < 5
    assert [(n.finding.rule, n.finding.key) for n in result.raised] == [("probe_condition", "A")]
    assert result.delivery_failures == 1
    [alert] = p.db.execute("SELECT id, rule, key, resolved_at FROM alerts").fetchall()
    assert alert[1:] == ("probe_condition", "A", None)
    rows = p.db.execute("SELECT alert_id, sink, kind, ok, error FROM alert_deliveries ORDER BY sink").fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [(alert[0], "log", "raised", 1),
                                                        (alert[0], "webhook", "raised", 0)]
    assert rows[0][4] is None
    assert rows[1][4].startswith("RuntimeError: webhook unreachable after 2 attempts")

    # the next evaluation goes on as usual: resolution is recorded, and fails to deliver again
    probe.findings = []
    result = p.alerts(now=T0.replace(hour=13))
    assert [n.finding.key for n in result.resolved] == ["A"] and result.delivery_failures == 1
    assert p.db.execute("SELECT resolved_at FROM alerts").fetchone()[0] is not None
    assert p.db.execute("SELECT COUNT(*) FROM alert_deliveries WHERE sink = 'webhook' AND ok = 0").fetchone()[0] == 2
    p.close()


def test_a_webhook_that_works_is_recorded_ok(tmp_path, hook_server):
    server = hook_server([(500, 0)])  # one transient failure, then fine
    cfg = config_file(tmp_path, webhook_url=server.url, webhook_timeout_seconds=1.0, webhook_retries=2,
                      webhook_backoff_seconds=0.01)
    probe = Probe()
    p = Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=[probe.plugin()], monitoring=cfg)
    probe.findings = [cond("A")]
    result = p.alerts(now=T0)
    assert result.delivery_failures == 0
    assert len(server.requests) == 2 and json.loads(server.requests[-1]["body"])["key"] == "A"
    assert p.db.execute("SELECT ok, error FROM alert_deliveries WHERE sink = 'webhook'").fetchall() == [(1, None)]
    p.close()


def test_sink_names_must_be_unique(tmp_path):
    from fastcommerce import PluginConfigError

    class AnotherLog:
        __name__ = "another-log"

        @hookimpl
        def register_alert_sinks():
            return [AlertSink(name="log", send=lambda n: None)]

    with pytest.raises(PluginConfigError, match="'log'"):
        Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=[AnotherLog])
