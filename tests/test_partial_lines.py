"""A file still being written loses nothing: its unterminated last line (a half JSONL line, a
half CSV row) is held back, the checkpoint before it, until it ends with a line break or the
file has settled (``--settle``, :func:`fastcommerce.sources.settled`). Real files, real
SQLite, the CLI as a subprocess."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcommerce import Pipeline
from fastcommerce.follow import follow
from fastcommerce.settings import Settings
from fastcommerce.sources import settled

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
N_ORDERS, N_INVENTORY = 400, 300  # lines of the bundled sample: its variants and bad records, quickly
LOG_COLUMNS = "stream, hex(content_hash), natural_key, source, line, variant, rejected, reason, raw"
REPORTS = ("revenue", "products", "inventory", "customers", "quality")


def head(path: Path, lines: int) -> bytes:
    with open(path, "rb") as fh:
        return b"".join(fh.readline() for _ in range(lines))


def cli(db: Path, *args: object, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "fastcommerce.cli", "--db", str(db), "-v", "--log-json", *map(str, args)],
        env={**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": "", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120, check=False)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def summary(done: subprocess.CompletedProcess, stream: str) -> dict:
    (source,) = [s for s in json.loads(done.stdout)["sources"] if s["stream"] == stream]
    return source


def log_lines(done: subprocess.CompletedProcess, event: str) -> list[dict]:
    out = []
    for line in done.stderr.splitlines():
        if line.startswith("{") and json.loads(line).get("event") == event:
            out.append(json.loads(line))
    return out


def log_rows(db: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(f'SELECT {LOG_COLUMNS} FROM event_log ORDER BY "offset"').fetchall()
    finally:
        conn.close()


def reports(db: Path) -> dict[str, object]:
    return {name: json.loads(cli(db, "report", name, "--format", "json").stdout) for name in REPORTS}


def age(path: Path, seconds: float = 3600) -> None:
    """The file was last modified ``seconds`` ago: it has settled."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def cut_inside_line(data: bytes, line: int, at: int) -> int:
    """The byte offset ``at`` bytes into line ``line`` (1-based) of ``data``."""
    start = 0
    for _ in range(line - 1):
        start = data.index(b"\n", start) + 1
    assert data.index(b"\n", start) - start > at
    return start + at


@pytest.fixture
def shop_files(tmp_path):
    """The start of the bundled sample: catalog, inventory and orders bytes."""
    return {
        "product_catalog.json": (SAMPLE / "product_catalog.json").read_bytes(),
        "inventory_updates.csv": head(SAMPLE / "inventory_updates.csv", N_INVENTORY + 1),
        "orders_stream.jsonl": head(SAMPLE / "orders_stream.jsonl", N_ORDERS),
    }


def test_a_line_written_in_two_halves_with_a_run_between_is_one_record(tmp_path, shop_files):
    data = tmp_path / "data"
    data.mkdir()
    for name, body in shop_files.items():
        (data / name).write_bytes(body)
    orders = shop_files["orders_stream.jsonl"]
    cut = cut_inside_line(orders, 123, 40)
    (data / "orders_stream.jsonl").write_bytes(orders[:cut])  # the writer is mid-line
    db = tmp_path / "growing.db"

    first = cli(db, "run", data, "--format", "json")
    s = summary(first, "orders")
    assert (s["read"], s["held_back"], s["held_back_line"]) == (122, 1, 123)
    assert [(h["source"], h["line"]) for h in log_lines(first, "line_held_back")] == [
        (str(data / "orders_stream.jsonl"), 123)]
    assert max(r[4] for r in log_rows(db) if r[0] == "orders") == 122  # the half line is not in the log

    append(data / "orders_stream.jsonl", orders[cut:])  # the writer finishes its line, and the file
    second = cli(db, "run", data, "--format", "json")
    s = summary(second, "orders")
    assert (s["read"], s["skipped"], s["held_back"], s["resumed_from_line"]) == (N_ORDERS - 122, 122, 0, 122)
    assert not log_lines(second, "line_held_back")

    clean = tmp_path / "clean.db"
    cli(clean, "run", data, "--format", "json")
    assert log_rows(db) == log_rows(clean)  # the same records in the same order: none malformed, none lost
    assert reports(db) == reports(clean)


def test_a_csv_row_written_in_two_halves_with_an_ingest_between_is_one_row(tmp_path, shop_files):
    catalog, inv = tmp_path / "catalog.json", tmp_path / "inventory.csv"
    catalog.write_bytes(shop_files["product_catalog.json"])
    rows = shop_files["inventory_updates.csv"]
    cut = cut_inside_line(rows, 201, 12)  # line 201: the 200th row, after the header
    inv.write_bytes(rows[:cut])
    db, clean = tmp_path / "growing.db", tmp_path / "clean.db"
    cli(db, "ingest", "catalog", catalog)

    first = cli(db, "ingest", "inventory", inv, "--format", "json")
    s = summary(first, "inventory")
    assert (s["read"], s["malformed"], s["held_back"], s["held_back_line"]) == (199, 0, 1, 201)
    [held] = log_lines(first, "line_held_back")
    assert (held["source"], held["line"]) == (str(inv), 201)
    append(inv, rows[cut:])
    s = summary(cli(db, "ingest", "inventory", inv, "--format", "json"), "inventory")
    assert (s["read"], s["held_back"]) == (N_INVENTORY - 199, 0)

    cli(clean, "ingest", "catalog", catalog)
    cli(clean, "ingest", "inventory", inv)
    assert log_rows(db) == log_rows(clean)
    assert reports(db) == reports(clean)


def test_a_complete_file_without_a_final_newline_yields_its_last_record_once_settled(tmp_path, shop_files):
    orders = tmp_path / "orders.jsonl"
    body = shop_files["orders_stream.jsonl"].rstrip(b"\n")
    last_id = orjson.loads(body.rsplit(b"\n", 1)[1])["order_id"]
    orders.write_bytes(body)
    db = tmp_path / "x.db"

    fresh = cli(db, "ingest", "orders", orders, "--format", "json")  # just written: the writer may be on it
    s = summary(fresh, "orders")
    assert (s["read"], s["held_back"], s["held_back_line"]) == (N_ORDERS - 1, 1, N_ORDERS)
    [held] = log_lines(fresh, "line_held_back")
    assert (held["source"], held["line"]) == (str(orders), N_ORDERS)
    text = cli(db, "ingest", "orders", orders).stdout
    assert f"held back: {orders} line {N_ORDERS}, not ended yet" in text

    now = cli(db, "ingest", "orders", orders, "--settle", "0", "--format", "json")  # the file is complete
    s = summary(now, "orders")
    assert (s["read"], s["appended"], s["malformed"], s["held_back"]) == (1, 1, 0, 0)
    assert log_rows(db)[-1][2:5] == (last_id, str(orders), N_ORDERS)
    assert summary(cli(db, "ingest", "orders", orders, "--settle", "0", "--format", "json"), "orders")["read"] == 0

    clean = tmp_path / "clean.db"
    other = tmp_path / "old.jsonl"
    other.write_bytes(body)
    age(other)  # not modified for an hour: settled under the default rule
    s = summary(cli(clean, "ingest", "orders", other, "--format", "json"), "orders")
    assert (s["read"], s["held_back"]) == (N_ORDERS, 0)
    assert [r[:3] + r[4:] for r in log_rows(clean)] == [r[:3] + r[4:] for r in log_rows(db)]


def order(n: int) -> bytes:
    return orjson.dumps({
        "order_id": f"ORD-{n}", "customer_id": "CUST-1", "timestamp": f"2024-01-15T10:{n % 60:02d}:00Z",
        "channel": "web", "items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": 10}],
        "shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": "confirmed",
    }) + b"\n"


def test_a_garbage_half_line_is_one_malformed_record_with_its_file_and_line(tmp_path):
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(order(1) + b"#!garbage{{{ half")
    db = tmp_path / "x.db"
    with Pipeline(db, load_entrypoints=False, settings=Settings(settle=60)) as p:
        first = p.ingest("orders", orders).sources[0]
        assert (first.read, first.malformed, first.held_back, first.held_back_line) == (1, 0, 1, 2)
        append(orders, b" and the other half")  # still no line break
        assert p.ingest("orders", orders).sources[0].read == 0
        age(orders)  # the writer stopped there: the file has settled
        second = p.ingest("orders", orders).sources[0]
        assert (second.read, second.appended, second.malformed, second.held_back) == (1, 1, 1, 0)
    rejected = [r for r in log_rows(db) if r[6] is not None]
    assert [(r[3], r[4], r[6], r[8]) for r in rejected] == [
        (str(orders), 2, "malformed_record", b"#!garbage{{{ half and the other half")]
    assert "not valid JSON" in rejected[0][7]


def test_a_garbage_line_completed_by_its_writer_is_one_malformed_record(tmp_path):
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(b"#!garbage{{{ ha")
    db = tmp_path / "x.db"
    with Pipeline(db, load_entrypoints=False, settings=Settings(settle=60)) as p:
        assert p.ingest("orders", orders).sources[0].held_back == 1
        append(orders, b"lf\n")
        s = p.ingest("orders", orders).sources[0]
    assert (s.read, s.malformed) == (1, 1)
    assert [(r[4], r[8]) for r in log_rows(db)] == [(1, b"#!garbage{{{ half")]


def test_a_csv_row_open_in_its_quotes_is_held_back_until_it_closes(tmp_path):
    inv = tmp_path / "inv.csv"
    inv.write_bytes(b'product_id,available_quantity,warehouse_location,last_updated\n'
                    b'PROD-001,5,WH-SF,2024-01-15T09:00:00Z\nPROD-002,7,"WH\n')  # ends in a line break, inside quotes
    age(inv)  # even settled: a row whose quotes are open at the end of the file is not ended
    db = tmp_path / "x.db"
    with Pipeline(db, load_entrypoints=False, settings=Settings(settle=math.inf)) as p:
        first = p.ingest("inventory", inv).sources[0]
        assert (first.read, first.held_back, first.held_back_line) == (1, 1, 3)
        append(inv, b'-NY",2024-01-15T09:00:00Z')  # closed, but no line break yet
        assert p.ingest("inventory", inv).sources[0].held_back == 1
        append(inv, b"\n")
        second = p.ingest("inventory", inv).sources[0]
    assert (second.read, second.malformed, second.held_back) == (1, 0, 0)
    rows = log_rows(db)
    assert [(r[4], r[6]) for r in rows] == [(2, None), (3, None)]
    assert orjson.loads(rows[-1][8])["warehouse_location"] == "WH\n-NY"


def test_the_settle_rule(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x")
    assert settled(f, 0) and not settled(f, math.inf) and not settled(f, 60)
    age(f, 61)
    assert settled(f, 60) and not settled(f, 120)
    assert not settled(tmp_path / "gone", 1)  # renamed away meanwhile: read again later
    with pytest.raises(ValueError):
        Settings(settle=-1)


def test_follow_holds_a_half_line_back_by_the_same_rule_and_takes_it_once_settled(tmp_path):
    """The follower's cycles, driven by its own ``sleep``: the half line waits while the file
    is fresh, and is read once the file has settled, as plain ``ingest`` would."""
    orders = tmp_path / "orders.jsonl"
    line = order(9).rstrip(b"\n")
    orders.write_bytes(order(8) + line[:30])
    db = tmp_path / "x.db"
    seen: list[list[tuple]] = []
    steps = [lambda: seen.append(log_rows(db)), lambda: age(orders), lambda: None]

    def sleep(_seconds: float) -> None:
        steps.pop(0)()

    with Pipeline(db, load_entrypoints=False, settings=Settings(settle=60)) as p:
        append(orders, line[30:])  # the writer goes on, still no line break
        follow(p, "orders", orders, sleep=sleep, should_stop=lambda: not steps)
    assert [r[2] for r in seen[0]] == ["ORD-8"]  # first cycle: held back
    rows = log_rows(db)
    assert [(r[2], r[4], r[6]) for r in rows] == [("ORD-8", 1, None), ("ORD-9", 2, None)]


# -- the property: appends split anywhere, an ingest after each, equal one ingest ----------

ORDERS_BYTES = head(SAMPLE / "orders_stream.jsonl", 60) + b"not json\n\n" + b'{"order_id": "ORD-LAST"}'
INVENTORY_BYTES = (head(SAMPLE / "inventory_updates.csv", 30)
                   + b'PROD-001,5,"WH\nSF",2024-01-15T00:04:36Z,1\r\nPROD-002,x,WH-NY,bad,2\n'
                   + b"PROD-003,1,WH-SF,2024-01-15T00:04:36Z,0")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=st.sampled_from(["orders", "inventory"]), cuts=st.lists(st.integers(0, 10**6), max_size=8),
       batch=st.integers(1, 50))
def test_appends_split_at_any_bytes_end_with_the_log_of_one_ingest(tmp_path_factory, stream, cuts, batch):
    data = ORDERS_BYTES if stream == "orders" else INVENTORY_BYTES
    where = tmp_path_factory.mktemp("split")
    path = where / "live"
    points = sorted({c % (len(data) + 1) for c in cuts} | {len(data)})
    path.write_bytes(b"")
    growing = Settings(settle=math.inf)  # a writer that may always come back: only line breaks end lines
    with Pipeline(where / "split.db", load_entrypoints=False, settings=growing, batch_size=batch) as p:
        done = 0
        for point in points:
            append(path, data[done:point])
            done = point
            s = p.ingest(stream, path).sources[0]
            if stream == "orders":  # a half line is held, whatever it holds
                assert s.held_back == (0 < point and not data[:point].endswith(b"\n"))
    with Pipeline(where / "split.db", load_entrypoints=False, settings=Settings(settle=0)) as p:
        p.ingest(stream, path)  # the writer is done
    whole = where / "whole"
    shutil.copy(path, whole)
    with Pipeline(where / "whole.db", load_entrypoints=False, settings=Settings(settle=0)) as p:
        p.ingest(stream, whole)
    split = [r[:3] + r[4:] for r in log_rows(where / "split.db")]
    assert split == [r[:3] + r[4:] for r in log_rows(where / "whole.db")]


# -- rotation: a held line left in a file rotated away is read from there ------------------


def test_a_held_line_finished_in_a_file_rotated_away_is_read_under_its_new_name(tmp_path):
    live, rotated = tmp_path / "live.jsonl", tmp_path / "live.jsonl.1"
    live.write_bytes(order(1) + order(2) + order(3)[:25])
    db = tmp_path / "x.db"
    s = summary(cli(db, "ingest", "orders", live, "--settle", "60", "--format", "json"), "orders")
    assert (s["read"], s["held_back_line"]) == (2, 3)
    with open(live, "ab") as writer:
        writer.write(order(3)[25:] + order(4))  # the writer finishes its line, then rotation
    os.rename(live, rotated)
    live.write_bytes(order(10))
    done = cli(db, "ingest", "orders", live, "--settle", "60", "--format", "json")
    assert [(s["source"], s["read"], s["held_back"]) for s in json.loads(done.stdout)["sources"]] == [
        (str(rotated), 2, 0), (str(live), 1, 0)]
    assert [(r[2], r[3], r[4], r[6]) for r in log_rows(db)] == [
        ("ORD-1", str(live), 1, None), ("ORD-2", str(live), 2, None), ("ORD-3", str(rotated), 3, None),
        ("ORD-4", str(rotated), 4, None), ("ORD-10", str(live), 1, None)]


def test_a_file_rotated_away_mid_line_gives_its_last_line_once_it_has_settled(tmp_path):
    live, rotated = tmp_path / "live.jsonl", tmp_path / "live.jsonl.1"
    live.write_bytes(order(1) + order(2)[:25])
    db = tmp_path / "x.db"
    cli(db, "ingest", "orders", live, "--settle", "60")
    os.rename(live, rotated)  # the writer never finished that line
    live.write_bytes(order(10))
    fresh = json.loads(cli(db, "ingest", "orders", live, "--settle", "60", "--format", "json").stdout)
    assert [(s["source"], s["read"], s["held_back"]) for s in fresh["sources"]] == [
        (str(rotated), 0, 1), (str(live), 1, 0)]
    age(rotated)
    old = json.loads(cli(db, "ingest", "orders", live, "--settle", "60", "--format", "json").stdout)
    assert [(s["source"], s["read"], s["malformed"]) for s in old["sources"]] == [
        (str(rotated), 1, 1), (str(live), 0, 0)]
    assert [(r[3], r[4], r[6]) for r in log_rows(db) if r[6]] == [(str(rotated), 2, "malformed_record")]
