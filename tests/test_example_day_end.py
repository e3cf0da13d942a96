"""Smoke tests of examples/day_end_report.py: a real subprocess on a small generated sample.

The expected values come from the reports run in this process on the log the script wrote
(the projection tables are in it), never from numbers hard-coded for one sample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlite_utils import Database

from fastcommerce import reports
from fastcommerce.reports.formatting import as_json
from fastcommerce.sample import write_sample

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "day_end_report.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    # installed plugins stay out, so the numbers depend on the built-ins only
    env = {**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": ""}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("day-end") / "data"
    write_sample(folder, orders=80, days=2, seed=3)
    return folder


def run_report(db, name: str, **options):
    return getattr(reports, name)(db, **options)


def report_json(db: Database, name: str, **options) -> dict:
    return json.loads(as_json(run_report(db, name, **options)))


def test_json_output_matches_the_reports_of_the_log_it_wrote(data_dir, tmp_path):
    db_path = tmp_path / "shop.db"
    result = run_script("--data", str(data_dir), "--db", str(db_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)  # stdout is one JSON document; the logs went to stderr
    assert "batch_appended" in result.stderr

    db = Database(db_path)
    latest = db.execute("SELECT MAX(date) FROM sales_daily_revenue").fetchone()[0]
    assert latest is not None
    assert doc["date"] == latest  # default: the latest day with revenue
    assert doc["revenue"] == report_json(db, "revenue", on=latest)
    assert doc["revenue"]["summary"]["from"] == doc["revenue"]["summary"]["to"] == latest
    assert doc["revenue"]["rows"] and all(r["date"] == latest for r in doc["revenue"]["rows"])
    assert doc["top_products"] == report_json(db, "products", on=latest, by="revenue", limit=10)
    revenues = [r["revenue"] for r in doc["top_products"]["rows"]]
    assert revenues == sorted(revenues, reverse=True) and 0 < len(revenues) <= 10
    inventory = report_json(db, "inventory", on=latest)
    assert doc["low_stock"]["rows"] == [r for r in inventory["rows"] if r["low_stock"]]
    assert len(doc["low_stock"]["rows"]) == inventory["summary"]["low_stock"]
    quality = run_report(db, "quality")
    assert {r["code"]: (r["severity"], r["records"]) for r in doc["quality"]["rows"]} == {
        code: (c["severity"], c["records"]) for code, c in quality.summary["codes"].items()}
    assert doc["quality"]["summary"] == {"quarantined": quality.summary["quarantined"]}
    assert quality.summary["quarantined"] > 0  # the sample carries bad data
    for stream in ("catalog", "inventory", "orders"):
        totals = doc["ingested"][stream]
        assert totals["read"] == totals["appended"] + totals["duplicates"] > 0, stream
    db.close()


def test_table_output_for_a_chosen_date_and_a_second_run_on_the_same_log(data_dir, tmp_path):
    db_path = tmp_path / "shop.db"
    first = run_script("--data", str(data_dir), "--db", str(db_path), "--date", "2024-01-15", "--top", "3")
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert out.startswith("Day-end report for 2024-01-15\n")
    for title in ("== Revenue on 2024-01-15 ==", "== Top 3 products on 2024-01-15 by revenue ==",
                  "== Low-stock inventory (available <= reorder point) ==",
                  "== Data quality over the whole log (records per problem code) =="):
        assert title in out, title
    assert "revenue report" in out and "products report" in out and "inventory report" in out
    revenue = run_report(Database(db_path), "revenue", on="2024-01-15")
    from fastcommerce import display

    assert f"revenue: {display.money(revenue.summary['revenue'])}" in out  # a table is for people
    assert f"orders: {display.integer(revenue.summary['orders'])}" in out
    sold = Database(db_path).execute(  # the summary counts every product sold that day, not the 3 listed
        "SELECT COUNT(DISTINCT product_id) FROM sales_daily_products WHERE date = '2024-01-15'").fetchone()[0]
    assert sold > 3 and "by: revenue" in out and f"products: {display.integer(sold)}" in out
    quarantined = run_report(Database(db_path), "quality").summary["quarantined"]
    assert f"quarantined: {display.integer(quarantined)}" in out
    assert "batch_appended" not in out

    second = run_script("--data", str(data_dir), "--db", str(db_path), "--date", "2024-01-15", "--top", "3",
                        "--format", "markdown")
    assert second.returncode == 0, second.stderr
    assert "catalog 0 new of" in second.stdout and "orders 0 new of" in second.stdout
    assert "# Day-end report for 2024-01-15" in second.stdout
    assert "## Revenue on 2024-01-15" in second.stdout and "| date | channel |" in second.stdout
    # same log, same day: the same revenue
    assert f"- **revenue**: {display.money(revenue.summary['revenue'])}" in second.stdout


def test_refuses_a_data_dir_without_the_inputs_and_a_bad_date(tmp_path):
    missing = run_script("--data", str(tmp_path), "--db", str(tmp_path / "x.db"))
    assert missing.returncode == 2
    assert "orders_stream.jsonl" in missing.stderr
    assert not (tmp_path / "x.db").exists()
    bad_date = run_script("--data", str(tmp_path), "--date", "15/01/2024")
    assert bad_date.returncode == 2 and "is not a date" in bad_date.stderr
