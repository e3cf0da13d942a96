"""Crash tests: SIGKILL a real ingestion process at random points, re-run it until it
completes, and compare the log with one uninterrupted run.

The ingestion runs as a subprocess (``sys.executable -c DRIVER``) on a real SQLite file,
with a small batch size so there are many commits to land between. Kills are seeded:
some at a random delay after the start (import, migrations, the first batches), the
others a random few batches past the last committed checkpoint plus a random fraction of
a batch (in the middle of reading, inserting or committing).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

DRIVER = r"""
import json, logging, sys
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from fastcommerce.pipeline import Pipeline

mode, db, batch_size, target = sys.argv[1:5]
with Pipeline(db, load_entrypoints=False, batch_size=int(batch_size)) as p:
    summary = p.ingest("orders", target) if mode == "ingest" else p.run(target)
    print(json.dumps(summary.as_dict()))
"""

LOG_COLUMNS = ('"offset"', "stream", "content_hash", "natural_key", "event_time", "source", "line",
               "variant", "schema_version", "rejected", "reason", "raw")  # recorded_at: wall clock
CHECKPOINT_COLUMNS = ("source_id", "stream", "path", "byte_offset", "line", "fingerprint")

BASE_TIME = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)


# -- generated input ----------------------------------------------------------------------


def order_record(rng: random.Random, n: int) -> dict:
    when = BASE_TIME + timedelta(seconds=rng.randrange(0, 2 * 86400))
    items = [{"product_id": f"PROD-{rng.randrange(40):03d}", "quantity": rng.randint(1, 4),
              "unit_price": rng.randrange(100, 20000) / 100} for _ in range(rng.randint(1, 3))]
    address = {"country": rng.choice(["US", "CA", "GB"]), "state": rng.choice(["CA", "NY", "ON"]),
               "city": rng.choice(["San Francisco", "Toronto", "London"])}
    status = rng.choice(["pending", "confirmed", "shipped", "delivered", "cancelled", "refunded"])
    base = {"order_id": f"ORD-{n:06d}", "customer_id": f"CUST-{rng.randrange(5000)}"}
    variant = rng.random()
    if variant < 0.45:  # canonical web (and other non-mobile channels)
        return {**base, "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "channel": rng.choice(["web", "web", "store"]), "items": items,
                "shipping_address": address, "status": status}
    if variant < 0.65:  # legacy v1
        return {**base, "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "items": [{"product_id": i["product_id"], "quantity": i["quantity"], "price": i["unit_price"]}
                          for i in items], **address, "status": status}
    if variant < 0.85:  # mobile
        ist = timezone(timedelta(hours=5, minutes=30))
        return {"order_id": base["order_id"], "customerId": base["customer_id"], "channel": "mobile",
                "timestamp": when.astimezone(ist).isoformat(),
                "items": [{**i, "unit_price": f"{i['unit_price']:.2f}"} for i in items],
                "shipping_address": address, "status": status.upper()}
    total = sum(round(i["unit_price"] * 100) * i["quantity"] for i in items)
    return {"schema_version": 3, **base, "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "channel": "api",
            "items": [{"product_id": i["product_id"], "quantity": i["quantity"],
                       "price": {"amount": f"{i['unit_price']:.2f}", "currency": "USD"}} for i in items],
            "shipping_address": {**address, "country": address["country"].lower()},
            "status": status, "order_total": f"{total // 100}.{total % 100:02d}", "metadata": {"n": n},
            "coupon_code": rng.choice([None, "SAVE10"])}


MALFORMED = [b"", b"   ", b"{not json", b"[1, 2, 3]", b"null", b'"a string"', b"\xff\xfe\xfd",
             b'{"order_id": "ORD-1", "items": [', b"42", b"\t", b'{"schema_version": 9, "order_id": "X"}']


def orders_lines(n_lines: int, seed: int) -> list[bytes]:
    """``n_lines`` lines (without terminators): mostly orders of the four variants, with
    exact re-deliveries (near and far) and malformed or unknown-schema lines."""
    rng = random.Random(seed)
    templates = [order_record(rng, k) for k in range(min(n_lines, 2000))]  # then vary the order id
    lines: list[bytes] = []
    n = 0
    while len(lines) < n_lines:
        r = rng.random()
        if r < 0.12 and lines:
            lo = max(0, len(lines) - 50) if rng.random() < 0.5 else 0
            lines.append(lines[lo + int(rng.random() * (len(lines) - lo))])  # exact re-delivery
        elif r < 0.16:
            lines.append(rng.choice(MALFORMED) if rng.random() < 0.7
                         else rng.randbytes(rng.randint(1, 30)).replace(b"\n", b" ").rstrip(b"\r"))
        else:
            n += 1
            rec = {**templates[int(rng.random() * len(templates))], "order_id": f"ORD-{n:06d}"}
            lines.append(orjson.dumps(rec))
    return lines


def write_lines(path: Path, lines: list[bytes], seed: int) -> bytes:
    rng = random.Random(seed)
    content = b"".join(line + (b"\r\n" if rng.random() < 0.05 else b"\n") for line in lines)
    path.write_bytes(content)
    return content


# -- subprocess and log helpers ------------------------------------------------------------


@pytest.fixture
def processes():
    """Every process a test starts; any still running at the end is killed."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def driver(mode: str, db: Path, batch_size: int, target: Path, cwd: Path,
           started: list[subprocess.Popen]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, mode, str(db), str(batch_size), str(target)],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started.append(proc)
    return proc


def finish(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode(errors="replace")
    return json.loads(out)


def query(db: Path, sql: str, default=None):
    """A read on the live file from another connection; ``default`` if not readable yet."""
    if not db.exists():
        return default
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return default


def log_rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute(f'SELECT {", ".join(LOG_COLUMNS)} FROM event_log ORDER BY "offset"').fetchall()
    finally:
        con.close()
    src = LOG_COLUMNS.index("source")
    return [r[:src] + (os.path.basename(r[src]),) + r[src + 1:] for r in rows]


def assert_chained(db: Path) -> None:
    """The hash chain holds over every record a killed-and-resumed ingest left (issue 18):
    a kill between computing a batch's chain and committing it leaves no half chain."""
    from fastcommerce.chain import check

    con = sqlite3.connect(db)
    try:
        result = check(con, "event_log")
        assert result.ok and result.records == con.execute("SELECT COUNT(*) FROM event_log").fetchone()[0], result
    finally:
        con.close()


def checkpoint_rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM checkpoints ORDER BY source_id").fetchall()
    finally:
        con.close()


def kill_until_done(start: Callable[[], subprocess.Popen], progress: Callable[[], int], *, rng: random.Random,
                    kills: int, step: int, max_delay: float) -> tuple[dict, list[tuple[int, int]]]:
    """Start, SIGKILL, start again... ``kills`` times, then let the last run finish.

    Returns the completing run's summary and ``(progress before, progress after)`` of
    each run that was killed while it was running."""
    landed: list[tuple[int, int]] = []
    for attempt in range(kills):
        before = progress()
        proc = start()
        if attempt == 0 or rng.random() < 0.3:
            deadline = time.monotonic() + rng.uniform(0.0, max_delay)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.002)
        else:
            target = before + rng.randint(1, 6) * step
            give_up = time.monotonic() + 60
            while proc.poll() is None and progress() < target and time.monotonic() < give_up:
                time.sleep(0.003)
            time.sleep(rng.uniform(0.0, 0.03))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            landed.append((before, progress()))
        else:  # finished before the kill: nothing left to interrupt
            return finish(proc), landed
    return finish(start()), landed


# -- the tests ------------------------------------------------------------------------------

N_LINES = 60_000
BATCH = 500


@pytest.fixture(scope="module")
def big_orders(tmp_path_factory) -> tuple[Path, list[bytes]]:
    d = tmp_path_factory.mktemp("crash-input")
    lines = orders_lines(N_LINES, seed=20240115)
    path = d / "orders_stream.jsonl"
    write_lines(path, lines, seed=7)
    return path, lines


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_gives_the_same_log(big_orders, tmp_path, processes):
    src, lines = big_orders
    ref_db, crash_db = tmp_path / "reference.db", tmp_path / "crashed.db"

    reference = driver("ingest", ref_db, BATCH, src, tmp_path, processes)  # runs alongside the kills

    def progress() -> int:
        rows = query(crash_db, "SELECT line FROM checkpoints", default=[])
        return rows[0][0] if rows else 0

    rng = random.Random(1234)
    last, landed = kill_until_done(lambda: driver("ingest", crash_db, BATCH, src, tmp_path, processes), progress,
                                   rng=rng, kills=8, step=BATCH, max_delay=1.5)
    ref_src = finish(reference)["sources"][0]
    assert ref_src["read"] == N_LINES == ref_src["appended"] + ref_src["duplicates"]
    mid_run = [(b, a) for b, a in landed if 0 < a < N_LINES]
    assert len(landed) >= 5, f"only {len(landed)} kills landed while the process ran"
    assert len({a for _, a in mid_run}) >= 3, f"too few distinct mid-run kill points: {landed}"

    # the completing run resumed where the last killed one had committed
    summary = last["sources"][0]
    assert summary["resumed_from_line"] == landed[-1][1]
    assert summary["read"] == N_LINES - summary["resumed_from_line"]
    assert summary["read"] == summary["appended"] + summary["duplicates"]
    # each run's row counts what it committed, killed runs too: over all the runs, lines read
    # = appended + duplicates, as in the run that was never killed (the operations report
    # sums these rows)
    (totals,) = query(crash_db, "SELECT SUM(read), SUM(appended), SUM(duplicates), COUNT(*) FROM ingest_runs")
    assert totals[:3] == (N_LINES, ref_src["appended"], ref_src["duplicates"]), (totals, ref_src)
    assert totals[3] > 1  # the killed runs left rows of their own

    # the same log as the uninterrupted run, row for row (recorded_at aside)
    ref_rows, crash_rows = log_rows(ref_db), log_rows(crash_db)
    assert len(crash_rows) == len(ref_rows)
    for a, b in zip(ref_rows, crash_rows):
        assert a == b, (a[:2] + a[5:7], b[:2] + b[5:7])
    assert checkpoint_rows(crash_db) == checkpoint_rows(ref_db)
    assert checkpoint_rows(crash_db)[0][4] == N_LINES
    assert_chained(crash_db)

    # nothing lost, nothing twice: every distinct line once, at its first occurrence
    first_line: dict[bytes, int] = {}
    for n, line in enumerate(lines, start=1):
        first_line.setdefault(hashlib.sha256(line).digest(), n)
    got = [(r[2], r[6], r[11]) for r in crash_rows]  # hash, line, raw
    assert len(got) == len(first_line) == ref_src["appended"]
    assert {h for h, _, _ in got} == set(first_line)
    assert all(first_line[h] == ln and lines[ln - 1] == raw for h, ln, raw in got)
    assert [r[0] for r in crash_rows] == list(range(1, len(crash_rows) + 1))  # offsets: no gap, no reuse
    assert [r[6] for r in crash_rows] == sorted(r[6] for r in crash_rows)  # log order = file order

    # and one more run (resume) finds nothing to do
    again = finish(driver("ingest", crash_db, BATCH, src, tmp_path, processes))["sources"][0]
    assert (again["read"], again["appended"], again["skipped"]) == (0, 0, N_LINES)
    assert log_rows(crash_db) == ref_rows


# -- kill during ``run`` of the three sources -------------------------------------------------


def write_data_dir(d: Path, seed: int) -> int:
    """A small data directory with the contract's three file names; returns its record count."""
    rng = random.Random(seed)
    d.mkdir()
    products = [{"product_id": f"PROD-{i:03d}", "name": f"Product {i}", "category": rng.choice(["a", "b"]),
                 "price": rng.randrange(100, 20000) / 100, "reorder_point": rng.randint(5, 50)}
                for i in range(40)]
    (d / "product_catalog.json").write_text(json.dumps({"products": products}, indent=2))
    rows = ["warehouse_location,product_id,available_quantity,last_updated,reserved_quantity"]
    for _ in range(1000):
        when = BASE_TIME + timedelta(minutes=rng.randrange(0, 3 * 1440))
        rows.append(f"WH-{rng.randint(1, 3)},PROD-{rng.randrange(40):03d},{rng.randint(0, 500)},"
                    f"{when.strftime('%Y-%m-%dT%H:%M:%SZ')},{rng.randint(0, 9)}")
    rows += rows[1:60]  # re-delivered rows
    rows.append("WH-1,PROD-001,not-a-number,2024-01-01T00:00:00Z,0")
    rows.append("only,three,fields")
    (d / "inventory_updates.csv").write_text("\n".join(rows) + "\n")
    lines = orders_lines(3000, seed=seed)
    write_lines(d / "orders_stream.jsonl", lines, seed=seed)
    return len(products) + len(rows) - 1 + len(lines)


@pytest.mark.slow
def test_sigkill_during_run_of_three_sources_then_rerun_gives_the_same_log(tmp_path, processes):
    data = tmp_path / "data"
    n_records = write_data_dir(data, seed=99)
    ref_db, crash_db = tmp_path / "reference.db", tmp_path / "crashed.db"
    batch = 100

    reference = driver("run", ref_db, batch, data, tmp_path, processes)  # runs alongside the kills

    def progress() -> int:
        """Records in the log plus every projection's offset: both move as a run goes."""
        logged = query(crash_db, 'SELECT COALESCE(MAX("offset"), 0) FROM event_log', default=[(0,)])[0][0]
        projected = query(crash_db, "SELECT COALESCE(SUM(last_offset), 0) FROM projection_state",
                          default=[(0,)])[0][0]
        return logged + projected

    rng = random.Random(4321)
    last, landed = kill_until_done(lambda: driver("run", crash_db, batch, data, tmp_path, processes), progress,
                                   rng=rng, kills=6, step=batch, max_delay=0.8)  # a whole run takes about 2 s: a longer wait often outlives it
    assert len(landed) >= 3, f"only {len(landed)} kills landed while the process ran"
    totals = finish(reference)["totals"]
    assert sum(t["read"] for t in totals.values()) == n_records
    assert all(t["read"] == t["appended"] + t["duplicates"] for t in totals.values())
    assert all(t["read"] == t["appended"] + t["duplicates"] for t in last["totals"].values())

    assert log_rows(crash_db) == log_rows(ref_db)
    assert checkpoint_rows(crash_db) == checkpoint_rows(ref_db)
    assert_chained(crash_db)
    last_offset = log_rows(ref_db)[-1][0]
    state = query(crash_db, "SELECT name, version, last_offset FROM projection_state ORDER BY name")
    assert state == query(ref_db, "SELECT name, version, last_offset FROM projection_state ORDER BY name")
    assert state and all(off == last_offset for _, _, off in state)
