"""``fastcommerce backup`` while an ingest runs, and ``restore``, which checks before it
replaces anything."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fastcommerce import Pipeline
from fastcommerce.cli import main
from fastcommerce.sample import write_sample


@pytest.fixture(autouse=True)
def _builtins_only(monkeypatch):
    monkeypatch.setenv("FASTCOMMERCE_LOAD_PLUGINS", "")


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _log_rows(db: Path, upto: int | None = None) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        sql = 'SELECT * FROM event_log' + ('' if upto is None else ' WHERE "offset" <= ?') + ' ORDER BY "offset"'
        return conn.execute(sql, [] if upto is None else [upto]).fetchall()
    finally:
        conn.close()


def _records(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT COUNT(*) FROM event_log").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


def test_backup_during_a_concurrent_ingest_then_restore(tmp_path):
    sample = tmp_path / "sample"
    write_sample(sample, orders=6000, days=2, seed=5)
    db, copy = tmp_path / "live.db", tmp_path / "backups" / "live-copy.db"
    copy.parent.mkdir()
    ingest = subprocess.Popen(
        [sys.executable, "-m", "fastcommerce.cli", "--db", str(db), "ingest", "orders",
         str(sample / "orders_stream.jsonl"), "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**__import__("os").environ, "FASTCOMMERCE_LOAD_PLUGINS": ""})
    try:
        deadline = time.monotonic() + 120
        while _records(db) == 0 and ingest.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        made = _cli("--db", str(db), "backup", str(copy), "--format", "json")
        assert made.exit_code == 0, made.output
        info = json.loads(made.stdout)
    finally:
        _out, err = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, err[-2000:]
    final = _records(db)
    assert 0 < info["head_offset"] <= final and info["records"] == info["head_offset"]
    sums = (copy.parent / "live-copy.db.sha256").read_text().split()
    assert sums == [info["sha256"], "live-copy.db"]
    assert not Path(str(copy) + "-wal").exists()  # one self-contained file
    # restore into a new file: everything up to the backup's offset, and verify passes
    restored = tmp_path / "restored.db"
    result = _cli("--db", str(restored), "restore", str(copy))
    assert result.exit_code == 0, result.output
    assert _log_rows(restored) == _log_rows(db, upto=info["head_offset"])
    assert _cli("--db", str(restored), "project").exit_code == 0
    checked = _cli("--db", str(restored), "verify")
    assert checked.exit_code == 0, checked.output
    assert f"head offset {info['head_offset']:,}" in checked.output
    # over the live file, which holds more: refused without --force, nothing changed
    if final > info["head_offset"]:
        refused = _cli("--db", str(db), "restore", str(copy))
        assert refused.exit_code == 1 and "would lose them" in refused.output
        assert _records(db) == final
    forced = _cli("--db", str(db), "restore", str(copy), "--force")
    assert forced.exit_code == 0, forced.output
    assert _log_rows(db) == _log_rows(restored)
    # and the restored live file takes new records, chained on
    with Pipeline(db, load_entrypoints=False) as p:
        p.ingest_records("orders", ['{"order_id": "AFTER-RESTORE"}'])
        assert p.verify_log().ok


@pytest.fixture
def a_backup(tmp_path) -> tuple[Path, Path]:
    db, copy = tmp_path / "log.db", tmp_path / "copy.db"
    with Pipeline(db, load_entrypoints=False) as p:
        p.ingest_records("orders", [{"order_id": f"O{n}", "customer_id": "C1"} for n in range(20)])
    assert _cli("--db", str(db), "backup", str(copy)).exit_code == 0
    return db, copy


def test_restore_refuses_a_backup_whose_checksum_does_not_match(a_backup, tmp_path):
    _db, copy = a_backup
    data = bytearray(copy.read_bytes())
    data[-100] ^= 0xFF  # one flipped bit somewhere in the file
    copy.write_bytes(bytes(data))
    target = tmp_path / "target.db"
    result = _cli("--db", str(target), "restore", str(copy))
    assert result.exit_code == 1 and "not the" in result.output and "recorded in copy.db.sha256" in result.output
    assert not target.exists()
    (tmp_path / "copy.db.sha256").unlink()
    result = _cli("--db", str(target), "restore", str(copy))
    assert result.exit_code == 1 and "recorded checksum" in result.output


def test_restore_refuses_a_backup_whose_chain_does_not_hold(a_backup, tmp_path):
    """Edited with the triggers dropped, and its checksum file written again to match."""
    from fastcommerce.backup import file_sha256

    db, copy = a_backup
    conn = sqlite3.connect(copy)
    with conn:
        conn.execute("DROP TRIGGER event_log_no_update")
        conn.execute("UPDATE event_log SET raw = CAST(replace(CAST(raw AS TEXT), 'C1', 'C9') AS BLOB) "
                     'WHERE "offset" = 7')
    conn.close()
    (tmp_path / "copy.db.sha256").write_text(f"{file_sha256(copy)}  copy.db\n")
    before = _log_rows(db)
    result = _cli("--db", str(db), "restore", str(copy), "--force")
    assert result.exit_code == 1 and "offset 7" in result.output and "hash chain does not hold" in result.output
    assert _log_rows(db) == before


def test_restore_refuses_to_replace_another_log(a_backup, tmp_path):
    _db, copy = a_backup
    other = tmp_path / "other.db"
    with Pipeline(other, load_entrypoints=False) as p:
        p.ingest_records("orders", [{"order_id": "ELSEWHERE"}])
    result = _cli("--db", str(other), "restore", str(copy))
    assert result.exit_code == 1 and "another log" in result.output
    assert _cli("--db", str(other), "restore", str(copy), "--force").exit_code == 0
    assert _records(other) == 20
