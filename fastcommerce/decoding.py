"""Decoding: each log record detected, upcast and validated once, into canonical rows.

Ingest calls :meth:`Decoder.write` in the transaction that appends the raw rows and saves
the checkpoint, so a record is never in the log without its canonical rows. Each
``canon_records`` row names the decoder that produced it: per stream, a fingerprint of the
plugins (names and versions) whose schemas, upcasters, validators or converter hooks decide
how that stream reads. When those change, :meth:`Decoder.sync` derives again, from the raw
bytes, only the rows of the streams whose fingerprint moved, in committed batches (a kill
loses at most the batch in flight), before projections run. A log written before canonical
rows existed gets them the same way, once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from . import canonical
from .canonical import CATALOG, DECODERS, META, RECORDS, Rows
from .decode_workers import MIN_SLICE, DecodePool, Header, Job, Prepared
from .eventlog import LOG_TABLE, EventLog, _to_record
from .events import Event, LogRecord, Product
from .logs import get_logger
from .memory import gc_paused
from .reading import EventReader

logger = get_logger(__name__)

SYNC_BATCH = 5_000
"""Records derived again per committed transaction by :meth:`Decoder.sync`."""

Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)``: what is being derived (a stream, or ``"log"``), records done."""

_SELECT = ('"offset", stream, content_hash, natural_key, event_time, recorded_at, source, line, '
           "variant, schema_version, rejected, reason, raw")


def fingerprint_of(parts: Iterable[str]) -> str:
    return hashlib.blake2b(";".join(sorted(parts)).encode(), digest_size=12).hexdigest()


class _Catalog:
    """The catalog as of an offset of the log, advanced from ``canon_catalog``: the view
    every record is validated against (the catalog at its own place in the log)."""

    def __init__(self, stream: str | None = None) -> None:
        self.offset = -1
        self.products: dict[str, Product] = {}
        self.stream = stream  # the stream of the catalog role
        self.version = 0
        """Moves whenever ``products`` changes: decode workers are sent the products again."""

    def at(self, conn: Any, offset: int) -> dict[str, Product]:
        """The products as of ``offset`` (every valid catalog version up to it)."""
        if offset < self.offset:
            self.products = canonical.catalog_as_of(conn, offset)
            self.version += 1
        else:
            for _offset, product in canonical.catalog_changes(conn, self.offset, offset):
                self.products[product.product_id] = product
                self.version += 1
        self.offset = offset
        return self.products

    def advance(self, event: Event) -> None:
        if event.stream == self.stream and event.payload is not None:
            self.products[event.payload.product_id] = event.payload
            self.version += 1
        self.offset = max(self.offset, event.record.offset)


@attrs.define(slots=True)
class Ticket:
    """An ingest batch handed to the decode workers before it was appended (:meth:`Decoder.submit`)."""

    catalog_version: int
    """The catalog the workers decoded against: :meth:`Decoder.write_prepared` checks it still holds."""
    job: Job
    done: bool = False


def at_offsets(tables: tuple[list[tuple], ...], kept: Sequence[int], first: int, total: int) -> Rows:
    """Canonical rows keyed by their record's index in its batch (:func:`~fastcommerce.decode_workers.ingest_slice`)
    moved to the offsets the records got: the ``n``-th of ``kept`` (ascending indices, the
    records appended) at ``first + n``; the rows of the records left out (duplicates) dropped.
    ``total``: the records of the batch."""
    out = Rows()
    if len(kept) == total:  # nothing left out: one shift for all
        shift = first
        for mine, theirs in zip(out.tables(), tables):
            mine.extend([(row[0] + shift, *row[1:]) for row in theirs])
        return out
    offset_of = dict(zip(kept, range(first, first + len(kept))))
    get = offset_of.get
    for mine, theirs in zip(out.tables(), tables):
        mine.extend([(o, *row[1:]) for row in theirs if (o := get(row[0])) is not None])
    return out


class Decoder:
    """Decodes records into canonical rows, and keeps those rows current with the plugins."""

    def __init__(self, log: EventLog, reader: EventReader, fingerprints: Mapping[str, str],
                 plugins: Mapping[str, str] | None = None, *, workers: int = 1) -> None:
        self.log, self.reader = log, reader
        self.fingerprints = dict(fingerprints)
        self._plugins = dict(plugins or {})
        self._ids: dict[str, int] = {}
        self._catalog = _Catalog(reader.catalog_stream)
        self.pool = DecodePool(reader, workers)
        """Worker processes for large batches at ingest (``workers`` processes in all)."""

    # -- decoder ids ---------------------------------------------------------------------

    def decoder_id(self, stream: str) -> int:
        """The id of this stream's current decoder (registered on first use, inside the
        caller's transaction or one of its own)."""
        found = self._ids.get(stream)
        if found is not None:
            return found
        fp = self.fingerprints.get(stream) or fingerprint_of([f"stream={stream}"])
        conn = self.log.conn
        row = conn.execute(f"SELECT id FROM {DECODERS} WHERE stream = ? AND fingerprint = ?", [stream, fp]).fetchone()
        if row is None:  # another process may register it at the same moment: then its id
            sql = (f"INSERT INTO {DECODERS} (stream, fingerprint, plugins) VALUES (?, ?, ?) "
                   "ON CONFLICT (stream, fingerprint) DO NOTHING")
            args = [stream, fp, self._plugins.get(stream, "")]
            find = f"SELECT id FROM {DECODERS} WHERE stream = ? AND fingerprint = ?"
            if conn.in_transaction:
                conn.execute(sql, args)
                row = conn.execute(find, [stream, fp]).fetchone()
            else:
                with self.log.transaction():
                    conn.execute(sql, args)
                    row = conn.execute(find, [stream, fp]).fetchone()
        self._ids[stream] = row[0]
        return row[0]

    # -- at ingest -----------------------------------------------------------------------

    def can_submit(self, stream: str, records: int = MIN_SLICE) -> bool:
        """Whether a batch of ``records`` records of ``stream`` goes to the workers, read but
        not yet parsed, while ingest writes the batch before it (a batch smaller than a slice
        is prepared and decoded here; the catalog's records here, in order)."""
        return self.pool.workers > 1 and stream != self._catalog.stream and records >= MIN_SLICE

    def submit(self, stream: str, source: str, now: datetime, recorded_at: str, items: Sequence[Any]) -> Ticket:
        """Start preparing records read from ``source`` (their log rows) and decoding them
        (their canonical rows) on the workers; :meth:`~fastcommerce.decode_workers.DecodePool.collect`
        via :meth:`collect` takes the results. Outside any transaction."""
        products = self._catalog.at(self.log.conn, self.log.last_offset())
        header = Header(stream, source, now, recorded_at, self.decoder_id(stream))
        job = self.pool.submit(header, items, products, self._catalog.version)
        return Ticket(catalog_version=self._catalog.version, job=job)

    def collect(self, ticket: Ticket) -> Prepared:
        """The log rows and canonical rows of a submitted batch (the workers are free again)."""
        ticket.done = True
        return self.pool.collect(ticket.job)

    def discard(self, ticket: Ticket) -> None:
        """Drop a submitted batch whose rows will not be taken (the workers are stopped;
        they start again with the next batch)."""
        if not ticket.done:
            ticket.done = True
            self.pool.close()

    def write_prepared(self, first: int, kept: Sequence[int], total: int, tables: tuple[list[tuple], ...],
                       catalog_version: int) -> bool:
        """Write the canonical rows the workers decoded for a batch whose records ``kept``
        were just appended from offset ``first`` on (inside the append's transaction), if
        the catalog they were decoded against is still the log's; ``False`` (nothing written)
        if another writer moved it meanwhile: the caller decodes them again with :meth:`write`."""
        catalog = self._catalog
        catalog.at(self.log.conn, first - 1)
        if catalog.version != catalog_version:
            return False
        at_offsets(tables, kept, first, total).write(self.log.conn)
        catalog.offset = first + len(kept) - 1
        return True

    def write(self, records: Sequence[LogRecord]) -> None:
        """Decode freshly appended ``records`` (in log order) and write their canonical rows,
        inside the append's transaction. A batch without catalog records is decoded in
        slices by the :class:`~fastcommerce.decode_workers.DecodePool` (on both cores); the
        catalog's own records are decoded here, in order, each against the one before."""
        if not records:
            return
        conn = self.log.conn
        catalog = self._catalog
        products = catalog.at(conn, records[0].offset - 1)  # other writers may have added versions
        ids = {s: self.decoder_id(s) for s in {r.stream for r in records}}
        if catalog.stream not in ids:
            rows = self.pool.decode(records, products, catalog.version, ids)
        else:
            decode, rows = self.reader.decode, Rows()
            with gc_paused():
                for record in records:
                    event = decode(record, catalog=products)
                    if record.stream == catalog.stream:
                        catalog.advance(event)
                    rows.add(event, ids[record.stream])
        catalog.offset = records[-1].offset
        rows.write(conn)

    def close(self) -> None:
        """Stop the decode workers (started again if needed)."""
        self.pool.close()

    # -- keeping rows current ------------------------------------------------------------

    def stale(self) -> dict[str, int]:
        """Per stream, how many canonical rows another decoder produced (and, under
        ``"log"``, how many records an older version left without rows)."""
        conn = self.log.conn
        out: dict[str, int] = {}
        for stream, n in conn.execute(f"SELECT stream, COUNT(*) FROM {RECORDS} GROUP BY stream").fetchall():
            current = self.decoder_id(stream) if stream in self._ids or stream in self.fingerprints else None
            same = conn.execute(f"SELECT COUNT(*) FROM {RECORDS} WHERE stream = ? AND decoder = ?",
                                [stream, current]).fetchone()[0] if current is not None else 0
            if n - same:
                out[stream] = n - same
        missing = self._backfill_left()
        if missing:
            out["log"] = missing
        return out

    def _meta(self, key: str) -> int | None:
        row = self.log.conn.execute(f"SELECT value FROM {META} WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def _backfill_left(self) -> int:
        upto, done = self._meta("backfill_upto"), self._meta("backfill_done")
        if upto is None or done is None or done >= upto:
            return 0
        return self.log.conn.execute(f'SELECT COUNT(*) FROM {LOG_TABLE} WHERE "offset" > ? AND "offset" <= ?',
                                     [done, upto]).fetchone()[0]

    def sync(self, *, progress: Progress | None = None, batch_size: int = SYNC_BATCH) -> dict[str, int]:
        """Derive again every canonical row that the current plugins would derive otherwise:
        first the records an older version left without rows, then, stream by stream (the
        catalog first: the others are checked against it), the rows another decoder made.
        Each batch commits on its own, so a killed sync resumes where it stopped. Returns
        the records derived per stream."""
        done: dict[str, int] = {}
        left = self._backfill_left()
        if left:
            done["log"] = self._backfill(left, progress, batch_size)
        first = self.reader.catalog_stream
        for stream in sorted(self._streams(), key=lambda s: (s != first, s)):
            current = self.decoder_id(stream)
            total = self._other_decoders(stream, current)
            if total:
                logger.info("canonical_rows_redecode", stream=stream, records=total)
                done[stream] = self._redecode(stream, current, total, progress, batch_size)
        return done

    def _streams(self) -> list[str]:
        """The streams that have canonical rows: one index probe per stream (a skip scan),
        not a pass over every row, since a catch-up asks each time."""
        return [s for (s,) in self.log.conn.execute(
            f"WITH RECURSIVE s(stream) AS (SELECT MIN(stream) FROM {RECORDS} UNION ALL "
            f"SELECT (SELECT MIN(stream) FROM {RECORDS} WHERE stream > s.stream) FROM s WHERE s.stream IS NOT NULL) "
            "SELECT stream FROM s WHERE stream IS NOT NULL")]

    def _other_decoders(self, stream: str, current: int) -> int:
        """Rows of ``stream`` another decoder produced: two index ranges around ``current``
        (``decoder != ?`` would walk every row of the stream)."""
        return sum(self.log.conn.execute(
            f"SELECT COUNT(*) FROM {RECORDS} WHERE stream = ? AND decoder {op} ?", [stream, current]).fetchone()[0]
            for op in ("<", ">"))

    def _backfill(self, total: int, progress: Progress | None, batch_size: int) -> int:
        """Canonical rows for a log written before they existed, in log order."""
        upto = self._meta("backfill_upto") or 0
        logger.info("canonical_rows_backfill", records=total)
        count = 0
        while True:
            start = self._meta("backfill_done") or 0
            if start >= upto:
                return count
            with self.log.transaction() as conn:
                rows = conn.execute(f'SELECT {_SELECT} FROM {LOG_TABLE} WHERE "offset" > ? AND "offset" <= ? '
                                    'ORDER BY "offset" LIMIT ?', [start, upto, batch_size]).fetchall()
                records = [_to_record(r) for r in rows]
                # rows an interrupted run of this version wrote already are derived again
                canonical.delete_offsets(conn, [r.offset for r in records])
                self._decode_into(conn, records)
                last = records[-1].offset if records else upto
                conn.execute(f"UPDATE {META} SET value = ? WHERE key = 'backfill_done'", [last])
            count += len(records)
            if progress is not None:
                progress("log", count, total)

    def _redecode(self, stream: str, current: int, total: int, progress: Progress | None, batch_size: int) -> int:
        count = 0
        while True:
            with self.log.transaction() as conn:
                rows = conn.execute(
                    f'SELECT {", ".join("e." + c.strip() for c in _SELECT.split(","))} FROM {RECORDS} c '
                    f'JOIN {LOG_TABLE} e ON e."offset" = c."offset" WHERE c.stream = ? AND c.decoder != ? '
                    'ORDER BY c."offset" LIMIT ?', [stream, current, batch_size]).fetchall()
                if not rows:
                    return count
                records = [_to_record(r) for r in rows]
                canonical.delete_offsets(conn, [r.offset for r in records])
                self._decode_into(conn, records)
            count += len(records)
            if progress is not None:
                progress(stream, count, total)

    def _decode_into(self, conn: Any, records: list[LogRecord]) -> None:
        """Decode ``records`` (ascending offsets, possibly with gaps) against the catalog at
        each one's place in the log, and write their rows."""
        if not records:
            return
        catalog = self.reader.catalog_stream
        view = _Catalog(catalog)
        products = view.at(conn, records[0].offset - 1)
        changes: Iterator[tuple[int, Product]] = iter(())
        pending: tuple[int, Product] | None = None
        if any(r.stream != catalog for r in records):  # catalog versions between the records
            changes = canonical.catalog_changes(conn, records[0].offset - 1, records[-1].offset)
            pending = next(changes, None)
        if pending is None and all(r.stream != catalog for r in records):
            # the catalog holds still over the batch: decoded in slices, on both cores
            ids = {s: self.decoder_id(s) for s in {r.stream for r in records}}
            self.pool.decode(records, products, object(), ids).write(conn)
            return
        rows, decode = Rows(), self.reader.decode
        with gc_paused():
            for record in records:
                while pending is not None and pending[0] < record.offset:
                    products[pending[1].product_id] = pending[1]
                    pending = next(changes, None)
                if pending is not None and pending[0] == record.offset:
                    pending = next(changes, None)  # the record itself: decoded below
                event = decode(record, catalog=products)
                if record.stream == catalog and event.payload is not None:
                    products[event.payload.product_id] = event.payload
                rows.add(event, self.decoder_id(record.stream))
        rows.write(conn)

    def mark_all_stale(self) -> None:
        """Make every row look derived by another decoder: the next :meth:`sync` decodes the
        whole log again from its raw bytes (``rebuild --redecode``)."""
        with self.log.transaction() as conn:
            conn.execute(f"UPDATE {RECORDS} SET decoder = -1")

    def catalog_rows(self) -> int:
        return self.log.conn.execute(f"SELECT COUNT(*) FROM {CATALOG}").fetchone()[0]
