"""Readers of the three input formats, yielding one raw record per contract record.

Readers never raise on bad content: a line that cannot be parsed comes back with a
``malformed`` reason and its raw bytes, so the ingester can keep it in the log. Only a file
that cannot be opened at all is an error. Files are read as bytes, line by line, so memory
stays flat whatever the file size.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

DEFAULT_MAX_RECORD_BYTES = 1 << 20  # 1 MiB: far beyond any real order, well below memory limits

INVENTORY_COLUMNS = ("product_id", "available_quantity", "warehouse_location", "last_updated")


@attrs.frozen(slots=True)
class RawRecord:
    """One input record: where it is, its bytes, and its parsed value or why it has none."""

    line: int  # where the record starts
    end: int  # byte offset just after the record; where a resumed read starts
    raw: bytes
    value: Any = None
    malformed: str | None = None
    last_line: int = 0  # where it ends, when that is a later line (a quoted line break in CSV)
    identity: bytes | None = None  # what an exact duplicate repeats, when that is not ``raw``

    @property
    def lines_read(self) -> int:
        """The file's lines read up to the end of this record."""
        return max(self.line, self.last_line)


def strip_eol(raw: bytes) -> bytes:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
    return raw


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, reason)``. orjson first; stdlib only for what orjson
    refuses but JSON allows (integers beyond 64 bits)."""
    try:
        return orjson.loads(body), None
    except orjson.JSONDecodeError as exc:
        first_error = str(exc)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte {exc.start})"
    if not text.strip():
        return None, "blank line"
    try:
        return json.loads(text, parse_constant=_refuse_constant), None
    except (ValueError, RecursionError):
        return None, f"not valid JSON: {first_error}"


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def read_jsonl(
    path: Path, *, start: int = 0, line: int = 0, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    complete_lines_only: bool = False,
) -> Iterator[RawRecord]:
    """Order events, one per line. Every line is a record, blank ones included; the
    newline that ends the file does not start a line. With ``complete_lines_only`` (a
    file still being written) a last line without its newline is left for later."""
    with open(path, "rb") as fh:
        fh.seek(start)
        pos = start
        for raw in fh:
            if complete_lines_only and not raw.endswith(b"\n"):
                return
            line += 1
            pos += len(raw)
            body = strip_eol(raw)
            if len(body) > max_record_bytes:
                yield RawRecord(line, pos, body, None, f"line is {len(body)} bytes, over the {max_record_bytes}-byte limit")
                continue
            if not body.strip():
                yield RawRecord(line, pos, body, None, "blank line")
                continue
            value, reason = parse_json(body)
            if reason is None and not isinstance(value, dict):
                reason = f"JSON {_json_kind(value)}, not an object"
            yield RawRecord(line, pos, body, value if reason is None else None, reason)


def read_csv_header(path: Path) -> tuple[list[str] | None, int, str | None, bytes]:
    """``(columns, byte length of the header line, problem, the header's bytes)``."""
    with open(path, "rb") as fh:
        raw = fh.readline()
    body = strip_eol(raw)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, len(raw), f"header is not valid UTF-8 (byte {exc.start})", body
    if not text.strip():
        return None, len(raw), "no header row", body
    columns = [c.strip() for c in next(csv.reader([text]))]
    return columns, len(raw), None, body


def _open_quote(raw: bytes, inside: bool = False) -> bool:
    """Whether ``raw`` ends inside a quoted field (``inside``: it starts in one), as the
    csv module reads it: a quote opens a field only as its first character, and inside
    one a doubled quote is a quote. A quote elsewhere (``12" pizza``) is just a character."""
    field_start = not inside
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if inside:
            if c == 34:  # "
                if i + 1 < n and raw[i + 1] == 34:
                    i += 1
                else:
                    inside = False
        elif c == 34 and field_start:
            inside = True
        field_start = c in (44, 10, 13) and not inside  # , \n \r
        i += 1
    return inside


def _csv_rows(fh: Any, max_record_bytes: int, complete_lines_only: bool) -> Iterator[tuple[bytes, int]]:
    """``(row bytes, physical lines)`` per CSV row: a quoted field may hold line breaks.
    A row that would pass ``max_record_bytes`` stops there, so an unclosed quote costs one
    malformed row, not the rest of the file."""
    for raw in fh:
        if complete_lines_only and not raw.endswith(b"\n"):
            return
        lines = 1
        if b'"' in raw and _open_quote(raw):
            parts, size, inside = [raw], len(raw), True
            while inside and size <= max_record_bytes:
                more = fh.readline()
                if not more:
                    break  # the file ends inside the quotes: the csv module will say so
                if complete_lines_only and not more.endswith(b"\n"):
                    return  # the row is still being written
                parts.append(more)
                size, lines, inside = size + len(more), lines + 1, _open_quote(more, inside=True)
            raw = b"".join(parts)
        yield raw, lines


def read_csv(
    path: Path, *, start: int = 0, line: int = 0, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    complete_lines_only: bool = False,
) -> Iterator[RawRecord]:
    """Inventory rows. The header names the columns, in any order; each data row becomes a
    dict keyed by the header, stored as compact JSON. An exact duplicate is the same row
    bytes under the same header bytes (the contract's "byte-identical"; the header is part
    of it because the same row under another header says something else)."""
    columns, header_len, problem, header = read_csv_header(path)
    with open(path, "rb") as fh:
        if start < header_len:
            start, line = header_len, 1
        fh.seek(start)
        pos = start
        for raw, lines in _csv_rows(fh, max_record_bytes, complete_lines_only):
            first, line = line + 1, line + lines
            pos += len(raw)
            body = strip_eol(raw)
            identity = header + b"\n" + body
            if problem is not None:
                yield RawRecord(first, pos, body, None, f"cannot read the file's header: {problem}", line, identity)
                continue
            if len(body) > max_record_bytes:
                yield RawRecord(first, pos, body, None, f"row is {len(body)} bytes, over the {max_record_bytes}-byte limit",
                                line, identity)
                continue
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RawRecord(first, pos, body, None, f"not valid UTF-8 (byte {exc.start})", line, identity)
                continue
            try:
                rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
            except csv.Error as exc:
                yield RawRecord(first, pos, body, None, f"not a valid CSV row: {exc}", line, identity)
                continue
            row = rows[0] if rows else []
            assert columns is not None
            if len(rows) > 1 or len(row) != len(columns):
                why = (f"row has {len(row)} fields, the header has {len(columns)}" if len(rows) <= 1
                       else "not a valid CSV row: a line break outside quotes")
                yield RawRecord(first, pos, body, None, why, line, identity)
                continue
            value = dict(zip(columns, row))
            yield RawRecord(first, pos, orjson.dumps(value), value, None, line, identity)


def read_catalog(path: Path, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, **_: Any) -> Iterator[RawRecord]:
    """Catalog products: a JSON list, or an object ``{"products": [...]}``.

    Each product is a record whose raw bytes are its own text in the file, so the record
    keeps exactly what was received and carries the line it starts on. A document that
    breaks part-way keeps the products before the break and one malformed record for the
    rest. The catalog is small: it is read whole.
    """
    data = Path(path).read_bytes()
    size = len(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield RawRecord(1, size, data, None, f"not valid UTF-8 (byte {exc.start})")
        return
    scanner = _CatalogScanner(text, size)
    yield from scanner.records(max_record_bytes)


class _CatalogScanner:
    _decoder = json.JSONDecoder(parse_constant=_refuse_constant)

    def __init__(self, text: str, size: int) -> None:
        self.text, self.size = text, size
        self._pos, self._lineno = 0, 1  # positions only move forward: count lines incrementally

    def _ws(self, i: int) -> int:
        t = self.text
        while i < len(t) and t[i] in " \t\r\n":
            i += 1
        return i

    def _line(self, i: int) -> int:
        if i < self._pos:
            return self.text.count("\n", 0, i) + 1
        self._lineno += self.text.count("\n", self._pos, i)
        self._pos = i
        return self._lineno

    def _rest(self, i: int, reason: str) -> RawRecord:
        return RawRecord(self._line(i), self.size, self.text[i:].encode("utf-8"), None, reason)

    def records(self, max_record_bytes: int) -> Iterator[RawRecord]:
        i = self._ws(0)
        if i >= len(self.text):
            yield RawRecord(1, self.size, b"", None, "empty catalog file")
            return
        if self.text[i] == "{":
            i = yield from self._find_products(i)
            if i is None:
                return
        if self.text[i] != "[":
            yield self._rest(i, "catalog is neither a JSON list nor an object with a 'products' list")
            return
        yield from self._items(i, max_record_bytes)

    def _find_products(self, i: int):
        t = self.text
        i = self._ws(i + 1)
        while i < len(t) and t[i] != "}":
            try:
                key, i = self._decoder.raw_decode(t, i)
                i = self._ws(i)
                if t[i] != ":":
                    raise ValueError("expected ':'")
                i = self._ws(i + 1)
                if key == "products":
                    if t[i] != "[":
                        yield self._rest(i, "'products' is not a list")
                        return None
                    return i
                _, i = self._decoder.raw_decode(t, i)
                i = self._ws(i)
                if t[i] == ",":
                    i = self._ws(i + 1)
            except (ValueError, IndexError) as exc:
                yield self._rest(i, f"not valid JSON: {exc}")
                return None
        yield self._rest(i if i < len(t) else 0, "catalog object has no 'products' list")
        return None

    def _items(self, i: int, max_record_bytes: int) -> Iterator[RawRecord]:
        t = self.text
        i = self._ws(i + 1)
        if i < len(t) and t[i] == "]":
            return
        while i < len(t):
            start = i
            try:
                value, end = self._decoder.raw_decode(t, i)
            except (ValueError, RecursionError) as exc:
                yield self._rest(start, f"not valid JSON: {exc}")
                return
            raw = t[start:end].encode("utf-8")
            reason = None
            if len(raw) > max_record_bytes:
                reason = f"product is {len(raw)} bytes, over the {max_record_bytes}-byte limit"
            elif not isinstance(value, dict):
                reason = f"JSON {_json_kind(value)}, not an object"
            yield RawRecord(self._line(start), self.size, raw, value if reason is None else None, reason)
            i = self._ws(end)
            if i >= len(t):
                break
            if t[i] == ",":
                i = self._ws(i + 1)
            elif t[i] == "]":
                return
            else:
                yield self._rest(i, "expected ',' or ']' between products")
                return
        yield self._rest(len(t), "catalog list is not closed")


READERS = {"orders": read_jsonl, "inventory": read_csv, "catalog": read_catalog}
"""The reader of each built-in stream. Catalog files are always re-read whole."""
