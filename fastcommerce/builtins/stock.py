"""The inventory projection: every valid level report, and the current level per warehouse.

A row says: at ``last_updated`` this warehouse held exactly ``available_quantity``. The
current level of a (product, warehouse) is the report with the latest ``last_updated``; a
batch that arrives late never overwrites a newer level. Two reports for the same instant
are resolved like orders: the greater raw record wins, so arrival order never matters.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlite_utils import Database

from ..eventlog import format_time
from ..events import Event, InventoryLevel
from ..hookspecs import hookimpl
from ..projections import Projection

HISTORY, CURRENT = "inventory_history", "inventory_current"


def create(db: Database) -> None:
    for table in (HISTORY, CURRENT):
        key = "(product_id, warehouse, last_updated)" if table == HISTORY else "(product_id, warehouse)"
        db.execute(
            f"CREATE TABLE {table} (product_id TEXT NOT NULL, warehouse TEXT NOT NULL, "
            "last_updated TEXT NOT NULL, quantity INTEGER NOT NULL, raw BLOB NOT NULL, "
            f"PRIMARY KEY {key})"
        )


def _upsert(table: str, key: str) -> str:
    return (
        f"INSERT INTO {table} (product_id, warehouse, last_updated, quantity, raw) "
        f"VALUES (?, ?, ?, ?, ?) ON CONFLICT {key} DO UPDATE SET "
        "last_updated = excluded.last_updated, quantity = excluded.quantity, raw = excluded.raw "
        f"WHERE (excluded.last_updated, excluded.raw) > ({table}.last_updated, {table}.raw)"
    )


def apply(db: Database, events: Sequence[Event]) -> None:
    rows = []
    for e in events:
        if e.payload is None:
            continue
        level: InventoryLevel = e.payload
        rows.append((level.product_id, level.warehouse_location, format_time(level.last_updated),
                     level.available_quantity, e.record.raw))
    if rows:
        db.conn.executemany(_upsert(HISTORY, "(product_id, warehouse, last_updated)"), rows)
        db.conn.executemany(_upsert(CURRENT, "(product_id, warehouse)"), rows)


@hookimpl
def register_projections() -> list[Projection]:
    return [
        Projection(name="inventory", version=1, tables=(HISTORY, CURRENT), create=create,
                   apply=apply, streams=("inventory",),
                   description="inventory level history and the current level per warehouse"),
    ]
