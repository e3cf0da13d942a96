"""Decoding in worker processes: the same rows whatever the number of workers, and a worker
that fails (a plugin raising, a process dying) fails its batch whole, as an in-process
decode would, with nothing written."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import UTC, datetime

import pytest

from fastcommerce import Pipeline, Validator, hookimpl
from fastcommerce.decode_workers import MIN_SLICE
from fastcommerce.errors import FastCommerceError, PluginError
from fastcommerce.sample import write_sample
from fastcommerce.settings import Settings

FIXED_NOW = datetime(2024, 1, 20, 12, 0, tzinfo=UTC)

# written by the run, not derived from the records: when and how long
_NOT_DERIVED = {"_sqlite_migrations", "ingest_runs", "checkpoints", "projection_runs"}


def _digests(db) -> dict[str, str]:
    conn = sqlite3.connect(db)
    out = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        if table in _NOT_DERIVED or table.startswith("sqlite_"):
            continue
        h = hashlib.sha256()
        for row in sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{table}"')):
            h.update(row.encode())
        out[table] = h.hexdigest()
    conn.close()
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    write_sample(out, orders=2 * MIN_SLICE + 700, days=2, seed=7)  # bad records of every kind included
    return out


def _run(db, data, workers, plugins=()):
    p = Pipeline(db, load_entrypoints=False, clock=lambda: FIXED_NOW, plugins=list(plugins),
                 settings=Settings(decode_workers=workers))
    return p, p.run(data)


def test_any_number_of_workers_gives_the_same_tables(sample, tmp_path):
    digests = {}
    for workers in (1, 2, 3):
        db = tmp_path / f"w{workers}.db"
        p, _summary = _run(db, sample, workers)
        # the pool was used where it could be: a test of one path twice would prove nothing
        assert bool(p.decoder.pool._procs) == (workers > 1)
        p.close()
        digests[workers] = _digests(db)
    assert digests[1].keys() >= {"canon_records", "canon_orders", "canon_order_lines", "canon_problems"}
    assert digests[2] == digests[1] and digests[3] == digests[1]


def test_redecoding_on_workers_gives_the_same_tables(sample, tmp_path):
    db = tmp_path / "log.db"
    p, _summary = _run(db, sample, 1)
    p.close()
    before = _digests(db)
    p = Pipeline(db, load_entrypoints=False, clock=lambda: FIXED_NOW, settings=Settings(decode_workers=2))
    done = p.decode(redecode=True)
    assert bool(p.decoder.pool._procs)
    p.project()
    p.close()
    assert done["orders"] > MIN_SLICE
    assert _digests(db) == before


def _in_a_worker(parent: int, act):
    """A validator plugin that does ``act()`` only in a decode worker, never in ``parent``."""

    class InWorker:
        __name__ = "in-worker"

        @hookimpl
        def register_validators(self):
            def check(record, ctx):
                if os.getpid() != parent:
                    act()
                return ()
            return [Validator(name="worker_only", stream="orders", codes={"x": "error"}, check=check)]

    return InWorker()


def _boom():
    raise RuntimeError("boom in a worker")


def test_a_plugin_raising_in_a_worker_fails_the_batch_whole(sample, tmp_path):
    db = tmp_path / "log.db"
    p = Pipeline(db, load_entrypoints=False, clock=lambda: FIXED_NOW, plugins=[_in_a_worker(os.getpid(), _boom)],
                 settings=Settings(decode_workers=2))
    p.ingest("catalog", sample / "product_catalog.json")
    before = p.log.last_offset()
    with pytest.raises(PluginError, match="'worker_only' from plugin 'in-worker'"):
        p.ingest("orders", sample / "orders_stream.jsonl")
    assert p.log.last_offset() == before  # nothing of the batch appended, nor checkpointed
    assert not p.decoder.pool._procs  # the pool was closed; the next batch starts afresh
    p.close()


def test_a_worker_that_dies_fails_the_batch_with_a_clear_error(sample, tmp_path):
    db = tmp_path / "log.db"
    p = Pipeline(db, load_entrypoints=False, clock=lambda: FIXED_NOW,
                 plugins=[_in_a_worker(os.getpid(), lambda: os._exit(3))], settings=Settings(decode_workers=2))
    p.ingest("catalog", sample / "product_catalog.json")
    before = p.log.last_offset()
    with pytest.raises(FastCommerceError, match=r"decode worker \(pid \d+\) died .*exit code 3"):
        p.ingest("orders", sample / "orders_stream.jsonl")
    assert p.log.last_offset() == before
    p.close()
    # the same input goes in whole with one worker, which the dying plugin never runs in
    p = Pipeline(db, load_entrypoints=False, clock=lambda: FIXED_NOW, settings=Settings(decode_workers=1))
    summary = p.ingest("orders", sample / "orders_stream.jsonl")
    assert sum(s.appended for s in summary.sources) > 2 * MIN_SLICE
    p.close()


def test_workers_setting_is_checked():
    with pytest.raises(ValueError, match="decode_workers"):
        Settings(decode_workers=0)
