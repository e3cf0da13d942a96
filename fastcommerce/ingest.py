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

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import attrs
import orjson

from .converter import parse_timestamp
from .decoding import Decoder
from .eventlog import Checkpoint, EventLog, format_time, parse_time
from .events import LogRecord
from .logs import get_logger
from .memory import gc_paused
from .rotation import copy_holding
from .settings import DEFAULT_SETTLE
from .source_files import check_readable, fingerprint, source_id
from .sources import (
    DEFAULT_MAX_RECORD_BYTES,
    RawRecord,
    over_limit,
    oversized_identity_of,
    parse_json,
    settled,
    strip_eol,
)
from .stats import latency_bucket, percentile
from .streams import StreamRegistry
from .upcasting import SchemaRegistry

logger = get_logger(__name__)

DEFAULT_BATCH_SIZE = 10_000


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
    """One batch as read: its log rows and, when decode workers took it, their ticket."""

    now: datetime
    rows: list[tuple]
    moments: list[datetime | None]
    last: RawRecord | None
    legacy: dict[bytes, bytes]
    ticket: Any = None


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


def content_hash(raw: bytes) -> bytes:
    """The idempotency key: SHA-256 of the record's bytes, line terminator aside."""
    return hashlib.sha256(raw).digest()


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
            size = data.stat().st_size
            if cp is not None and cp.byte_offset <= size and fingerprint(data, cp.byte_offset) == cp.fingerprint:
                start, line = cp.byte_offset, cp.line
            elif cp is not None and cp.byte_offset and on_replaced is not None:
                on_replaced()
        summary = SourceSummary(stream=stream, source=source, resumed_from_line=line,
                                skipped=max(line - spec.header_lines, 0))
        reader = spec.reader(data, start=start, line=line, max_record_bytes=self.max_record_bytes,
                              complete_lines_only=False)
        reader = _holding_back(reader, data, self.settle if settle is None else settle, summary, stream, source)

        def save_checkpoint(last: RawRecord | None, appended_up_to: int | None) -> None:
            """``last_offset``: the log offset of this source's last appended record."""
            nonlocal last_offset
            if appended_up_to is not None:
                last_offset = appended_up_to
            end = last.end if last else start
            bytes_of = data
            if last is not None and not spec.whole_file and data.stat().st_size < end:
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
                    body = strip_eol(body)
                if len(body) > self.max_record_bytes:  # as the file readers do: a prefix is kept
                    yield RawRecord(n, 0, body[:self.max_record_bytes], None,
                                    over_limit("record", len(body), self.max_record_bytes),
                                    identity=oversized_identity_of(body))
                    continue
                if isinstance(rec, dict):
                    # detection sees what is stored: orjson writes inf/NaN as null, for one
                    yield RawRecord(n, 0, body, orjson.loads(body), None)
                    continue
                if not body.strip():
                    yield RawRecord(n, 0, body, None, "blank line")
                    continue
                value, reason = parse_json(body)
                if reason is None and not isinstance(value, dict):
                    reason = "JSON value is not an object"
                yield RawRecord(n, 0, body, value if reason is None else None, reason)

        run = _RunRow(self, f"{stream}:{source}", summary)
        self._run(stream, source, raw_records(), summary, None, on_batch, run)
        run.finish()
        return summary

    # -- the loop ----------------------------------------------------------------------

    def _run(self, stream, source, reader, summary, save_checkpoint, on_batch, run: _RunRow) -> None:
        """Append batch after batch. With decode workers, each batch is handed to them as soon
        as it is read, and the next batch is read while they decode it: reading and
        decoding overlap, and the rows still commit in the batch's own transaction."""
        log = logger.bind(stream=stream, source=source)
        canonical = self.registry.canonical(stream)
        reader = iter(reader)
        batch = self._submit(stream, self._read_batch(stream, source, reader, canonical))
        first = True
        try:
            while True:
                rows, moments, last, legacy = batch.rows, batch.moments, batch.last, batch.legacy
                if not rows and not first:
                    break
                first = False
                now = batch.now
                # read ahead while the workers decode this batch (a short batch ends the reader)
                ahead = self._read_batch(stream, source, reader, canonical) if batch.ticket is not None else None
                malformed = unknown = 0
                with self.log.transaction():
                    kept = self._new_rows(stream, rows, legacy)
                    new_rows = [rows[i] for i in kept]
                    for i in kept:
                        flag = rows[i][9]
                        if flag == "malformed_record":
                            malformed += 1
                        elif flag == "unknown_schema":
                            unknown += 1
                        elif (moment := moments[i]) is not None:
                            summary.latencies[latency_bucket((now - moment).total_seconds())] += 1
                    if new_rows:
                        first_offset = self.log.last_offset() + 1
                        # each row's raw-bytes hash, for the log's chain: its key, or (a row keyed on its
                        # identity) the hash of its stored bytes, both computed in _prepare
                        self.log.insert(new_rows, raw_hashes=[legacy.get(r[1], r[1]) for r in new_rows])
                        if self.decoder is not None:
                            self.decoder.write(_records(first_offset, new_rows), batch.ticket)
                    elif batch.ticket is not None and self.decoder is not None:
                        self.decoder.discard(batch.ticket)
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
                # the workers are idle again: the next batch goes to them (never two at once:
                # a worker sending one batch's rows must not wait on us sending the next)
                batch = self._submit(stream, ahead if ahead is not None
                                     else self._read_batch(stream, source, reader, canonical))
        finally:
            if batch.ticket is not None and self.decoder is not None:
                self.decoder.discard(batch.ticket)  # a batch that failed before its rows were taken

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

    def _read_batch(self, stream, source, reader, canonical) -> _Batch:
        now = self.clock()
        rows, moments, last, legacy = self._prepare(stream, source, reader, canonical, format_time(now))
        return _Batch(now, rows, moments, last, legacy)

    def _submit(self, stream: str, batch: _Batch) -> _Batch:
        """Hand the batch to the decode workers, where there are some: they decode the
        records the log would hold if nothing else is appended first, while we read on.
        :meth:`~fastcommerce.decoding.Decoder.write` checks that guess, and re-keys or
        redoes what it got wrong."""
        decoder = self.decoder
        if batch.rows and decoder is not None and decoder.can_submit(stream, len(batch.rows)):
            guess = [batch.rows[i] for i in self._new_rows(stream, batch.rows, batch.legacy)]
            if guess:
                batch.ticket = decoder.submit(_records(self.log.last_offset() + 1, guess))
        return batch

    def _prepare(self, stream, source, reader, canonical, recorded_at):
        """Read up to one batch and turn each record into a log row as it comes, so only
        rows (not parsed records) are held. The garbage collector is paused meanwhile: a
        batch allocates many objects and frees none, so its collections would find nothing.

        A record with an ``identity`` (a CSV row: its own bytes) is keyed on it. Logs written
        before that keyed a CSV row on its stored JSON, so that hash is looked up too
        (``legacy``): a row an older version appended is still a duplicate after an upgrade."""
        rows: list[tuple] = []
        moments: list[datetime | None] = []
        legacy: dict[bytes, bytes] = {}  # hash -> hash of the stored bytes, what older logs keyed CSV rows on
        last = None
        detect, upcast = self.registry.detect, self.registry.upcast
        with gc_paused():
            for rec in islice(reader, self.batch_size):
                last = rec
                if rec.identity is None:
                    h = content_hash(rec.raw)
                else:
                    h = content_hash(rec.identity)
                    legacy[h] = content_hash(rec.raw)
                if rec.malformed is not None:
                    rows.append((stream, h, None, None, recorded_at, source, rec.line,
                                 None, None, "malformed_record", rec.malformed, rec.raw))
                    moments.append(None)
                    continue
                where = f"{source}:{rec.line}"
                schema = detect(stream, rec.value, where=where)
                if schema is None:
                    rows.append((stream, h, None, None, recorded_at, source, rec.line, None, None,
                                 "unknown_schema", f"matches no registered {stream} variant", rec.raw))
                    moments.append(None)
                    continue
                if schema.key_field or schema.time_field:  # the shape says where they are
                    value, key_field, time_field = rec.value, schema.key_field, schema.time_field
                else:  # only the canonical shape knows: upcast first
                    value = upcast(stream, schema.variant, schema.version, rec.value, where=where)
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
                             source, rec.line, schema.variant, schema.version, None, None, rec.raw))
                moments.append(moment)
        return rows, moments, last, legacy
