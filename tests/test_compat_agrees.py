"""The legacy wrapper (fastcommerce.compat) applies the library's own rules: on generated
data with the contract's bad records, it rejects exactly the lines the log quarantines,
with the same codes, but for the rules it documents it does not apply (DEBUGGING.md: no
catalog, so no ``unknown_product``; no ingestion clock, so no clock-skew timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fastcommerce import Pipeline
from fastcommerce.compat import OrderProcessor
from fastcommerce.sample import write_sample

NOT_APPLIED = {"unknown_product"}
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)  # recorded then, no event is ahead of its clock


@pytest.mark.parametrize("seed", [5, 8])
def test_the_wrapper_rejects_what_the_log_quarantines(tmp_path, seed):
    write_sample(tmp_path / "data", orders=600, days=2, seed=seed)
    orders = tmp_path / "data" / "orders_stream.jsonl"
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, clock=lambda: FAR_FUTURE) as p:
        p.ingest("catalog", tmp_path / "data" / "product_catalog.json")
        p.ingest("orders", orders)
        rows = p.db.execute(
            'SELECT l.line, l.rejected, pr.code FROM event_log l LEFT JOIN canon_problems pr '
            'ON pr."offset" = l."offset" AND pr.severity = \'error\' WHERE l.stream = \'orders\'').fetchall()
    quarantined: dict[int, set[str]] = {}
    for line, rejected, code in rows:
        codes = quarantined.setdefault(line, set())
        codes.update(c for c in (rejected, code) if c is not None and c not in NOT_APPLIED)
    processor = OrderProcessor(orders)
    processor.process_orders()
    rejected = {entry["line"]: set(entry["reasons"]) for entry in processor.rejected}
    assert rejected, "the sample holds the contract's bad records"
    assert {line: codes for line, codes in quarantined.items() if codes} == rejected
    assert processor.stats["accepted"] + processor.stats["rejected"] == len(quarantined)
