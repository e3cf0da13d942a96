"""The whole pipeline against the contract on generated data it has not seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastcommerce import Pipeline
from fastcommerce.sample import write_sample

ROOT = Path(__file__).resolve().parent.parent
ERROR_CODES = ("malformed_record", "unknown_schema", "missing_field", "invalid_timestamp", "invalid_item",
               "invalid_status", "invalid_quantity", "unknown_product", "total_mismatch", "unsupported_currency")


def test_bundled_sample_data_is_what_its_readme_says(tmp_path):
    write_sample(tmp_path, orders=2000, days=3, seed=42)
    for name in ("product_catalog.json", "inventory_updates.csv", "orders_stream.jsonl"):
        assert (tmp_path / name).read_bytes() == (ROOT / "sample_data" / name).read_bytes(), name


@pytest.mark.parametrize("seed", [7, 1234])
def test_the_pipeline_finds_exactly_the_injected_bad_records(tmp_path, seed):
    summary = write_sample(tmp_path / "data", orders=400, days=2, seed=seed)
    bad = summary.bad_records
    with Pipeline(tmp_path / "log.db", load_entrypoints=False) as p:
        ingest = p.run(tmp_path / "data")
        for totals in ingest.totals().values():
            assert totals["read"] == totals["appended"] + totals["duplicates"]
        orders = ingest.totals()["orders"]
        assert orders["read"] == summary.order_lines
        assert orders["duplicates"] == summary.duplicate_lines
        assert orders["malformed"] == bad["malformed_record"]
        codes = p.report("quality", limit=0).summary["codes"]

    def expected(code: str) -> int:
        n = bad.get(code, 0) + bad.get(f"inventory_{code}", 0) + bad.get(f"catalog_{code}", 0)
        return n + (bad["catalog_invalid"] if code == "invalid_item" else 0)

    for code in ERROR_CODES:
        assert codes.get(code, {}).get("records", 0) == expected(code), code
    for code in ("price_deviation", "incomplete_address"):
        # warnings are counted on valid records only; the generator counts records too
        assert codes[code]["records"] == bad[code] > 0, code
