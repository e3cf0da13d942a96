"""Built-in projection: the catalog as it stands, and what each load changed.

Loading the same catalog again changes nothing; a changed product records which fields
changed, at which log offset. Later projections join order lines to this table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlite_utils import Database

from ..eventlog import LOG_TABLE
from ..events import Event, Product
from ..hookspecs import hookimpl
from ..money import round_money
from ..projections import Projection
from ..tabledocs import Column, Table

PRODUCTS, CHANGES = "catalog_products", "catalog_changes"

DOCS = (
    Table(PRODUCTS, "the catalog as it stands: each product's latest version", (
        Column("product_id", "the product's id"), Column("name", "its name"), Column("category", "its category"),
        Column("price", "its list price, a decimal amount", unit="usd"),
        Column("cost", "its cost, a decimal amount", unit="usd"),
        Column("reorder_point", "low stock at or below this many units", unit="count"),
        Column("active", "1 while the product is sold"), Column("metadata", "any other fields, as JSON"),
        Column("first_offset", "log offset of its first version", references=f"{LOG_TABLE}.offset"),
        Column("last_offset", "log offset of its latest change", references=f"{LOG_TABLE}.offset")),
        label="name"),
    Table(CHANGES, "what each catalog load changed: products added or changed, field by field", (
        Column("offset", "log offset of the catalog record", references=f"{LOG_TABLE}.offset"),
        Column("product_id", "the product's id", references=f"{PRODUCTS}.product_id"),
        Column("change", "added or changed"), Column("fields", "JSON: field -> [before, after]"))),
)
FIELDS = ("name", "category", "price", "cost", "reorder_point", "active", "metadata")


def _money(amount) -> str:
    """One text per value (29.9, 29.90 and 29.900 are the same price), so a reload that
    only reformats a number records no change."""
    return str(round_money(amount)) if amount == round_money(amount) else str(amount.normalize())


def _row(p: Product) -> dict[str, Any]:
    return {
        "name": p.name,
        "category": p.category,
        "price": _money(p.price),
        "cost": None if p.cost is None else _money(p.cost),
        "reorder_point": p.reorder_point,
        "active": int(p.active),
        "metadata": orjson.dumps(p.metadata, option=orjson.OPT_SORT_KEYS, default=str).decode(),
    }


def create(db: Database) -> None:
    db.execute(
        f"CREATE TABLE {PRODUCTS} (product_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "category TEXT NOT NULL, price TEXT NOT NULL, cost TEXT, reorder_point INTEGER NOT NULL, "
        "active INTEGER NOT NULL, metadata TEXT NOT NULL, first_offset INTEGER NOT NULL, "
        "last_offset INTEGER NOT NULL)"
    )
    db.execute(
        f"CREATE TABLE {CHANGES} (\"offset\" INTEGER NOT NULL, product_id TEXT NOT NULL, "
        "change TEXT NOT NULL, fields TEXT NOT NULL, PRIMARY KEY (\"offset\", product_id))"
    )


def apply(db: Database, events: Sequence[Event]) -> None:
    conn = db.conn
    for e in events:
        if e.payload is None:
            continue
        p: Product = e.payload
        new = _row(p)
        old = conn.execute(
            f"SELECT {', '.join(FIELDS)} FROM {PRODUCTS} WHERE product_id = ?", [p.product_id]
        ).fetchone()
        if old is None:
            conn.execute(
                f"INSERT INTO {PRODUCTS} (product_id, {', '.join(FIELDS)}, first_offset, last_offset) "
                f"VALUES (?, {', '.join('?' * len(FIELDS))}, ?, ?)",
                [p.product_id, *new.values(), e.offset, e.offset],
            )
            changed = {k: [None, v] for k, v in new.items()}
            kind = "added"
        else:
            changed = {k: [o, new[k]] for k, o in zip(FIELDS, old) if o != new[k]}
            if not changed:
                continue
            conn.execute(
                f"UPDATE {PRODUCTS} SET {', '.join(f'{k} = ?' for k in FIELDS)}, last_offset = ? "
                "WHERE product_id = ?",
                [*new.values(), e.offset, p.product_id],
            )
            kind = "changed"
        conn.execute(
            f"INSERT INTO {CHANGES} (\"offset\", product_id, change, fields) VALUES (?, ?, ?, ?)",
            [e.offset, p.product_id, kind, orjson.dumps(changed, option=orjson.OPT_SORT_KEYS).decode()],
        )


@hookimpl
def register_projections() -> list[Projection]:
    return [
        Projection(name="catalog", version=2, tables=(PRODUCTS, CHANGES), create=create,
                   apply=apply, streams=("catalog",),
                   description="current catalog products and the changes each load made", docs=DOCS),
    ]
