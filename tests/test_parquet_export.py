"""``export parquet``: the canonical tables read back from the Parquet files equal the
database's rows, each row in the partition of its record's day; a second export rewrites
only the days that new records fall on (a new day, and an old day a late event restated)."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcommerce import Pipeline
from fastcommerce.cli import main
from fastcommerce.parquet_export import COLUMNS, DEFAULT_PARTITION, KEYS, MARKER
from fastcommerce.sample import write_sample

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastcommerce[parquet]')")
pq = pytest.importorskip("pyarrow.parquet")


def database_rows(p: Pipeline, table: str) -> list[tuple]:
    """The table's rows, each with its record's day, sorted by key: what the export must hold."""
    cols = ", ".join(f't."{c}"' for c, _t, _n in COLUMNS[table])
    keys = ", ".join(f't."{k}"' for k in KEYS.get(table, ("offset",)))
    return p.db.execute(
        f"SELECT COALESCE(substr(r.event_time, 1, 10), '{DEFAULT_PARTITION}'), {cols} FROM {table} t "
        f'JOIN canon_records r ON r."offset" = t."offset" ORDER BY {keys}').fetchall()


def exported_rows(target: Path, table: str) -> list[tuple]:
    """The table read back from its day partitions, each row with its partition's day."""
    out = []
    for part in sorted((target / table).glob("day=*/part-0.parquet")):
        day = part.parent.name.removeprefix("day=")
        data = pq.read_table(part)
        assert data.schema.names == [c for c, _t, _n in COLUMNS[table]]
        out.extend((day, *row.values()) for row in data.to_pylist())
    keys = [1 + [c for c, _t, _n in COLUMNS[table]].index(k) for k in KEYS.get(table, ("offset",))]
    return sorted(out, key=lambda r: tuple(r[k] for k in keys))


def files(target: Path) -> dict[str, tuple[int, int]]:
    """Every partition file and its identity (inode, modification time): a rewritten one changes."""
    return {str(f.relative_to(target)): (f.stat().st_ino, f.stat().st_mtime_ns)
            for f in target.glob("*/day=*/part-0.parquet")}


@pytest.fixture
def shop(tmp_path):
    data = tmp_path / "data"
    write_sample(data, orders=600, days=3, seed=7)
    with Pipeline(tmp_path / "log.db", load_entrypoints=False) as p:
        p.run(data)
        yield p


def late_and_new_orders() -> list[dict]:
    base = {"customer_id": "CUST-1", "channel": "web", "status": "confirmed",
            "items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": 75.99}],
            "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"}}
    return [{**base, "order_id": "ORD-LATE-1", "timestamp": "2024-01-15T08:00:00Z"},  # restates the first day
            {**base, "order_id": "ORD-NEW-1", "timestamp": "2024-01-18T09:00:00Z"},   # a new day
            {**base, "order_id": "ORD-NEW-2", "timestamp": "2024-01-18T10:00:00Z"}]


def test_the_files_hold_exactly_the_canonical_rows_each_in_its_day(shop, tmp_path):
    target = tmp_path / "export"
    summary = shop.export_parquet(target)
    assert summary.full and summary.reason == "first export to this directory"
    for table in COLUMNS:
        expected = database_rows(shop, table)
        assert expected, table  # the sample has rows in every table
        assert exported_rows(target, table) == expected
        assert summary.rows[table] == len(expected)
    assert {"2024-01-15", "2024-01-16", "2024-01-17"} <= set(summary.days)
    assert json.loads((target / MARKER).read_text())["upto_offset"] == shop.log.last_offset()


def test_a_second_export_rewrites_only_the_new_and_the_restated_days(shop, tmp_path):
    target = tmp_path / "export"
    shop.export_parquet(target)
    before = files(target)
    again = shop.export_parquet(target)
    assert (again.full, again.days, again.files) == (False, [], 0)
    assert files(target) == before

    exported_upto = shop.log.last_offset()
    shop.ingest_records("orders", late_and_new_orders())
    summary = shop.export_parquet(target)
    assert (summary.full, summary.days) == (False, ["2024-01-15", "2024-01-18"])
    after = files(target)
    changed = {name for name in after if after[name] != before.get(name)}
    touched = {f"{table}/day={row[0]}/part-0.parquet" for table in COLUMNS for row in database_rows(shop, table)
               if row[1] > exported_upto}
    assert {t.split("/")[0] for t in touched} >= {"canon_records", "canon_orders", "canon_order_lines"}
    assert changed == touched  # the partitions new rows fall on, and nothing else
    assert set(before) <= set(after)
    for table in COLUMNS:
        assert exported_rows(target, table) == database_rows(shop, table)


def test_a_directory_that_lost_its_marker_or_full_is_written_whole(shop, tmp_path):
    target = tmp_path / "export"
    shop.export_parquet(target)
    os.remove(target / MARKER)
    summary = shop.export_parquet(target)
    assert summary.full and MARKER in summary.reason
    assert shop.export_parquet(target, full=True).full
    other = shop.export_parquet(tmp_path / "elsewhere")  # a second directory has its own state
    assert other.full and other.reason == "first export to this directory"
    for table in COLUMNS:
        assert exported_rows(tmp_path / "elsewhere", table) == database_rows(shop, table)


def test_the_command_reports_what_it_wrote(tmp_path):
    data, db, target = tmp_path / "data", tmp_path / "log.db", tmp_path / "export"
    write_sample(data, orders=200, days=2, seed=3)
    runner = CliRunner()
    assert runner.invoke(main, ["--db", str(db), "run", str(data)]).exit_code == 0
    result = runner.invoke(main, ["--db", str(db), "export", "parquet", str(target), "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["full"] and out["files"] == len(files(target)) and out["rows"]["canon_orders"] > 0
    result = runner.invoke(main, ["--db", str(db), "export", "parquet", str(target)])
    assert result.exit_code == 0 and "wrote 0 files" in result.output and "incremental" in result.output


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    data = tmp_path_factory.mktemp("sample")
    write_sample(data, orders=120, days=4, seed=11)
    return data


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=4))
def test_exporting_after_every_part_of_an_ingest_ends_as_one_export_of_the_whole(sample_files, tmp_path_factory,
                                                                                 cuts):
    """However the orders arrive between exports (late events and all), the incremental
    directory ends holding what a full export of the final log holds."""
    tmp = tmp_path_factory.mktemp("split")
    lines = (sample_files / "orders_stream.jsonl").read_bytes().splitlines()
    bounds = [0, *sorted(int(c * len(lines)) for c in cuts), len(lines)]
    with Pipeline(tmp / "log.db", load_entrypoints=False) as p:
        p.ingest("catalog", sample_files / "product_catalog.json")
        for lo, hi in itertools.pairwise(bounds):
            p.ingest_records("orders", lines[lo:hi])
            p.export_parquet(tmp / "incremental")
        p.export_parquet(tmp / "whole")
        for table in COLUMNS:
            assert exported_rows(tmp / "incremental", table) == exported_rows(tmp / "whole", table) \
                == database_rows(p, table)
