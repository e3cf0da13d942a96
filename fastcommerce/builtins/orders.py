"""The order stream's four contract variants: canonical web, legacy v1, mobile, api v3.

Detection follows the contract (section 1): an explicit ``schema_version`` wins over
shape detection; a record with a ``channel`` key and no ``schema_version`` (or version 2)
that is not mobile-shaped is canonical, whatever the channel. Each upcaster is a pure
function returning a new dict and leaves a value it cannot convert as it is, so the
validators can name what is wrong with it.
"""

from __future__ import annotations

from typing import Any

from ..events import OrderEvent
from ..hookspecs import hookimpl
from ..sources import read_jsonl
from ..streams import Stream
from ..upcasting import Schema, Upcaster
from ._shared import map_items, to_decimal_or_keep, to_utc_text_or_keep

STREAM = "orders"
CANONICAL_VERSION = 2
CANONICAL_KEYS = (
    "order_id", "customer_id", "timestamp", "channel", "items", "shipping_address", "status",
    "order_total",
)


def _version(record: dict[str, Any]) -> Any:
    """The explicit integer ``schema_version`` (booleans are not versions), else a marker."""
    v = record.get("schema_version", _ABSENT)
    if v is _ABSENT:
        return _ABSENT
    return v if type(v) is int else _INVALID


_ABSENT, _INVALID = object(), object()


def is_mobile_shaped(record: Any) -> bool:
    return isinstance(record, dict) and record.get("channel") == "mobile" and "customerId" in record


def detect_web(record: Any) -> bool:
    if not isinstance(record, dict) or "channel" not in record:
        return False
    v = _version(record)
    if v is _ABSENT:
        return not is_mobile_shaped(record)
    return v == CANONICAL_VERSION


def detect_legacy_v1(record: Any) -> bool:
    return isinstance(record, dict) and "channel" not in record and "schema_version" not in record


def detect_mobile(record: Any) -> bool:
    return is_mobile_shaped(record) and "schema_version" not in record


def detect_api_v3(record: Any) -> bool:
    return isinstance(record, dict) and _version(record) == 3


def upcast_legacy_v1(record: dict[str, Any]) -> dict[str, Any]:
    """Channel implied ``web``; ``price`` -> ``unit_price``; top-level address -> ``shipping_address``."""
    out = {k: v for k, v in record.items() if k not in ("country", "state", "city")}
    out["channel"] = "web"

    def item(i: dict[str, Any]) -> dict[str, Any]:
        if "unit_price" not in i and "price" in i:
            i["unit_price"] = i.pop("price")
        return i

    out["items"] = map_items(record, item)
    if "items" not in record:
        del out["items"]
    address = {k: record[k] for k in ("country", "state", "city") if k in record}
    if address and "shipping_address" not in record:
        out["shipping_address"] = address
    return out


def upcast_mobile(record: dict[str, Any]) -> dict[str, Any]:
    """``customerId`` -> ``customer_id``; decimal-string prices; lower-case status; UTC time."""
    out = {k: v for k, v in record.items() if k != "customerId"}
    out.setdefault("customer_id", record.get("customerId"))
    if "items" in record:
        out["items"] = map_items(record, lambda i: {**i, "unit_price": to_decimal_or_keep(i.get("unit_price"))} if "unit_price" in i else i)
    if isinstance(record.get("status"), str):
        out["status"] = record["status"].lower()
    if "timestamp" in record:
        out["timestamp"] = to_utc_text_or_keep(record["timestamp"])
    return out


def upcast_api_v3(record: dict[str, Any]) -> dict[str, Any]:
    """Price objects -> ``unit_price`` + ``currency``; upper-case country; decimal ``order_total``.

    Extra keys (``metadata``, ``coupon_code``, ...) stay in the raw record only.
    """
    out = {k: record[k] for k in CANONICAL_KEYS if k in record}
    out.setdefault("channel", "api")

    def item(i: dict[str, Any]) -> dict[str, Any]:
        price = i.pop("price", None)
        if isinstance(price, dict):
            if "amount" in price:
                i["unit_price"] = to_decimal_or_keep(price["amount"])
            if "currency" in price:
                i["currency"] = price["currency"]
        elif price is not None and "unit_price" not in i:
            i["unit_price"] = price
        return i

    if "items" in record:
        out["items"] = map_items(record, item)
    address = record.get("shipping_address")
    if isinstance(address, dict) and isinstance(address.get("country"), str):
        out["shipping_address"] = {**address, "country": address["country"].upper()}
    if "order_total" in record:
        out["order_total"] = to_decimal_or_keep(record["order_total"])
    return out


# Every built-in variant keeps order_id and timestamp at the top level (the mobile offset is
# normalised when the time is parsed), so ingest indexes them without upcasting.
TOP_LEVEL_KEYS = {"key_field": "order_id", "time_field": "timestamp"}


@hookimpl
def register_schemas() -> list[Schema]:
    return [
        Schema(stream=STREAM, variant="web", version=CANONICAL_VERSION, detect=detect_web,
               canonical=True, key_field="order_id", time_field="timestamp",
               description="canonical order shape (web and any non-mobile channel)"),
        Schema(stream=STREAM, variant="legacy", version=1, detect=detect_legacy_v1, **TOP_LEVEL_KEYS,
               description="legacy v1: no channel, items use price, address at top level"),
        Schema(stream=STREAM, variant="mobile", version=1, detect=detect_mobile, **TOP_LEVEL_KEYS,
               description="mobile app: customerId, string prices, upper-case status, local offset"),
        Schema(stream=STREAM, variant="api", version=3, detect=detect_api_v3, **TOP_LEVEL_KEYS,
               description="api v3: price objects with currency, order_total, extra keys"),
    ]


@hookimpl
def register_upcasters() -> list[Upcaster]:
    web = {"to_variant": "web", "to_version": CANONICAL_VERSION}
    return [
        Upcaster(stream=STREAM, variant="legacy", from_version=1, upcast=upcast_legacy_v1, **web),
        Upcaster(stream=STREAM, variant="mobile", from_version=1, upcast=upcast_mobile, **web),
        Upcaster(stream=STREAM, variant="api", from_version=3, upcast=upcast_api_v3, **web),
    ]


@hookimpl
def register_streams() -> list[Stream]:
    return [Stream(name=STREAM, reader=read_jsonl, payload_type=OrderEvent, default_file="orders_stream.jsonl",
                   order=30, description="orders, one JSON object a line")]
