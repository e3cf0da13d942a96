"""Every core table comes from one mechanism (fastcommerce.schema): a new file and a file
written by an older version end with the same tables, and the older file keeps every row.

``tests/data/log-made-by-5cedc8d.db.gz`` was made by main at 5cedc8d, the last version whose
runner and alert engine created their own tables on every open (``make_log_5cedc8d.py``
beside it): 120 orders over two days, every projection built, five alerts raised. Its
``reports.json.gz`` holds the reports that version printed for it.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from fastcommerce import Pipeline
from fastcommerce.errors import PluginConfigError
from fastcommerce.hookspecs import hookimpl
from fastcommerce.projections import Projection
from fastcommerce.reports.formatting import render
from fastcommerce.schema import CORE_TABLES, EXPORT_STATE, MIGRATIONS_TABLE, SETS

DATA = Path(__file__).parent / "data"
CLOCK = datetime(2024, 1, 17, 12, 0, tzinfo=UTC)  # the clock the fixture was made with
REPORTS = (("revenue", {"start": "2024-01-15", "end": "2024-01-16"}), ("products", {"limit": None}),
           ("inventory", {}), ("customers", {"limit": None}), ("quality", {"limit": None}))
"""As ``data/make_log_5cedc8d.py`` printed them."""


def _unzip(name: str, to: Path) -> Path:
    with gzip.open(DATA / name) as src, open(to, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return to


def _snapshot(db: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table's columns and rows, read with plain sqlite3."""
    conn = sqlite3.connect(db)
    try:
        out = {}
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
            rows = conn.execute(f"SELECT * FROM [{table}]").fetchall()
            out[table] = (columns, sorted(rows, key=repr))
        return out
    finally:
        conn.close()


def _shape(db: Path) -> dict[str, Any]:
    """The core tables' columns (name, type, not null, default, key) and indexes, and the
    migrations each set has recorded."""
    conn = sqlite3.connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        shape: dict[str, Any] = {}
        for table in sorted(t for t in tables if t.lower() in CORE_TABLES):
            columns = [r[1:] for r in conn.execute(f"PRAGMA table_info([{table}])")]
            indexes = sorted((r[1], r[2]) for r in conn.execute(f"PRAGMA index_list([{table}])"))
            shape[table] = (columns, indexes)
        shape["applied"] = sorted(conn.execute(f"SELECT migration_set, name FROM {MIGRATIONS_TABLE}"))
        return shape
    finally:
        conn.close()


ADDED_SINCE = {"inventory": ("name",)}
"""Columns reports gained after 5cedc8d recorded its output (issue 17: names beside ids; the
quality report's key and reason texts: ``_quality_then`` and ``_quality_now``)."""


def _as_recorded(report):
    """``report`` without the columns added since the recorded version: the rest must match."""
    dropped = ADDED_SINCE.get(report.name, ())
    return attrs.evolve(report, rows=[{k: v for k, v in r.items() if k not in dropped} for r in report.rows],
                        columns=tuple(c for c in report.columns if c not in dropped))


def _quality_then(text: str) -> dict:
    """Today's quality report without what was added since 5cedc8d (the ``key`` column)."""
    report = orjson.loads(text)
    for row in report["rows"]:
        row.pop("key")
    return report


def _quality_now(text: str) -> dict:
    """5cedc8d's quality report with its reasons as they read since (issue 17, 4g): plain
    JSON values, not Python reprs, and no recorded time in the timestamp's reason. Reasons
    the reader gave at ingest are in the log, and stay as that version wrote them."""
    hint = "ISO-8601 with 'T' and 'Z' or a +HH:MM offset"

    def now(reason: str) -> str:
        reason = re.sub(r"Decimal\('([^']*)'\)", r"\1", reason.replace(hint, "\0"))
        reason = re.sub(r"(\w+) (\S+) is more than one day after the record was received \([^)]*\)",
                        r'\1 "\2" is more than one day after the time the record was recorded', reason)
        return re.sub(r"'([^']*)'", r'"\1"', reason).replace("\0", hint)

    report = orjson.loads(text)
    for row in report["rows"]:
        reasons = row["reasons"].split(" | ")
        row["reasons"] = " | ".join(r if r.startswith(("not valid", "JSON ")) else now(r) for r in reasons)
    return report


def test_a_log_made_by_5cedc8d_upgrades_with_nothing_lost(tmp_path):
    db = _unzip("log-made-by-5cedc8d.db.gz", tmp_path / "old.db")
    before = _snapshot(db)
    assert {r[1] for r in before[MIGRATIONS_TABLE][1]} == {"fastcommerce.eventlog"}  # made before the other sets
    with Pipeline(db, load_entrypoints=False, clock=lambda: CLOCK) as p:
        after = _snapshot(db)
        # every table and row is as it was; only the record of the new migrations is added,
        # and the tables of migrations newer than that file (empty)
        assert after.keys() == before.keys() | {EXPORT_STATE}
        assert after[EXPORT_STATE][1] == []
        for table, (columns, rows) in before.items():
            if table == "event_log":  # the same rows, each given its raw hash and chain hash
                new_columns, new_rows = after[table]
                assert new_columns == [*columns, "raw_hash", "chain_hash"]
                assert sorted((r[:len(columns)] for r in new_rows), key=repr) == rows
                assert all(r[-2] == hashlib.sha256(r[columns.index("raw")]).digest() for r in new_rows)
            elif table != MIGRATIONS_TABLE:
                assert after[table] == (columns, rows), table
        check = p.log.check_chain()
        assert check.ok and check.records == len(before["event_log"][1]), check
        old_ids = {r[0] for r in before[MIGRATIONS_TABLE][1]}
        assert [r for r in after[MIGRATIONS_TABLE][1] if r[0] in old_ids] == before[MIGRATIONS_TABLE][1]
        added = sorted((r[1], r[2]) for r in after[MIGRATIONS_TABLE][1] if r[0] not in old_ids)
        assert added == [("fastcommerce.alerts", "m001_alerts"),
                         ("fastcommerce.eventlog", "m006_hash_chain"),
                         ("fastcommerce.eventlog", "m007_export_state"),
                         ("fastcommerce.projections", "m001_projection_state"),
                         ("fastcommerce.projections", "m002_run_latency"),
                         ("fastcommerce.projections", "m003_reading")]
        # the projections carry on from where that version left them: none is rebuilt as if
        # new or unversioned (only a change to the reading code since then rebuilds them)
        whys = {r.why for r in p.project() if r.rebuilt}
        assert all(why.startswith("the plugins that read the log changed") for why in whys), whys
        expected = orjson.loads(gzip.decompress((DATA / "log-made-by-5cedc8d.reports.json.gz").read_bytes()))
        now = {name: p.report(name, **options) for name, options in REPORTS}
        got = {name: render(_as_recorded(r), "json") for name, r in now.items()}
        assert {n: r for n, r in got.items() if n != "quality"} == {n: r for n, r in expected.items() if n != "quality"}
        assert _quality_then(got["quality"]) == _quality_now(expected["quality"])
        assert all(row["name"] for row in now["inventory"].rows)  # the column added since: the catalog's names
        # the alerts it raised are still open: evaluated again at the same time, none is new
        result = p.alerts(now=CLOCK)
        assert result.findings == 5 and result.raised == [] and result.rule_errors == {}
        assert all(check.ok for check in p.verify())


@pytest.mark.parametrize("fixture", ["log-made-by-f6dea42.db.gz", "log-made-by-5cedc8d.db.gz"])
def test_an_upgraded_file_has_the_tables_of_a_new_one(tmp_path, fixture):
    new = tmp_path / "new.db"
    with Pipeline(new, load_entrypoints=False) as p:
        p.ingest_records("orders", ['{"order_id": "O1"}'])
    old = _unzip(fixture, tmp_path / "old.db")
    with Pipeline(old, load_entrypoints=False, clock=lambda: CLOCK):
        pass
    assert _shape(old) == _shape(new)
    assert {s for s, _n in _shape(new)["applied"]} == {s.name for s in SETS}


def test_a_new_log_holds_every_core_table_before_any_projection_or_alert_runs(tmp_path):
    from fastcommerce.eventlog import EventLog

    log = EventLog.open(tmp_path / "log.db")
    try:
        tables = {r[0] for r in log.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        log.close()
    assert {t for t in tables if not t.startswith("sqlite_")} == CORE_TABLES


def test_opening_an_up_to_date_file_needs_no_write_lock(tmp_path):
    """Nothing is created or altered on open: a file another process is writing opens at
    once, and its reports can be read."""
    db = tmp_path / "log.db"
    with Pipeline(db, load_entrypoints=False) as p:
        p.ingest_records("orders", ['{"order_id": "O1"}'])
        p.project()
    writer = sqlite3.connect(db)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with Pipeline(db, load_entrypoints=False, busy_timeout=0.1) as p:
            assert p.report("revenue", catch_up=False).rows == []
    finally:
        writer.rollback()
        writer.close()


class _Claims:
    __name__ = "claimant-plugin"

    def __init__(self, table: str) -> None:
        self.table = table

    @hookimpl
    def register_projections(self) -> list[Projection]:
        return [Projection(name="claimant", version=1, tables=(self.table,),
                           create=lambda db: db.execute(f"CREATE TABLE [{self.table}] (x)"),
                           apply=lambda db, events: None)]


@pytest.mark.parametrize("table", ["canon_records", "CANON_ORDER_LINES", "canon_meta"])
def test_a_projection_cannot_claim_a_canonical_table(tmp_path, table):
    """Its first build would drop the decoded rows of the whole log."""
    with pytest.raises(PluginConfigError, match=f"claims table '{table}'"):
        Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=[_Claims(table)])
