"""The log's hash chain: tamper evidence for a file anyone who can open it could edit.

The triggers refuse UPDATE and DELETE, but whoever can write the file can drop them. So
each log row also carries ``raw_hash`` (SHA-256 of its stored raw bytes: the idempotency
key ``content_hash`` is not always that, a CSV row and an oversized record are keyed on
their identity) and ``chain_hash``::

    chain_hash = SHA-256(previous row's chain_hash || offset (8 bytes, big-endian)
                         || raw_hash || content_hash || stream || NUL
                         || JSON array of natural_key .. reason)

with 32 zero bytes before the first row. Editing, removing, inserting or reordering a row
breaks the chain at the first row concerned, which :func:`check` names. Whoever can write
the file can also recompute the whole chain: what proves the log was not rewritten is the
head hash (``fastcommerce status``) written down elsewhere and checked later with
``verify --expect-head`` (docs/security.md).

This module imports nothing of the package: the schema's migration and the log's append
both use it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs
import orjson

GENESIS = bytes(32)
"""What the first row's chain hash is computed over in place of a previous one."""

_sha256 = hashlib.sha256
_dumps = orjson.dumps

_META = ("stream, content_hash, natural_key, event_time, recorded_at, source, line, variant, "
         "schema_version, rejected, reason")
"""The columns a row's chain hash covers besides its offset and raw bytes, in this order."""


def link(prev: bytes, offset: int, row: Sequence[Any], raw_digest: bytes) -> bytes:
    """The chain hash of a row whose columns are ``row``: the log's insert order, stream,
    content_hash, natural_key, event_time, recorded_at, source, line, variant,
    schema_version, rejected, reason (and raw, which ``raw_digest`` stands for). The stream
    (a registered name: no NUL) ends with a NUL, the other columns are one JSON array."""
    return _sha256(b"".join((prev, offset.to_bytes(8, "big"), raw_digest, row[1], row[0].encode(), b"\0",
                             _dumps(row[2:11])))).digest()


def chained(prev: bytes, first_offset: int, rows: Iterable[Sequence[Any]], *,
            raw_hashes: Iterable[bytes] | None = None) -> Iterator[tuple[Any, ...]]:
    """``rows`` (insert order, raw last) as ``(*row, raw_hash, chain_hash)``, for offsets
    from ``first_offset`` on, chained to ``prev``. ``raw_hashes``: each row's SHA-256 of its
    raw bytes, when the caller has them already (ingest hashed every record to key it)."""
    sha256, dumps, join, nul = _sha256, _dumps, b"".join, b"\0"  # one row's cost is all in this loop
    offset = first_offset
    if raw_hashes is None:
        raw_hashes = (sha256(row[11]).digest() for row in rows)
    for row, digest in zip(rows, raw_hashes, strict=True):
        prev = sha256(join((prev, offset.to_bytes(8, "big"), digest, row[1], row[0].encode(), nul,
                            dumps(row[2:11])))).digest()
        yield (*row, digest, prev)
        offset += 1


def head(conn: sqlite3.Connection, table: str) -> tuple[int, bytes]:
    """``(offset, chain_hash)`` of the log's last row; ``(0, GENESIS)`` for an empty log."""
    row = conn.execute(f'SELECT "offset", chain_hash FROM {table} ORDER BY "offset" DESC LIMIT 1').fetchone()
    if row is None:
        return 0, GENESIS
    return row[0], row[1] if row[1] is not None else GENESIS


@attrs.frozen(kw_only=True, slots=True)
class ChainCheck:
    """What :func:`check` found. ``bad_offset``: the first offset that does not match (or
    the first missing one); ``None`` when the chain holds."""

    records: int
    head_offset: int
    head_hash: str
    bad_offset: int | None = None
    problem: str | None = None
    expected_head_found: bool | None = None  # None: no head hash was given to look for

    @property
    def ok(self) -> bool:
        return self.bad_offset is None and self.problem is None and self.expected_head_found is not False


def reached(conn: sqlite3.Connection, table: str) -> int:
    """The highest offset the log ever handed out (AUTOINCREMENT's record), 0 if none."""
    try:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [table]).fetchone()
    except sqlite3.OperationalError:  # no AUTOINCREMENT table yet
        return 0
    return int(row[0]) if row else 0


def check(conn: sqlite3.Connection, table: str, *, expect_head: str | None = None,
          batch: int = 20_000, handed_out: int | None = None) -> ChainCheck:
    """Recompute every row's raw hash and chain hash from its stored bytes and columns, in
    offset order, and name the first row that does not match. ``expect_head``: a head hash
    written down earlier (hex), which must be one of the recomputed chain hashes.
    ``handed_out``: the highest offset the log ever gave (default: :func:`reached`)."""
    sql = (f'SELECT "offset", {_META}, raw, raw_hash, chain_hash FROM {table} '
           'WHERE "offset" > ? ORDER BY "offset" LIMIT ?')
    prev, prev_offset, n = GENESIS, 0, 0
    want = bytes.fromhex(expect_head) if expect_head else None
    found = None if want is None else False
    last = 0
    while True:
        rows = conn.execute(sql, [last, batch]).fetchall()
        if not rows:
            break
        for row in rows:
            offset = row[0]
            if not isinstance(row[12], bytes | bytearray | memoryview):  # an edit that stored text, say
                return _bad(n, prev_offset, prev, offset,
                            f"offset {offset}: its raw bytes are not bytes (the record was edited)")
            digest = _sha256(row[12]).digest()
            if row[13] != digest:
                return _bad(n, prev_offset, prev, offset,
                            f"offset {offset}: its raw bytes do not match its raw hash (the record was edited)")
            if link(prev, offset, row[1:12], digest) != row[14]:
                if offset != prev_offset + 1:  # name the first missing offset
                    return _bad(n, prev_offset, prev, prev_offset + 1,
                                f"offset {prev_offset + 1}: missing, offset {offset}'s chain hash does not follow "
                                f"offset {prev_offset}'s (offsets {prev_offset + 1}..{offset - 1} were removed)")
                return _bad(n, prev_offset, prev, offset,
                            f"offset {offset}: its chain hash does not match (the record was edited, "
                            "inserted or moved, or one before it removed)")
            prev, prev_offset = row[14], offset
            n += 1
            if want is not None and prev == want:
                found = True
        last = rows[-1][0]
    if handed_out is None:
        handed_out = reached(conn, table)
    if handed_out > prev_offset:
        return ChainCheck(records=n, head_offset=prev_offset, head_hash=prev.hex(), bad_offset=prev_offset + 1,
                          problem=f"offsets {prev_offset + 1}..{handed_out} were removed from the end of the log "
                                  f"(it had reached offset {handed_out})", expected_head_found=found)
    problem = None
    if found is False:
        problem = (f"the head hash {expect_head} is not in this log's chain: the log was rewritten "
                   "or cut short since it was written down")
    return ChainCheck(records=n, head_offset=prev_offset, head_hash=prev.hex(), problem=problem,
                      expected_head_found=found)


def _bad(n: int, prev_offset: int, prev: bytes, offset: int, why: str) -> ChainCheck:
    return ChainCheck(records=n, head_offset=prev_offset, head_hash=prev.hex(), bad_offset=offset, problem=why)


def backfill(conn: sqlite3.Connection, table: str, batch: int = 20_000) -> int:
    """Give every row of a log written before the chain existed its raw and chain hash,
    in offset order (the caller drops and restores the UPDATE trigger around it). How
    many rows it chained."""
    sql = f'SELECT "offset", {_META}, raw FROM {table} WHERE "offset" > ? ORDER BY "offset" LIMIT ?'
    prev, last, n = GENESIS, 0, 0
    while True:
        rows = conn.execute(sql, [last, batch]).fetchall()
        if not rows:
            return n
        updates = []
        for row in rows:
            digest = _sha256(row[12]).digest()
            prev = link(prev, row[0], row[1:12], digest)
            updates.append((digest, prev, row[0]))
        conn.executemany(f'UPDATE {table} SET raw_hash = ?, chain_hash = ? WHERE "offset" = ?', updates)
        n += len(rows)
        last = rows[-1][0]
