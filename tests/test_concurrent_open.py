"""Processes that open a new database together: each waits for the others, none fails."""

from __future__ import annotations

import subprocess
import sys

import pytest

OPEN_AND_INGEST = """
import sys
from fastcommerce import Pipeline
with Pipeline(sys.argv[1], load_entrypoints=False) as p:
    p.ingest_records("orders", ['{"order_id": "O1"}'])
"""


@pytest.mark.slow
def test_processes_creating_the_same_database_at_once_all_succeed(tmp_path):
    for round_ in range(3):  # the race was lost in about one round of three before
        db = tmp_path / f"new-{round_}.db"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_AND_INGEST, str(db)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
        results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        assert [rc for rc, _err in results] == [0] * 6, [err for rc, err in results if rc]
