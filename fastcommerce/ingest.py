"""Exactly-once ingestion: read a source, detect each record's schema, append in batches.

Each batch of new records and the source's checkpoint commit in one transaction. A run
killed at any moment therefore leaves the log and the checkpoint in agreement, and the
next run resumes after the last committed record: nothing is lost and nothing is written
twice. Exact re-deliveries (the same bytes again, from any file) are caught by the log's
UNIQUE content-hash key and counted, never silently ignored.

A file's last line that has no line break yet is held back (the checkpoint stays before it)
until it has one or the file has settled: :func:`~fastcommerce.sources.settled`, the one rule
for a file that may still be being written (docs/sources.md).
"""

from __future__ import annotations

import functools
import inspect
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import chain, islice
from pathlib import Path
from typing import Any

import attrs
import orjson

from .decoding import Decoder
from .eventlog import Checkpoint, EventLog, format_time, parse_time
from .events import LogRecord
from .ingest_rows import Item, content_hash, log_rows  # noqa: F401  (content_hash: re-exported)
from .logs import get_logger
from .memory import gc_paused
from .message_sources import MessageSource, record_of_bytes
from .rotation import copy_holding
from .settings import DEFAULT_SETTLE
from .source_files import check_readable, fingerprint, readable_size, source_id
from .sources import (
    DEFAULT_MAX_RECORD_BYTES,
    RawRecord,
    over_limit,
    oversized_identity_of,
    settled,
)
from .stats import latency_bucket, percentile
from .streams import StreamRegistry
from .upcasting import SchemaRegistry

logger = get_logger(__name__)

DEFAULT_BATCH_SIZE = 10_000
DRAIN_WAIT = 2.0  # seconds a drain waits for messages the broker said it holds


@attrs.define(kw_only=True)
class SourceSummary:
    """What one run did with one source. ``read == appended + duplicates`` always."""

    stream: str
    source: str
    read: int = 0
    appended: int = 0
    duplicates: int = 0
    malformed: int = 0
    unknown_schema: int = 0
    # of the appended: valid events and quarantined ones (an error problem; malformed and
    # unknown_schema included), counted from their canonical rows by Pipeline.ingest
    valid: int = 0
    quarantined: int = 0
    skipped: int = 0  # lines already ingested by an earlier run, per the checkpoint
    resumed_from_line: int = 0
    held_back: int = 0  # 1: the file's last line is unterminated and was left for a later read
    held_back_line: int | None = None  # the line it starts on
    # latencies (recorded time - event time) of the appended records, as a bounded histogram
    latencies: Counter = attrs.field(factory=Counter, repr=False, eq=False)

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, filter=lambda a, _v: a.name != "latencies")

    def latency_percentiles(self) -> tuple[int | None, int | None]:
        histogram = sorted(self.latencies.items())
        return percentile(histogram, 0.50), percentile(histogram, 0.95)


@attrs.define(slots=True)
class _Batch:
    """One batch: its log rows (with each one's latency bucket), or, while the decode
    workers prepare them from the records as read (``items``), their ticket."""

    now: datetime
    last: RawRecord | None
    rows: list[tuple] = attrs.Factory(list)
    buckets: list[int | None] = attrs.Factory(list)
    legacy: dict[bytes, bytes] = attrs.Factory(dict)
    items: list[Item] | None = None
    ticket: Any = None
    tables: tuple[list[tuple], ...] | None = None  # the workers' canonical rows, by index in the batch

    @property
    def size(self) -> int:
        return len(self.items) if self.items is not None else len(self.rows)


class _RunRow:
    """A run's row in ``ingest_runs`` (pipeline health reads throughput and latency from it,
    the operations report its duplicates). It is written in the transaction of each batch,
    so a run that is stopped or killed part-way still counts every record it committed, and
    completed at the end with the latency percentiles."""

    def __init__(self, ingester: Ingester, key: str, summary: SourceSummary) -> None:
        self.ingester, self.source_id, self.summary = ingester, key, summary
        self.started, self.tick = ingester.clock(), time.perf_counter()
        self.id: int | None = None

    def save(self, now: datetime | None = None, *, latencies: bool = False) -> None:
        """Insert or update the row with the counts so far (inside a transaction); ``now``:
        the batch's recorded time, else the clock is read."""
        s, log = self.summary, self.ingester.log
        values = {"finished_at": format_time(now or self.ingester.clock()), "read": s.read, "appended": s.appended,
                  "duplicates": s.duplicates, "malformed": s.malformed, "skipped": s.skipped,
                  "seconds": round(time.perf_counter() - self.tick, 6)}
        if latencies:
            values["latency_p50_s"], values["latency_p95_s"] = s.latency_percentiles()
        if self.id is None:
            self.id = log.save_run({"run_id": self.ingester.run_id, "source_id": self.source_id,
                                    "stream": s.stream, "started_at": format_time(self.started), **values})
        else:
            log.update_run(self.id, values)

    def finish(self) -> None:
        with self.ingester.log.transaction():
            self.save(latencies=True)


class MessageSession:
    """A broker follower's one run across its cycles: one summary that grows and one
    ``ingest_runs`` row updated with it. A row a cycle would be twenty a second on a busy
    stream; health reads the newest row per stream, and the operations report sums them."""

    def __init__(self) -> None:
        self.summary: SourceSummary | None = None
        self.run: _RunRow | None = None


def _holding_back(reader: Iterable[RawRecord], data: Path, settle: float, summary: SourceSummary,
                  stream: str, source: str) -> Iterator[RawRecord]:
    """``reader``'s records, up to an unterminated last one that has not :func:`settled`:
    that one is held back, not appended, so the checkpoint stays before it and the next read
    takes it whole. Its two halves are never two malformed records."""
    for rec in reader:
        if rec.unterminated and not settled(data, settle):
            summary.held_back, summary.held_back_line = 1, rec.line
            logger.info("line_held_back", stream=stream, source=source, line=rec.line, settle_seconds=settle,
                        reason="the file ends inside this line and may still be growing: read again once "
                               "it ends with a line break or the file has settled")
            close = getattr(reader, "close", None)
            if close is not None:
                close()
            return
        yield rec


def _records(first: int, rows: list[tuple]) -> list[LogRecord]:
    """Appended log rows as the records the log now holds (offsets from ``first`` on: the
    append holds the write lock, and the log's offsets are never reused)."""
    out = []
    for offset, row in enumerate(rows, start=first):
        event_time = row[3]
        out.append(LogRecord(offset, row[0], row[1], row[2], None if event_time is None else _from_text(event_time),
                             parse_time(row[4]), *row[5:]))
    return out


_from_text = datetime.fromisoformat


@functools.lru_cache(maxsize=64)
def _leaves_parsing(reader: Callable[..., Any]) -> bool:
    """Whether a stream's reader takes ``parse=False`` (:func:`~fastcommerce.sources.read_jsonl`
    does): its lines are then parsed by :func:`~fastcommerce.ingest_rows.log_rows`, in the
    decode workers where there are some, instead of in the process that reads the file."""
    try:
        return "parse" in inspect.signature(reader).parameters
    except (TypeError, ValueError):
        return False


class Ingester:
    """Appends records of one stream to the log, batch by batch, with checkpoints."""

    def __init__(
        self,
        log: EventLog,
        registry: SchemaRegistry,
        streams: StreamRegistry,
        *,
        clock: Callable[[], datetime],
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        run_id: str | None = None,
        decoder: Decoder | None = None,
        settle: float = DEFAULT_SETTLE,
    ) -> None:
        self.log, self.registry, self.clock = log, registry, clock
        self.streams = streams  # each stream's reader, and whether its files resume
        self.decoder = decoder  # writes each appended batch's canonical rows in its transaction
        self.batch_size, self.max_record_bytes = batch_size, max_record_bytes
        self.settle = settle  # seconds a file's unterminated last line waits (see sources.settled)
        self.run_id = run_id or uuid.uuid4().hex  # one id per pipeline: a process run is one run

    # -- files -------------------------------------------------------------------------

    def ingest_file(self, stream: str, path: Path, *, resume: bool = True,
                    on_batch: Callable[[SourceSummary], None] | None = None,
                    read_from: Path | None = None, settle: float | None = None,
                    record_empty_run: bool = True,
                    on_replaced: Callable[[], None] | None = None) -> SourceSummary:
        """Ingest one file. ``read_from`` reads the bytes from another name of the same file
        (``/proc/self/fd/N`` of a file that ``follow`` holds open across a rotation) while
        ``path`` stays its identity for the checkpoint. ``on_replaced()`` is called when the
        file no longer matches its checkpoint (truncated, or another file), before it is read
        from its start: the follower looks there for the copy ``copytruncate`` made. Called
        here, at the one check, a truncation cannot slip between a check and the read.
        ``settle``: seconds an unterminated last line waits for its writer (default: the
        ingester's; ``0``: the file is complete, take it now)."""
        spec = self.streams.get(stream)
        path = Path(path)
        data = Path(read_from) if read_from is not None else path
        check_readable(data)
        source = str(path)
        key = source_id(stream, path)
        start, line = 0, 0
        cp = self.log.checkpoint(key)
        last_offset = cp.last_offset if cp is not None else None
        if resume and not spec.whole_file:
            size = readable_size(data)  # a compressed file's: unknown, its fingerprint decides
            if cp is not None and cp.byte_offset <= size and fingerprint(data, cp.byte_offset) == cp.fingerprint:
                start, line = cp.byte_offset, cp.line
            elif cp is not None and cp.byte_offset and on_replaced is not None:
                on_replaced()
        summary = SourceSummary(stream=stream, source=source, resumed_from_line=line,
                                skipped=max(line - spec.header_lines, 0))
        options = {"parse": False} if _leaves_parsing(spec.reader) else {}
        reader = spec.reader(data, start=start, line=line, max_record_bytes=self.max_record_bytes,
                              complete_lines_only=False, **options)
        reader = _holding_back(reader, data, self.settle if settle is None else settle, summary, stream, source)

        def save_checkpoint(last: RawRecord | None, appended_up_to: int | None) -> None:
            """``last_offset``: the log offset of this source's last appended record."""
            nonlocal last_offset
            if appended_up_to is not None:
                last_offset = appended_up_to
            end = last.end if last else start
            bytes_of = data
            if last is not None and not spec.whole_file and readable_size(data) < end:
                # emptied since it was read (copytruncate): fingerprint the bytes read, in the copy
                bytes_of = copy_holding(path, last.raw, end, unterminated=last.unterminated) or data
            self.log.save_checkpoint(Checkpoint(
                source_id=key, stream=stream, path=str(path.resolve()), byte_offset=end,
                line=last.lines_read if last else line, fingerprint=fingerprint(bytes_of, end),
                last_offset=last_offset, updated_at=format_time(self.clock()),
            ))

        run = _RunRow(self, key, summary)
        self._run(stream, source, reader, summary, save_checkpoint, on_batch, run)
        if summary.read or record_empty_run:
            run.finish()
        return summary

    # -- in-memory records (the Python API) ---------------------------------------------

    def ingest_records(self, stream: str, records: Iterable[Any], *, source: str = "<records>",
                       on_batch: Callable[[SourceSummary], None] | None = None) -> SourceSummary:
        """Append records given as dicts (serialised with orjson), ``str`` or ``bytes``
        (taken as one line each). No checkpoint: re-delivery is caught by the content hash."""
        summary = SourceSummary(stream=stream, source=source)

        def raw_records() -> Iterator[RawRecord]:
            for n, rec in enumerate(records, start=1):
                if isinstance(rec, (bytes, bytearray)):
                    body = bytes(rec)
                elif isinstance(rec, str):
                    body = rec.encode("utf-8", "surrogatepass")  # a lone surrogate stays visible as bad UTF-8
                else:
                    try:
                        body = orjson.dumps(rec)
                    except TypeError as exc:
                        yield RawRecord(n, 0, repr(rec).encode(), None, f"cannot serialise as JSON: {exc}")
                        continue
                if not isinstance(rec, dict):
                    yield record_of_bytes(n, body, self.max_record_bytes)
                    continue
                if len(body) > self.max_record_bytes:  # as the file readers do: a prefix is kept
                    yield RawRecord(n, 0, body[:self.max_record_bytes], None,
                                    over_limit("record", len(body), self.max_record_bytes),
                                    identity=oversized_identity_of(body))
                    continue
                # detection sees what is stored: orjson writes inf/NaN as null, for one
                yield RawRecord(n, 0, body, orjson.loads(body), None)

        run = _RunRow(self, f"{stream}:{source}", summary)
        self._run(stream, source, raw_records(), summary, None, on_batch, run)
        run.finish()
        return summary

    # -- message brokers -----------------------------------------------------------------

    def ingest_messages(self, stream: str, source: MessageSource, *, wait: float = 0.0, drain: bool = True,
                        max_seconds: float = 0.2, fetch_size: int = 1000, resume: bool = True,
                        on_batch: Callable[[SourceSummary], None] | None = None,
                        session: MessageSession | None = None) -> SourceSummary:
        """Append the messages of a broker stream after its checkpoint's position, as a file's
        lines are: the position is the record's line, and the checkpoint (position,
        stream identity) commits in each batch's transaction, so a run killed between
        receiving and committing reads those messages again and nothing else.

        ``drain``: read up to the newest message there was when the run started, then stop.
        Otherwise (a follower's cycle): wait up to ``wait`` seconds for a first message,
        then take what keeps coming for at most ``max_seconds`` and stop, so a busy stream
        still commits (and is projected) every fraction of a second. ``resume=False``: read
        the stream from its start (what the log holds counts as duplicates). ``session``: a
        follower's, whose summary (returned) and run row carry on from cycle to cycle."""
        self._check_known(stream)
        key = f"{stream}:{source.url}"
        identity = source.identity()
        cp = self.log.checkpoint(key)
        after = 0
        if cp is not None and cp.fingerprint == identity and resume:
            after = cp.byte_offset
        elif cp is not None and resume:
            logger.warning("broker_stream_replaced", stream=stream, source=source.url, position=cp.byte_offset,
                           reason="the stream is not the one the checkpoint describes (deleted and created "
                                  "again?): read from its start; records the log holds count as duplicates")
        last_offset = cp.last_offset if cp is not None else None
        if session is not None and session.summary is not None:
            summary = session.summary
        else:
            summary = SourceSummary(stream=stream, source=source.url, resumed_from_line=after, skipped=after)
            if session is not None:
                session.summary = summary
        end = source.last_position() if drain else None
        max_bytes = self.max_record_bytes

        def reader() -> Iterator[RawRecord]:
            position, started, first = after, time.monotonic(), True
            while end is None or position < end:
                if end is None and not first and time.monotonic() - started >= max_seconds:
                    return  # a follower's cycle: commit and project what came so far
                # draining: what is there comes at once, so the wait only covers a slow broker
                messages = source.fetch(position, fetch_size, DRAIN_WAIT if end is not None else wait if first else 0.01)
                first = False
                if not messages:
                    return
                for m in messages:
                    yield record_of_bytes(m.position, m.body, max_bytes, end=m.position)
                position = messages[-1].position

        def save_checkpoint(last: RawRecord | None, appended_up_to: int | None) -> None:
            nonlocal last_offset
            if appended_up_to is not None:
                last_offset = appended_up_to
            position = last.end if last is not None else after
            self.log.save_checkpoint(Checkpoint(
                source_id=key, stream=stream, path=source.url, byte_offset=position, line=position,
                fingerprint=identity, last_offset=last_offset, updated_at=format_time(self.clock())))

        records = reader()
        head = next(records, None)
        if head is None and cp is not None and cp.fingerprint == identity and cp.byte_offset == after and not drain:
            return summary  # a follower's idle cycle writes nothing: the checkpoint already says it
        run = session.run if session is not None and session.run is not None else _RunRow(self, key, summary)
        if session is not None:
            session.run = run
        self._run(stream, source.url, chain(() if head is None else (head,), records), summary,
                  save_checkpoint, on_batch, run)
        if summary.read or drain:
            run.finish()
        return summary

    def _check_known(self, stream: str) -> None:
        self.streams.get(stream)  # an UnknownStreamError naming the registered streams

    # -- the loop ----------------------------------------------------------------------

    def _run(self, stream, source, reader, summary, save_checkpoint, on_batch, run: _RunRow) -> None:
        """Append batch after batch. With decode workers, a batch of records as read goes to
        them (they hash, parse, detect and decode it) and, while they do, the next batch is
        read and the one before is written: the rows still commit in the batch's own
        transaction, with its canonical rows."""
        log = logger.bind(stream=stream, source=source)
        reader = iter(reader)
        batch = self._submit(stream, source, self._read_batch(stream, source, reader))
        ahead: _Batch | None = None
        first = True
        try:
            while True:
                if not batch.size and not first:
                    break
                first = False
                now = batch.now
                if batch.ticket is not None:
                    # read ahead while the workers prepare this batch (a short batch ends the reader)
                    ahead = self._read_batch(stream, source, reader)
                    self._collect(batch)
                    # the workers are free again: the next batch goes to them while this one is written
                    ahead = self._submit(stream, source, ahead)
                rows, buckets, last, legacy = batch.rows, batch.buckets, batch.last, batch.legacy
                malformed = unknown = 0
                with self.log.transaction():
                    self.log.lock_appends()
                    kept = self._new_rows(stream, rows, legacy)
                    new_rows = [rows[i] for i in kept]
                    latencies = summary.latencies
                    for i in kept:
                        flag = rows[i][9]
                        if flag == "malformed_record":
                            malformed += 1
                        elif flag == "unknown_schema":
                            unknown += 1
                        elif (bucket := buckets[i]) is not None:
                            latencies[bucket] += 1
                    if new_rows:
                        first_offset = self.log.last_offset() + 1
                        # each row's raw-bytes hash, for the log's chain: its key, or (a row keyed on its
                        # identity) the hash of its stored bytes, both computed with the row
                        self.log.insert(new_rows, raw_hashes=[legacy.get(r[1], r[1]) for r in new_rows])
                        if self.decoder is not None and not (
                                batch.tables is not None and self.decoder.write_prepared(
                                    first_offset, kept, len(rows), batch.tables, batch.ticket.catalog_version)):
                            self.decoder.write(_records(first_offset, new_rows))
                    if save_checkpoint is not None:
                        save_checkpoint(last, self.log.last_offset() if new_rows else None)
                    summary.read += len(rows)
                    summary.appended += len(new_rows)
                    summary.duplicates += len(rows) - len(new_rows)
                    summary.malformed += malformed
                    summary.unknown_schema += unknown
                    if rows:
                        run.save(now)  # with the batch: a run stopped later still counts what it committed
                if rows and last is not None:
                    log.info("batch_appended", read=len(rows), appended=len(new_rows),
                             duplicates=len(rows) - len(new_rows), malformed=malformed,
                             unknown_schema=unknown, last_line=last.line)
                if on_batch is not None:
                    on_batch(summary)
                if not rows:
                    break
                if ahead is not None:
                    batch, ahead = ahead, None
                else:
                    batch = self._submit(stream, source, self._read_batch(stream, source, reader))
        finally:
            for pending in (batch, ahead):
                if pending is not None and pending.ticket is not None and self.decoder is not None:
                    self.decoder.discard(pending.ticket)  # a batch that failed before its rows were taken

    def _new_rows(self, stream: str, rows: list[tuple], legacy: dict[bytes, bytes]) -> list[int]:
        """The indices of the rows the log does not hold yet (nor an earlier row of the batch)."""
        if not rows:
            return []
        known = self.log.known_hashes(stream, {row[1] for row in rows})
        known_legacy = self.log.known_hashes(stream, set(legacy.values())) if legacy else set()
        kept = []
        for i, row in enumerate(rows):
            h = row[1]
            if h in known or (legacy and legacy.get(h) in known_legacy):
                continue
            known.add(h)
            kept.append(i)
        return kept

    def _parallel(self, stream: str) -> bool:
        """Whether a batch of ``stream`` may go to the decode workers (if it is large enough)."""
        return self.decoder is not None and self.decoder.can_submit(stream)

    def _read_batch(self, stream: str, source: str, reader: Iterator[RawRecord]) -> _Batch:
        """Up to one batch. One that goes to the workers is kept as read (a tuple per record);
        one that does not is turned into log rows here, record by record as it comes, so only
        rows (not parsed records) are held."""
        now = self.clock()
        recorded_at = format_time(now)
        if self._parallel(stream):
            items: list[Item] = []
            last = None
            with gc_paused():
                for rec in islice(reader, self.batch_size):
                    last = rec
                    items.append((rec.line, rec.raw, rec.value, rec.malformed, rec.identity))
            if self.decoder is not None and self.decoder.can_submit(stream, len(items)):
                return _Batch(now, last, items=items)
            records: Iterable[Item] = items
        else:
            last = None

            def as_read() -> Iterator[Item]:
                nonlocal last
                for rec in islice(reader, self.batch_size):
                    last = rec
                    yield rec.line, rec.raw, rec.value, rec.malformed, rec.identity

            records = as_read()
        rows, moments, legacy = log_rows(stream, source, recorded_at, records, self.registry)
        buckets = [None if m is None else latency_bucket((now - m).total_seconds()) for m in moments]
        return _Batch(now, last, rows, buckets, legacy)

    def _submit(self, stream: str, source: str, batch: _Batch) -> _Batch:
        """Hand a batch kept as read to the decode workers: they turn it into log rows and
        canonical rows while this process goes on."""
        if batch.items is not None and self.decoder is not None:
            batch.ticket = self.decoder.submit(stream, source, batch.now, format_time(batch.now), batch.items)
        return batch

    def _collect(self, batch: _Batch) -> None:
        """Take the workers' results for ``batch`` (the log rows, and the canonical rows keyed
        by index in the batch, which the append moves to their offsets)."""
        assert self.decoder is not None and batch.ticket is not None
        batch.rows, batch.buckets, batch.legacy, batch.tables = self.decoder.collect(batch.ticket)
        batch.items = None
