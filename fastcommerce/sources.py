"""Readers of the three input formats, yielding one raw record per contract record.

Readers never raise on bad content: a line that cannot be parsed comes back with a
``malformed`` reason and its raw bytes, so the ingester can keep it in the log. Only a file
that cannot be opened at all is an error. Files are read as bytes, line by line, and a line
in bounded chunks, so memory stays flat whatever the file size and however long a line is: a
record over the size limit keeps only its first ``max_record_bytes`` bytes (its reason gives
its true size) and is identified, for exact duplicates, by the SHA-256 of all of its bytes.

A file may still be being written: its last line may be only the start of one. The readers
yield that line as they find it, marked ``unterminated``; whether it is taken as it is or held
back for a later read is one rule, :func:`settled` (see docs/sources.md).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import orjson

from .json_text import (  # noqa: F401 -- parse_json and the rest, re-exported: they were defined here
    MAX_NESTING,
    _json_kind,
    _refuse_constant,
    parse_json,
    stdlib_json,
    too_deep,
    unpaired_surrogate,
)
from .source_files import compression, damage_of, open_source

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
    # the file ends inside this record (no line break after it, or inside a CSV row's quotes):
    # its writer may not have finished it (see :func:`settled`)
    unterminated: bool = False

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


def settled(path: Path, settle: float, *, now: float | None = None) -> bool:
    """Whether a file's unterminated last line is taken as it is (the one rule, for ``ingest``,
    ``run`` and ``--follow``): the file has not been modified for ``settle`` seconds (its
    mtime against the wall clock), so its writer is taken to be done with it. ``0``: the file
    is complete, always take it; ``inf``: never, only a line break ends a line. Until then
    the line is held back, the checkpoint before it, and read again when the file grows. A
    file that cannot be looked at (renamed or removed meanwhile) has not settled: nothing is
    lost, the next read sees it again."""
    if settle <= 0:
        return True
    if math.isinf(settle):
        return False
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - mtime >= settle


def _unterminated(rec: RawRecord) -> RawRecord:
    return attrs.evolve(rec, unterminated=True)


_BOM = b"\xef\xbb\xbf"
_MIN_CHUNK = 1 << 16


def _chunk(max_record_bytes: int) -> int:
    """How much of a line one read takes: a chunk without a line break is over the limit
    whatever terminator follows, so a line within it is always read in one go."""
    return max(max_record_bytes + 3, _MIN_CHUNK)


def oversized_identity(digest: bytes) -> bytes:
    """What an exact duplicate of a record over the size limit repeats, when only a prefix of
    it is stored: the SHA-256 of all its bytes (line terminator aside), behind a marker that
    starts with a line break, so it is never the bytes of a line of an order file."""
    return b"\noversized record, sha256 " + digest


def oversized_identity_of(data: bytes) -> bytes:
    """:func:`oversized_identity` of bytes held whole."""
    return oversized_identity(hashlib.sha256(data).digest())


def over_limit(what: str, size: int, limit: int) -> str:
    return f"{what} is {size:,} bytes, over the {limit:,}-byte limit (the first {limit:,} bytes are kept)"


class _Capped:
    """One record's bytes, added chunk by chunk as they are read: held whole while they are
    within the limit (and a line terminator), then only their first ``limit`` bytes, with the
    full length counted and the SHA-256 of ``salt`` and all of them computed as they pass.
    The last two bytes are hashed only at the end, once it is known which are the line
    terminator (left out, as everywhere)."""

    __slots__ = ("hasher", "limit", "parts", "prefix", "salt", "size", "tail")

    def __init__(self, limit: int, salt: bytes = b"") -> None:
        self.limit, self.salt, self.size = limit, salt, 0
        self.parts: list[bytes] | None = []
        self.prefix = self.tail = b""
        self.hasher: Any = None

    @property
    def over(self) -> bool:
        return self.hasher is not None

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.hasher is None:
            assert self.parts is not None
            self.parts.append(chunk)
            if self.size > self.limit + 2:  # over the limit whatever the line terminator
                data = b"".join(self.parts)
                self.parts, self.prefix = None, data[:self.limit]
                self.hasher = hashlib.sha256(self.salt)
                self.hasher.update(memoryview(data)[:-2])
                self.tail = data[-2:]
        elif len(chunk) >= 2:
            self.hasher.update(self.tail)
            self.hasher.update(memoryview(chunk)[:-2])
            self.tail = chunk[-2:]
        else:
            data = self.tail + chunk
            self.hasher.update(data[:-2])
            self.tail = data[-2:]

    def finish(self) -> tuple[bytes, int, bytes | None]:
        """``(bytes to store, the record's length, identity)``: the record without its line
        terminator and ``None`` when within the limit; else its first ``limit`` bytes and
        :func:`oversized_identity`."""
        if self.hasher is None:
            assert self.parts is not None
            body = strip_eol(b"".join(self.parts))
            if len(body) <= self.limit:
                return body, len(body), None
            return body[:self.limit], len(body), oversized_identity_of(self.salt + body)
        tail = strip_eol(self.tail)
        self.hasher.update(tail)
        return self.prefix, self.size - len(self.tail) + len(tail), oversized_identity(self.hasher.digest())


def _read_line(readline: Callable[[int], bytes], first: bytes, acc: _Capped, chunk: int) -> bool:
    """Add one physical line, ``first`` being its first chunk, to ``acc``, reading the rest of
    it chunk by chunk; whether it ends with a line break (if not, the file ends there)."""
    acc.add(first)
    raw = first
    while len(raw) == chunk and not raw.endswith(b"\n"):
        raw = readline(chunk)
        if not raw:
            return False
        acc.add(raw)
    return raw.endswith(b"\n")


def read_jsonl(
    path: Path, *, start: int = 0, line: int = 0, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    complete_lines_only: bool = False, parse: bool = True,
) -> Iterator[RawRecord]:
    """Order events, one per line. Every line is a record, blank ones included; the
    newline that ends the file does not start a line. A last line without its newline is
    yielded ``unterminated`` (with ``complete_lines_only``, not at all: it is left for
    later). A UTF-8 byte order mark at the very start of the file is not part of the first
    record, as in the CSV and catalog readers; anywhere else it is data. A line over
    ``max_record_bytes`` is never held whole: see :class:`_Capped`. ``parse=False``: a
    non-blank line within the limit comes with neither value nor reason, for the caller to
    parse (ingest does, in :func:`fastcommerce.ingest_rows.log_rows`, where the decode is)."""
    chunk = _chunk(max_record_bytes)
    with open_source(path, start) as fh:
        pos = start
        if start == 0 and fh.peek(len(_BOM))[:len(_BOM)] == _BOM:
            fh.read(len(_BOM))
            pos = len(_BOM)  # not part of the first record, but counted in the offsets
        readline = fh.readline
        for raw in iter(partial(readline, chunk), b""):
            ended = raw.endswith(b"\n")
            if ended or len(raw) < chunk:  # the whole line
                if complete_lines_only and not ended:
                    return
                line += 1
                pos += len(raw)
                body = strip_eol(raw)
                if len(body) <= max_record_bytes:
                    if not body.strip():
                        rec = RawRecord(line, pos, body, None, "blank line")
                    elif not parse:
                        rec = RawRecord(line, pos, body)
                    else:
                        value, reason = parse_json(body)
                        if reason is None and not isinstance(value, dict):
                            reason = f"JSON {_json_kind(value)}, not an object"
                        rec = RawRecord(line, pos, body, value if reason is None else None, reason)
                    yield rec if ended else _unterminated(rec)
                    continue
                acc = _Capped(max_record_bytes)
                acc.add(raw)
            else:  # a line longer than a chunk: read on to its end, keeping only its start
                acc = _Capped(max_record_bytes)
                ended = _read_line(readline, raw, acc, chunk)
                if complete_lines_only and not ended:
                    return
                line += 1
                pos += acc.size
            kept, size, identity = acc.finish()
            yield RawRecord(line, pos, kept, None, over_limit("line", size, max_record_bytes), identity=identity,
                            unterminated=not ended)
        damage = damage_of(fh)
        if damage is not None and not complete_lines_only:
            yield damaged(path, line + 1, pos, damage)


def damaged(path: Path, line: int, pos: int, damage: str) -> RawRecord:
    """The record that stands for the rest of a compressed file whose data is damaged (or
    truncated: still being written, or cut short): what came before it was read. It is
    ``unterminated``, so a file still being written is waited for (:func:`settled`), and
    identified by the file and the place, so running again does not append it twice."""
    kind = compression(path) or "compressed"
    why = f"the {kind} data is damaged or cut short after {pos:,} bytes of content ({damage}); the rest is unread"
    identity = f"\ndamaged {kind} data in {Path(path).resolve()} after byte {pos}: {damage}".encode()
    return RawRecord(line, pos, b"", None, why, identity=identity, unterminated=True)


def read_csv_header(
    path: Path, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> tuple[list[str] | None, int, str | None, bytes]:
    """``(columns, byte length of the header line, problem, the header's bytes)``. A header
    over ``max_record_bytes`` is a problem, and its bytes are then its
    :func:`oversized_identity` (what tells it from another header in a row's identity)."""
    chunk = _chunk(max_record_bytes)
    acc = _Capped(max_record_bytes)
    with open_source(path) as fh:
        _read_line(fh.readline, fh.readline(chunk), acc, chunk)
    body, size, identity = acc.finish()
    body = body.removeprefix(_BOM)  # not part of the header: with or without it, the same rows
    if identity is not None:
        return None, acc.size, f"header is {size:,} bytes, over the {max_record_bytes:,}-byte limit", identity
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, acc.size, f"header is not valid UTF-8 (byte {exc.start})", body
    if not text.strip():
        return None, acc.size, "no header row", body
    columns = [c.strip() for c in next(csv.reader([text]))]
    return columns, acc.size, None, body


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


def _csv_rows(fh: Any, max_record_bytes: int,
              salt: bytes) -> Iterator[tuple[int, bytes, int, bytes | None, int, bool]]:
    """``(bytes read, row bytes, row length, identity if over the limit, physical lines,
    whether it ended)`` per CSV row (row bytes and length without the line terminator): a
    quoted field may hold line breaks. A row has not ended when the file ends inside it (its
    last line has no line break, or its quotes are still open): it may still be written.
    A row that would pass ``max_record_bytes`` stops there, so an unclosed quote costs one
    malformed row, not the rest of the file; a row over it is never held whole (``salt``
    starts its identity then, see :class:`_Capped`)."""
    readline, chunk = fh.readline, _chunk(max_record_bytes)
    for raw in iter(partial(readline, chunk), b""):
        ended = raw.endswith(b"\n")
        if b'"' not in raw and (ended or len(raw) < chunk):  # a whole line, a whole row
            body = strip_eol(raw)
            if len(body) <= max_record_bytes:
                yield len(raw), body, len(body), None, 1, ended
                continue
        acc = _Capped(max_record_bytes, salt)
        ended = _read_line(readline, raw, acc, chunk)
        lines = 1
        # within the limit, ``raw`` is the whole line: a longer one takes more than a chunk
        inside = not acc.over and b'"' in raw and _open_quote(raw)
        while inside and acc.size <= max_record_bytes:
            more = readline(chunk)
            if not more:  # the file ends inside the quotes: the csv module will say so
                ended = False
                break
            ended = _read_line(readline, more, acc, chunk)
            lines += 1
            inside = not acc.over and _open_quote(more, inside=True)
        yield acc.size, *acc.finish(), lines, ended


def read_csv(
    path: Path, *, start: int = 0, line: int = 0, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    complete_lines_only: bool = False,
) -> Iterator[RawRecord]:
    """Inventory rows. The header names the columns, in any order; each data row becomes a
    dict keyed by the header, stored as compact JSON. An exact duplicate is the same row
    bytes under the same header bytes (the contract's "byte-identical"; the header is part
    of it because the same row under another header says something else). A last row the
    file ends inside is yielded ``unterminated`` (with ``complete_lines_only``, not at all)."""
    columns, header_len, problem, header = read_csv_header(path, max_record_bytes)
    salt = header + b"\n"
    if start < header_len:
        start, line = header_len, 1
    with open_source(path, start) as fh:
        pos = start
        for read, body, size, over, lines, ended in _csv_rows(fh, max_record_bytes, salt):
            if complete_lines_only and not ended:
                return
            first, line = line + 1, line + lines
            pos += read
            rec = _csv_record(first, pos, line, body, size, over, salt, columns, problem, max_record_bytes)
            yield rec if ended else _unterminated(rec)
        damage = damage_of(fh)
        if damage is not None and not complete_lines_only:
            yield damaged(path, line + 1, pos, damage)


def _csv_record(first: int, pos: int, line: int, body: bytes, size: int, over: bytes | None, salt: bytes,
                columns: list[str] | None, problem: str | None, max_record_bytes: int) -> RawRecord:
    """One CSV row's record: its value keyed by the header, or why it has none."""
    identity = salt + body if over is None else over
    if over is not None:
        why = over_limit("row", size, max_record_bytes)
        if problem is not None:
            why = f"cannot read the file's header: {problem}; {why}"
        return RawRecord(first, pos, body, None, why, line, identity)
    if problem is not None:
        return RawRecord(first, pos, body, None, f"cannot read the file's header: {problem}", line, identity)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RawRecord(first, pos, body, None, f"not valid UTF-8 (byte {exc.start})", line, identity)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        return RawRecord(first, pos, body, None, f"not a valid CSV row: {exc}", line, identity)
    row = rows[0] if rows else []
    assert columns is not None
    if len(rows) > 1 or len(row) != len(columns):
        why = (f"row has {len(row)} fields, the header has {len(columns)}" if len(rows) <= 1
               else "not a valid CSV row: a line break outside quotes")
        return RawRecord(first, pos, body, None, why, line, identity)
    value = dict(zip(columns, row))
    return RawRecord(first, pos, orjson.dumps(value), value, None, line, identity)


def read_catalog(path: Path, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, **_: Any) -> Iterator[RawRecord]:
    """Catalog products: a JSON list, or an object ``{"products": [...]}``.

    Each product is a record whose raw bytes are its own text in the file, so the record
    keeps exactly what was received and carries the line it starts on. A document that
    breaks part-way keeps the products before the break and one malformed record for the
    rest. The catalog is small: it is read whole. A record over ``max_record_bytes`` (a
    product, or the rest of a broken document) is stored as its first ``max_record_bytes``
    bytes, identified by :func:`oversized_identity`, as in the other readers.
    """
    with open_source(Path(path)) as fh:
        data, damage = fh.read(), damage_of(fh)
    size = len(data)
    if damage is not None:  # what could be read, then the damage
        yield from read_catalog_bytes(data, max_record_bytes)
        yield damaged(path, 1 + data.count(b"\n"), size, damage)
        return
    yield from read_catalog_bytes(data, max_record_bytes)


def read_catalog_bytes(data: bytes, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[RawRecord]:
    """:func:`read_catalog` of a catalog's bytes."""
    size = len(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield _capped(RawRecord(1, size, data, None, f"not valid UTF-8 (byte {exc.start})"), max_record_bytes)
        return
    scanner = _CatalogScanner(text, size, max_record_bytes)
    yield from scanner.records(max_record_bytes)


def _capped(rec: RawRecord, limit: int) -> RawRecord:
    """A malformed catalog record that may be a large part of the file, over ``limit``: its
    first ``limit`` bytes, and a reason that says so."""
    if len(rec.raw) <= limit:
        return rec
    return attrs.evolve(rec, raw=rec.raw[:limit], identity=oversized_identity_of(rec.raw),
                        malformed=f"{rec.malformed}; {over_limit('the rest of the file', len(rec.raw), limit)}")


class _CatalogScanner:
    _decoder = json.JSONDecoder(parse_constant=_refuse_constant)

    def __init__(self, text: str, size: int, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.text, self.size, self.max_record_bytes = text, size, max_record_bytes
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
        return _capped(RawRecord(self._line(i), self.size, self.text[i:].encode("utf-8"), None, reason),
                       self.max_record_bytes)

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
        """The list's products. A reason the reader gives names the product by its index in
        the list and, when it can be read, its id, beside the line it starts on."""
        t = self.text
        i = self._ws(i + 1)
        if i < len(t) and t[i] == "]":
            return
        index = 0
        while i < len(t):
            start = i
            try:
                value, end = self._decoder.raw_decode(t, i)
            except (ValueError, RecursionError) as exc:
                yield self._rest(start, f"{product_name(index)} on: not valid JSON: {exc}")
                return
            raw = t[start:end].encode("utf-8")
            if len(raw) > max_record_bytes:
                yield RawRecord(self._line(start), self.size, raw[:max_record_bytes], None,
                                f"{product_name(index, value)}: {over_limit('product', len(raw), max_record_bytes)}",
                                identity=oversized_identity_of(raw))
            else:
                reason = None if isinstance(value, dict) else \
                    f"{product_name(index)}: JSON {_json_kind(value)}, not an object"
                yield RawRecord(self._line(start), self.size, raw, value if reason is None else None, reason)
            index += 1
            i = self._ws(end)
            if i >= len(t):
                break
            if t[i] == ",":
                i = self._ws(i + 1)
            elif t[i] == "]":
                return
            else:
                yield self._rest(i, f"expected ',' or ']' after {product_name(index - 1, value)}")
                return
        yield self._rest(len(t), "catalog list is not closed" + (f" after {product_name(index - 1)}" if index else ""))


def product_name(index: int, value: Any = None) -> str:
    """A catalog product as a reason names it: its index in the list (``products[41]``, from
    0, as a JSON path) and, when it is readable, its id (``products[41] "PROD-042"``)."""
    pid = value.get("product_id") if isinstance(value, dict) else None
    return f"products[{index}]" + (f" {orjson.dumps(pid).decode()}" if isinstance(pid, str) and pid.strip() else "")
