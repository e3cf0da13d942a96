"""Tamper evidence: the log's hash chain names the first record that was edited, removed,
inserted or moved, even when whoever changed the file dropped the append-only triggers
first (done here as an attacker would, with plain sqlite3)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcommerce import Pipeline
from fastcommerce.cli import main
from fastcommerce.sample import write_sample

RECORDS = 40


def _order(n: int) -> dict:
    return {"order_id": f"ORD-{n}", "customer_id": f"C{n % 7}", "status": "confirmed",
            "created_at": f"2024-01-15T10:{n % 60:02d}:00Z", "currency": "USD",
            "items": [{"sku": f"SKU-{n % 5}", "quantity": 1, "unit_price": "9.99"}]}


@pytest.fixture(autouse=True)
def _builtins_only(monkeypatch):
    monkeypatch.setenv("FASTCOMMERCE_LOAD_PLUGINS", "")


@pytest.fixture(scope="module")
def clean_log(tmp_path_factory) -> Path:
    """A log of RECORDS orders (a few malformed), in batches of 7, and a CSV file."""
    db = tmp_path_factory.mktemp("chain") / "clean.db"
    with Pipeline(db, load_entrypoints=False, batch_size=7) as p:
        p.ingest_records("orders", [_order(n) if n % 9 else "{not json" + str(n) for n in range(1, RECORDS + 1)])
        p.project()
    return db


def _copy(src: Path, dst: Path) -> Path:
    s, d = sqlite3.connect(src), sqlite3.connect(dst)
    s.backup(d)
    s.close()
    d.close()
    return dst


def _attack(db: Path, *statements: tuple[str, list]) -> None:
    """Drop the triggers and change the log as someone holding the file could."""
    conn = sqlite3.connect(db)
    with conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER [{name}]")
        for sql, params in statements:
            conn.execute(sql, params)
    conn.close()


def _verify(db: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["--db", str(db), "verify", "--log-only", "--format", "json", *args])
    return result.exit_code, json.loads(result.stdout)


def _row(db: Path, offset: int) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return conn.execute('SELECT * FROM event_log WHERE "offset" = ?', [offset]).fetchone()
    finally:
        conn.close()


def test_a_clean_log_verifies_and_status_prints_its_head(clean_log, tmp_path):
    db = _copy(clean_log, tmp_path / "log.db")
    code, data = _verify(db)
    assert code == 0 and data["ok"] and data["log"]["records"] == RECORDS
    status = json.loads(CliRunner().invoke(main, ["--db", str(db), "status", "--format", "json"]).stdout)
    assert status["head"] == {"offset": RECORDS, "chain_hash": data["log"]["head_hash"]}
    assert f"chain hash {data['log']['head_hash']}" in CliRunner().invoke(main, ["--db", str(db), "status"]).output
    # the full verify checks the chain too, then the projections
    full = CliRunner().invoke(main, ["--db", str(db), "verify"])
    assert full.exit_code == 0 and "hash chain holds over 40 records" in full.output


KINDS = ("edit_raw", "edit_raw_and_hash", "edit_column", "remove", "remove_tail", "insert", "swap")


def _tamper(db: Path, kind: str, k: int) -> int:
    """Change the log at offset ``k``; the offset verify must name."""
    if kind == "edit_raw":
        _attack(db, ("UPDATE event_log SET raw = CAST(raw || ' ' AS BLOB) WHERE \"offset\" = ?", [k]))
    elif kind == "edit_raw_and_hash":  # the raw hash recomputed too: the chain still breaks
        raw = _row(db, k)[12] + b" "
        _attack(db, ('UPDATE event_log SET raw = ?, raw_hash = ? WHERE "offset" = ?',
                     [raw, hashlib.sha256(raw).digest(), k]))
    elif kind == "edit_column":
        _attack(db, (('UPDATE event_log SET event_time = \'2020-01-01T00:00:00+00:00\', line = line + 1 '
                     'WHERE "offset" = ?'), [k]))
    elif kind == "remove":
        _attack(db, ('DELETE FROM event_log WHERE "offset" = ?', [k]))
    elif kind == "remove_tail":
        _attack(db, ('DELETE FROM event_log WHERE "offset" >= ?', [k]))
    elif kind == "insert":  # a forged record at k, the later ones moved up by one, chain hashes and all
        _attack(db, ('UPDATE event_log SET "offset" = -"offset" - 1 WHERE "offset" >= ?', [k]),
                ('UPDATE event_log SET "offset" = -"offset" WHERE "offset" < 0', []),
                (("INSERT INTO event_log SELECT ?, stream, randomblob(32), natural_key, event_time, recorded_at, "
                 'source, line, variant, schema_version, rejected, reason, raw, raw_hash, chain_hash '
                 'FROM event_log WHERE "offset" = ?'), [k, k + 1]))
    elif kind == "swap":  # two records trade places, each with all its columns
        j = k + 1 if k < RECORDS else k - 1
        _attack(db, ('UPDATE event_log SET "offset" = -1 WHERE "offset" = ?', [k]),
                ('UPDATE event_log SET "offset" = ? WHERE "offset" = ?', [k, j]),
                ('UPDATE event_log SET "offset" = ? WHERE "offset" = -1', [j]))
        return min(k, j)
    return k


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), k=st.integers(1, RECORDS))
def test_verify_names_the_first_offset_that_does_not_match(clean_log, tmp_path_factory, kind, k):
    db = _copy(clean_log, tmp_path_factory.mktemp("t") / "log.db")
    expected = _tamper(db, kind, k)
    code, data = _verify(db)
    assert code == 1 and not data["ok"], (kind, k, data)
    assert data["log"]["bad_offset"] == expected, (kind, k, data["log"])
    assert str(expected) in data["log"]["problem"]


def test_a_recomputed_chain_is_caught_by_the_head_written_down(clean_log, tmp_path):
    """Whoever can write the file can rewrite every chain hash too: the head written down
    elsewhere before is then no longer in the chain."""
    db = _copy(clean_log, tmp_path / "log.db")
    _code, before = _verify(db)
    written_down = before["log"]["head_hash"]
    assert _verify(db, "--expect-head", written_down)[0] == 0
    # an earlier head is in the chain too (the log grew since it was written down)
    with Pipeline(db, load_entrypoints=False) as p:
        p.ingest_records("orders", [_order(1000)])
    assert _verify(db, "--expect-head", written_down)[0] == 0
    # rewrite offset 3 and every chain hash from there, as the append would have
    from fastcommerce import chain
    conn = sqlite3.connect(db)
    with conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER [{name}]")
        conn.execute("UPDATE event_log SET raw = CAST(replace(CAST(raw AS TEXT), '9.99', '0.01') AS BLOB)")
        chain.backfill(conn, "event_log")
    conn.close()
    assert _verify(db)[0] == 0  # consistent in itself
    code, data = _verify(db, "--expect-head", written_down)
    assert code == 1 and "is not in this log's chain" in data["log"]["problem"]
    result = CliRunner().invoke(main, ["--db", str(db), "verify", "--expect-head", "zz"])
    assert result.exit_code == 2 and "64 hex digits" in result.output


def test_the_database_refuses_a_record_without_its_chain_hash(clean_log, tmp_path):
    db = _copy(clean_log, tmp_path / "log.db")
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="without its chain hash"):
        conn.execute("INSERT INTO event_log (stream, content_hash, recorded_at, source, line, raw) "
                     "VALUES ('orders', X'01', '2024-01-01T00:00:00+00:00', 'x', 1, X'7b7d')")
    conn.close()


WRITER = r"""
import sys
from fastcommerce import Pipeline
with Pipeline(sys.argv[1], load_entrypoints=False, batch_size=50) as p:
    p.ingest("orders", sys.argv[2])
"""


def test_concurrent_writers_chain_every_record_once(tmp_path):
    """Two processes appending to one file at once: each reads the head under its write
    lock, so the chain holds over every record of both."""
    sample_a, sample_b = tmp_path / "a", tmp_path / "b"
    write_sample(sample_a, orders=400, days=1, seed=1)
    write_sample(sample_b, orders=400, days=1, seed=2)
    db = tmp_path / "log.db"
    Pipeline(db, load_entrypoints=False).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(s / "orders_stream.jsonl")],
                              stderr=subprocess.PIPE, text=True) for s in (sample_a, sample_b)]
    deadline = time.monotonic() + 300
    for proc in procs:
        _out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
        assert proc.returncode == 0, err[-2000:]
    with Pipeline(db, load_entrypoints=False) as p:
        check = p.verify_log()
        assert check.ok, check
        assert check.records == p.log.last_offset() > 800


def test_csv_rows_and_oversized_records_chain_their_stored_bytes(tmp_path):
    """A CSV row and an oversized record are keyed on their identity, not their stored
    bytes: their raw hash is still the hash of what is stored."""
    sample = tmp_path / "sample"
    write_sample(sample, orders=50, days=1, seed=4)
    db = tmp_path / "log.db"
    big = tmp_path / "big.jsonl"
    big.write_bytes(b'{"order_id": "BIG", "note": "' + b"x" * 5000 + b'"}\n{"order_id": "SMALL"}\n')
    with Pipeline(db, load_entrypoints=False, max_record_bytes=1000) as p:
        p.run(sample)
        p.ingest("orders", big)
        p.ingest_records("orders", [{"order_id": "HUGE", "note": "y" * 5000}])
        assert p.verify_log().ok
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT stream, content_hash, raw, raw_hash FROM event_log").fetchall()
    finally:
        conn.close()
    assert all(hashlib.sha256(raw).digest() == rh for _s, _c, raw, rh in rows)
    keyed_apart = [r for r in rows if r[1] != r[3]]  # identity-keyed: the CSV rows and the two oversized
    assert {r[0] for r in keyed_apart} >= {"inventory", "orders"}
