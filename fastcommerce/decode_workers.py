"""Decoding a batch on both cores: worker processes that run the reader's own code.

A decode is a pure function of a record's bytes, the plugins and the catalog as of the
batch, so a batch can be cut into consecutive slices, each decoded by another process,
and its canonical rows put back together in log order: the same rows, the same offsets.
The workers are forked from the process that opened the pipeline, so they hold the very
plugins it loaded (a throwaway plugin registered as an object included) and import
nothing. Slice 0 is always decoded here, by the same function; with one worker nothing
is forked and every slice is slice 0.

Each worker keeps the catalog it was last sent, so the products cross the pipe only when
the catalog moved. A worker that dies, or a plugin that raises in one, fails the batch in
the parent like an in-process decode would (the transaction rolls back); the pool is then
closed and the next batch is decoded here.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .canonical import Rows
from .errors import FastCommerceError
from .events import LogRecord
from .ingest_rows import Item, log_rows
from .logs import get_logger
from .memory import gc_paused
from .reading import EventReader
from .stats import latency_bucket

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

logger = get_logger(__name__)

MIN_SLICE = 1_000
"""Records below which a slice is not worth a trip to another process."""


def decode_slice(reader: EventReader, records: Sequence[LogRecord], decoders: Mapping[str, int],
                 products: Mapping[str, Any]) -> tuple[list[tuple], ...]:
    """The canonical rows of ``records`` (none of the catalog stream), as plain tuples."""
    rows, decode = Rows(), reader.decode
    with gc_paused():
        for record in records:
            rows.add(decode(record, catalog=products), decoders[record.stream])
    return rows.tables()


@attrs.frozen(slots=True)
class Header:
    """What every record of an ingest batch shares: its stream, source and recorded time."""

    stream: str
    source: str
    now: datetime
    recorded_at: str  # ``now`` as the log stores it
    decoder: int  # the stream's decoder id


Prepared = tuple[list[tuple], list["int | None"], dict[bytes, bytes], tuple[list[tuple], ...]]
"""``(log rows, latency buckets, legacy hashes, canonical tables)`` of an ingest slice; the
canonical rows are keyed by the record's index in its batch, not yet by its offset."""

_from_text = datetime.fromisoformat


def ingest_slice(reader: EventReader, header: Header, items: Sequence[Item], start: int,
                 products: Mapping[str, Any]) -> Prepared:
    """The log rows of read records (items ``start``, ``start + 1``, ... of their batch) and
    their canonical rows, decoded as if each were appended at offset = its index: ingest
    moves them to the offsets they get (:meth:`~fastcommerce.decoding.Decoder.write_prepared`),
    after it has dropped the duplicates. One pass over the records, where both reads happen."""
    rows, moments, legacy = log_rows(header.stream, header.source, header.recorded_at, items, reader.registry)
    now, recorded = header.now, _from_text(header.recorded_at)  # as the log reads it back
    buckets = [None if m is None else latency_bucket((now - m).total_seconds()) for m in moments]
    canonical, decode, decoder = Rows(), reader.decode, header.decoder
    with gc_paused():
        for index, row in enumerate(rows, start=start):
            event_time = row[3]
            record = LogRecord(index, row[0], row[1], row[2], None if event_time is None else _from_text(event_time),
                               recorded, *row[5:])
            canonical.add(decode(record, catalog=products), decoder)
    return rows, buckets, legacy, canonical.tables()


def _serve(conn: Connection, reader: EventReader, parent_ends: Sequence[Connection] = ()) -> None:
    """A worker's loop: decode (or, for ingest, prepare and decode) what arrives until
    the pipe closes. ``parent_ends``: the
    parent's ends of every worker's pipe, which a fork copies in; closed first, so that the
    parent's death (even a SIGKILL) closes the pipe and ends this worker, instead of leaving
    it behind forever, holding the parent's stdout and stderr open."""
    for end in parent_ends:
        end.close()
    products: Mapping[str, Any] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pool, or died
        if message is None:
            return
        kind, catalog, work = message
        if catalog is not None:
            products = catalog
        try:
            if kind == "ingest":
                header, items, start = work
                result: tuple[str, Any] = ("rows", ingest_slice(reader, header, items, start, products))
            else:
                records, decoders = work
                result = ("rows", decode_slice(reader, records, decoders, products))
        except BaseException as exc:  # noqa: BLE001  (the parent raises it, as an in-process decode would)
            result = ("error", exc)
        try:
            conn.send(result)
        except OSError:
            return  # the parent stopped the pool and no longer wants this batch


@attrs.frozen(slots=True)
class Job:
    """A batch the workers are decoding: which workers hold its slices, in order."""

    generation: int
    workers: list[int]


class DecodePool:
    """Forked processes, each fed one slice per batch: ``workers - 1`` beside this one when
    it decodes too (:meth:`decode`), ``workers`` when it reads on meanwhile (:meth:`submit`)."""

    def __init__(self, reader: EventReader, workers: int) -> None:
        self.reader, self.workers = reader, max(1, workers)
        self._procs: list[tuple[Any, Connection, object]] = []  # (process, pipe, catalog key it holds)
        self._generation = 0  # moves on close: a job of stopped workers cannot be collected

    def _start(self, count: int) -> None:
        context = multiprocessing.get_context("fork")
        while len(self._procs) < count:
            ours, theirs = context.Pipe()
            parent_ends = [ours, *(pipe for _proc, pipe, _held in self._procs)]
            proc = context.Process(target=_serve, args=(theirs, self.reader, parent_ends), daemon=True,
                                   name="fastcommerce-decode")
            proc.start()
            theirs.close()
            self._procs.append((proc, ours, None))
        logger.debug("decode_workers_started", workers=len(self._procs))

    def _send(self, kind: str, works: Sequence[tuple], products: Mapping[str, Any], catalog_key: object) -> list[int]:
        """Send each work to a worker of its own; returns the workers' indices."""
        if len(self._procs) < len(works):
            self._start(len(works))
        sent = []
        try:
            for n, work in enumerate(works):
                proc, pipe, held = self._procs[n]
                pipe.send((kind, None if held == catalog_key else dict(products), work))
                self._procs[n] = (proc, pipe, catalog_key)
                sent.append(n)
        except BaseException:
            self.close()
            raise
        return sent

    def _receive(self, sent: Sequence[int]) -> list[Any]:
        results = []
        try:
            for n in sent:
                proc, pipe, _held = self._procs[n]
                try:
                    kind, value = pipe.recv()
                except (EOFError, OSError) as exc:
                    proc.join(timeout=5)
                    raise FastCommerceError(
                        f"a decode worker (pid {proc.pid}) died in the middle of a batch "
                        f"(exit code {proc.exitcode}); the batch was not written") from exc
                if kind == "error":
                    raise value
                results.append(value)
        except BaseException:
            self.close()  # a worker may be left mid-batch: start afresh next time
            raise
        return results

    @staticmethod
    def _parts(records: Sequence[LogRecord], slices: int) -> list[Sequence[LogRecord]]:
        size = -(-len(records) // slices)
        return [records[i * size:(i + 1) * size] for i in range(slices)]

    def decode(self, records: Sequence[LogRecord], products: Mapping[str, Any], catalog_key: object,
               decoders: Mapping[str, int]) -> Rows:
        """The rows of ``records`` in log order; ``catalog_key`` names ``products`` (the
        catalog's offset), so a worker that holds them is not sent them again."""
        slices = max(1, min(self.workers, len(records) // MIN_SLICE))
        if slices == 1:
            return Rows.of(decode_slice(self.reader, records, decoders, products))
        parts = self._parts(records, slices)
        sent = self._send("decode", [(part, dict(decoders)) for part in parts[1:]], products, catalog_key)
        try:
            first = decode_slice(self.reader, parts[0], decoders, products)
        except BaseException:
            self.close()
            raise
        return Rows.of(first, *self._receive(sent))

    def submit(self, header: Header, items: Sequence[Item], products: Mapping[str, Any],
               catalog_key: object) -> Job:
        """Start preparing and decoding an ingest batch (:func:`ingest_slice`) on the workers
        alone (this process goes on with other work) and return at once; :meth:`collect`
        takes the results. At most two jobs at a time, collected in the order submitted."""
        slices = max(1, min(self.workers, len(items) // MIN_SLICE))
        size = -(-len(items) // slices)
        works = [(header, items[i * size:(i + 1) * size], i * size) for i in range(slices)]
        return Job(self._generation, self._send("ingest", works, products, catalog_key))

    def collect(self, job: Job) -> Prepared:
        """The results of a :meth:`submit`-ted job, its slices put back together in order."""
        if job.generation != self._generation:
            raise FastCommerceError("the decode workers were stopped while they held a batch")
        parts = self._receive(job.workers)
        if len(parts) == 1:
            return parts[0]
        rows: list[tuple] = []
        buckets: list[int | None] = []
        legacy: dict[bytes, bytes] = {}
        for part_rows, part_buckets, part_legacy, _tables in parts:
            rows += part_rows
            buckets += part_buckets
            legacy.update(part_legacy)
        return rows, buckets, legacy, Rows.of(*(p[3] for p in parts)).tables()

    def close(self) -> None:
        """Stop the workers (a job they hold is dropped); they start again when needed."""
        procs, self._procs = self._procs, []
        self._generation += 1
        for proc, pipe, _held in procs:
            try:
                pipe.send(None)
            except OSError:
                pass
            pipe.close()
        for proc, _pipe, _held in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
