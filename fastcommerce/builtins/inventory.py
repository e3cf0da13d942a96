"""The inventory stream: CSV rows keyed by their header (one canonical schema)."""

from __future__ import annotations

from typing import Any

from ..events import InventoryLevel
from ..hookspecs import hookimpl
from ..sources import read_csv
from ..streams import Stream
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


@hookimpl
def register_streams() -> list[Stream]:
    return [Stream(name="inventory", reader=read_csv, payload_type=InventoryLevel,
                   default_file="inventory_updates.csv", order=20, header_lines=1,
                   description="hourly inventory CSV, a header line then one row per reading")]
