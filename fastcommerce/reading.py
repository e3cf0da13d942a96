"""Reading the log back: parse exactly, detect if needed, upcast, validate, structure.

The log keeps records as received; everything here runs at read time, so a plugin added
or fixed later applies to every old record on the next read or rebuild.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import cattrs
import orjson

from .canonical import facts_of
from .converter import (
    structure_error_messages,
    structure_order_or_convert,
    structure_payload,
)
from .events import Event, LogRecord, OrderEvent, Problem
from .json_text import MAX_NESTING, stdlib_json, too_deep, unpaired_surrogate
from .upcasting import SchemaRegistry
from .validation import ValidationContext, ValidatorSet

CORE = "fastcommerce.core"


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# A number token with 16 or more digits may not survive a trip through a binary float.
# Found by mapping digits and dots to b"1" and the rest to b" ", then looking for 16 ones
# (one C pass each, ~8x faster than a regex; a run of dots alone also matches, which only
# sends the record to the exact parser).
_NUMBER_CHARS = bytes(49 if chr(i) in "0123456789." else 32 for i in range(256))
_LONG_RUN = b"1" * 16


def _has_long_number(raw: bytes) -> bool:
    return _LONG_RUN in raw.translate(_NUMBER_CHARS)


# A float read as zero or below the normal range may have lost its value: 1e-400 reads as
# 0.0 (a price with more than 2 decimals would pass as free), 2.5e-324 as 5e-324. A
# normal float with at most 15 significant digits is exactly the decimal its repr shows.
_SMALLEST_NORMAL = sys.float_info.min


class _Underflow(Exception):
    """A float that may not be the number written: the exact parser reads the record."""


def _exact(v: float) -> Decimal:
    if -_SMALLEST_NORMAL < v < _SMALLEST_NORMAL:  # 0.0 included: "0.0", or an underflow
        raise _Underflow
    return Decimal(repr(v))


def _decimals(value: Any) -> Any:
    """Floats to ``Decimal``, in place: the value was just parsed and belongs to no one."""
    if type(value) is float:
        return _exact(value)
    if type(value) is dict:
        for k, v in value.items():
            t = type(v)
            if t is float:
                value[k] = _exact(v)
            elif t is dict or t is list:
                _decimals(v)
    elif type(value) is list:
        for i, v in enumerate(value):
            t = type(v)
            if t is float:
                value[i] = _exact(v)
            elif t is dict or t is list:
                _decimals(v)
    return value


def parse_exact(raw: bytes) -> Any:
    """JSON with every non-integer number as ``Decimal``: money is never a binary float.

    Fast path: orjson, then each float becomes the ``Decimal`` of its shortest repr, which is
    exactly the number written whenever it has at most 15 significant digits and is in the
    normal range. A record with a longer digit run anywhere (a 20-digit price, a huge
    integer), or a float that came out zero or subnormal (``1e-400``), takes the exact
    stdlib parser instead, so no value is ever rounded.
    """
    if too_deep(raw):
        raise ValueError(f"nested deeper than {MAX_NESTING} levels")
    if not _has_long_number(raw):
        try:
            return _decimals(orjson.loads(raw))
        except (orjson.JSONDecodeError, _Underflow):
            pass  # the stdlib parser reads it exactly, or gives the error message
    value = stdlib_json(raw, parse_float=Decimal, parse_constant=_refuse)
    bad = unpaired_surrogate(value)  # orjson refuses these; a record stored before ingest did too
    if bad is not None:
        raise ValueError(f"{bad!r} holds an unpaired surrogate, which UTF-8 cannot encode")
    return value


def _rejected(record: LogRecord, code: str, reason: str) -> Event:
    return Event(record=record, canonical=None, payload=None,
                 problems=(Problem(code=code, severity="error", reason=reason, validator=CORE),))


def _structure_problems(exc: Exception) -> tuple[Problem, ...]:
    messages = structure_error_messages(exc)
    return tuple(
        Problem(code="malformed_record", severity="error", reason=f"cannot structure: {m}", validator=CORE)
        for m in messages
    )


class CatalogView:
    """The catalog as it stands at one point of the log: valid catalog events folded in
    log order. Readers advance it as they go, so each event is checked against the catalog
    at its own place in the log, and a rebuild reproduces every check."""

    def __init__(self, products: dict[str, Any] | None = None, stream: str | None = None) -> None:
        self.products: dict[str, Any] = dict(products or {})
        self.stream = stream  # the stream holding the catalog role (None: no catalog loaded)

    def advance(self, event: Event) -> None:
        if event.stream == self.stream and event.payload is not None:
            self.products[event.payload.product_id] = event.payload

    def copy(self) -> CatalogView:
        return CatalogView(self.products, self.stream)


class EventReader:
    """Turns stored :class:`LogRecord` rows into validated :class:`Event` objects.

    One path for every record: parse exactly, detect the variant if needed, upcast, run
    every validator of its stream, structure the payload. Each rule is stated once, in its
    validator; ingest runs this once per record and writes the canonical rows.
    """

    def __init__(self, registry: SchemaRegistry, validators: ValidatorSet, converter: cattrs.Converter,
                 *, payload_types: Mapping[str, type] | None = None,
                 catalog_stream: str | None = None, plain_converter: bool = False) -> None:
        self.registry, self.validators, self.converter = registry, validators, converter
        self.plain_converter = plain_converter
        """No plugin configures the converter: orders are built without cattrs's dispatch."""
        self.payload_types = dict(payload_types or {})
        self.catalog_stream = catalog_stream
        """The stream with the catalog role: other records are validated against its products."""
        self._structurers: dict[str, Any] = {}

    def structure_for(self, stream: str) -> Any:
        """``structure(canonical)`` for records of ``stream``."""
        found = self._structurers.get(stream)
        if found is None:
            cls = self.payload_types[stream]
            if cls is OrderEvent and self.plain_converter:
                found = functools.partial(structure_order_or_convert, self.converter)
            else:
                found = functools.partial(structure_payload, self.converter, cls)
            self._structurers[stream] = found
        return found

    def canonical_of(self, record: LogRecord) -> dict[str, Any] | None:
        """The canonical dict of a valid record, from its raw bytes (on demand only)."""
        value = parse_exact(record.raw)
        variant, version = record.variant, record.schema_version
        if variant is None or not self.registry.knows(record.stream, variant, version):
            schema = self.registry.detect(record.stream, value, where=record.where)
            if schema is None:
                return None
            variant, version = schema.node
        return self.registry.upcast(record.stream, variant, version, value, where=record.where)  # type: ignore[arg-type]

    def decode(self, record: LogRecord, *, catalog: Any = None) -> Event:
        if record.rejected == "malformed_record":
            return _rejected(record, "malformed_record", record.reason or "malformed record")
        try:
            value = parse_exact(record.raw)
        except (ValueError, RecursionError) as exc:
            return _rejected(record, "malformed_record", f"not valid JSON: {exc}")
        stream = record.stream
        variant, version = record.variant, record.schema_version
        if variant is None or not self.registry.knows(stream, variant, version):
            schema = self.registry.detect(stream, value, where=record.where)
            if schema is None:
                return _rejected(record, "unknown_schema", f"matches no registered {stream} variant")
            variant, version = schema.node
        canonical = self.registry.upcast(stream, variant, version, value, where=record.where)  # type: ignore[arg-type]
        context = ValidationContext(record=record, catalog=catalog)
        problems = self.validators.run(stream, canonical, context)
        payload = None
        if not any(p.is_error for p in problems):
            try:
                payload = self.structure_for(stream)(canonical)
            except Exception as exc:  # a shape no validator caught: quarantine, never crash
                problems.extend(_structure_problems(exc))
        facts = facts_of(payload) if type(payload) is OrderEvent else None
        return Event(record=record, canonical=canonical, payload=payload, problems=tuple(problems), facts=facts)

    def catalog_at(self, log: Any, offset: int, *, known: tuple[int, CatalogView] | None = None) -> CatalogView:
        """The catalog view as of ``offset`` (every catalog record up to and including it).
        ``known``, the view as of an earlier offset, saves reading the catalog history
        before it again (the log before an offset never changes); it is copied, not changed."""
        start, view = 0, CatalogView(stream=self.catalog_stream)
        if known is not None and known[0] <= offset:
            start, view = known[0], known[1].copy()
        if offset > start and self.catalog_stream is not None:  # each record checked against the catalog before it
            for _event in self.decode_all(log.read(start, stream=self.catalog_stream, to_offset=offset), view):
                pass
        return view

    def decode_all(self, records: Iterable[LogRecord], view: CatalogView,
                   streams: frozenset[str] | None = None) -> Iterator[Event]:
        """Decode in log order, advancing ``view`` past each catalog event. With ``streams``,
        records of other streams are skipped undecoded (catalog records are still decoded:
        the view needs them)."""
        decode, products, catalog = self.decode, view.products, self.catalog_stream
        for record in records:
            stream = record.stream
            if stream == catalog:
                event = decode(record, catalog=products)
                view.advance(event)
                if streams is None or stream in streams:
                    yield event
            elif streams is None or stream in streams:
                yield decode(record, catalog=products)
