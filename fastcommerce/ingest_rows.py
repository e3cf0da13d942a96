"""A read record as the log row ingest appends: hashed, parsed if the reader left that to
us, detected, its natural key and event time read. One function, run by ingest itself or
by a decode worker (fastcommerce/decode_workers.py), so either way gives the same row.

An item is ``(line, raw, value, malformed, identity)``, a
:class:`~fastcommerce.sources.RawRecord`'s fields. ``value is None`` with ``malformed is
None`` means the reader did not parse the line (``read_jsonl(..., parse=False)``): it is
parsed here, with the reader's own rule, so the parse happens where the rest of the
record's work does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .converter import parse_timestamp
from .memory import gc_paused
from .sources import _json_kind, parse_json
from .times import format_time
from .upcasting import SchemaRegistry

Item = tuple[int, bytes, Any, "str | None", "bytes | None"]


def content_hash(raw: bytes) -> bytes:
    """The idempotency key: SHA-256 of the record's bytes, line terminator aside."""
    return hashlib.sha256(raw).digest()


def log_rows(stream: str, source: str, recorded_at: str, items: Iterable[Item], registry: SchemaRegistry,
             ) -> tuple[list[tuple], list[datetime | None], dict[bytes, bytes]]:
    """``(rows, moments, legacy)`` of ``items``: each one's log row (the columns of
    :meth:`~fastcommerce.eventlog.EventLog.insert`), its event time, and, for a record keyed
    on an ``identity`` (a CSV row: its own bytes), ``hash -> hash of the stored bytes``, what
    logs written before that keyed it on. The garbage collector is paused meanwhile: a batch
    allocates many objects and frees none."""
    rows: list[tuple] = []
    moments: list[datetime | None] = []
    legacy: dict[bytes, bytes] = {}
    canonical = registry.canonical(stream)
    detect, upcast = registry.detect, registry.upcast
    sha256 = hashlib.sha256
    with gc_paused():
        for line, raw, value, malformed, identity in items:
            if identity is None:
                h = sha256(raw).digest()
            else:
                h = sha256(identity).digest()
                legacy[h] = sha256(raw).digest()
            if value is None and malformed is None:  # left to us by the reader
                value, malformed = parse_json(raw)
                if malformed is None and not isinstance(value, dict):
                    malformed, value = f"JSON {_json_kind(value)}, not an object", None
            if malformed is not None:
                rows.append((stream, h, None, None, recorded_at, source, line,
                             None, None, "malformed_record", malformed, raw))
                moments.append(None)
                continue
            where = f"{source}:{line}"
            schema = detect(stream, value, where=where)
            if schema is None:
                rows.append((stream, h, None, None, recorded_at, source, line, None, None,
                             "unknown_schema", f"matches no registered {stream} variant", raw))
                moments.append(None)
                continue
            if schema.key_field or schema.time_field:  # the shape says where they are
                key_field, time_field = schema.key_field, schema.time_field
            else:  # only the canonical shape knows: upcast first
                value = upcast(stream, schema.variant, schema.version, value, where=where)
                key_field, time_field = canonical.key_field, canonical.time_field
            key = value.get(key_field) if key_field else None
            moment = None
            if time_field:
                try:
                    moment = parse_timestamp(value.get(time_field))
                except (ValueError, OverflowError):
                    moment = None
            rows.append((stream, h, None if key is None else str(key),
                         None if moment is None else format_time(moment), recorded_at,
                         source, line, schema.variant, schema.version, None, None, raw))
            moments.append(moment)
    return rows, moments, legacy
