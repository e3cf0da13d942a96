#!/usr/bin/env python
"""Ingest time of two source trees, A/B, with ``benchmarks/ingest.py`` as the measure.

Round after round, runs ``ingest.py --json`` once with each tree first on ``PYTHONPATH``
(so ``import fastcommerce`` takes that tree's code), on the same generated input, and
prints each round's wall and CPU seconds of the fastcommerce ingest and of ingest.py's
plain-SQLite baseline, then the median of B's time over A's, raw and normalised by each
run's own baseline (which takes out some of what a busy machine adds to both):

    mkdir -p /tmp/before && git archive main fastcommerce | tar -x -C /tmp/before
    python benchmarks/tree_ab.py /tmp/before . --orders 100000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(tree: Path, orders: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    out = subprocess.run([sys.executable, str(HERE / "ingest.py"), "--orders", str(orders), "--json"],
                         check=True, capture_output=True, text=True, env=env, cwd="/").stdout
    data = json.loads(out)
    return {"wall": data["fastcommerce"]["best_seconds"], "cpu": data["fastcommerce"]["best_cpu_seconds"],
            "base_wall": data["baseline"]["best_seconds"], "base_cpu": data["baseline"]["best_cpu_seconds"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="tree A (the baseline: a folder holding fastcommerce/)")
    ap.add_argument("b", type=Path, help="tree B")
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    results: dict[str, list[dict]] = {"a": [], "b": []}
    for n in range(1, args.rounds + 1):
        for key, tree in (("a", args.a), ("b", args.b)):
            r = run(tree, args.orders)
            results[key].append(r)
            print(f"round {n} {key}: wall {r['wall']:.2f} s  cpu {r['cpu']:.2f} s  "
                  f"(baseline wall {r['base_wall']:.2f} s, cpu {r['base_cpu']:.2f} s)", flush=True)
    summary = {}
    for measure in ("wall", "cpu"):
        raw = [b[measure] / a[measure] for a, b in zip(results["a"], results["b"])]
        norm = [(b[measure] / b["base_" + measure]) / (a[measure] / a["base_" + measure])
                for a, b in zip(results["a"], results["b"])]
        summary[measure] = {"b_over_a_median": statistics.median(raw), "normalised_median": statistics.median(norm),
                            "best_a": min(a[measure] for a in results["a"]),
                            "best_b": min(b[measure] for b in results["b"])}
        s = summary[measure]
        print(f"{measure}: B/A median {s['b_over_a_median']:.3f}, normalised by each run's baseline "
              f"{s['normalised_median']:.3f}; best A {s['best_a']:.2f} s, best B {s['best_b']:.2f} s "
              f"({s['best_b'] / s['best_a']:.3f})")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
