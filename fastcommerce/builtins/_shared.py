"""Small pure helpers the built-in upcasters share."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ..converter import parse_timestamp

# The form the contract names ("29.99"): ASCII digits, an optional sign and fraction.
# ``Decimal`` alone would also read "1_000.00", "1e1", "Infinity" and other scripts' digits
# ("٣٠.00", "１０.００"), which the contract does not name and inventory quantities refuse.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def to_decimal_or_keep(value: Any) -> Any:
    """A decimal string becomes ``Decimal``; anything else is kept for the validators.
    Whitespace around it is ignored, as in the other named forms."""
    if isinstance(value, str):
        text = value.strip()
        return Decimal(text) if _DECIMAL_TEXT.fullmatch(text) else value
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
