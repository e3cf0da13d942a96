"""docs/canonical-schema.md names every canonical table and column, and nothing else."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from fastcommerce import Pipeline

DOC = Path(__file__).resolve().parent.parent / "docs" / "canonical-schema.md"


def _documented() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"### (canon_\w+)", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
        elif current is not None and (row := re.match(r"\| `(\w+)` \| (\w+)", line)):
            current[row.group(1)] = row.group(2)
    return tables


def _actual(path: Path) -> dict[str, dict[str, str]]:
    with Pipeline(path, load_entrypoints=False):
        pass
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'canon\\_%' ESCAPE '\\'")]
        return {t: {c[1]: c[2] for c in conn.execute(f"PRAGMA table_info({t})")} for t in names}
    finally:
        conn.close()


def test_doc_matches_a_fresh_database(tmp_path: Path) -> None:
    actual = _actual(tmp_path / "shop.db")
    assert actual, "a fresh database has canonical tables"
    assert _documented() == actual
