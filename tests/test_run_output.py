"""`fastcommerce run` on a terminal: its summary, then a short list of the alerts it raised;
the alert sink's structured log lines only with -v or when logging JSON (for a shipper)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path, *options):
    db = tmp_path / f"{len(list(tmp_path.iterdir()))}.db"
    out = subprocess.run([sys.executable, "-m", "fastcommerce.cli", *options, "--db", str(db), "run",
                          str(REPO / "sample_data")], capture_output=True, text=True, check=True,
                         env={"FASTCOMMERCE_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"})
    return out.stdout, out.stderr


def test_console_lists_alerts_after_the_summary_and_logs_none(tmp_path):
    stdout, stderr = _run(tmp_path, "--log-console")
    assert "alert_raised" not in stderr
    lines = stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("alerts: "))
    raised = int(lines[head].split()[1])
    assert raised > 0  # the bundled data raises some (low stock at least), or this proves nothing
    listed = lines[head + 1:]
    assert len(listed) == min(raised, 10) + (raised > 10)
    assert all(ln.startswith("  raised ") for ln in listed[:min(raised, 10)])
    assert any("low_stock" in ln for ln in listed)
    severities = [ln.split()[1] for ln in listed[:min(raised, 10)]]
    assert severities == sorted(severities, key=lambda s: (s != "critical", s != "warning"))  # worst first


@pytest.mark.parametrize("options", [("--log-json",), ("-v", "--log-console")])
def test_json_logs_and_verbose_keep_the_alert_lines(tmp_path, options):
    _stdout, stderr = _run(tmp_path, *options)
    assert stderr.count("alert_raised") > 0
