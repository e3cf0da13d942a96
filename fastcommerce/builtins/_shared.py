"""Small pure helpers the built-in upcasters share."""

from __future__ import annotations

from typing import Any

from ..converter import decimal_text, parse_timestamp


def to_decimal_or_keep(value: Any) -> Any:
    """A plain decimal string (:func:`~fastcommerce.converter.decimal_text`) becomes
    ``Decimal``; anything else is kept for the validators."""
    if isinstance(value, str):
        number = decimal_text(value)
        return value if number is None else number
    return value


def to_utc_text_or_keep(value: Any) -> Any:
    """A valid offset timestamp becomes its UTC ``...Z`` form; anything else is kept."""
    try:
        moment = parse_timestamp(value)
    except ValueError:
        return value
    return moment.isoformat().replace("+00:00", "Z")


def map_items(record: dict[str, Any], fn) -> list[Any] | Any:
    items = record.get("items")
    if not isinstance(items, list):
        return items
    return [fn(dict(item)) if isinstance(item, dict) else item for item in items]
