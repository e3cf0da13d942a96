"""The inventory projection: every valid level report, and the current level per warehouse.

A row says: at ``last_updated`` this warehouse held exactly ``available_quantity``. The
current level of a (product, warehouse) is the report with the latest ``last_updated``; a
batch that arrives late never overwrites a newer level. Two reports for the same instant
are resolved like orders: the greater raw record wins, so arrival order never matters.
"""

from __future__ import annotations

from sqlite_utils import Database

from ..canonical import INVENTORY as CANON_INVENTORY
from ..eventlog import LOG_TABLE
from ..hookspecs import hookimpl
from ..projections import Projection
from ..tabledocs import BYTES, Column, Table

HISTORY, CURRENT = "inventory_history", "inventory_current"


def _columns(what: str) -> tuple[Column, ...]:
    return (Column("product_id", "the product's id"), Column("warehouse", "the warehouse location"),
            Column("last_updated", f"when the level was {what} (UTC)"),
            Column("quantity", "units available then", unit="count"),
            Column("raw", "the CSV row as received", kind=BYTES))


DOCS = (
    Table(HISTORY, "every valid inventory level report (at last_updated, the warehouse held exactly quantity)",
          _columns("reported")),
    Table(CURRENT, "the current level per product and warehouse: the report with the latest last_updated",
          _columns("last reported")),
)


def create(db: Database) -> None:
    for table in (HISTORY, CURRENT):
        key = "(product_id, warehouse, last_updated)" if table == HISTORY else "(product_id, warehouse)"
        db.execute(
            f"CREATE TABLE {table} (product_id TEXT NOT NULL, warehouse TEXT NOT NULL, "
            "last_updated TEXT NOT NULL, quantity INTEGER NOT NULL, raw BLOB NOT NULL, "
            f"PRIMARY KEY {key})"
        )


def _upsert(table: str, key: str) -> str:
    """Each key's winner in the batch first (PostgreSQL's upsert may touch a row once per
    statement; SQLite's, applied row by row, reaches the same winner)."""
    return (
        f"INSERT INTO {table} (product_id, warehouse, last_updated, quantity, raw) "
        "SELECT product_id, warehouse, last_updated, quantity, raw FROM ("
        "  SELECT i.product_id, i.warehouse, i.last_updated, i.quantity, e.raw, i.\"offset\", "
        f"    ROW_NUMBER() OVER (PARTITION BY {key[1:-1]} ORDER BY i.last_updated DESC, e.raw DESC) AS n "
        f"  FROM {CANON_INVENTORY} i JOIN {LOG_TABLE} e ON e.\"offset\" = i.\"offset\" "
        "  WHERE i.\"offset\" > ? AND i.\"offset\" <= ?) w "
        f"WHERE n = 1 ORDER BY \"offset\" ON CONFLICT {key} DO UPDATE SET "
        "last_updated = excluded.last_updated, quantity = excluded.quantity, raw = excluded.raw "
        f"WHERE (excluded.last_updated, excluded.raw) > ({table}.last_updated, {table}.raw)"
    )


def apply_range(db: Database, after: int, upto: int) -> None:
    """Set-based, from ``canon_inventory``: the later reading (then the greater raw record) wins."""
    db.conn.execute(_upsert(HISTORY, "(product_id, warehouse, last_updated)"), [after, upto])
    db.conn.execute(_upsert(CURRENT, "(product_id, warehouse)"), [after, upto])


@hookimpl
def register_projections() -> list[Projection]:
    return [
        Projection(name="inventory", version=2, tables=(HISTORY, CURRENT), create=create,
                   apply_range=apply_range, streams=("inventory",),
                   description="inventory level history and the current level per warehouse", docs=DOCS),
    ]
