"""The example projections in docs/plugins.md run, and their tables agree with the canonical rows."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from fastcommerce import Pipeline, hookimpl

ROOT = Path(__file__).resolve().parent.parent
SECTION = ROOT.joinpath("docs", "plugins.md").read_text().split("### register_projections")[1].split("\n### ")[0]


def test_both_example_projections_build_their_tables(tmp_path: Path) -> None:
    blocks = [re.sub(r"^  ", "", b, flags=re.MULTILINE) for b in re.findall(r"```python\n(.*?)```", SECTION, re.DOTALL)]
    assert len(blocks) == 2
    sql_ns: dict = {}
    exec(blocks[0], sql_ns)  # noqa: S102  (the doc's own example is the code under test)
    fold_ns: dict = {"Projection": sql_ns["Projection"]}
    exec(blocks[1].split("\nProjection(", 1)[0], fold_ns)  # noqa: S102
    fold = eval("Projection(" + blocks[1].split("\nProjection(", 1)[1], fold_ns)

    class FoldPlugin:
        @hookimpl
        def register_projections(self, settings):
            return [fold]

    db = tmp_path / "shop.db"
    with Pipeline(db, load_entrypoints=False, plugins=[sql_ns["UnitsPlugin"](), FoldPlugin()]) as p:
        p.ingest("catalog", ROOT / "sample_data" / "product_catalog.json")
        p.ingest("orders", ROOT / "sample_data" / "orders_stream.jsonl")
        p.project()
    conn = sqlite3.connect(db)
    try:
        units = conn.execute("SELECT product_id, units FROM units_by_product ORDER BY 1").fetchall()
        assert units and units == conn.execute(
            "SELECT product_id, SUM(quantity) FROM canon_order_lines GROUP BY 1 ORDER BY 1").fetchall()
        counts = conn.execute("SELECT status, n FROM status_counts ORDER BY 1").fetchall()
        assert counts and counts == conn.execute(
            "SELECT status, COUNT(*) FROM canon_orders GROUP BY 1 ORDER BY 1").fetchall()
    finally:
        conn.close()
