"""The catalog stream: one record per product (one canonical schema)."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from ..upcasting import Schema


def detect_product(record: Any) -> bool:
    return isinstance(record, dict)


@hookimpl
def register_schemas() -> list[Schema]:
    return [
        Schema(stream="catalog", variant="product", version=1, detect=detect_product,
               canonical=True, key_field="product_id", time_field=None,
               description="a catalog product: product_id, name, category, price and metadata"),
    ]
