"""The JetStream source as a user meets it, against a real NATS server: good and bad orders
published, ingested (drained and followed), quarantined with their stream sequence,
resumed from the checkpoint, and a consumer SIGKILLed at random points that still ends
with the log one clean run writes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import fastcommerce_nats
import orjson
import pytest

from fastcommerce import Pipeline
from fastcommerce.errors import SourceError
from fastcommerce.testing import wait_for

DAY = (datetime.now(UTC) - timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
PRICES = {f"PROD-{n:03d}": Decimal(f"{n * 3}.{n:02d}") for n in range(1, 11)}
REVENUE_STATUSES = ("confirmed", "shipped", "delivered")


def write_catalog(path: Path) -> Path:
    path.write_text(json.dumps([{"product_id": p, "name": f"Product {p}", "category": "Home", "price": float(price)}
                                for p, price in PRICES.items()]))
    return path


def order(rng: random.Random, n: int) -> dict:
    items = [{"product_id": rng.choice(list(PRICES)), "quantity": rng.randint(1, 3)} for _ in range(rng.randint(1, 3))]
    return {"order_id": f"ORD-{n:06d}", "customer_id": f"CUST-{rng.randrange(50)}",
            "timestamp": (DAY + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"), "channel": "web",
            "items": [{**i, "unit_price": float(PRICES[i["product_id"]])} for i in items],
            "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"},
            "status": rng.choice(["pending", "confirmed", "shipped", "delivered", "cancelled"])}


def revenue_of(orders: list[dict]) -> Decimal:
    return sum((Decimal(str(i["unit_price"])) * i["quantity"] for o in orders if o["status"] in REVENUE_STATUSES
                for i in o["items"]), Decimal(0))


BAD = [b"{not json", b"[1, 2]", b"   ", b'{"schema_version": 9, "order_id": "X"}',
       orjson.dumps({"order_id": "ORD-BAD", "customer_id": "C", "timestamp": "2024-01-15T10:00:00Z",
                     "channel": "web", "items": [], "status": "confirmed"})]


def pipeline(db: Path) -> Pipeline:
    return Pipeline(db, load_entrypoints=False, plugins=[fastcommerce_nats])


def test_good_and_bad_orders_are_appended_quarantined_with_their_sequence_and_counted(tmp_path, jetstream):
    rng = random.Random(1)
    good = [order(rng, n) for n in range(1, 201)]
    bodies = [orjson.dumps(o) for o in good]
    bad_at = sorted(rng.sample(range(len(bodies) + len(BAD)), len(BAD)))
    for at, body in zip(bad_at, BAD, strict=True):
        bodies.insert(at, body)
    bodies.append(bodies[3])  # an exact re-delivery: a duplicate, never appended twice
    seqs = jetstream.publish(bodies)
    with pipeline(tmp_path / "log.db") as p:
        p.ingest("catalog", write_catalog(tmp_path / "catalog.json"))
        summary = p.ingest_url("orders", jetstream.url)
        totals = summary.totals()["orders"]
        assert (totals["read"], totals["appended"], totals["duplicates"]) == (len(bodies), len(bodies) - 1, 1)
        quarantined = p.db.execute(
            "SELECT l.source, l.line FROM canon_records r JOIN event_log l ON l.\"offset\" = r.\"offset\" "
            "WHERE r.quarantined = 1 AND r.stream = 'orders' ORDER BY line").fetchall()
        assert quarantined == [(jetstream.url, seqs[at]) for at in bad_at]
        quality = p.report("quality")
        assert {r["line"] for r in quality.rows} >= {seqs[at] for at in bad_at}
        revenue = p.report("revenue", on=DAY.date())
        assert Decimal(str(revenue.summary["revenue"])) == revenue_of(good)
        cp = next(c for c in p.log.checkpoints() if c.stream == "orders")
        assert (cp.path, cp.line) == (jetstream.url, seqs[-1])


def test_a_second_run_reads_only_what_was_published_since_and_a_recreated_stream_is_read_again(tmp_path, jetstream):
    rng = random.Random(2)
    first, later = [order(rng, n) for n in range(1, 51)], [order(rng, n) for n in range(51, 81)]
    jetstream.publish(orjson.dumps(o) for o in first)
    db = tmp_path / "log.db"
    with pipeline(db) as p:
        assert p.ingest_url("orders", jetstream.url).totals()["orders"]["appended"] == 50
        jetstream.publish(orjson.dumps(o) for o in later)
        again = p.ingest_url("orders", jetstream.url).sources[0]
        assert (again.skipped, again.read, again.appended) == (50, 30, 30)
        assert p.ingest_url("orders", jetstream.url).sources[0].read == 0
        again = p.ingest_url("orders", jetstream.url, resume=False).sources[0]  # --no-resume: from the start
        assert (again.read, again.appended, again.duplicates) == (80, 0, 80)
        # deleted and created again: sequences restart, so the checkpoint is not resumed from
        jetstream.delete()
        jetstream.create()
        jetstream.publish(orjson.dumps(o) for o in first[:10])
        replaced = p.ingest_url("orders", jetstream.url).sources[0]
        assert (replaced.read, replaced.appended, replaced.duplicates) == (10, 0, 10)
        assert p.log.counts()["orders"]["records"] == 80


def test_a_consumer_the_server_deleted_is_made_again_where_it_was(tmp_path, jetstream, monkeypatch):
    """The server deletes an idle ephemeral consumer (a follower busy projecting for minutes)
    and a restarted one has none: the source notices the silence and starts a new consumer
    after the last message it delivered, losing and doubling nothing."""
    from fastcommerce_nats import jetstream as module

    monkeypatch.setattr(module, "CONSUMER_CHECK", 0.5)
    rng = random.Random(5)
    first, later = [orjson.dumps(order(rng, n)) for n in range(1, 11)], [orjson.dumps(order(rng, n)) for n in range(11, 21)]
    jetstream.publish(first)
    source = module.JetStreamSource(jetstream.url)
    try:
        got = list(source.fetch(0, 100, 2.0))
        assert [m.position for m in got] == list(range(1, 11))

        async def delete_consumers(js):
            for info in await js.consumers_info(jetstream.name):
                await js.delete_consumer(jetstream.name, info.name)
        jetstream.run(delete_consumers)
        jetstream.publish(later)
        deadline = time.monotonic() + 30
        while len(got) < 20 and time.monotonic() < deadline:
            got += source.fetch(got[-1].position, 100, 0.2)
        assert [m.body for m in got] == first + later
    finally:
        source.close()


def test_a_missing_stream_or_server_is_one_clear_error(tmp_path, jetstream):
    with pipeline(tmp_path / "log.db") as p:
        with pytest.raises(SourceError, match="no JetStream stream 'nosuch'"):
            p.ingest_url("orders", f"{jetstream.server}/nosuch")
        with pytest.raises(SourceError, match="cannot connect"):
            p.ingest_url("orders", "nats://127.0.0.1:9/orders")
        with pytest.raises(SourceError, match="no loaded plugin reads redis://"):
            p.ingest_url("orders", "redis://127.0.0.1:6379/0/orders")


def _cli(db: Path, *args: str, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "fastcommerce.cli", "--db", str(db), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_cli_drains_then_follow_keeps_the_revenue_report_current(tmp_path, jetstream):
    rng = random.Random(3)
    db = tmp_path / "log.db"
    env = {**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": "nats"}
    with pipeline(db) as p:
        p.ingest("catalog", write_catalog(tmp_path / "catalog.json"))
    first = [order(rng, n) for n in range(1, 21)]
    jetstream.publish(orjson.dumps(o) for o in first)
    out, err = _cli(db, "ingest", "orders", jetstream.url, "--format", "json", env=env).communicate(timeout=120)
    assert json.loads(out)["totals"]["orders"]["appended"] == 20, err
    follower = _cli(db, "ingest", "orders", jetstream.url, "--follow", "--poll", "0.1", env=env)
    try:
        later = [order(rng, n) for n in range(21, 61)]
        for k in range(0, len(later), 10):  # in four bursts: several cycles of the follower
            jetstream.publish(orjson.dumps(o) for o in later[k:k + 10])
            time.sleep(0.3)
        expected = revenue_of(first + later)

        def reflected() -> bool:
            with Pipeline(db, load_entrypoints=False) as reader:
                got = reader.report("revenue", catch_up=False, on=DAY.date()).summary["revenue"]
            return Decimal(str(got)) == expected

        wait_for(reflected, timeout=60)

        def written() -> tuple:
            with sqlite3.connect(db) as conn:
                return (conn.execute("SELECT COUNT(*), MAX(finished_at) FROM ingest_runs").fetchone(),
                        conn.execute("SELECT line, updated_at FROM checkpoints WHERE path = ?",
                                     [jetstream.url]).fetchone())

        with sqlite3.connect(db) as conn:  # the drain's run, and the follower's one run over its cycles
            runs = conn.execute("SELECT read, appended FROM ingest_runs WHERE source_id = ? ORDER BY id",
                                [f"orders:{jetstream.url}"]).fetchall()
        assert runs == [(20, 20), (40, 40)]
        idle = written()
        time.sleep(1.0)  # five idle cycles of --poll 0.1 ... and more
        assert written() == idle  # an idle follower waits on the broker and writes nothing
    finally:
        follower.send_signal(signal.SIGTERM)
        _out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert "stopped following" in err


# -- crash: SIGKILL the consumer at random points ---------------------------------------------

DRIVER = r"""
import json, logging, sys
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
import fastcommerce_nats
from fastcommerce.pipeline import Pipeline

db, url = sys.argv[1:3]
with Pipeline(db, load_entrypoints=False, plugins=[fastcommerce_nats], batch_size=40) as p:
    print(json.dumps(p.ingest_url("orders", url).as_dict()))
"""

LOG_COLUMNS = '"offset", stream, content_hash, natural_key, event_time, source, line, variant, rejected, raw'


def _log_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f'SELECT {LOG_COLUMNS} FROM event_log ORDER BY "offset"').fetchall()


def _checkpoint(db: Path) -> tuple | None:
    """The one checkpoint; ``None`` before there is one (or its table: killed while creating it)."""
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT source_id, path, byte_offset, line, fingerprint FROM checkpoints").fetchone()
        except sqlite3.OperationalError:
            return None


@pytest.mark.slow
def test_a_consumer_killed_at_random_points_resumes_to_the_log_of_a_clean_run(tmp_path, jetstream):
    """Published in 20 parts; after each, a consumer is started and SIGKILLed at a random
    moment: every other one while it starts (connects, opens the log; the delay scales with
    this machine's start-up time, measured first), the others a random part of a batch after
    its first commit of the part, while it reads, inserts or commits. Then one run to the end, and a clean run of everything
    into a fresh file: the logs and checkpoints must be identical."""
    rng = random.Random(16)
    bodies = [orjson.dumps(order(rng, n)) for n in range(1, 6001)]
    for _ in range(300):  # re-deliveries and bad messages among them
        bodies.insert(rng.randrange(len(bodies)), rng.choice([*BAD, rng.choice(bodies)]))
    clean, crashed = tmp_path / "clean.db", tmp_path / "crashed.db"

    def consumer(db: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", DRIVER, str(db), jetstream.url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def timed(db: Path) -> float:
        started = time.monotonic()
        assert consumer(db).wait(timeout=300) == 0
        return time.monotonic() - started

    parts = 20
    part = len(bodies) // parts
    startup = timed(tmp_path / "calibration-empty.db")  # start-up and an empty drain
    jetstream.publish(bodies[:part])
    work = max(timed(tmp_path / "calibration-part.db") - startup, 0.05)  # one part's messages
    kills, mid_drain = 0, 0
    for k in range(parts):
        if k:
            jetstream.publish(bodies[k * part:(k + 1) * part if k < parts - 1 else len(bodies)])
        published = min((k + 1) * part, len(bodies)) if k < parts - 1 else len(bodies)
        before = (_checkpoint(crashed) or (0, 0, 0, 0))[3]
        proc = consumer(crashed)
        if k % 2:
            time.sleep(rng.uniform(0.3 * startup, startup))
        else:  # once it has committed a first batch of this part, a random part of a batch later
            deadline = time.monotonic() + 120
            while proc.poll() is None and (_checkpoint(crashed) or (0, 0, 0, 0))[3] <= before \
                    and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, min(work, 0.1)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, -signal.SIGKILL), err
        cp = _checkpoint(crashed)
        mid_drain += proc.returncode != 0 and cp is not None and before < cp[3] < published
    proc = consumer(crashed)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert subprocess.run([sys.executable, "-c", DRIVER, str(clean), jetstream.url], check=False, capture_output=True,
                          timeout=300).returncode == 0
    assert kills >= 10 and mid_drain >= 2, (kills, mid_drain)  # some landed between two commits
    rows = _log_rows(crashed)
    assert len(rows) == len(set(bodies))  # every distinct message once
    assert rows == _log_rows(clean)
    hashes = [r[2] for r in rows]
    assert len(hashes) == len(set(hashes))
    assert _checkpoint(crashed) == _checkpoint(clean)
    assert _checkpoint(crashed)[3] == len(bodies)  # the position: the stream's last sequence
