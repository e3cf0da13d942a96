"""The command line, end to end on real files."""

from __future__ import annotations

import json
import subprocess
import sys

import orjson
import pytest
from click.testing import CliRunner

from fastcommerce.cli import main

WEB = {
    "order_id": "ORD-1", "customer_id": "CUST-1", "timestamp": "2024-01-15T10:30:00Z",
    "channel": "web", "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": 29.99}],
    "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"},
    "status": "confirmed",
}


@pytest.fixture
def files(tmp_path):
    orders = tmp_path / "orders_stream.jsonl"
    lines = [orjson.dumps(WEB | {"order_id": f"ORD-{i}"}) for i in range(5)]
    lines += [lines[0], b"{broken", b""]
    orders.write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "inventory_updates.csv").write_text(
        "product_id,available_quantity,warehouse_location,last_updated\n"
        "PROD-001,150,WH-SF,2024-01-15T09:00:00Z\nPROD-001,abc,WH-SF,2024-01-15T09:00:00Z\n"
    )
    (tmp_path / "product_catalog.json").write_text(
        '{"products": [{"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 29.99}]}'
    )
    return tmp_path


def invoke(*args):
    result = CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)
    return result


def test_ingest_counts_and_rerun_appends_nothing(files, tmp_path):
    db = tmp_path / "x.db"
    out = invoke("--db", db, "ingest", "orders", files / "orders_stream.jsonl", "--format", "json")
    assert out.exit_code == 0
    totals = json.loads(out.stdout)["totals"]["orders"]
    assert totals == {"files": 1, "read": 8, "appended": 7, "duplicates": 1, "malformed": 2,
                      "unknown_schema": 0, "skipped": 0}
    again = json.loads(invoke("--db", db, "ingest", "orders", files / "orders_stream.jsonl",
                              "--format", "json").stdout)["totals"]["orders"]
    assert again["appended"] == 0 and again["skipped"] == 8
    full = json.loads(invoke("--db", db, "ingest", "orders", files / "orders_stream.jsonl", "--no-resume",
                             "--format", "json").stdout)["totals"]["orders"]
    assert full["appended"] == 0 and full["duplicates"] == full["read"] == 8


def test_growing_file_resumes_after_checkpoint(files, tmp_path):
    db = tmp_path / "x.db"
    path = files / "orders_stream.jsonl"
    invoke("--db", db, "ingest", "orders", path)
    with open(path, "ab") as fh:
        fh.write(orjson.dumps(WEB | {"order_id": "ORD-NEW"}) + b"\n")
    out = json.loads(invoke("--db", db, "ingest", "orders", path, "--format", "json").stdout)
    assert out["totals"]["orders"]["read"] == 1 and out["totals"]["orders"]["appended"] == 1


def test_replaced_file_is_read_again_and_deduplicated(files, tmp_path):
    db = tmp_path / "x.db"
    path = files / "orders_stream.jsonl"
    invoke("--db", db, "ingest", "orders", path)
    original = path.read_bytes()
    path.write_bytes(orjson.dumps(WEB | {"order_id": "ORD-OTHER"}) + b"\n" + original)
    out = json.loads(invoke("--db", db, "ingest", "orders", path, "--format", "json").stdout)["totals"]["orders"]
    assert out["skipped"] == 0 and out["appended"] == 1 and out["duplicates"] == out["read"] - 1


def test_run_status_and_plugins(files, tmp_path):
    db = tmp_path / "x.db"
    out = invoke("--db", db, "run", files, "--format", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert [s["stream"] for s in data["sources"]] == ["catalog", "inventory", "orders"]
    assert data["log"]["records"] == 1 + 2 + 7
    status = json.loads(invoke("--db", db, "status", "--format", "json").stdout)
    assert status["last_offset"] == 10
    assert {c["stream"] for c in status["checkpoints"]} == {"catalog", "inventory", "orders"}
    assert status["projections"]["catalog"]["last_offset"] == 10
    text = invoke("--db", db, "status").output
    assert "last offset 10" in text
    plugins = json.loads(invoke("--db", db, "plugins", "--format", "json").stdout)
    names = {p["name"] for p in plugins["plugins"]}
    assert "fastcommerce.builtins.orders" in names
    assert {s["variant"] for s in plugins["schemas"]["orders"]} >= {"web", "legacy", "mobile", "api"}


def test_missing_file_is_one_line_and_leaves_the_log_as_it_was(files, tmp_path):
    db = tmp_path / "x.db"
    invoke("--db", db, "ingest", "orders", files / "orders_stream.jsonl")
    before = json.loads(invoke("--db", db, "status", "--format", "json").stdout)
    proc = subprocess.run(
        [sys.executable, "-m", "fastcommerce.cli", "--db", str(db), "ingest", "inventory",
         str(files / "inventory_updates.csv"), str(files / "nope.csv")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "nope.csv: no such file" in proc.stderr
    after = json.loads(invoke("--db", db, "status", "--format", "json").stdout)
    assert after["last_offset"] == before["last_offset"]


def test_run_on_a_directory_without_inputs(tmp_path):
    out = CliRunner().invoke(main, ["--db", str(tmp_path / "x.db"), "run", str(tmp_path)])
    assert out.exit_code == 1
    assert "missing input file" in out.output


def test_sample_command_writes_the_three_files(tmp_path):
    out = invoke("sample", "--orders", 50, "--days", 1, "--seed", 3, "--out", tmp_path / "s")
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "inventory_updates.csv", "orders_stream.jsonl", "product_catalog.json"]
    db = tmp_path / "s.db"
    run = json.loads(invoke("--db", db, "run", tmp_path / "s", "--format", "json").stdout)
    for totals in run["totals"].values():
        assert totals["read"] == totals["appended"] + totals["duplicates"]
