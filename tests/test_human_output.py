"""What people read (issue 17 item 4 d, e, q): one formatting module for every human output,
one vocabulary for the counts, rich tables on a terminal and plain text elsewhere."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from fastcommerce import Pipeline, display
from fastcommerce.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("human") / "shop.db"
    result = CliRunner().invoke(main, ["--db", str(path), "run", str(ROOT / "sample_data")])
    assert result.exit_code == 0, result.output
    return str(path)


def invoke(db, *args):
    result = CliRunner().invoke(main, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


# --------------------------------------------------------------------------- d: one formatter

def test_display_writes_money_counts_and_ratios_for_people():
    assert display.money(Decimal("54297.915")) == "$54,297.92"  # half-even to cents
    assert display.money(Decimal("-3.1")) == "-$3.10" and display.money(None) == "-"
    assert display.integer(4171) == "4,171" and display.integer(None) == "-"
    assert display.ratio(Decimal("0.6867")) == "68.67%" and display.ratio(None) == "-"
    assert display.seconds(0.39037) == "0.39 s" and display.duration(91_000_000) == "1,053.2 d"
    assert display.field("revenue_by_channel", {"api": Decimal("1234.5")}) == "api: $1,234.50"
    assert display.field("repeat_customer_rate", Decimal("0.5")) == "50.00%"


@given(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False))
def test_money_for_people_reads_back_as_the_exact_amount(amount):
    text = display.money(amount)
    assert Decimal(text.replace("$", "").replace(",", "")) == amount


def test_report_tables_carry_the_currency_and_json_and_csv_the_exact_values(db):
    table = invoke(db, "report", "revenue", "--by", "channel")
    assert "$54,297.92" in table and "$252,829.37" in table
    data = json.loads(invoke(db, "report", "revenue", "--by", "channel", "--format", "json"))
    assert data["rows"][0]["revenue"] == 54297.92 and data["summary"]["revenue"] == 252829.37
    csv_text = invoke(db, "report", "revenue", "--by", "channel", "--format", "csv")
    assert "api,119,487,54297.92" in csv_text
    customers = invoke(db, "report", "customers")
    assert "repeat_customer_rate: 68.67%" in customers and "0.6867" not in customers
    assert json.loads(invoke(db, "report", "customers", "--format", "json"))["summary"]["repeat_customer_rate"] == 0.6867


def _bare_numbers(text: str) -> list[str]:
    """Whole numbers of four or more digits with no thousands separator, outside timestamps,
    paths, run ids and hashes (the chain's head)."""
    text = re.sub(r"\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?|/\S+|run [0-9a-f]+|\b[0-9a-f]{64}\b", "", text)
    return re.findall(r"(?<![\d,.])\d{4,}(?![\d,])", text)


def test_status_health_and_run_write_every_count_the_same_way(db, tmp_path):
    status = invoke(db, "status")
    health = invoke(db, "health")
    assert _bare_numbers(status) == [] and _bare_numbers(health) == []
    assert "None" not in health and "log offset 4,171" in status
    run = CliRunner().invoke(main, ["--db", str(tmp_path / "again.db"), "run", str(ROOT / "sample_data")]).stdout
    assert _bare_numbers(run) == [] and "$54,297.92" in run


# --------------------------------------------------------------------------- e: one vocabulary

TERMS = ("malformed", "unknown schema", "rejected at ingest", "quarantined", "valid", "duplicate")


def test_the_glossary_defines_each_term_once_and_the_docs_link_it():
    glossary = (ROOT / "docs" / "glossary.md").read_text()
    for term in TERMS:
        assert glossary.count(f"| **{term}** |") == 1, term
    for page in ("README.md", "docs/reports.md", "docs/monitoring.md"):
        assert "glossary.md" in (ROOT / page).read_text(), page


def test_run_status_health_and_reports_count_with_the_same_words(db, tmp_path):
    """rejected at ingest = malformed + unknown schema (run) = the log's rejected (status,
    health); quarantined is the quality report's count everywhere it is printed."""
    path = tmp_path / "words.db"
    run = CliRunner().invoke(main, ["--db", str(path), "run", str(ROOT / "sample_data"), "--format", "json"])
    totals = json.loads(run.stdout)["totals"]
    rejected = sum(t["malformed"] + t["unknown_schema"] for t in totals.values())
    run_text = CliRunner().invoke(main, ["--db", str(tmp_path / "words2.db"), "run", str(ROOT / "sample_data")]).stdout
    assert f"this run: {rejected:,} rejected at ingest (malformed or unknown schema)" in run_text
    with Pipeline(path) as p:
        quarantined = p.report("quality", limit=0).summary["quarantined"]
        per_stream = {s: c["rejected"] for s, c in p.status()["streams"].items()}
    assert sum(per_stream.values()) == rejected
    assert f"quarantined: {quarantined:,} records in the log" in run_text
    status, health = invoke(str(path), "status"), invoke(str(path), "health")
    for stream, n in per_stream.items():
        assert re.search(rf"{stream}\s.*\b{n:,} rejected at ingest", status), stream
        assert re.search(rf"{stream}\s.*\b{n:,} rejected at ingest\s+[\d,]+ quarantined", health), stream
    quarantined_in_health = sum(int(m.replace(",", "")) for m in re.findall(r"([\d,]+) quarantined", health))
    assert quarantined_in_health == quarantined


# --------------------------------------------------------------------------- q: terminal or not

def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run the command with stdout and stderr on a real pseudo-terminal; what it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "fastcommerce.cli", *args], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, env={**env, "COLUMNS": "160", "TERM": "xterm"})
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(leader)
    assert proc.returncode == 0, out.decode("utf-8", "replace")
    return out.decode("utf-8", "replace")


def test_a_terminal_gets_a_drawn_table_and_a_pipe_the_plain_one(db):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    drawn = _on_a_terminal(["--db", db, "report", "revenue", "--by", "channel"], env)
    assert "┃" in drawn or "│" in drawn, drawn  # rich's box drawing
    assert "$54,297.92" in drawn and "dates: 2024-01-17" in drawn
    piped = subprocess.run([sys.executable, "-m", "fastcommerce.cli", "--db", db, "report", "revenue", "--by",
                            "channel"], capture_output=True, text=True, env=env, check=True).stdout
    assert "│" not in piped and "\x1b[" not in piped
    assert piped.splitlines()[1].split() == ["channel", "orders", "units", "revenue"]


def test_progress_is_drawn_on_a_terminal_and_absent_from_a_pipe(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    drawn = _on_a_terminal(["--db", str(tmp_path / "a.db"), "ingest", "orders",
                            str(ROOT / "sample_data" / "orders_stream.jsonl")], env)
    assert "ingest orders" in drawn and "records" in drawn
    piped = subprocess.run([sys.executable, "-m", "fastcommerce.cli", "--db", str(tmp_path / "b.db"), "ingest",
                            "orders", str(ROOT / "sample_data" / "orders_stream.jsonl")],
                           capture_output=True, text=True, env=env, check=True)
    assert "ingest orders" not in piped.stderr and "\r" not in piped.stderr
