"""The catalog stream: one record per product (one canonical schema)."""

from __future__ import annotations

from typing import Any

from ..events import Product
from ..hookspecs import hookimpl
from ..sources import read_catalog
from ..streams import CATALOG_ROLE, Stream
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


@hookimpl
def register_streams() -> list[Stream]:
    """First in ``run``: the catalog describes the products before the orders that use them."""
    return [Stream(name="catalog", reader=read_catalog, payload_type=Product, default_file="product_catalog.json",
                   order=10, role=CATALOG_ROLE, whole_file=True,
                   description="the product catalog, one JSON list, read whole each time")]
