"""The log is append-only at the database level, offsets are never reused, and a failed,
locked or refused ingestion leaves the log exactly as it was.

Everything here runs against real SQLite files; the checks that matter use a raw
``sqlite3`` connection, so they hold whatever code (ours or a plugin's) touches the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from fastcommerce import (
    DatabaseLockedError,
    Pipeline,
    PluginError,
    Schema,
    SourceError,
    Upcaster,
    hookimpl,
)

NOW = datetime(2024, 1, 20, 12, 0, tzinfo=timezone.utc)
LOG_COLUMNS = (
    '"offset", stream, content_hash, natural_key, event_time, recorded_at, source, line, '
    "variant, schema_version, rejected, reason, raw"
)


# -- helpers ------------------------------------------------------------------------------


def order(n: int, **extra) -> dict:
    rec = {
        "order_id": f"ORD-{n:06d}",
        "customer_id": f"CUST-{n % 97}",
        "timestamp": (NOW - timedelta(hours=1, minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "channel": "web",
        "items": [{"product_id": f"PROD-{n % 13:03d}", "quantity": 1 + n % 3, "unit_price": 9.99}],
        "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"},
        "status": "confirmed",
    }
    rec.update(extra)
    return rec


def write_orders(path: Path, records: list) -> Path:
    path.write_bytes(b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records))
    return path


def snapshot(db: Path) -> dict:
    """Every row of the log and of the checkpoints, read with a raw connection."""
    con = sqlite3.connect(db)
    try:
        log = con.execute(f'SELECT {LOG_COLUMNS} FROM event_log ORDER BY "offset"').fetchall()
        cps = con.execute("SELECT * FROM checkpoints ORDER BY source_id").fetchall()
        seq = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'event_log'").fetchall()
    finally:
        con.close()
    return {"log": log, "checkpoints": cps, "sequence": seq}


def offsets(db: Path) -> list[int]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute('SELECT "offset" FROM event_log ORDER BY rowid')]
    finally:
        con.close()


def clock() -> datetime:
    return NOW


@pytest.fixture
def log_db(tmp_path) -> Path:
    """A log file holding a few committed order records."""
    db = tmp_path / "log.db"
    with Pipeline(db, load_entrypoints=False, clock=clock) as p:
        s = p.ingest_records("orders", [order(n) for n in range(5)] + ["not json", ""])
    assert s.appended == 7
    return db


def cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": ""}  # built-ins only
    env.pop("FASTCOMMERCE_DB", None)
    return subprocess.run([sys.executable, "-m", "fastcommerce.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- the database refuses to rewrite history -----------------------------------------------


def test_raw_update_is_refused_by_the_database(log_db):
    before = snapshot(log_db)
    con = sqlite3.connect(log_db, isolation_level=None)
    try:
        with pytest.raises(sqlite3.Error, match="append-only"):
            con.execute("UPDATE event_log SET raw = x'00'")
        with pytest.raises(sqlite3.Error, match="append-only"):
            con.execute("UPDATE event_log SET rejected = NULL WHERE \"offset\" = 6")
    finally:
        con.close()
    assert snapshot(log_db) == before


def test_raw_delete_is_refused_by_the_database(log_db):
    before = snapshot(log_db)
    con = sqlite3.connect(log_db, isolation_level=None)
    try:
        with pytest.raises(sqlite3.Error, match="append-only"):
            con.execute("DELETE FROM event_log")
        with pytest.raises(sqlite3.Error, match="append-only"):
            con.execute('DELETE FROM event_log WHERE "offset" = (SELECT MAX("offset") FROM event_log)')
    finally:
        con.close()
    assert snapshot(log_db) == before


def test_upsert_of_an_existing_record_is_refused(log_db):
    """``INSERT ... ON CONFLICT DO UPDATE`` is an UPDATE: the trigger must refuse it."""
    before = snapshot(log_db)
    con = sqlite3.connect(log_db, isolation_level=None)
    try:
        h, = con.execute('SELECT content_hash FROM event_log WHERE "offset" = 1').fetchone()
        with pytest.raises(sqlite3.Error, match="append-only"):
            con.execute(
                "INSERT INTO event_log (stream, content_hash, recorded_at, source, line, raw) "
                "VALUES ('orders', ?, 't', 'evil', 1, x'00') "
                "ON CONFLICT (stream, content_hash) DO UPDATE SET raw = excluded.raw", [h])
    finally:
        con.close()
    assert snapshot(log_db) == before


@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
@pytest.mark.parametrize("conflict", ["offset", "content_hash"])
def test_replace_cannot_rewrite_a_logged_record(log_db, verb, conflict):
    """REPLACE deletes the conflicting row without firing DELETE triggers (SQLite only
    fires them with recursive_triggers on), so a plain DELETE trigger is not enough: the
    database must still refuse to overwrite a logged record, by offset or by hash."""
    before = snapshot(log_db)
    con = sqlite3.connect(log_db, isolation_level=None)
    try:
        h, = con.execute('SELECT content_hash FROM event_log WHERE "offset" = 1').fetchone()
        if conflict == "offset":
            sql = (f'{verb} INTO event_log ("offset", stream, content_hash, recorded_at, source, '
                   "line, raw) VALUES (1, 'orders', x'00', 't', 'evil', 1, x'00')")
            params: list = []
        else:
            sql = (f"{verb} INTO event_log (stream, content_hash, recorded_at, source, line, raw) "
                   "VALUES ('orders', ?, 't', 'evil', 1, x'00')")
            params = [h]
        try:
            con.execute(sql, params)
        except sqlite3.Error:
            pass  # refused: what the contract asks
    finally:
        con.close()
    after = snapshot(log_db)
    assert after["log"] == before["log"], "REPLACE rewrote a record of the append-only log"


# -- offsets: increasing, never reused, and a failed batch leaves nothing ----------------


class ExplodingDetector:
    """A throwaway plugin whose detector raises on one marker record (a plugin bug)."""

    @hookimpl
    def register_schemas(self):
        def detect(record):
            if isinstance(record, dict) and record.get("explode") is True:
                raise RuntimeError("boom")
            return False

        return [Schema(stream="orders", variant="exploding", version=1, detect=detect)]

    @hookimpl
    def register_upcasters(self):
        return [Upcaster(stream="orders", variant="exploding", from_version=1, to_variant="web",
                         to_version=2, upcast=dict)]


def test_batch_failing_midway_leaves_no_rows_and_no_checkpoint_then_offsets_continue(tmp_path):
    db = tmp_path / "log.db"
    records = [order(n) for n in range(23)]
    records.insert(17, order(999, explode=True))  # line 18: inside the 4th batch of 5
    src = write_orders(tmp_path / "orders.jsonl", records)

    with Pipeline(db, load_entrypoints=False, clock=clock, batch_size=5,
                  plugins=[ExplodingDetector()]) as p:
        with pytest.raises(PluginError, match="exploding"):
            p.ingest("orders", src)
    after_failure = snapshot(db)
    # three whole batches committed, nothing of the failing one
    assert [r[7] for r in after_failure["log"]] == list(range(1, 16))
    assert [r[0] for r in after_failure["log"]] == list(range(1, 16))
    (cp,) = after_failure["checkpoints"]
    assert cp[4] == 15  # line
    assert cp[3] == sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in records[:15])

    # the next successful append (other records, through the Python API) goes after it
    with Pipeline(db, load_entrypoints=False, clock=clock) as p:
        s = p.ingest_records("orders", [order(500), order(501)])
    assert s.appended == 2
    assert offsets(db) == list(range(1, 18))
    before_resume = snapshot(db)

    # and resuming the file without the faulty plugin appends the rest, once
    with Pipeline(db, load_entrypoints=False, clock=clock, batch_size=5) as p:
        summary = p.ingest("orders", src).sources[0]
    assert summary.resumed_from_line == 15 and summary.skipped == 15
    assert summary.read == len(records) - 15 == summary.appended + summary.duplicates
    final = snapshot(db)
    offs = [r[0] for r in final["log"]]
    assert offs == sorted(offs) and len(set(offs)) == len(offs)
    assert offs == list(range(1, 17 + len(records) - 15 + 1))
    assert final["log"][:17] == before_resume["log"]
    file_rows = [r for r in final["log"] if r[6] == str(src)]
    assert [r[7] for r in file_rows] == list(range(1, len(records) + 1))


def test_failure_after_insert_inside_the_transaction_rolls_everything_back(tmp_path):
    """The clock is read inside the batch transaction (for the checkpoint), after the
    batch's rows were inserted: a failure there must roll the rows back too, and the
    rolled-back offsets must not leave a gap or be visible."""
    db = tmp_path / "log.db"
    src = write_orders(tmp_path / "orders.jsonl", [order(n) for n in range(12)])
    calls = {"n": 0}

    def failing_clock():
        calls["n"] += 1
        if calls["n"] == 4:  # batch 1: calls 1-2; batch 2: call 3 (recorded_at), 4 (checkpoint)
            raise RuntimeError("clock failed")
        return NOW

    with Pipeline(db, load_entrypoints=False, clock=failing_clock, batch_size=5) as p:
        with pytest.raises(RuntimeError, match="clock failed"):
            p.ingest("orders", src)
    snap = snapshot(db)
    assert [r[0] for r in snap["log"]] == [1, 2, 3, 4, 5]
    assert snap["checkpoints"][0][4] == 5
    assert snap["sequence"] == [(5,)]

    with Pipeline(db, load_entrypoints=False, clock=clock, batch_size=5) as p:
        s = p.ingest("orders", src).sources[0]
        more = p.ingest_records("orders", [order(100)])
    assert (s.read, s.appended, s.skipped) == (7, 7, 5)
    assert more.appended == 1
    assert offsets(db) == list(range(1, 14))
    lines = [r[7] for r in snapshot(db)["log"] if r[6] == str(src)]
    assert lines == list(range(1, 13))


def test_offsets_only_grow_across_runs_and_streams(tmp_path):
    db = tmp_path / "log.db"
    seen: list[int] = []
    with Pipeline(db, load_entrypoints=False, clock=clock, batch_size=3) as p:
        for k in range(4):
            p.ingest_records("orders", [order(10 * k + i) for i in range(4)] + [order(0)])
            p.ingest_records("catalog", [{"product_id": f"P{k}", "name": "n", "category": "c",
                                          "price": 1}])
            now = offsets(db)
            assert now[: len(seen)] == seen  # nothing earlier moved or vanished
            assert all(b > a for a, b in zip(now, now[1:]))
            seen = now
    assert seen == list(range(1, len(seen) + 1))


# -- a locked database --------------------------------------------------------------------


@pytest.fixture
def writer_lock(log_db):
    """Another connection holding the write lock (``BEGIN IMMEDIATE``)."""
    con = sqlite3.connect(log_db, isolation_level=None, timeout=0)
    con.execute("BEGIN IMMEDIATE")
    yield con
    if con.in_transaction:
        con.execute("ROLLBACK")
    con.close()


def test_locked_database_raises_database_locked_error_and_changes_nothing(log_db, tmp_path, writer_lock):
    before = snapshot(log_db)
    src = write_orders(tmp_path / "orders.jsonl", [order(n) for n in range(100, 110)])
    started = time.monotonic()
    with pytest.raises(DatabaseLockedError):
        with Pipeline(log_db, load_entrypoints=False, clock=clock, busy_timeout=0.2) as p:
            p.ingest("orders", src)
    assert time.monotonic() - started < 3, "the busy timeout was not honoured"
    with pytest.raises(DatabaseLockedError):
        with Pipeline(log_db, load_entrypoints=False, clock=clock, busy_timeout=0.2) as p:
            p.ingest_records("orders", [order(200)])
    writer_lock.execute("ROLLBACK")
    assert snapshot(log_db) == before


def test_locked_database_then_released_ingests_normally(log_db, tmp_path, writer_lock):
    src = write_orders(tmp_path / "orders.jsonl", [order(n) for n in range(100, 110)])
    with Pipeline(log_db, load_entrypoints=False, clock=clock, busy_timeout=0.2) as p:
        with pytest.raises(DatabaseLockedError):
            p.ingest("orders", src)
        writer_lock.execute("ROLLBACK")
        s = p.ingest("orders", src).sources[0]
    assert (s.read, s.appended, s.resumed_from_line) == (10, 10, 0)
    assert offsets(log_db) == list(range(1, 18))


@pytest.mark.slow
def test_cli_on_a_locked_database_prints_one_error_line_and_exits_1(log_db, tmp_path, writer_lock):
    """The CLI has no busy-timeout option: this waits for the default timeout (5 s)."""
    before = snapshot(log_db)
    src = write_orders(tmp_path / "orders.jsonl", [order(n) for n in range(100, 103)])
    res = cli("--db", str(log_db), "ingest", "orders", str(src), cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("fastcommerce: error:")
    assert "lock" in lines[0]
    assert "Traceback" not in res.stderr
    writer_lock.execute("ROLLBACK")
    assert snapshot(log_db) == before


# -- a missing file -----------------------------------------------------------------------


def test_missing_file_listed_after_an_existing_one_changes_nothing(log_db, tmp_path):
    before = snapshot(log_db)
    src = write_orders(tmp_path / "orders.jsonl", [order(n) for n in range(100, 110)])
    with Pipeline(log_db, load_entrypoints=False, clock=clock) as p:
        with pytest.raises(SourceError, match="nope.jsonl"):
            p.ingest("orders", src, tmp_path / "nope.jsonl")
        with pytest.raises(SourceError):
            p.ingest("orders", src, tmp_path)  # a directory is not a file either
    assert snapshot(log_db) == before


@pytest.mark.parametrize("order_of_files", ["missing_last", "missing_first", "only_missing"])
def test_cli_missing_file_exits_1_with_one_line_and_log_unchanged(log_db, tmp_path, order_of_files):
    before = snapshot(log_db)
    src = str(write_orders(tmp_path / "orders.jsonl", [order(n) for n in range(100, 110)]))
    missing = str(tmp_path / "missing.jsonl")
    files = {"missing_last": [src, missing], "missing_first": [missing, src],
             "only_missing": [missing]}[order_of_files]
    res = cli("--db", str(log_db), "ingest", "orders", *files, cwd=tmp_path)
    assert res.returncode == 1, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("fastcommerce: error:")
    assert "missing.jsonl" in lines[0]
    assert snapshot(log_db) == before


def test_cli_then_ingests_once_the_file_exists(log_db, tmp_path):
    """Control for the test above: the same command line works once the file is there."""
    src = str(write_orders(tmp_path / "orders.jsonl", [order(n) for n in range(100, 110)]))
    other = str(write_orders(tmp_path / "missing.jsonl", [order(n) for n in range(200, 203)]))
    res = cli("--db", str(log_db), "ingest", "orders", src, other, "--format", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    totals = json.loads(res.stdout)["totals"]["orders"]
    assert totals["read"] == 13 == totals["appended"] + totals["duplicates"]
    assert offsets(log_db) == list(range(1, 7 + 13 + 1))
