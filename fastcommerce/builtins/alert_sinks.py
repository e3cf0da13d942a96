"""The built-in alert sinks: the structured log, the alert_events table, a JSON Lines file
and a webhook. The last two are on when the configuration names a path or a URL."""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from ..hookspecs import hookimpl
from ..logs import get_logger
from ..monitoring.alerts import AlertSink, Notification
from ..monitoring.config import MonitoringConfig
from ..urls import redact_text, redact_url, sink_url_problem

logger = get_logger("fastcommerce.alerts")


def log_sink(note: Notification) -> None:
    level = {"critical": "error", "warning": "warning"}.get(note.finding.severity, "info")
    getattr(logger, level)(f"alert_{note.kind}", **{k: v for k, v in note.as_dict().items() if k != "details"})


def jsonl_sink(path: Path):
    def send(note: Notification) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # created owner-only: alerts name customers, SKUs and revenue
        with open(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600), "ab") as fh:
            fh.write(orjson.dumps(note.as_dict(), default=str) + b"\n")
    return send


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be re-sent as a GET without its body: the alert would be
    lost while the delivery looked fine. A redirect is a failure instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def webhook_sink(url: str, *, timeout: float, retries: int, backoff: float, sleep=time.sleep):
    """POST the notification as JSON; retry on connection errors and 5xx answers with
    exponential backoff, give up (raise) after ``retries`` more attempts. A 4xx answer is not
    retried: the same request would be refused again. Only http and https: ``file://`` and
    the like are refused here too, not only when the configuration is loaded."""
    if (problem := sink_url_problem(url)) is not None:
        raise ValueError(f"webhook URL {redact_url(url)!r}: {problem}")

    def send(note: Notification) -> None:
        body = orjson.dumps(note.as_dict(), default=str)
        last_error: Exception | None = None
        for attempt in range(retries + 1):
            if attempt:
                sleep(backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(url, data=body, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "User-Agent": "fastcommerce-alerts"})
            try:
                with _OPENER.open(request, timeout=timeout) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:  # 3xx (not followed), 4xx: the same request would fail again
                    raise RuntimeError(f"webhook refused the alert: HTTP {exc.code}") from exc
                last_error = exc
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as exc:
                last_error = exc
        raise RuntimeError(f"webhook unreachable after {retries + 1} attempts: {redact_text(str(last_error))}")
    return send


@hookimpl
def register_alert_sinks(config: MonitoringConfig) -> list[AlertSink]:
    sinks = [AlertSink(name="log", send=log_sink, description="the structured log")]
    if config.sinks.jsonl_path:
        sinks.append(AlertSink(name="jsonl", send=jsonl_sink(Path(config.sinks.jsonl_path)),
                               description=f"JSON lines appended to {config.sinks.jsonl_path}"))
    if config.sinks.webhook_url:
        sinks.append(AlertSink(
            name="webhook", description=f"HTTP POST to {redact_url(config.sinks.webhook_url)}",
            send=webhook_sink(config.sinks.webhook_url, timeout=config.sinks.webhook_timeout_seconds,
                              retries=config.sinks.webhook_retries, backoff=config.sinks.webhook_backoff_seconds)))
    return sinks
