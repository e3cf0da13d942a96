"""``ingest --follow`` under trouble: a sink that does not answer, projections left behind,
a writer still on a rotated file, SIGTERM, a followed catalog, a path that is no file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from fastcommerce import Pipeline
from fastcommerce.testing import wait_for

ROOT = Path(__file__).resolve().parents[1]
CATALOG = [{"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 10.00}]


def order(n: int) -> bytes:
    return orjson.dumps({
        "order_id": f"ORD-{n}", "customer_id": "CUST-1", "timestamp": f"2024-01-15T10:{n % 60:02d}:00Z",
        "channel": "web", "items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": 10}],
        "shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": "confirmed",
    }) + b"\n"


def revenue_orders(db) -> int:
    with Pipeline(db, load_entrypoints=False) as p:
        rows = p.report("revenue", catch_up=False, start="2024-01-15", end="2024-01-15").rows
    return sum(r["orders"] for r in rows)


def query(db, sql, params=()):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


@pytest.fixture
def shop(tmp_path):
    db = tmp_path / "f.db"
    catalog = tmp_path / "catalog.json"
    catalog.write_bytes(orjson.dumps(CATALOG))
    with Pipeline(db, load_entrypoints=False) as p:
        p.ingest("catalog", catalog)
        p.project()
    return db


class Followers:
    """Starts ``fastcommerce ingest --follow`` subprocesses and stops whatever is left."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path, self.procs = tmp_path, []

    def start(self, db: Path, stream: str, path: Path, *options: str, config: Path | None = None):
        cmd = [sys.executable, "-m", "fastcommerce.cli", "--db", str(db), "--log-json", "-v"]
        if config is not None:
            cmd += ["--config", str(config)]
        cmd += ["ingest", stream, str(path), "--follow", "--poll", "0.05", *options]
        env = {**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": "", "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(cmd, cwd=self.tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        proc.err = []  # its stderr lines so far, read on a thread of their own

        def read() -> None:
            for line in proc.stderr:
                proc.err.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        proc.reader = reader
        self.procs.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGINT) -> tuple[int, str]:
        proc.send_signal(sig)
        proc.wait(timeout=15)
        proc.reader.join(timeout=5)
        return proc.returncode, b"".join(proc.err).decode()

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def followers(tmp_path):
    f = Followers(tmp_path)
    yield f
    f.close()


class Blackhole:
    """A web server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            while True:
                self.conns.append(self.sock.accept()[0])
        except OSError:
            pass

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept: new connections are refused
        self.sock.close()
        for c in self.conns:
            c.close()


# -- 1. alert evaluation never delays new lines ------------------------------------------


def test_a_webhook_that_does_not_answer_does_not_delay_new_lines(tmp_path, shop, followers):
    hole = Blackhole()
    config = tmp_path / "wh.toml"
    config.write_text(f'[sinks]\nwebhook_url = "http://127.0.0.1:{hole.port}/hook"\n'
                      "webhook_timeout_seconds = 4.0\nwebhook_retries = 0\n")
    live = tmp_path / "live.jsonl"
    live.write_bytes(b"")
    proc = followers.start(shop, "orders", live, config=config)  # the first evaluation is at once
    try:
        append(live, b"".join(b"not json %d\n" % i for i in range(60)))  # a bad-data burst: alerts
        wait_for(lambda: query(shop, "SELECT COUNT(*) FROM event_log WHERE stream = 'orders'")[0][0] == 60)
        # the alerts are raised (so the sink is now being waited for) ...
        wait_for(lambda: query(shop, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'alerts'")[0][0]
                 and query(shop, "SELECT COUNT(*) FROM alerts WHERE rule = 'code_rate' "
                                 "AND key = 'orders/malformed_record'")[0][0] == 1, timeout=10)
        # ... and a new line still reaches the report within a second
        append(live, order(1))
        elapsed = wait_for(lambda: revenue_orders(shop) == 1)
        assert elapsed < 1.0, f"took {elapsed:.2f}s"
    finally:
        hole.close()  # the sink fails at once now: the follower stops without waiting
    rc, err = followers.stop(proc)
    assert rc == 0, err
    assert "alert_delivery_failed" in err, err


# -- 2. projections are caught up even when nothing new arrives --------------------------


def test_projections_left_behind_are_caught_up_at_start_and_while_following(tmp_path, shop, followers):
    live = tmp_path / "live.jsonl"
    live.write_bytes(order(1) + order(2))
    with Pipeline(shop, load_entrypoints=False) as p:  # an earlier follower stopped before projecting
        p.ingest("orders", live)
    assert revenue_orders(shop) == 0
    proc = followers.start(shop, "orders", live)
    wait_for(lambda: revenue_orders(shop) == 2, timeout=5)  # nothing new in the file
    with Pipeline(shop, load_entrypoints=False) as p:  # another process appends, and does not project
        p.ingest_records("orders", [order(3)])
    wait_for(lambda: revenue_orders(shop) == 3, timeout=5)
    rc, err = followers.stop(proc)
    assert rc == 0, err


# -- 3. a writer still on the rotated file loses nothing ---------------------------------


def test_lines_written_to_the_rotated_file_after_the_switch_are_read(tmp_path, shop, followers):
    live = tmp_path / "live.jsonl"
    live.write_bytes(order(1))
    proc = followers.start(shop, "orders", live)
    wait_for(lambda: revenue_orders(shop) == 1)
    rotated = Path(os.path.realpath(tmp_path)) / "live.jsonl.1"
    with open(live, "ab", buffering=0) as writer:  # a writer that keeps its file open across rotation
        writer.write(order(2) + order(3)[:25])  # the last line half written
        os.rename(live, rotated)  # logrotate `create`: rename, then a new empty file
        live.write_bytes(order(10))
        wait_for(lambda: revenue_orders(shop) == 3)  # the follower has switched to the new file
        writer.write(order(3)[25:] + order(4))  # the writer has not reopened yet
        time.sleep(0.5)
        writer.write(order(5))
    wait_for(lambda: revenue_orders(shop) == 6, timeout=5)
    append(live, order(11))
    wait_for(lambda: revenue_orders(shop) == 7, timeout=5)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    assert query(shop, "SELECT COUNT(*) FROM event_log WHERE rejected IS NOT NULL") == [(0,)]
    # the old file's records read after the switch carry its own name and lines, and its
    # checkpoint is where they left off: ingesting it again reads nothing new
    rows = query(shop, "SELECT natural_key, source, line FROM event_log WHERE natural_key IN "
                       "('ORD-3', 'ORD-4', 'ORD-5') ORDER BY line")
    assert rows == [("ORD-3", str(rotated), 3), ("ORD-4", str(rotated), 4), ("ORD-5", str(rotated), 5)]
    with Pipeline(shop, load_entrypoints=False) as p:
        again = p.ingest("orders", rotated).sources[0]
    assert (again.read, again.skipped) == (0, 5)


def test_lines_written_and_rotated_away_while_no_follower_ran_are_read_on_restart(tmp_path, shop, followers):
    live = tmp_path / "live.jsonl"
    live.write_bytes(order(1))
    proc = followers.start(shop, "orders", live)
    wait_for(lambda: revenue_orders(shop) == 1)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    append(live, order(2) + order(3))  # written while no follower runs ...
    rotated = Path(os.path.realpath(tmp_path)) / "live.jsonl.1"
    os.rename(live, rotated)  # ... then rotated away
    live.write_bytes(order(10))
    proc = followers.start(shop, "orders", live)
    wait_for(lambda: revenue_orders(shop) == 4, timeout=8)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    assert "rotated_file_found" in err
    assert query(shop, "SELECT natural_key, source, line FROM event_log WHERE natural_key IN ('ORD-2', 'ORD-3') "
                       "ORDER BY line") == [("ORD-2", str(rotated), 2), ("ORD-3", str(rotated), 3)]
    assert query(shop, "SELECT COUNT(*) FROM event_log") == [(5,)]  # the catalog entry and four orders


def test_a_follower_stopped_within_a_rotation_grace_period_reads_the_rest_when_restarted(tmp_path, shop, followers):
    live = tmp_path / "live.jsonl"
    live.write_bytes(order(1))
    proc = followers.start(shop, "orders", live, "--rotation-grace", "60")
    wait_for(lambda: revenue_orders(shop) == 1)
    rotated = Path(os.path.realpath(tmp_path)) / "live.jsonl.1"
    with open(live, "ab", buffering=0) as writer:
        os.rename(live, rotated)
        live.write_bytes(order(10))
        wait_for(lambda: revenue_orders(shop) == 2)  # switched; the old file is read for 60 s
        rc, err = followers.stop(proc)  # ... but the follower stops now
        assert rc == 0, err
        writer.write(order(2))  # the writer has not reopened yet
    proc = followers.start(shop, "orders", live)
    wait_for(lambda: revenue_orders(shop) == 3, timeout=8)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    assert query(shop, "SELECT source FROM event_log WHERE natural_key = 'ORD-2'") == [(str(rotated),)]


def test_copytruncate_while_following_loses_no_line(tmp_path, shop, followers):
    live = tmp_path / "live.jsonl"
    live.write_bytes(order(1))
    # polls 3 s apart: the append, the copy and the truncation below fall between two
    proc = followers.start(shop, "orders", live, "--poll", "3")
    wait_for(lambda: revenue_orders(shop) == 1)
    append(live, order(2))  # not read yet when ...
    shutil.copyfile(live, tmp_path / "live.jsonl.1")  # ... logrotate copies the file
    with open(live, "r+b") as fh:  # ... and empties it in place
        fh.truncate(0)
    append(live, order(3))
    wait_for(lambda: revenue_orders(shop) == 3, timeout=12)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    assert query(shop, "SELECT source FROM event_log WHERE natural_key = 'ORD-2'") == [
        (os.path.realpath(tmp_path / "live.jsonl.1"),)]


def _logrotate(live: Path, *, copytruncate: bool, keep: int = 9) -> None:
    """logrotate's numbered scheme: live.jsonl.N -> N+1, ..., then live.jsonl -> .1 (renamed,
    and a new empty file created; or copied and emptied in place with copytruncate)."""
    for n in range(keep - 1, 0, -1):
        older = live.with_name(f"{live.name}.{n}")
        if older.exists():
            os.rename(older, live.with_name(f"{live.name}.{n + 1}"))
    if copytruncate:
        shutil.copyfile(live, live.with_name(f"{live.name}.1"))
        with open(live, "r+b") as fh:
            fh.truncate(0)
    else:
        os.rename(live, live.with_name(f"{live.name}.1"))
        live.write_bytes(b"")


@pytest.mark.parametrize("copytruncate", [False, True], ids=["create", "copytruncate"])
def test_numbered_rotations_within_the_grace_period_read_every_line_once(tmp_path, shop, followers, copytruncate):
    live = tmp_path / "live.jsonl"
    live.write_bytes(b"")
    proc = followers.start(shop, "orders", live, "--rotation-grace", "30")  # every rotated file stays open
    n = 0
    for _rotation in range(4):
        for _line in range(3):
            n += 1
            append(live, order(n))
        wait_for(lambda n=n: revenue_orders(shop) == n)  # read before the rotation
        append(live, order(n + 1))  # ... and one line not read yet when the rotation comes
        n += 1
        _logrotate(live, copytruncate=copytruncate)
        time.sleep(0.2)
    wait_for(lambda: revenue_orders(shop) == n, timeout=10)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    assert query(shop, "SELECT COUNT(*), COUNT(DISTINCT natural_key) FROM event_log WHERE stream = 'orders'") == [(n, n)]
    assert query(shop, "SELECT SUM(duplicates) FROM ingest_runs") == [(0,)]


def test_a_followed_symlink_to_a_file_named_like_a_rotation_reads_each_line_once(tmp_path, shop, followers):
    target = tmp_path / "live.jsonl-20240115"
    target.write_bytes(order(1))
    live = tmp_path / "live.jsonl"
    live.symlink_to(target.name)
    proc = followers.start(shop, "orders", live)
    wait_for(lambda: revenue_orders(shop) == 1)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    append(target, order(2))  # written while no follower runs
    proc = followers.start(shop, "orders", live)  # a restart looks for rotated files
    wait_for(lambda: revenue_orders(shop) == 2)
    append(target, order(3))
    wait_for(lambda: revenue_orders(shop) == 3)
    time.sleep(0.5)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    assert query(shop, "SELECT SUM(duplicates) FROM ingest_runs") == [(0,)]
    assert query(shop, "SELECT COUNT(*) FROM event_log WHERE stream = 'orders'") == [(3,)]
    assert "file_rotated" not in err and "rotated_file_found" not in err


def test_a_rotated_file_deleted_while_its_writer_still_appends_is_read_to_the_end(tmp_path, shop, followers):
    live = tmp_path / "live.jsonl"
    live.write_bytes(order(1))
    proc = followers.start(shop, "orders", live)
    wait_for(lambda: revenue_orders(shop) == 1)
    with open(live, "ab", buffering=0) as writer:
        os.rename(live, tmp_path / "live.jsonl.1")
        live.write_bytes(order(10))
        wait_for(lambda: revenue_orders(shop) == 2)
        os.unlink(tmp_path / "live.jsonl.1")  # rotated and removed (no delaycompress)
        writer.write(order(2) + order(3)[:25])  # ... its last line never finished
    wait_for(lambda: revenue_orders(shop) == 3, timeout=5)
    # a finished file's last line is read without its newline once the file has been quiet
    wait_for(lambda: query(shop, "SELECT COUNT(*) FROM event_log WHERE rejected = 'malformed_record'")
             == [(1,)], timeout=8)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    # read after the switch, under the name the file had when it was rotated
    assert query(shop, "SELECT source FROM event_log WHERE natural_key = 'ORD-2'") == [
        (os.path.realpath(tmp_path / "live.jsonl.1"),)]


# -- 4. SIGTERM stops the follower like Ctrl-C -------------------------------------------


def test_sigterm_stops_the_follower_cleanly(tmp_path, shop, followers):
    live = tmp_path / "live.jsonl"
    live.write_bytes(order(1))
    proc = followers.start(shop, "orders", live)
    wait_for(lambda: revenue_orders(shop) == 1)
    rc, err = followers.stop(proc, signal.SIGTERM)
    assert rc == 0, err
    assert "stopped following" in err
    # the database was closed: the last connection checkpointed the WAL and removed it
    assert not Path(f"{shop}-wal").exists()


# -- 5. a followed catalog is read again only when it changes -----------------------------


def test_a_followed_catalog_is_read_again_only_when_it_changes(tmp_path, shop, followers):
    catalog = tmp_path / "catalog.json"
    proc = followers.start(shop, "catalog", catalog)
    runs = "SELECT COUNT(*), SUM(duplicates) FROM ingest_runs WHERE stream = 'catalog'"
    wait_for(lambda: query(shop, runs)[0][0] == 2)  # the fixture's run, and the follower's first read
    time.sleep(1.0)
    assert query(shop, runs) == [(2, 1)]  # 20 polls later: not read again
    catalog.write_bytes(orjson.dumps([*CATALOG, {"product_id": "PROD-002", "name": "Cup", "category": "home",
                                                 "price": 5.00}]))
    wait_for(lambda: query(shop, "SELECT COUNT(*) FROM event_log WHERE natural_key = 'PROD-002'") == [(1,)],
             timeout=5)
    time.sleep(0.5)
    assert query(shop, runs)[0][0] == 3
    rc, err = followers.stop(proc)
    assert rc == 0, err


# -- 6. a path that is not a file ---------------------------------------------------------


def test_following_a_directory_is_a_clear_error(tmp_path, shop):
    adir = tmp_path / "adir"
    adir.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "fastcommerce.cli", "--db", str(shop), "ingest", "orders", str(adir), "--follow"],
        cwd=tmp_path, env={**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": "", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == f"fastcommerce: error: {adir}: not a regular file"


def test_a_missing_file_is_waited_for_and_said_so(tmp_path, shop, followers):
    live = tmp_path / "later.jsonl"
    proc = followers.start(shop, "orders", live)
    wait_for(lambda: any(b"waiting for it to appear" in line for line in proc.err))
    live.write_bytes(order(1))
    wait_for(lambda: revenue_orders(shop) == 1, timeout=5)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    assert f"fastcommerce: {live}: no such file yet; waiting for it to appear" in err


def test_a_catalog_that_appears_while_waited_for_is_read_once_it_has_settled(tmp_path, shop):
    """Polls driven by the follower's own ``sleep``: the file appears half-written between two
    polls and is completed before the next. A catalog is read only once it has stayed the
    same for a poll, so the half-written one is never read. (A writer that pauses longer
    than a poll should write to another name and rename.)"""
    from fastcommerce.follow import follow

    catalog = tmp_path / "later-catalog.json"
    first = orjson.dumps({"product_id": "PROD-007", "name": "Pen", "category": "office", "price": 1.00})
    second = orjson.dumps({"product_id": "PROD-008", "name": "Ink", "category": "office", "price": 2.00})
    steps = [lambda: catalog.write_bytes(b"[" + first + b",\n"),  # appears, still being written
             lambda: append(catalog, second + b"]"),  # finished
             lambda: None, lambda: None]

    def sleep(_seconds: float) -> None:
        steps.pop(0)()

    with Pipeline(shop, load_entrypoints=False) as p:
        follow(p, "catalog", catalog, sleep=sleep, should_stop=lambda: not steps)
        rows = p.log.conn.execute("SELECT natural_key, rejected FROM event_log WHERE source = ? ORDER BY \"offset\"",
                                  [str(catalog)]).fetchall()
    assert rows == [("PROD-007", None), ("PROD-008", None)]


def test_a_csv_row_with_a_quoted_line_break_written_while_followed_is_one_row(tmp_path, shop, followers):
    inv = tmp_path / "inv.csv"
    inv.write_bytes(b'product_id,available_quantity,warehouse_location,last_updated\nPROD-001,5,"WH\n')
    proc = followers.start(shop, "inventory", inv)
    time.sleep(1.0)  # five polls with the row still open in its quotes
    append(inv, b'A",2024-01-15T09:00:00Z\n')
    stock = "SELECT rejected, raw FROM event_log WHERE stream = 'inventory' ORDER BY \"offset\" DESC LIMIT 1"
    wait_for(lambda: query(shop, stock) and b"WH\\nA" in query(shop, stock)[0][1], timeout=5)
    rc, err = followers.stop(proc)
    assert rc == 0, err
    assert query(shop, "SELECT COUNT(*) FROM event_log WHERE stream = 'inventory' AND rejected IS NOT NULL") == [(0,)]


def test_two_rotations_within_the_grace_period_read_each_file_once(tmp_path, shop):
    """``live`` -> ``live.1``, then ``live.1`` -> ``live.2`` and ``live`` -> ``live.1`` again,
    each writer still appending to its old file: the two retired files must not share a
    checkpoint (they did: both went by ``live.1``, and were read again from the start at
    every poll, counted as duplicates)."""
    from fastcommerce.follow import follow

    live = tmp_path / "live.jsonl"
    one, two = tmp_path / "live.jsonl.1", tmp_path / "live.jsonl.2"
    live.write_bytes(order(1) + order(2))
    a = live.open("ab")  # writer of the first file

    def first_rotation() -> None:
        live.rename(one)
        live.write_bytes(order(3))
        a.write(order(4))
        a.flush()

    def second_rotation() -> None:
        one.rename(two)
        live.rename(one)
        live.write_bytes(order(5))
        a.write(order(6))
        a.flush()
        with one.open("ab") as b:
            b.write(order(7))

    steps = [first_rotation, second_rotation] + [lambda: None] * 5

    def sleep(_seconds: float) -> None:
        steps.pop(0)()

    try:
        with Pipeline(shop, load_entrypoints=False) as p:
            follow(p, "orders", live, sleep=sleep, should_stop=lambda: not steps, rotation_grace=3600)
    finally:
        a.close()
    assert revenue_orders(shop) == 7
    assert query(shop, "SELECT COUNT(*) FROM event_log WHERE stream = 'orders'") == [(7,)]
    assert query(shop, "SELECT SUM(duplicates) FROM ingest_runs WHERE stream = 'orders'") == [(0,)]
