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
    # no catalog yet: the five orders name an unknown product, and are quarantined too
    assert totals == {"files": 1, "read": 8, "appended": 7, "duplicates": 1, "valid": 0, "quarantined": 7,
                      "malformed": 2, "unknown_schema": 0, "skipped": 0}
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
    # what each plugin registered: a plugin author checks their own validators and projections here
    validators = {v["name"]: v for v in plugins["validators"]}
    assert validators["order_products"] == {"name": "order_products", "stream": "orders",
                                            "codes": {"price_deviation": "warning", "unknown_product": "error"},
                                            "plugin": "fastcommerce.builtins.validators"}
    projections = {p["name"]: p for p in plugins["projections"]}
    assert projections["sales"]["plugin"] == "fastcommerce.builtins.sales"
    assert "sales_daily_revenue" in projections["sales"]["tables"]
    listed = invoke("--db", db, "plugins").output
    assert "price_deviation (warning), unknown_product (error)" in listed
    assert "validators:" in listed and "projections:" in listed


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


def test_reading_commands_refuse_a_missing_database_and_do_not_create_it(tmp_path):
    db = tmp_path / "typo.db"
    for args in (["report", "revenue"], ["status"], ["verify"], ["project"], ["health"]):
        result = CliRunner().invoke(main, ["--db", str(db), *args])
        assert result.exit_code == 1, (args, result.output)
        assert f"{db}: no such database" in result.output and "Traceback" not in result.output
        assert not db.exists()
    listed = CliRunner().invoke(main, ["--db", str(db), "plugins"])  # code, not data: works without one
    assert listed.exit_code == 0 and "fastcommerce.builtins.sales" in listed.output
    assert not db.exists()


def test_reading_commands_leave_a_foreign_sqlite_file_alone(tmp_path):
    import sqlite3

    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE mine (x)")
    result = CliRunner().invoke(main, ["--db", str(db), "status"])
    assert result.exit_code == 1 and "not a fastcommerce one" in result.output
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["mine"]


def test_database_errors_name_the_file_without_a_traceback(files, tmp_path):
    text = tmp_path / "text.db"
    text.write_text("not a database\n" * 100)
    for args in (["status"], ["ingest", "orders", str(tmp_path / "orders_stream.jsonl")]):
        result = CliRunner().invoke(main, ["--db", str(text), *args])
        assert result.exit_code == 1 and f"{text}: file is not a database" in result.output, result.output
    nowhere = tmp_path / "missing" / "x.db"
    result = CliRunner().invoke(main, ["--db", str(nowhere), "run", str(tmp_path)])
    assert result.exit_code == 1 and f"{nowhere}: unable to open database file" in result.output
    # a damaged file found part-way through a command: one line naming the file
    good = tmp_path / "good.db"
    assert CliRunner().invoke(main, ["--db", str(good), "run", str(tmp_path)]).exit_code == 0
    data = bytearray(good.read_bytes())
    for page in range(1, len(data) // 4096):
        data[page * 4096 + 8: page * 4096 + 200] = b"\xff" * 192
    good.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["--db", str(good), "status"])
    assert result.exit_code == 1 and f"{good}: " in result.output and "Traceback" not in result.output, result.output


def test_ingest_of_a_file_that_cannot_be_read_creates_no_database(tmp_path):
    db = tmp_path / "new.db"
    result = CliRunner().invoke(main, ["--db", str(db), "ingest", "orders", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1 and "no such file" in result.output
    assert not db.exists()  # else a mistyped --db would from then on pass for a real database


def test_ingest_json_counts_valid_and_quarantined_records(files, tmp_path):
    """Issue 17, 4j: appended = valid + quarantined, per source and per stream."""
    db = tmp_path / "x.db"
    assert invoke("--db", db, "ingest", "catalog", files / "product_catalog.json").exit_code == 0
    data = json.loads(invoke("--db", db, "ingest", "orders", files / "orders_stream.jsonl", "--format", "json").stdout)
    [source] = data["sources"]
    assert (source["appended"], source["valid"], source["quarantined"]) == (7, 5, 2)  # the two malformed lines
    assert data["totals"]["orders"]["valid"] == 5 and data["totals"]["orders"]["quarantined"] == 2
    text = invoke("--db", db, "ingest", "inventory", files / "inventory_updates.csv").stdout
    header, row = text.splitlines()[:2]
    counts = dict(zip(header.split()[1:], row.split()[1:]))
    assert (counts["appended"], counts["valid"], counts["quarantined"]) == ("2", "1", "1")  # "abc" is no quantity


@pytest.mark.parametrize("args", [
    ["ingest", "orders", "{missing}", "--format", "json"],
    ["ingest", "orders", "{orders}", "{orders}", "--follow", "--format", "json"],
    ["status", "--format", "json"],  # no such database
    ["report", "nope", "--format", "json"],
])
def test_with_format_json_errors_are_json_on_stderr(files, tmp_path, args):
    db = tmp_path / ("x.db" if args[0] != "status" else "absent.db")
    if args[0] == "report":
        assert invoke("--db", db, "ingest", "orders", files / "orders_stream.jsonl").exit_code == 0
    args = [a.format(missing=tmp_path / "nope.jsonl", orders=files / "orders_stream.jsonl") for a in args]
    result = CliRunner().invoke(main, ["--db", str(db), *args])
    assert result.exit_code != 0 and result.stdout == ""
    [line] = result.stderr.splitlines()
    error = json.loads(line)["error"]
    assert error["message"] and error["kind"] in ("SourceError", "EventLogError", "UsageError")
    text = CliRunner().invoke(main, ["--db", str(db), *[a for a in args if a not in ("--format", "json")]])
    assert text.exit_code == result.exit_code and not text.stderr.startswith("{")
