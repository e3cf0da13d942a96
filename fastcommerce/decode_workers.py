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
from typing import TYPE_CHECKING, Any

from .canonical import Rows
from .errors import FastCommerceError
from .events import LogRecord
from .logs import get_logger
from .memory import gc_paused
from .reading import EventReader

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

logger = get_logger(__name__)

MIN_SLICE = 1_000
"""Records below which a slice is not worth a trip to another process."""


def decode_slice(reader: EventReader, records: Sequence[LogRecord], products: Mapping[str, Any],
                 decoders: Mapping[str, int]) -> tuple[list[tuple], ...]:
    """The canonical rows of ``records`` (none of the catalog stream), as plain tuples."""
    rows, decode = Rows(), reader.decode
    with gc_paused():
        for record in records:
            rows.add(decode(record, catalog=products), decoders[record.stream])
    return rows.tables()


def _serve(conn: Connection, reader: EventReader) -> None:
    """A worker's loop: decode what arrives until the pipe closes."""
    products: Mapping[str, Any] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pool, or died
        if message is None:
            return
        catalog, records, decoders = message
        if catalog is not None:
            products = catalog
        try:
            conn.send(("rows", decode_slice(reader, records, products, decoders)))
        except BaseException as exc:  # noqa: BLE001  (the parent raises it, as an in-process decode would)
            conn.send(("error", exc))


class DecodePool:
    """``workers - 1`` forked processes beside this one, each fed one slice per batch."""

    def __init__(self, reader: EventReader, workers: int) -> None:
        self.reader, self.workers = reader, max(1, workers)
        self._procs: list[tuple[Any, Connection, object]] = []  # (process, pipe, catalog key it holds)

    def _start(self) -> None:
        context = multiprocessing.get_context("fork")
        for _ in range(self.workers - 1):
            ours, theirs = context.Pipe()
            proc = context.Process(target=_serve, args=(theirs, self.reader), daemon=True,
                                   name="fastcommerce-decode")
            proc.start()
            theirs.close()
            self._procs.append((proc, ours, None))
        logger.debug("decode_workers_started", workers=self.workers)

    def decode(self, records: Sequence[LogRecord], products: Mapping[str, Any], catalog_key: object,
               decoders: Mapping[str, int]) -> Rows:
        """The rows of ``records`` in log order; ``catalog_key`` names ``products`` (the
        catalog's offset), so a worker that holds them is not sent them again."""
        slices = max(1, min(self.workers, len(records) // MIN_SLICE))
        if slices == 1:
            return Rows.of(decode_slice(self.reader, records, products, decoders))
        if not self._procs:
            self._start()
        size = -(-len(records) // slices)
        parts = [records[i * size:(i + 1) * size] for i in range(slices)]
        sent = []
        try:
            for n, part in enumerate(parts[1:]):
                proc, pipe, held = self._procs[n]
                pipe.send((None if held == catalog_key else dict(products), part, dict(decoders)))
                self._procs[n] = (proc, pipe, catalog_key)
                sent.append(pipe)
            results = [decode_slice(self.reader, parts[0], products, decoders)]
            for n, pipe in enumerate(sent):
                try:
                    kind, value = pipe.recv()
                except (EOFError, OSError) as exc:
                    proc = self._procs[n][0]
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
        return Rows.of(*results)

    def close(self) -> None:
        procs, self._procs = self._procs, []
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
