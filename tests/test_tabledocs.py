"""The table declarations (fastcommerce.tabledocs) stay true to the tables they describe."""

from __future__ import annotations

import pytest

from fastcommerce import Projection
from fastcommerce.core_docs import CORE_DOCS
from fastcommerce.schema import CORE_TABLES
from fastcommerce.tabledocs import CENTS, Column, Table


def _columns(db, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info([{table}])")]


def test_every_builtin_table_and_column_is_described(pipeline):
    pipeline.ingest_records("catalog", [{"product_id": "P1", "name": "Mug", "category": "home", "price": 10}])
    pipeline.project()
    for _plugin, p in pipeline.projections.projections.values():
        docs = {t.name: t for t in p.docs}
        assert set(docs) == set(p.tables), p.name
        for name, t in docs.items():
            if t.internal:
                continue
            assert [c.name for c in t.columns] == _columns(pipeline.db, name), name
            for c in t.columns:
                assert c.description
                if c.kind == CENTS:
                    assert c.name.endswith("_cents") and c.unit == "usd_cents"
                if c.references:
                    other, column = c.references.split(".")
                    assert column in _columns(pipeline.db, other), c.references


def test_every_core_table_is_described(pipeline):
    described = {t.name.lower() for t in CORE_DOCS}
    assert CORE_TABLES <= described
    for t in CORE_DOCS:
        present = _columns(pipeline.db, t.name)
        assert {c.name for c in t.columns} <= set(present), t.name


def test_a_projection_cannot_describe_a_table_it_does_not_have():
    with pytest.raises(ValueError, match="not among its tables"):
        Projection(name="p", version=1, tables=("a",), create=lambda db: None, apply=lambda db, e: None,
                   docs=(Table("b", "not mine"),))


@pytest.mark.parametrize("bad", [{"name": "a b", "description": "x"}, {"name": "a", "description": "x", "kind": "money"},
                                 {"name": "a", "description": "x", "references": "nodot"}])
def test_bad_declarations_are_refused(bad):
    with pytest.raises(ValueError):
        Column(**bad)
