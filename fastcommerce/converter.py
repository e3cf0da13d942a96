"""The one private cattrs converter that turns canonical dicts into event objects.

It never touches ``cattrs.global_converter``. Money structures to ``Decimal`` and a float
is refused (binary floats cannot hold cents exactly); a timestamp without an offset is
refused and every timestamp is normalised to UTC.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

import cattrs
import cattrs.v
from cattrs.preconf.json import make_converter as _make_json_converter

from .events import Address, OrderEvent, OrderItem, Product

ISO_FORMAT_HINT = "ISO-8601 with 'T' and 'Z' or a +HH:MM offset"
_ZONE = re.compile(r"\d(?:Z|[+-]\d\d:\d\d)\Z")
"""How the text must end: a digit of the time, then ``Z`` or ``+HH:MM``/``-HH:MM``, the only
offsets the data contract names (Python also reads ``+05``, ``+0530`` and ``10:00 +05:30``)."""


# The decimal string the contract names ("29.99"): ASCII digits, an optional sign and
# fraction. ``Decimal`` alone would also read "1_000.00", "1e1", "Infinity" and other
# scripts' digits ("٣٠.00", "１０.００"), which the contract does not name and inventory
# quantities refuse.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


PLAIN_MAX = 60


def plain(value: Any) -> str:
    """A value as a reason shows it: as the record wrote it in JSON (``1.5``, ``"5 "``,
    ``null``, ``true``), never a Python repr (``Decimal('1.5')``, ``None``), so the same
    record gives the same text whichever parser read it; long values are cut."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, int):
        text = str(value) if abs(value) < 10**40 else f"{str(value)[:20]}... ({len(str(abs(value)))} digits)"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (str, list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: escaped, as JSON may write it
            text = json.dumps(value, default=str, separators=(", ", ": "))
    else:
        text = str(value)
    return text if len(text) <= PLAIN_MAX else text[:PLAIN_MAX - 3] + "..."


def decimal_text(text: str) -> Decimal | None:
    """The number a plain decimal string names (whitespace around it ignored), else ``None``."""
    text = text.strip()
    return Decimal(text) if _DECIMAL_TEXT.fullmatch(text) else None


def parse_decimal(value: Any) -> Decimal:
    """Exact money: ``Decimal`` or int as is, a decimal string parsed; floats refused."""
    if isinstance(value, bool):
        raise ValueError(f"{plain(value)} is a boolean, not a number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        raise ValueError(f"{plain(value)} is a binary float; money must be read exactly")
    if isinstance(value, str):
        result = decimal_text(value)
        if result is None:
            raise ValueError(f"{plain(value)} is not a plain decimal number")
        return result
    raise ValueError(f"{plain(value)} is not a number")


def parse_timestamp(value: Any) -> datetime:
    """An aware UTC datetime from an ISO-8601 string with ``T`` and an offset.

    A naive timestamp is refused: guessing a time zone would move events between days.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp has no UTC offset")
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is outside the representable range of UTC times") from None
    if type(value) is not str:
        if not isinstance(value, str):
            raise ValueError(f"{plain(value)} is not a timestamp string")
        value = str(value)
    return _parse_text(value)


@functools.lru_cache(maxsize=256)
def _parse_text(value: str) -> datetime:
    """The text form of :func:`parse_timestamp`, cached: ingest, the timestamp validator and
    the converter each read an event's time, and a datetime is immutable. Refusals raise
    and are not cached."""
    text = value.strip()
    if len(text) < 11 or text[10] not in "Tt":
        raise ValueError(f"{plain(value)} is not {ISO_FORMAT_HINT}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{plain(value)} is not {ISO_FORMAT_HINT}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{plain(value)} has no UTC offset")
    if not _ZONE.search(text):
        raise ValueError(f"{plain(value)} is not {ISO_FORMAT_HINT}")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{plain(value)} is outside the representable range of UTC times") from None


class NotText(TypeError):
    """A value where an event has text (an id, a channel, an address field)."""


def _text(value: Any, _type: Any) -> str:
    """Text stays text, and nothing else becomes text: cattrs would store ``123`` as
    ``"123"`` and ``{"a": 1}`` as ``"{'a': 1}"``, and a report would show them."""
    if not isinstance(value, str):
        raise NotText(f"{plain(value)} is {_json_type(value)}, not a string")
    return value


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", Decimal: "a number", list: "a list",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def structure_error_messages(exc: Exception) -> list[str]:
    """One message per problem a failed ``structure`` found, each with its path."""
    if not isinstance(exc, cattrs.BaseValidationError):
        return [str(exc)]

    def message(error: BaseException, type_: Any) -> str:
        return str(error) if isinstance(error, NotText) else cattrs.v.format_exception(error, type_)

    return cattrs.transform_error(exc, format_exception=message)


def make_converter(plugin_hooks: Callable[[cattrs.Converter], None] | None = None) -> cattrs.Converter:
    """A fresh converter; ``plugin_hooks`` runs the plugins' ``configure_converter``."""
    conv = _make_json_converter(forbid_extra_keys=False)
    conv.register_structure_hook(str, _text)
    conv.register_structure_hook(Decimal, lambda v, _t: parse_decimal(v))
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(datetime, lambda v, _t: parse_timestamp(v))
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat().replace("+00:00", "Z"))
    if plugin_hooks is not None:
        plugin_hooks(conv)
    return conv


_PRODUCT_FIELDS = frozenset(a.name for a in Product.__attrs_attrs__)  # type: ignore[attr-defined]


def structure_payload(converter: cattrs.Converter, cls: type, canonical: dict[str, Any]) -> Any:
    """Structure a validated canonical dict into its stream's payload class ``cls``.

    Catalog keys that are not product fields are kept under ``metadata`` (the contract
    allows any metadata); unknown keys elsewhere are ignored, as the contract says.
    """
    if cls is Product:
        extra = {k: v for k, v in canonical.items() if k not in _PRODUCT_FIELDS}
        canonical = {k: v for k, v in canonical.items() if k in _PRODUCT_FIELDS}
        if extra:
            canonical["metadata"] = {**canonical.get("metadata", {}), **extra}
    return converter.structure(canonical, cls)


class _Unexpected(Exception):
    """A value :func:`structure_order` leaves to cattrs."""


def _optional_text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _Unexpected


def structure_order(canonical: dict[str, Any]) -> OrderEvent:
    """An :class:`OrderEvent` from a canonical dict, the way the plain converter builds it,
    without cattrs's generic dispatch (a third of an order's decode). Only exact types are
    taken (``str``, ``int``, ``list``, ``dict``); anything else raises, and the caller asks
    the converter, which gives the same object or the error messages. Used only when no
    plugin configures the converter."""
    items = canonical["items"]
    if type(items) is not list:
        raise _Unexpected
    built = []
    for item in items:
        if type(item) is not dict:
            raise _Unexpected
        pid, quantity = item["product_id"], item["quantity"]
        currency = item.get("currency", "USD")
        if type(pid) is not str or type(quantity) is not int or type(currency) is not str:
            raise _Unexpected
        built.append(OrderItem(product_id=pid, quantity=quantity, unit_price=parse_decimal(item["unit_price"]),
                               currency=currency))
    address = canonical.get("shipping_address")
    if address is not None:
        if type(address) is not dict:
            raise _Unexpected
        address = Address(country=_optional_text(address.get("country")), state=_optional_text(address.get("state")),
                          city=_optional_text(address.get("city")))
    total = canonical.get("order_total")
    order_id, customer_id = canonical["order_id"], canonical["customer_id"]
    channel, status = canonical["channel"], canonical["status"]
    if type(order_id) is not str or type(customer_id) is not str or type(channel) is not str or type(status) is not str:
        raise _Unexpected
    return OrderEvent(order_id=order_id, customer_id=customer_id, timestamp=parse_timestamp(canonical["timestamp"]),
                      channel=channel, items=tuple(built), status=status, shipping_address=address,
                      order_total=None if total is None else parse_decimal(total))


def structure_order_or_convert(converter: cattrs.Converter, canonical: dict[str, Any]) -> OrderEvent:
    """:func:`structure_order`, or the converter for what it leaves."""
    try:
        return structure_order(canonical)
    except Exception:  # noqa: BLE001  (whatever it refuses, the converter decides)
        return converter.structure(canonical, OrderEvent)  # type: ignore[no-any-return]
