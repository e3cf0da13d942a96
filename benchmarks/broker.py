#!/usr/bin/env python
"""End-to-end latency of the NATS JetStream source: from publishing an order to the
revenue report showing it, at a steady publish rate.

1. Creates a throwaway JetStream stream on ``--server`` and a fresh SQLite log holding a
   small catalog.
2. Baseline, in the same run: the broker alone. A plain nats-py pull consumer in this
   process receives the orders published at the same rate; latency = receive - publish.
3. Starts ``fastcommerce ingest orders nats://.../STREAM --follow --poll 0.05`` as a
   subprocess (the plugin loaded through its entry point, as a user runs it) and waits
   until it has saved its first checkpoint.
4. Publishes ``--rate`` orders per second for ``--seconds`` (each a distinct, valid,
   confirmed order of one day, so the report's order count says how many are in it; the
   publish time of order k is taken just before its publish call). Meanwhile this process
   polls ``Pipeline.report("revenue", on=DAY, catch_up=False)`` (the follower projects;
   the report does not help it) every ``--poll`` seconds on its own connection: order k is
   reflected at the first poll whose order count exceeds k (one publisher, and the log
   commits in stream order), and its latency is that poll's time minus its publish time.
   The polling interval is part of every figure, so they are upper bounds.
5. Capacity: the same orders drained by a plain ``fastcommerce ingest orders URL`` into a
   fresh log, timed as a whole process (orders/s).
6. Prints p50 / p95 / p99 / max of both, their ratio, the p99 of each 5 s of publishing (a
   follower falling behind shows as a climb), the achieved rate and the capacity
   (``--json``: one JSON object). Exit status 1 if some order never showed up.

    python benchmarks/broker.py                               # 1,000 orders/s for 30 s
    python benchmarks/broker.py --rate 2000 --seconds 10 --json
    python benchmarks/broker.py --follower-arg=--workers=1     # decode in the follower's process only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import orjson
from nats.js import api

sys.path.insert(0, str(Path(__file__).parent))
from _common import code_version

import fastcommerce
from fastcommerce import Pipeline

DAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
PRODUCTS = {f"PROD-{n:03d}": round(5 + n * 1.25, 2) for n in range(1, 21)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 0.50) * 1000, 1), "p95_ms": round(percentile(values, 0.95) * 1000, 1),
            "p99_ms": round(percentile(values, 0.99) * 1000, 1), "max_ms": round(max(values) * 1000, 1),
            "n": len(values)}


def order(n: int) -> bytes:
    product = f"PROD-{n % 20 + 1:03d}"
    return orjson.dumps({
        "order_id": f"BENCH-{n:08d}", "customer_id": f"CUST-{n % 997}",
        "timestamp": (DAY + timedelta(milliseconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "channel": "web",
        "items": [{"product_id": product, "quantity": 1 + n % 3, "unit_price": PRODUCTS[product]}],
        "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"}, "status": "confirmed"})


async def publish_paced(js, subject: str, first: int, count: int, rate: float, sent: list[float]) -> float:
    """Publish orders ``first .. first+count-1`` at ``rate`` per second on a fixed schedule
    (a late one does not slow the rest), each publish time into ``sent``. JetStream's acks
    are awaited alongside, not one by one, so a slow ack never holds back the schedule."""
    start = time.monotonic()
    pending = []
    for k in range(count):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.monotonic())
        pending.append(asyncio.ensure_future(js.publish(subject, order(first + k))))
        if len(pending) >= 500:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    return count / (time.monotonic() - start)


async def broker_baseline(server: str, stream: str, rate: float, count: int) -> tuple[list[float], float]:
    """The broker alone: publish at ``rate`` while a pull consumer in this process receives."""
    nc = await nats.connect(server)
    js = nc.jetstream()
    info = await js.stream_info(stream)
    config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                opt_start_seq=info.state.last_seq + 1, ack_policy=api.AckPolicy.NONE)
    sub = await js.pull_subscribe(">", stream=stream, config=config)
    sent: list[float] = []
    received: list[float] = []

    async def consume() -> None:
        while len(received) < count:
            try:
                msgs = await sub.fetch(1000, timeout=0.05)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            now = time.monotonic()
            received.extend(now for _ in msgs)

    consumer = asyncio.create_task(consume())
    achieved = await publish_paced(js, f"{stream}.baseline", 0, count, rate, sent)
    await asyncio.wait_for(consumer, 60)
    await sub.unsubscribe()
    await nc.close()
    return [r - s for r, s in zip(received, sent, strict=True)], achieved


def publish_process(server: str, stream: str, rate: float, count: int, out: Path) -> int:
    """The publisher, in its own process: orders 1..count at ``rate``; their publish times to ``out``."""
    sent: list[float] = []

    async def run() -> float:
        nc = await nats.connect(server)
        achieved = await publish_paced(nc.jetstream(), f"{stream}.orders", 1, count, rate, sent)
        await nc.close()
        return achieved

    achieved = asyncio.run(run())
    out.write_text(json.dumps({"sent": sent, "rate": achieved}))
    return 0


def checkpoint_saved(db: Path, url: str) -> bool:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT 1 FROM checkpoints WHERE path = ?", [url]).fetchone() is not None
    except sqlite3.Error:
        return False


def pipeline_run(server: str, stream: str, db: Path, rate: float, count: int, poll: float,
                 follower_args: list[str]) -> tuple[list[float], float]:
    url = f"{server}/{stream}"
    env = {**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": "nats"}
    follower = subprocess.Popen([sys.executable, "-m", "fastcommerce.cli", "--db", str(db), "ingest", "orders", url,
                                 "--follow", "--poll", "0.05", *follower_args], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not checkpoint_saved(db, url):
            if follower.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the follower did not start: {follower.stderr.read() if follower.stderr else ''}")
            time.sleep(0.05)
        # the publisher is a process of its own, so polling the report here never slows it
        # (CLOCK_MONOTONIC is one clock for every process: its publish times compare with ours)
        times = db.parent / "sent.json"
        publisher = subprocess.Popen([sys.executable, __file__, "--publish-only", str(times), "--server", server,
                                      "--stream", stream, "--rate", str(rate), "--count", str(count)])
        samples: list[tuple[float, int]] = []  # (poll time, orders the report shows)
        with Pipeline(db, load_entrypoints=False) as reader:
            deadline = time.monotonic() + count / rate + 120
            shown = 0
            while shown < count and time.monotonic() < deadline:
                shown = reader.report("revenue", catch_up=False, on=DAY.date()).summary["orders"]
                samples.append((time.monotonic(), shown))
                time.sleep(poll)
        publisher.wait(60)
        published = json.loads(times.read_text())
        sent, achieved = published["sent"], published["rate"]
        reflected: list[float] = []
        for when, shown in samples:
            while len(reflected) < min(shown, len(sent)):
                reflected.append(when - sent[len(reflected)])
        return reflected, achieved
    finally:
        follower.terminate()
        follower.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("FASTCOMMERCE_TEST_BROKER", "nats://127.0.0.1:4222"))
    parser.add_argument("--rate", type=float, default=1000.0, help="orders published per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between looks at the report")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--follower-arg", action="append", default=[], metavar="ARG",
                        help="an option for the follower's command line (e.g. --follower-arg=--workers=1)")
    parser.add_argument("--publish-only", metavar="FILE", help=argparse.SUPPRESS)  # the publisher process
    parser.add_argument("--stream", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish_only:
        return publish_process(args.server, args.stream, args.rate, args.count, Path(args.publish_only))
    count = int(args.rate * args.seconds)
    stream = f"bench_{uuid.uuid4().hex[:10]}"

    async def make_stream(create: bool) -> None:
        nc = await nats.connect(args.server)
        js = nc.jetstream()
        if create:
            await js.add_stream(name=stream, subjects=[f"{stream}.>"])
        else:
            await js.delete_stream(stream)
        await nc.close()

    asyncio.run(make_stream(True))
    baseline_stream = f"{stream}_alone"

    async def make_baseline_stream(create: bool) -> None:
        nc = await nats.connect(args.server)
        js = nc.jetstream()
        if create:
            await js.add_stream(name=baseline_stream, subjects=[f"{baseline_stream}.>"])
        else:
            await js.delete_stream(baseline_stream)
        await nc.close()

    asyncio.run(make_baseline_stream(True))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.db"
            catalog = Path(tmp) / "catalog.json"
            catalog.write_text(json.dumps([{"product_id": p, "name": p, "category": "Home", "price": price}
                                           for p, price in PRODUCTS.items()]))
            with Pipeline(db, load_entrypoints=False) as p:
                p.ingest("catalog", catalog)
                p.project()
            # the baseline's own stream: the follower never sees its orders
            base, base_rate = asyncio.run(broker_baseline(args.server, baseline_stream, args.rate, count))
            lat, rate = pipeline_run(args.server, stream, db, args.rate, count, args.poll, args.follower_arg)
            # capacity: the same orders drained by a plain `ingest` into a fresh log (no projecting)
            started = time.monotonic()
            subprocess.run([sys.executable, "-m", "fastcommerce.cli", "--db", str(Path(tmp) / "drain.db"), "ingest",
                            "orders", f"{args.server}/{stream}", *args.follower_arg], check=True,
                           env={**os.environ, "FASTCOMMERCE_LOAD_PLUGINS": "nats"}, stdout=subprocess.DEVNULL)
            drain_rate = count / (time.monotonic() - started)
    finally:
        asyncio.run(make_stream(False))
        asyncio.run(make_baseline_stream(False))
    out = {
        "orders": count, "target_rate": args.rate, "poll_s": args.poll,
        "broker_alone": {**summary(base), "achieved_rate": round(base_rate)},
        "publish_to_revenue_report": {**(summary(lat) if lat else {}), "achieved_rate": round(rate)},
        "p99_ratio_to_broker_alone": round(percentile(lat, 0.99) / percentile(base, 0.99), 1) if lat else None,
        # the worst latency of the orders published in each 5 s of the run: a follower falling
        # behind shows as a climb, a periodic stall (alert evaluation, WAL checkpoint) as spikes
        "p99_ms_by_5s": [round(percentile(lat[i:i + int(5 * args.rate)], 0.99) * 1000)
                         for i in range(0, len(lat), int(5 * args.rate))] if lat else [],
        "drain_orders_per_s": round(drain_rate),  # whole process: start-up, connect, drain, exit
        "follower_args": args.follower_arg,
        "missing": count - len(lat),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "code": code_version(fastcommerce.__file__),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        b, e = out["broker_alone"], out["publish_to_revenue_report"]
        print(f"{count:,} orders at {args.rate:,.0f}/s (achieved {e.get('achieved_rate')}/s), report polled every "
              f"{args.poll * 1000:.0f} ms")
        print(f"  broker alone (publish -> pull consumer): p50 {b['p50_ms']} ms  p95 {b['p95_ms']} ms  "
              f"p99 {b['p99_ms']} ms  max {b['max_ms']} ms")
        if lat:
            print(f"  publish -> revenue report:              p50 {e['p50_ms']} ms  p95 {e['p95_ms']} ms  "
                  f"p99 {e['p99_ms']} ms  max {e['max_ms']} ms  ({out['p99_ratio_to_broker_alone']}x the broker's p99)")
        print(f"  p99 (ms) of each 5 s of publishing: {out['p99_ms_by_5s']}")
        print(f"  the same orders drained by `ingest` (whole process): {out['drain_orders_per_s']:,} orders/s")
        print(f"  missing: {out['missing']}; load average {out['machine']['load']}")
    return 1 if out["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
