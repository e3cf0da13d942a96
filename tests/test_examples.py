"""Smoke tests: each example script runs as a real subprocess and says what it should.

The expected numbers come from the inputs the tests write themselves (or from the script's
own records), never from a sample whose contents another module decides.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
COLUMNS = ("read", "appended", "duplicates", "malformed", "unknown_schema")


def run_example(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def summary_rows(stdout: str) -> dict[str, dict[str, int]]:
    """The quickstart's ingest table: ``{stream: {column: number}}``."""
    rows = {}
    for line in stdout.splitlines():
        fields = line.split()
        if fields and fields[0] in ("catalog", "inventory", "orders") and len(fields) == 1 + len(COLUMNS):
            rows[fields[0]] = dict(zip(COLUMNS, (int(f.replace(",", "")) for f in fields[1:])))
    return rows


def code_counts(stdout: str) -> dict[str, int]:
    """The quickstart's 'quarantined events per problem code' section."""
    lines = stdout.splitlines()
    start = lines.index("quarantined events per problem code:") + 1
    counts = {}
    for line in lines[start:]:
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            break
        counts[fields[0]] = int(fields[1])
    return counts


# -- quickstart ------------------------------------------------------------------------

ORDER = {"order_id": "ORD-1", "customer_id": "CUST-1", "timestamp": "2024-01-15T10:30:00Z", "channel": "web",
         "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": 29.99}],
         "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"}, "status": "confirmed"}
ORDER_LINES = [
    json.dumps(ORDER),
    json.dumps({"order_id": "ORD-2", "customerId": "CUST-2", "timestamp": "2024-01-15T16:00:00+05:30",
                "channel": "mobile", "items": [{"product_id": "PROD-002", "quantity": 1, "unit_price": "5.00"}],
                "shipping_address": {"country": "DE", "city": "Berlin"}, "status": "PENDING"}),
    json.dumps({"order_id": "ORD-3", "customer_id": "CUST-3", "timestamp": "2024-01-15T12:00:00Z",
                "items": [{"product_id": "PROD-001", "quantity": 1, "price": 29.99}],
                "country": "US", "state": "NY", "city": "New York", "status": "shipped"}),
    json.dumps(ORDER),                                        # a re-delivery
    "{not json",                                              # malformed_record
    json.dumps({**ORDER, "order_id": "ORD-4", "status": "lost"}),   # invalid_status
    json.dumps({**ORDER, "order_id": "ORD-5", "schema_version": 7}),  # unknown_schema
]


@pytest.fixture
def data_dir(tmp_path):
    """A tiny data set whose every count the tests know."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "product_catalog.json").write_text(json.dumps({"products": [
        {"product_id": "PROD-001", "name": "Mug", "category": "kitchen", "price": 29.99},
        {"product_id": "PROD-002", "name": "Spoon", "category": "kitchen", "price": 5.00},
    ]}), encoding="utf-8")
    (folder / "inventory_updates.csv").write_text(
        "product_id,available_quantity,warehouse_location,last_updated\n"
        "PROD-001,40,WH-SF,2024-01-15T08:00:00Z\n"
        "PROD-002,7,WH-NY,2024-01-15T08:00:00Z\n", encoding="utf-8")
    (folder / "orders_stream.jsonl").write_text("\n".join(ORDER_LINES) + "\n", encoding="utf-8")
    return folder


def test_quickstart_ingests_a_data_dir_and_reads_the_orders_back(data_dir, tmp_path):
    db = tmp_path / "shop.db"
    result = run_example("quickstart.py", str(data_dir), "--db", str(db), env={"FASTCOMMERCE_LOAD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert summary_rows(out) == {
        "catalog": {"read": 2, "appended": 2, "duplicates": 0, "malformed": 0, "unknown_schema": 0},
        "inventory": {"read": 2, "appended": 2, "duplicates": 0, "malformed": 0, "unknown_schema": 0},
        "orders": {"read": 7, "appended": 6, "duplicates": 1, "malformed": 1, "unknown_schema": 1},
    }
    assert "log: 10 records, last offset 10" in out
    # the orders start after the catalog's and the inventory's 4 records
    assert "orders read back from offset 4: 6 events, 3 valid (0 with warnings), 3 quarantined" in out
    shown = [line for line in out.splitlines() if line.startswith("  offset")]
    assert [line.split()[2] for line in shown] == ["ORD-1", "ORD-2", "ORD-3"]
    assert "value 59.98 USD" in shown[0] and "(received as web v2)" in shown[0]
    assert "pending" in shown[1] and "2024-01-15T10:30:00Z" in shown[1] and "(received as mobile v1)" in shown[1]
    assert "(received as legacy v1)" in shown[2]
    assert code_counts(out) == {"invalid_status": 1, "malformed_record": 1, "unknown_schema": 1}
    assert "batch_appended" in result.stderr  # progress logs go to stderr, not stdout
    assert "batch_appended" not in out
    assert db.is_file()


def test_quickstart_twice_on_one_log_appends_nothing_the_second_time(data_dir, tmp_path):
    db = tmp_path / "shop.db"
    first = run_example("quickstart.py", str(data_dir), "--db", str(db), "--show", "0")
    second = run_example("quickstart.py", str(data_dir), "--db", str(db), "--show", "0")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert all(row["appended"] == 0 for row in summary_rows(second.stdout).values())
    assert "log: 10 records, last offset 10" in second.stdout
    assert "orders read back from offset 10: 0 events" in second.stdout


def test_quickstart_generates_a_sample_when_asked(tmp_path):
    pytest.importorskip("fastcommerce.sample")
    result = run_example("quickstart.py", "--generate", "--db", str(tmp_path / "gen.db"))
    assert result.returncode == 0, result.stderr
    rows = summary_rows(result.stdout)
    assert set(rows) == {"catalog", "inventory", "orders"}
    for stream, row in rows.items():
        assert row["read"] == row["appended"] + row["duplicates"], stream
        assert row["appended"] > 0, stream
    orders = rows["orders"]
    assert f"{orders['appended']} events" in result.stdout
    assert len([line for line in result.stdout.splitlines() if line.startswith("  offset")]) == 3
    counts = code_counts(result.stdout)
    assert counts.get("malformed_record") == orders["malformed"]
    assert counts.get("unknown_schema", 0) >= orders["unknown_schema"]


def test_quickstart_refuses_a_data_dir_without_the_input_files(tmp_path):
    result = run_example("quickstart.py", str(tmp_path), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "orders_stream.jsonl" in result.stderr and "--generate" in result.stderr
    assert not (tmp_path / "x.db").exists()


# -- plugin_in_code --------------------------------------------------------------------


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plugin_in_code_registers_a_variant_and_a_validator(tmp_path):
    records = load_example("plugin_in_code").RECORDS
    result = run_example("plugin_in_code.py", "--db", str(tmp_path / "pos.db"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "plugin pos_example: hooks register_schemas, register_upcasters, register_validators" in out
    assert "orders pos v1: pos v1 -> web v2" in out
    assert f"ingested: read {len(records)}, appended {len(records)}, duplicates 0, unknown_schema 1" in out

    events = [line for line in out.splitlines() if line.startswith("offset ")]
    assert len(events) == len(records)
    pos_sale, laptops, web, garbled, unknown = events
    assert "pos v1" in pos_sale and "POS-0001" in pos_sale and "delivered" in pos_sale and pos_sale.endswith("ok")
    assert "value 64.48 USD" in pos_sale
    assert "WALK-IN" in laptops and "value 11997.00 USD" in laptops and laptops.endswith("ok")
    assert "web v2" in web and "ORD-900001" in web
    assert garbled.endswith("QUARANTINED") and unknown.endswith("QUARANTINED")
    # the warning is on both large orders, whatever shape they arrived in
    assert out.count("warning large_order:") == 2
    assert "warning large_order: order value 11997.00 USD is over 10000 USD [large_order]" in out
    assert 'error invalid_item: items[0].unit_price "twelve" is a string, not a number' in out
    assert "error unknown_schema:" in out
    assert (tmp_path / "pos.db").is_file()


def cdnow_rows(n: int, seed: int) -> list[str]:
    """Rows in the layout of lifetimes' CDNOW_master.txt, with what the real file has
    (repeat rows, amounts that do not divide into cents per CD) and one bad row it lacks."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        customer = f"{rng.randrange(1, n // 3):05d}"
        day = f"1997{rng.randrange(1, 4):02d}{rng.randrange(1, 29):02d}"
        cds = rng.randrange(1, 6)
        rows.append(f" {customer} {day} {cds:>2d} {rng.randrange(500, 9000) / 100:>9.2f}")
    rows.append(rows[7])  # an exact repeat: a second purchase, not a re-delivery
    rows.append(" 00001 19970301  1   -5.00")  # a negative amount: invalid_item
    return rows


def test_public_retail_check_agrees_on_data_in_the_cdnow_layout(tmp_path):
    """The release check against the public CDNOW data set (docs/public-data.md) runs on
    a file of the same layout: its own independent computation must agree."""
    data = tmp_path / "CDNOW_master.txt"
    data.write_text(" customer_id  date number_of_cds  dollar_value\n" + "\n".join(cdnow_rows(300, 5)) + "\n")
    result = run_example("public_retail_check.py", str(data), "--workdir", str(tmp_path / "work"),
                         "--permutation-check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all reports agree with the independent computation" in result.stdout
    assert "invalid_item" in result.stdout


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="the logrotate program is not installed")
def test_logrotate_check_finds_every_line_once_under_a_real_logrotate(tmp_path):
    """The release check with a real logrotate (create and copytruncate) and a real follower."""
    result = run_example("logrotate_check.py", "--workdir", str(tmp_path), "--rotations", "3", "--interval", "0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["create", "copytruncate"]
    assert all(line.endswith("[OK]") and "missing 0, logged twice 0, duplicates counted 0" in line for line in lines)
