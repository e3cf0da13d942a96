"""Hardening (issue 18, item 4): sink URLs, secrets in URLs, file modes, CSV injection,
plugin identifiers, failed loads, and verify's scratch copy under signals."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from fastcommerce import Pipeline, hookimpl
from fastcommerce.builtins.alert_sinks import jsonl_sink, webhook_sink
from fastcommerce.cli import main
from fastcommerce.errors import PluginConfigError
from fastcommerce.logs import get_logger
from fastcommerce.monitoring import load_config
from fastcommerce.monitoring.alerts import AlertRule, AlertSink, Finding, Notification
from fastcommerce.monitoring.config import ConfigError
from fastcommerce.projections.verify import (
    LOCK_NAME,
    SCRATCH_PREFIX,
    remove_stale_scratch,
)
from fastcommerce.reports.base import Report
from fastcommerce.reports.formatting import as_csv
from fastcommerce.sample import write_sample
from fastcommerce.streams import Stream
from fastcommerce.urls import redact_text, redact_url

SECRET = "hunter2SECRET"


@pytest.fixture(autouse=True)
def _builtins_only(monkeypatch):
    monkeypatch.setenv("FASTCOMMERCE_LOAD_PLUGINS", "")


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "monitoring.toml"
    path.write_text(f"[sinks]\nwebhook_url = {json.dumps(url)}\n")
    return path


# -- sink URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/",
                                 "javascript:alert(1)", "/var/run/hook.sock", "http://", "https:///path"])
def test_a_sink_url_other_than_http_or_https_is_refused_at_load(tmp_path, url):
    cfg = _config(tmp_path, url)
    with pytest.raises(ConfigError, match="webhook_url") as err:
        load_config(cfg)
    assert str(cfg) in str(err.value)
    orders = tmp_path / "orders.jsonl"
    orders.write_text('{"order_id": "O1"}\n')
    db = tmp_path / "log.db"
    result = CliRunner().invoke(main, ["--db", str(db), "--config", str(cfg), "ingest", "orders", str(orders)])
    assert result.exit_code == 1 and "webhook_url" in result.output and str(cfg) in result.output
    assert not db.exists()  # refused before anything ran
    with pytest.raises(ValueError, match="only http:// and https://|no host|not a valid"):
        webhook_sink(url, timeout=1, retries=0, backoff=0)


def test_http_and_https_sink_urls_load(tmp_path):
    for url in ("http://127.0.0.1:9/hook", "https://hooks.example.com/services/T1/B2/abc"):
        assert load_config(_config(tmp_path, url)).sinks.webhook_url == url


# -- secrets in URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pw@hooks.example.com/hook", "https://***@hooks.example.com/hook"),
    ("https://hooks.slack.com/services/T0001/B0002/XXXXXXXXXXXXXXXX", "https://hooks.slack.com/services/***/***/***"),
    ("http://127.0.0.1:8080/alerts?token=abc&team=ops", "http://127.0.0.1:8080/alerts?token=***&team=***"),
    ("https://example.com/a4f9c0d2e8b1", "https://example.com/***"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


_token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=40).map(
    lambda s: s + "9Z")  # a secret has a digit: no plain word


@given(token=_token, where=st.sampled_from(["user", "password", "path", "query"]))
def test_a_secret_anywhere_in_a_url_is_never_shown(token, where):
    url = {"user": f"https://{token}@h.example.com/x", "password": f"https://u:{token}@h.example.com/",
           "path": f"https://h.example.com/hooks/{token}/end", "query": f"https://h.example.com/?k={token}"}[where]
    assert token not in redact_url(url)
    assert token not in redact_text(f"POST {url} failed: <urlopen error refused>")


def _probe_plugin(url: str):
    class Plugin:
        __name__ = "probe"

        @hookimpl
        def register_alert_rules():
            return [AlertRule(name="probe", evaluate=lambda ctx: [
                Finding(rule="probe", key="k", severity="warning", message="m")])]

        @hookimpl
        def register_alert_sinks():
            def send(_note):
                raise RuntimeError(f"POST {url} failed: connection refused")
            return [AlertSink(name="leaky", send=send, description=redact_url(url))]
    return Plugin


def test_a_sink_error_quoting_its_url_is_redacted_in_the_table_and_the_log(tmp_path):
    from structlog.testing import capture_logs

    url = f"https://ops:{SECRET}@hooks.example.com/services/{SECRET}?token={SECRET}"
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=[_probe_plugin(url)]) as p, \
            capture_logs() as logs:
        result = p.alerts()
        errors = [r[0] for r in p.db.execute("SELECT error FROM alert_deliveries WHERE ok = 0")]
    assert result.delivery_failures == 1 and errors and all(SECRET not in e for e in errors)
    assert "hooks.example.com" in errors[0]
    assert logs and SECRET not in repr(logs)
    with capture_logs() as logs:
        get_logger("fastcommerce.test").error("anything", url=url, nested=f"see {url}")
    assert SECRET not in repr(logs) and "hooks.example.com" in repr(logs)


def test_the_cli_never_prints_a_sink_secret(tmp_path):
    cfg = _config(tmp_path, f"ftp://ops:{SECRET}@example.com/{SECRET}?token={SECRET}")
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "log.db"), "--config", str(cfg), "plugins"])
    assert result.exit_code == 1 and "webhook_url" in result.output and SECRET not in result.output


# -- file modes ------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_its_wal_and_the_alert_file_are_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask, which would make them world-readable
    try:
        db, alerts = tmp_path / "shop.db", tmp_path / "alerts" / "alerts.jsonl"
        with Pipeline(db, load_entrypoints=False) as p:
            p.ingest_records("orders", [{"order_id": "O1"}])
            assert _mode(db) == 0o600
            for suffix in ("-wal", "-shm"):
                assert _mode(Path(str(db) + suffix)) == 0o600, suffix
        jsonl_sink(alerts)(Notification(alert_id=1, kind="raised", at="2024-01-01T00:00:00+00:00",
                                        raised_at="2024-01-01T00:00:00+00:00",
                                        finding=Finding(rule="r", key="k", severity="info", message="m")))
        assert _mode(alerts) == 0o600 and alerts.read_text().count("\n") == 1
        backup = tmp_path / "copy.db"
        assert CliRunner().invoke(main, ["--db", str(db), "backup", str(backup)]).exit_code == 0
        assert _mode(backup) == 0o600 and _mode(Path(str(backup) + ".sha256")) == 0o600
    finally:
        os.umask(old)


# -- CSV injection -------------------------------------------------------------------------


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised():
    rows = [{"name": "=HYPERLINK(\"http://x\")", "sku": "+1", "n": -5, "amount": Decimal("-12.50")},
            {"name": "@SUM(A1)", "sku": "-x", "n": 3, "amount": Decimal(7)},
            {"name": "\tcmd", "sku": "\rx", "n": 0, "amount": Decimal(0)},
            {"name": "plain", "sku": "A-1", "n": 1, "amount": Decimal("1.5")}]
    report = Report(name="t", columns=["name", "sku", "n", "amount"], rows=rows, summary={})
    got = list(csv.reader(io.StringIO(as_csv(report))))
    assert got[1] == ["'=HYPERLINK(\"http://x\")", "'+1", "-5", "-12.50"]  # numbers stay numbers
    assert got[2] == ["'@SUM(A1)", "'-x", "3", "7"]
    assert got[3] == ["'\tcmd", "'\rx", "0", "0"]
    assert got[4] == ["plain", "A-1", "1", "1.5"]


# -- identifiers from plugins --------------------------------------------------------------


def test_a_stream_name_that_is_not_an_identifier_is_refused():
    class Plugin:
        @hookimpl
        def register_streams(self):
            return [Stream(name="x]; DROP TABLE event_log; --", reader=lambda *a, **k: iter(()), payload_type=dict)]

    with pytest.raises(PluginConfigError, match="not a plain identifier"):
        Pipeline(":memory:", load_entrypoints=False, plugins=[Plugin()])


# -- a plugin that fails to load -----------------------------------------------------------


def test_a_plugin_that_fails_to_import_names_its_file_and_nothing_runs(tmp_path):
    site = tmp_path / "site"
    (site / "broken_fc_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "broken_fc_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-fc-plugin\nVersion: 0.1\n")
    (site / "broken_fc_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[fastcommerce]\nbroken = broken_fc_plugin\n")
    (site / "broken_fc_plugin.py").write_text("X = 1\nraise RuntimeError('no licence key configured')\n")
    db = tmp_path / "log.db"
    sample = tmp_path / "sample"
    write_sample(sample, orders=20, days=1, seed=1)
    env = {**os.environ, "PYTHONPATH": str(site), "FASTCOMMERCE_LOAD_PLUGINS": "broken"}
    proc = subprocess.run([sys.executable, "-m", "fastcommerce.cli", "--db", str(db), "run", str(sample)],
                          check=False, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "broken_fc_plugin.py:2" in proc.stderr and "no licence key configured" in proc.stderr
    assert not db.exists()  # nothing ran half-configured: not even the database was created


def test_a_config_file_with_an_unknown_key_names_the_file(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text("[sinks]\nwebhok_url = 'https://x.example.com'\n")
    with pytest.raises(ConfigError, match=str(cfg).replace("\\", "\\\\") + ".*webhok_url"):
        load_config(cfg)


# -- verify's scratch copy -----------------------------------------------------------------


VERIFY = r"""
import sys, time
from fastcommerce import Pipeline
import fastcommerce.projections.verify as v
real = v.table_checksum
def slow(conn, table):  # stands for a long verify: time for the signal to arrive
    print("scratch-ready", flush=True)
    time.sleep(60)
    return real(conn, table)
v.table_checksum = slow
with Pipeline(sys.argv[1], load_entrypoints=False) as p:
    p.verify()
"""


def _verify_with_its_scratch_ready(tmp_path, orders: int) -> tuple:
    """A verify in a subprocess (temp folder ``tmp_path/tmp``), once its scratch copy exists."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    db = tmp_path / "log.db"
    with Pipeline(db, load_entrypoints=False) as p:
        p.ingest_records("orders", [{"order_id": f"O{n}"} for n in range(orders)])
        p.project()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-c", VERIFY, str(db)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "scratch-ready"
    return tmp, db, proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_verify_stopped_by_a_signal_leaves_no_scratch_copy(tmp_path, sig):
    tmp, _db, proc = _verify_with_its_scratch_ready(tmp_path, 50)
    assert [p.name for p in tmp.glob(SCRATCH_PREFIX + "*/scratch.db")]  # it is there while verify runs
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert list(tmp.iterdir()) == []


def test_stale_scratch_copies_of_killed_verifies_are_removed(tmp_path):
    import fcntl

    dead = tmp_path / (SCRATCH_PREFIX + "dead")
    dead.mkdir()
    (dead / "scratch.db").write_bytes(b"x" * 1000)
    (dead / LOCK_NAME).write_bytes(b"")
    live = tmp_path / (SCRATCH_PREFIX + "live")
    live.mkdir()
    (live / "scratch.db").write_bytes(b"x")
    held = open(live / LOCK_NAME, "wb")  # noqa: SIM115  (held across the call below)
    old = tmp_path / (SCRATCH_PREFIX + "olderversion")  # no lock file, untouched for two days
    old.mkdir()
    (old / "scratch.db").write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    recent = tmp_path / (SCRATCH_PREFIX + "recentolder")  # no lock file, but recent: maybe running
    recent.mkdir()
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        removed = remove_stale_scratch(tmp_path)
    finally:
        held.close()
    assert sorted(p.name for p in removed) == sorted([dead.name, old.name])
    assert live.exists() and recent.exists() and not dead.exists() and not old.exists()


def test_a_killed_verifys_scratch_is_removed_by_the_next_verify(tmp_path):
    tmp, db, proc = _verify_with_its_scratch_ready(tmp_path, 20)
    proc.kill()  # SIGKILL: nothing can clean up
    proc.communicate(timeout=60)
    assert list(tmp.glob(SCRATCH_PREFIX + "*/scratch.db"))
    done = subprocess.run([sys.executable, "-m", "fastcommerce.cli", "--db", str(db), "verify"],
                          check=False, capture_output=True, text=True, env={**os.environ, "TMPDIR": str(tmp)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(tmp.iterdir()) == []
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM event_log").fetchone()[0] == 20
