"""The library logs through structlog when the application configured it, and through the
standard library's logging otherwise: never onto a script's standard output."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest
import structlog
from structlog.testing import LogCapture

from fastcommerce import Pipeline
from fastcommerce.logs import get_logger
from fastcommerce.testing import dumps

ORDER = {"order_id": "O1", "customer_id": "C1", "timestamp": "2024-01-15T10:00:00Z", "channel": "web",
         "items": [{"product_id": "P1", "quantity": 1, "unit_price": 10}], "status": "confirmed",
         "shipping_address": {"country": "US", "state": "CA", "city": "SF"}}


@pytest.fixture
def unconfigured():
    was, saved = structlog.is_configured(), structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        if was:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


def test_a_script_using_the_api_gets_only_its_own_output_on_stdout(tmp_path):
    script = textwrap.dedent(f"""
        import json, sys
        from fastcommerce import Pipeline
        p = Pipeline({str(tmp_path / "api.db")!r}, load_entrypoints=False)
        p.ingest_records("catalog", [{{"product_id": "P1", "name": "Mug", "category": "home", "price": 10}}])
        p.ingest_records("orders", [{dumps(ORDER)!r}, b"{{broken"])
        report = p.report("revenue")
        print(json.dumps({{"orders": report.summary["orders"]}}))
        p.close()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"orders": 1}  # nothing else on stdout: no log lines
    assert "batch_appended" not in done.stderr  # info events are dropped until logging is configured


def test_unconfigured_structlog_sends_events_to_standard_logging(tmp_path, unconfigured, caplog):
    with caplog.at_level(logging.INFO, logger="fastcommerce"), Pipeline(tmp_path / "x.db", load_entrypoints=False) as p:
        p.ingest_records("orders", [dumps(ORDER)])
    appended = [r for r in caplog.records if r.getMessage().startswith("batch_appended")]
    assert len(appended) == 1 and appended[0].levelno == logging.INFO
    assert appended[0].name == "fastcommerce.ingest"
    assert "stream='orders'" in appended[0].getMessage() and "appended=1" in appended[0].getMessage()


def test_configured_structlog_gets_the_events_with_their_bound_context(tmp_path, unconfigured):
    capture = LogCapture()
    structlog.configure(processors=[capture], wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    with Pipeline(tmp_path / "x.db", load_entrypoints=False) as p:
        p.ingest_records("orders", [dumps(ORDER)])
    appended = [e for e in capture.entries if e["event"] == "batch_appended"]
    assert len(appended) == 1
    assert appended[0]["stream"] == "orders" and appended[0]["source"] == "<records>" and appended[0]["appended"] == 1


def test_bind_adds_context_and_leaves_the_parent_alone(unconfigured, caplog):
    parent = get_logger("fastcommerce.test")
    child = parent.bind(stream="orders")
    with caplog.at_level(logging.WARNING, logger="fastcommerce.test"):
        child.warning("something", line=3)
        parent.warning("plain")
    assert [r.getMessage() for r in caplog.records] == ["something stream='orders' line=3", "plain"]
    assert {r.filename for r in caplog.records} == {"test_logs.py"}  # the caller, not the wrapper


def test_a_call_overrides_a_bound_value_on_both_paths(unconfigured, caplog):
    log = get_logger("fastcommerce.test").bind(stream="orders")
    with caplog.at_level(logging.WARNING, logger="fastcommerce.test"):
        log.warning("moved", stream="inventory")
    assert caplog.records[-1].getMessage() == "moved stream='inventory'"
    capture = LogCapture()
    structlog.configure(processors=[capture])
    log.warning("moved", stream="inventory")
    assert capture.entries[-1]["stream"] == "inventory"


def test_background_alert_lines_carry_the_context_of_the_command(tmp_path, unconfigured):
    """The CLI binds run_id in context variables; the follower's alert thread must keep it."""
    from fastcommerce.follow import BackgroundAlerts
    from fastcommerce.testing import wait_for

    capture = LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture],
                        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    with Pipeline(tmp_path / "x.db", load_entrypoints=False) as p:
        p.ingest_records("orders", [dumps(ORDER)])
        with structlog.contextvars.bound_contextvars(run_id="run-1"):
            alerts = BackgroundAlerts(p, interval=0)
            alerts.poke()
            wait_for(lambda: alerts.evaluations >= 1)
            alerts.stop()
    evaluated = [e for e in capture.entries if e["event"] == "alerts_evaluated"]
    assert evaluated and all(e.get("run_id") == "run-1" for e in evaluated)
