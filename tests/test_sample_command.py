"""`fastcommerce sample` writes only where it is told, never over input files unless told,
and from the first day it is given."""

from __future__ import annotations

import json
from datetime import datetime

from click.testing import CliRunner

from fastcommerce.cli import main


def _sample(*args):
    return CliRunner().invoke(main, ["sample", "--orders", "40", "--days", "2", *map(str, args)])


def test_out_is_required(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_data").mkdir()
    run = _sample()
    assert run.exit_code == 2 and "--out" in run.output
    assert list((tmp_path / "sample_data").iterdir()) == []  # the bundled folder's name is not a default


def test_existing_files_are_kept_unless_overwrite(tmp_path):
    out = tmp_path / "data"
    assert _sample("--out", out, "--seed", 1).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    refused = _sample("--out", out, "--seed", 2)
    assert refused.exit_code == 2 and "already holds" in refused.output and "--overwrite" in refused.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _sample("--out", out, "--seed", 2, "--overwrite").exit_code == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} != before


def test_start_sets_the_first_day(tmp_path):
    out = tmp_path / "data"
    run = _sample("--out", out, "--start", "2025-03-30", "--format", "json")
    assert run.exit_code == 0, run.output
    days = set()
    for line in (out / "orders_stream.jsonl").read_bytes().splitlines():
        try:
            record = json.loads(line)
            days.add(datetime.fromisoformat(record["timestamp"]).date().isoformat())
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # the contract's bad records: not every line is an order with a timestamp
    assert min(days) == "2025-03-30" and "2025-03-31" in days
    assert _sample("--out", tmp_path / "x", "--start", "30/03/2025").exit_code == 2
