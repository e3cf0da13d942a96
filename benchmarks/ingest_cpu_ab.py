#!/usr/bin/env python
"""Wall time and total CPU (the process and its decode workers, from ``os.wait4``) of
``Pipeline.ingest`` of one order file (after an optional catalog), for source trees in turn,
round after round: an A/B of ingest that a loaded machine disturbs less than wall time.

    mkdir -p /tmp/before && git archive main fastcommerce | tar -x -C /tmp/before
    python benchmarks/ingest_cpu_ab.py ORDERS.jsonl CATALOG.json ROUNDS /tmp/before .

``CATALOG.json`` may be ``-`` (no catalog: every order then fails the product check).
"""
import os
import subprocess
import sys
import tempfile
import time

CHILD = r'''
import sys; sys.path.insert(0, sys.argv[1])
import logging, structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from fastcommerce import Pipeline
p = Pipeline(sys.argv[2], load_entrypoints=False)
if sys.argv[4] != "-": p.ingest("catalog", sys.argv[4])
p.ingest("orders", sys.argv[3]); p.close()
'''
file, catalog, rounds, trees = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
for r in range(rounds):
    for tree in trees:
        db = tempfile.mktemp(suffix=".db", dir="/tmp/perf15")
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, tree, db, file, catalog])
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        print(f"{tree:35s} wall {wall:7.2f}s  cpu(self+children) {ru.ru_utime + ru.ru_stime:7.2f}s  load {os.getloadavg()[0]:.1f}", flush=True)
        for s in ("", "-wal", "-shm"):
            try: os.remove(db + s)
            except FileNotFoundError: pass
