#!/usr/bin/env python
"""Precision and recall of the built-in volume rule (orders_spike / orders_drop, and the
revenue_spike / revenue_drop findings of the same rule) on generated weeks with anomalies
injected at random busy hours.

For each seed:

1. ``write_sample(days=--days, orders=--days x --orders-per-day, seed=S, spikes=...,
   drops=...)`` with ``--spikes`` spikes (factor ``--spike-factor``) and ``--drops`` drops
   (factor ``--drop-factor``) at distinct (channel, hour) drawn from a seeded RNG: a
   channel among web/mobile/api, a day after the warm-up (``min_history_days``), an hour
   of ``--busy-hours`` (UTC; the generator's afternoon and evening), never the last two
   hours of the data (they are never complete, so never judged).
2. The week is replayed as a daily batch deployment sees it (the same way as
   tests/test_anomaly_detection.py): the files grow one day at a time, split where the
   data's own clock crosses midnight; ``Pipeline.run`` resumes them; the alerts are
   evaluated at each day's end with the pipeline clock at that time. Default monitoring
   thresholds unless ``--config FILE`` (a TOML file over the defaults).
3. Scored per metric (orders, revenue): a true positive is an alert of the injected kind
   whose key (``channel@YYYY-MM-DDTHH``) is an injected anomaly; a false positive is any
   other alert of those rules; a false negative an injected anomaly with no such alert.
   Every judged channel-hour (a complete hour after the warm-up whose value or baseline
   median reaches ``min_orders``; for revenue, ``min_revenue`` and ``min_orders``) is
   counted, for a false-alarm rate.
   For each injected anomaly the robust z is recomputed from the final ``sales_hourly``
   with the rule's own ``robust_z``, to tell a miss below the threshold from a miss below
   ``min_orders``.

Prints a table per seed and totals, or everything as JSON with ``--json``.

    python benchmarks/detection.py                         # 10 seeds x 8 days x 3000 orders/day
    python benchmarks/detection.py --seeds 3 --days 6 --orders-per-day 2000 --json
    python benchmarks/detection.py --jobs 2                # seeds in parallel processes
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

from fastcommerce.testing import feed_by_day
from fastcommerce import Pipeline  # noqa: E402
from fastcommerce.builtins.alert_rules import complete_hours, robust_z  # noqa: E402
from fastcommerce.monitoring import load_config  # noqa: E402
from fastcommerce.monitoring.alerts import AlertContext  # noqa: E402
from fastcommerce.sample import CHANNELS, write_sample  # noqa: E402

START = date(2024, 1, 15)
BASE = datetime(START.year, START.month, START.day, tzinfo=UTC)
METRICS = {"orders": ("orders_spike", "orders_drop"), "revenue": ("revenue_spike", "revenue_drop")}

# --------------------------------------------------------------------------- anomalies


def draw_anomalies(seed: int, args: argparse.Namespace, min_history_days: int) -> tuple[list, list]:
    rng = random.Random(f"detection-benchmark:{seed}")
    cells = [(d, h, c) for d in range(min_history_days, args.days) for h in args.busy_hours for c in CHANNELS
             if not (d == args.days - 1 and h >= 22)]
    chosen = rng.sample(cells, args.spikes + args.drops)
    rng.shuffle(chosen)

    def spec(cell: tuple[int, int, str], factor: float) -> tuple[str, datetime, float]:
        d, h, c = cell
        return c, BASE + timedelta(days=d, hours=h), factor

    spikes = [spec(c, args.spike_factor) for c in chosen[: args.spikes]]
    drops = [spec(c, args.drop_factor) for c in chosen[args.spikes:]]
    return spikes, drops


# --------------------------------------------------------------------------- replay

def replay(tmp: Path, summary: Any, days: int, config: str | None) -> dict[str, Any]:
    live = tmp / "live"
    clock = {"now": BASE}
    raised, judged = [], set()
    with Pipeline(tmp / "db", load_entrypoints=False, clock=lambda: clock["now"], monitoring=config) as p:
        for d, clock["now"] in feed_by_day(summary, days, BASE, live):
            p.run(live)
            result = p.alerts(now=clock["now"])
            if result.rule_errors:
                raise RuntimeError(f"rules failed: {result.rule_errors}")
            raised.extend((d, n.finding) for n in result.raised)
            judged.update(complete_hours(AlertContext(db=p.db, config=p.monitoring, now=clock["now"])))
        hourly = {(h, c): (o, r) for h, c, o, r in
                  p.db.execute("SELECT hour, channel, orders, revenue_cents FROM sales_hourly")}
        volume = p.monitoring.volume
    return {"raised": raised, "judged": judged, "hourly": hourly, "volume": volume}


# --------------------------------------------------------------------------- scoring


def _history(hourly: dict, hour: str, channel: str, index: int, volume: Any, first: str) -> list[int]:
    h = datetime.fromisoformat(hour + ":00:00+00:00")
    past = [(h - timedelta(days=d)).strftime("%Y-%m-%dT%H") for d in range(1, volume.history_days + 1)]
    return [hourly.get((p, channel), (0, 0))[index] for p in past if p >= first]


def score(run: dict[str, Any], injected: list[dict[str, Any]]) -> dict[str, Any]:
    hourly, volume = run["hourly"], run["volume"]
    first = min(h for h, _ in hourly)
    out: dict[str, Any] = {}
    for metric, rules in METRICS.items():
        index = 0 if metric == "orders" else 1
        minimum = volume.min_orders if metric == "orders" else float(volume.min_revenue) * 100
        found = {f.key: f for _, f in run["raised"] if f.rule in rules}
        truth = {r["key"]: f"{metric}_{r['kind']}" for r in injected}
        tp = sorted(k for k, rule in truth.items() if k in found and found[k].rule == rule)
        fn = sorted(k for k in truth if k not in tp)
        fp = sorted(k for k in found if k not in tp)
        cells = 0
        for hour in run["judged"]:
            for channel in CHANNELS:
                history = _history(hourly, hour, channel, index, volume, first)
                if len(history) < volume.min_history_days:
                    continue
                value = hourly.get((hour, channel), (0, 0))[index]
                if max(value, statistics.median(history)) < minimum:
                    continue
                if metric == "revenue":  # the rule judges revenue only where orders are not quiet
                    orders = _history(hourly, hour, channel, 0, volume, first)
                    if max(hourly.get((hour, channel), (0, 0))[0], statistics.median(orders)) < volume.min_orders:
                        continue
                cells += 1
        out[metric] = {"tp": tp, "fp": fp, "fn": fn, "judged_cells": cells,
                       "false_alarms": [{"key": k, "rule": found[k].rule, "z": found[k].value,
                                         "value": found[k].details.get("value"),
                                         "median": found[k].details.get("median"),
                                         "history": found[k].details.get("history")} for k in fp]}
    # per anomaly: what the rule (re)computes from the final table
    details = []
    for r in injected:
        hour, channel = r["key"][-13:], r["channel"]
        history = _history(hourly, hour, channel, 0, volume, first)
        value = hourly.get((hour, channel), (0, 0))[0]
        z, med, scale = robust_z(value, history) if history else (0.0, 0.0, 0.0)
        details.append({**r, "history": history, "median": med, "z": round(z, 2),
                        "judged": max(value, med) >= volume.min_orders,
                        "found": r["key"] in out["orders"]["tp"],
                        "revenue_found": r["key"] in out["revenue"]["tp"]})
    out["anomalies"] = details
    return out


def run_seed(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    # the pipeline's logs (every alert raised) would drown the table: critical only, to stderr
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL),
                        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    min_history = load_config(args.config).volume.min_history_days
    spikes, drops = draw_anomalies(seed, args, min_history)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fc-detection-") as tmp:
        tmp_path = Path(tmp)
        summary = write_sample(tmp_path / "data", orders=args.days * args.orders_per_day, days=args.days,
                               seed=seed, start=START, spikes=spikes, drops=drops)
        t1 = time.perf_counter()
        run = replay(tmp_path, summary, args.days, args.config)
    t2 = time.perf_counter()
    injected = [r for r in summary.injected if r["kind"] in ("spike", "drop")]
    result = score(run, injected)
    result.update(seed=seed, generate_seconds=round(t1 - t0, 2), replay_seconds=round(t2 - t1, 2),
                  order_lines=summary.order_lines)
    return result


# --------------------------------------------------------------------------- report


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def totals(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric in METRICS:
        tp = sum(len(r[metric]["tp"]) for r in results)
        fp = sum(len(r[metric]["fp"]) for r in results)
        fn = sum(len(r[metric]["fn"]) for r in results)
        cells = sum(r[metric]["judged_cells"] for r in results)
        out[metric] = {"tp": tp, "fp": fp, "fn": fn, "precision": _ratio(tp, tp + fp),
                       "recall": _ratio(tp, tp + fn), "judged_cells": cells,
                       "false_alarms_per_1000_cells": round(1000 * fp / cells, 2) if cells else None}
    anomalies = [a for r in results for a in r["anomalies"]]
    for kind in ("spike", "drop"):
        mine = [a for a in anomalies if a["kind"] == kind]
        judged = [a for a in mine if a["judged"]]
        out[f"{kind}_recall"] = _ratio(sum(a["found"] for a in mine), len(mine))
        out[f"{kind}_recall_judged"] = _ratio(sum(a["found"] for a in judged), len(judged))
        out[f"{kind}s"], out[f"{kind}s_judged"] = len(mine), len(judged)
    return out


def print_report(args: argparse.Namespace, results: list[dict[str, Any]], total: dict[str, Any],
                 seconds: float) -> None:
    print(f"detection benchmark: {len(results)} seeds x {args.days} days x {args.orders_per_day} orders/day; "
          f"{args.spikes} spikes x{args.spike_factor:g} + {args.drops} drops x{args.drop_factor:g} per seed; "
          f"busy hours {args.busy_hours[0]:02d}-{args.busy_hours[-1]:02d} UTC; "
          f"config {args.config or 'defaults'}")
    head = (f"{'seed':>6} {'lines':>7} {'TP':>3} {'FN':>3} {'FP':>3} {'cells':>6} | "
            f"{'rev TP':>6} {'rev FN':>6} {'rev FP':>6} | {'sec':>6}  orders missed (z, median)")
    print(head)
    print("-" * len(head))
    for r in results:
        o, v = r["orders"], r["revenue"]
        missed = ", ".join(f"{a['key']} {a['kind']} (z {a['z']:+.1f}, med {a['median']:g})"
                           for a in r["anomalies"] if not a["found"])
        print(f"{r['seed']:>6} {r['order_lines']:>7} {len(o['tp']):>3} {len(o['fn']):>3} {len(o['fp']):>3} "
              f"{o['judged_cells']:>6} | {len(v['tp']):>6} {len(v['fn']):>6} {len(v['fp']):>6} | "
              f"{r['generate_seconds'] + r['replay_seconds']:>6.1f}  {missed}")
    print("-" * len(head))
    for metric in METRICS:
        t = total[metric]
        fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
        print(f"{metric:>8}: TP {t['tp']}, FP {t['fp']}, FN {t['fn']}; precision {fmt(t['precision'])}, "
              f"recall {fmt(t['recall'])}; {t['false_alarms_per_1000_cells']} false alarms per 1000 judged "
              f"channel-hours ({t['judged_cells']})")
    for kind in ("spike", "drop"):
        print(f"{kind + 's':>8}: recall {total[f'{kind}_recall']} of {total[f'{kind}s']}; "
              f"{total[f'{kind}_recall_judged']} of the {total[f'{kind}s_judged']} judged "
              f"(value or median >= min_orders)")
    fps = [(r["seed"], fa) for r in results for fa in r["orders"]["false_alarms"]]
    for seed, fa in fps:
        print(f"  order false alarm, seed {seed}: {fa['rule']} {fa['key']} z {fa['z']} value {fa['value']} "
              f"median {fa['median']} history {fa['history']}")
    print(f"total {seconds:.1f} s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="number of seeds, 1..N (default 10)")
    ap.add_argument("--first-seed", type=int, default=1, help="first seed (default 1)")
    ap.add_argument("--days", type=int, default=8, help="days per week (default 8)")
    ap.add_argument("--orders-per-day", type=int, default=3000, help="orders per day (default 3000)")
    ap.add_argument("--spikes", type=int, default=3, help="spikes per seed (default 3)")
    ap.add_argument("--drops", type=int, default=3, help="drops per seed (default 3)")
    ap.add_argument("--spike-factor", type=float, default=5.0, help="spike factor (default 5.0)")
    ap.add_argument("--drop-factor", type=float, default=0.05, help="share of orders a drop keeps (default 0.05)")
    ap.add_argument("--busy-hours", default="11-21",
                    help="UTC hours anomalies may start at, FIRST-LAST inclusive (default 11-21)")
    ap.add_argument("--config", default=None, help="monitoring TOML over the shipped defaults")
    ap.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes (default 1)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = ap.parse_args(argv)
    lo, _, hi = args.busy_hours.partition("-")
    args.busy_hours = list(range(int(lo), int(hi or lo) + 1))
    if args.days < 4:
        ap.error("--days must be at least 4 (3 days of history, then one judged day)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    t0 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(run_seed, seeds, [args] * len(seeds)))
    else:
        results = [run_seed(s, args) for s in seeds]
    seconds = time.perf_counter() - t0
    total = totals(results)
    if args.json:
        print(json.dumps({"settings": {k: v for k, v in vars(args).items() if k != "json"}, "seeds": results,
                          "totals": total, "seconds": round(seconds, 1)}, indent=2, default=str))
    else:
        print_report(args, results, total, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
