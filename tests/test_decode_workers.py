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


# -- decoding while the next batch is read (submit at read time, rows taken in the append) -----


def _canonical(db) -> dict[str, str]:
    return {t: d for t, d in _digests(db).items() if t.startswith("canon_") and t != "canon_decoders"}


def test_batches_decoded_while_the_next_is_read_give_the_same_tables(sample, tmp_path):
    digests = {}
    for workers in (1, 2):
        db = tmp_path / f"w{workers}.db"
        p = Pipeline(db, load_entrypoints=False, clock=lambda: FIXED_NOW, batch_size=MIN_SLICE + 300,
                     settings=Settings(decode_workers=workers))
        p.run(sample)
        assert p.decoder.can_submit("orders") == (workers > 1)
        p.close()
        digests[workers] = _digests(db)
    assert digests[2] == digests[1]


def _interloper(db, every: int, act):
    """A clock that, on every ``every``-th reading, lets another writer act on the log first.

    Ingest reads the clock when it reads a batch ahead, after the batch before was handed to
    the workers and before that one is appended: the other writer lands in between."""
    calls, main = [0], []

    def clock():
        calls[0] += 1
        if calls[0] % every == 0 and main and not main[0].log.conn.in_transaction:
            other = Pipeline(db, load_entrypoints=False, clock=lambda: FIXED_NOW, settings=Settings(decode_workers=1))
            act(other, calls[0])
            other.close()
        return FIXED_NOW

    clock.main = main  # type: ignore[attr-defined]  (the pipeline whose transactions it keeps out of)
    return clock


def _order(n: int) -> dict:
    return {"order_id": f"ORD-X{n:05d}", "customer_id": "CUST-1", "channel": "web", "status": "confirmed",
            "timestamp": "2024-01-16T10:00:00Z", "items": [{"product_id": "PROD-001", "quantity": 1,
                                                            "unit_price": 10.0}]}


@pytest.mark.parametrize("act", [
    pytest.param(lambda other, n: other.ingest_records("orders", [_order(10 * n + i) for i in range(3)]), id="orders"),
    pytest.param(lambda other, n: other.ingest_records("catalog", [
        {"product_id": "PROD-001", "name": f"Renamed {n}", "category": "x", "price": 10.0}]), id="catalog"),
])
def test_another_writer_appending_between_read_and_append_leaves_rows_a_redecode_agrees_with(
        sample, tmp_path, act):
    db = tmp_path / "log.db"
    clock = _interloper(db, 2, act)
    p = Pipeline(db, load_entrypoints=False, batch_size=MIN_SLICE + 300, settings=Settings(decode_workers=2),
                 clock=clock)
    clock.main.append(p)
    p.ingest("catalog", sample / "product_catalog.json")
    p.ingest("orders", sample / "orders_stream.jsonl")
    p.close()
    conn = sqlite3.connect(db)
    offsets = [o for (o,) in conn.execute('SELECT "offset" FROM event_log ORDER BY 1')]
    recorded = [o for (o,) in conn.execute('SELECT "offset" FROM canon_records ORDER BY 1')]
    landed = conn.execute("SELECT COUNT(*) FROM event_log WHERE source = '<records>'").fetchone()[0]
    conn.close()
    assert recorded == offsets  # every record has its rows, at its own offset
    assert landed >= 3  # the other writer did land, more than once
    written = _canonical(db)
    p = Pipeline(db, load_entrypoints=False, clock=lambda: FIXED_NOW, settings=Settings(decode_workers=1))
    p.decode(redecode=True)
    p.close()
    assert _canonical(db) == written


def test_rows_keyed_by_batch_index_move_to_the_offsets_of_the_records_appended():
    from fastcommerce.decoding import at_offsets

    def tables(*indices):
        return ([(i, "orders", 1, 0, None, "2024-01-20", None) for i in indices],
                [(i, 0, "x", "error", "why", "v") for i in indices if i == 2], [], [], [], [])

    # nothing left out: every row shifts by the first offset
    moved = at_offsets(tables(0, 1, 2), [0, 1, 2], 10, 3)
    assert [r[0] for r in moved.records] == [10, 11, 12] and moved.problems == [(12, 0, "x", "error", "why", "v")]
    # record 1 was a duplicate: its rows go, the ones after it close up
    moved = at_offsets(tables(0, 1, 2), [0, 2], 10, 3)
    assert [r[0] for r in moved.records] == [10, 11] and moved.problems == [(11, 0, "x", "error", "why", "v")]
    # the last record was a duplicate: a prefix kept is not "nothing left out"
    moved = at_offsets(tables(0, 1, 2), [0, 1], 10, 3)
    assert [r[0] for r in moved.records] == [10, 11] and moved.problems == []


_HOLD_WORKERS = """
import sys, time
from fastcommerce import Pipeline
from fastcommerce.decode_workers import DecodePool
pipeline = Pipeline(sys.argv[1], load_entrypoints=False)
pool = DecodePool(pipeline.reader, 2)
pool._start(2)
print(" ".join(str(proc.pid) for proc, _pipe, _held in pool._procs), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
def test_workers_end_when_their_parent_is_killed(tmp_path):
    """A SIGKILLed ingest leaves no decode worker behind (each closes the parent's pipe ends a
    fork copied into it, so the parent's death ends its recv)."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", _HOLD_WORKERS, str(tmp_path / "log.db")],
                            stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if _alive(pid)]
