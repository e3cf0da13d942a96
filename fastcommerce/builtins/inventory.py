"""The inventory stream: CSV rows keyed by their header (one canonical schema)."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from ..upcasting import Schema


def detect_inventory_row(record: Any) -> bool:
    return isinstance(record, dict)


@hookimpl
def register_schemas() -> list[Schema]:
    return [
        Schema(stream="inventory", variant="csv", version=1, detect=detect_inventory_row,
               canonical=True, key_field="product_id", time_field="last_updated",
               description="hourly CSV row: product_id, available_quantity, warehouse_location, last_updated"),
    ]
