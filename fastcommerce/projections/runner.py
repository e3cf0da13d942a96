"""Catch-up and rebuild of projections, batch by batch, with their offsets in one transaction."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import attrs

from ..canonical import RECORDS, typed_events
from ..decoding import Decoder, Progress
from ..errors import PluginConfigError, PluginError
from ..eventlog import LOG_TABLE, EventLog
from ..logs import get_logger
from ..memory import gc_paused
from ..naming import unique_names
from ..reading import EventReader
from ..schema import CORE_TABLES
from ..schema import PROJECTION_RUNS as RUNS_TABLE
from ..schema import PROJECTION_STATE as STATE_TABLE
from ..stats import latency_bucket, percentile
from ..times import format_time
from .base import Projection

logger = get_logger(__name__)

BATCH_SIZE = 100_000
"""Log offsets per transaction. Set-based SQL pays per statement, not per row, and each
commit writes every page the batch dirtied, so fewer, larger batches cost less; memory
stays flat (a Python fold gets them :data:`FOLD_BATCH` events at a time)."""
BUILD_BATCH = 1 << 62
"""Log offsets in the first batch of a catch-up from offset 0 (a rebuild, a first build)
when no batch size is asked for: the whole log. Set-based projections then build each
table with one ``INSERT ... SELECT`` over the canonical rows instead of merging batch after
batch into what is already there; a Python fold still gets :data:`FOLD_BATCH` at a time."""
FOLD_BATCH = 10_000
"""Typed events per call of a Python fold's ``apply``."""
FIRST_BUILD, ASKED_FOR = "first build", "asked for"  # why a projection was rebuilt


def core_tables() -> frozenset[str]:
    """The tables the core keeps beside the projections' (lower case, as SQLite compares
    names): a projection claiming one would drop it at its first build, the log included."""
    return CORE_TABLES


@attrs.frozen(kw_only=True, slots=True)
class CatchUpResult:
    name: str
    version: int
    from_offset: int
    to_offset: int
    events: int
    rebuilt: bool
    why: str | None = None  # when rebuilt: asked for, first build, or what changed
    stopped: str | None = None  # why this run left the projection to another catch-up


class ProjectionRunner:
    def __init__(self, log: EventLog, reader: EventReader, projections: Iterable[tuple[str, Projection]],
                 *, clock: Callable[[], datetime] | None = None, run_id: str = "", reading: str = "",
                 decoder: Decoder | None = None) -> None:
        self.log, self.reader, self.decoder = log, reader, decoder
        self.progress: Progress | None = None  # shown while canonical rows are derived again
        self.reading = reading  # see plugins.reading_fingerprint
        self.clock = clock or (lambda: datetime.now(UTC))
        self.run_id = run_id
        self.projections: dict[str, tuple[str, Projection]] = {}
        owners: dict[str, tuple[str, str]] = {}  # lower-case table -> (projection, plugin)
        reserved = core_tables()
        for plugin, p in unique_names("projection", list(projections)):
            for t in p.tables:
                key = t.lower()  # SQLite: SALES_ORDERS is sales_orders
                if key in reserved or key.startswith("sqlite_"):
                    raise PluginConfigError(
                        f"projection {p.name!r} from plugin {plugin!r} claims table {t!r}, which "
                        f"fastcommerce keeps for itself (its first build would drop it); reserved: "
                        f"{', '.join(sorted(reserved))} and sqlite_*"
                    )
                if key in owners:
                    owner, owner_plugin = owners[key]
                    raise PluginConfigError(
                        f"table {t!r} is claimed by projection {owner!r} (plugin {owner_plugin!r}) "
                        f"and by projection {p.name!r} (plugin {plugin!r})"
                    )
                owners[key] = (p.name, plugin)
            self.projections[p.name] = (plugin, p)
        # projection_state and projection_runs are the log's (fastcommerce.schema): created
        # and upgraded by its migrations when it was opened, not here

    def state(self) -> dict[str, tuple[int, int]]:
        """``name -> (version, last_offset)`` of every projection built in this database."""
        return {name: (version, last) for name, (version, _c, last, _r) in self._state().items()}

    def _state(self) -> dict[str, tuple[int, str, int, str | None]]:
        return {
            name: (version, config, last, reading)
            for name, version, config, last, reading in self.log.conn.execute(
                f"SELECT name, version, config, last_offset, reading FROM {STATE_TABLE} ORDER BY name"
            )
        }

    def _stale(self, p: Projection, built: dict[str, tuple[int, str, int, str | None]]) -> str | None:
        """Why ``p``'s tables cannot be caught up and must be rebuilt, or ``None``."""
        if p.name not in built:
            return FIRST_BUILD
        version, config, _last, reading = built[p.name]
        if version != p.version:
            return f"version {version} -> {p.version}"
        if config != p.config:
            return f"config {config!r} -> {p.config!r}"
        if reading != self.reading:
            if reading is None:
                return "built before fastcommerce recorded the plugins that read the log"
            before, now = set(reading.split(";")) - {""}, set(self.reading.split(";")) - {""}
            changes = [f"-{x}" for x in sorted(before - now)] + [f"+{x}" for x in sorted(now - before)]
            return f"the plugins that read the log changed ({', '.join(changes)})"
        return None

    def _moved_elsewhere(self, p: Projection, current: dict[str, tuple[int, str, int, str | None]],
                         expected: int) -> str | None:
        """Whether another catch-up reset ``p`` since this one planned its work (a
        different version, config or plugins, or an offset behind where this run got):
        then this run's next batches would not follow on from the tables."""
        if self._stale(p, current) is not None:
            return "another catch-up rebuilt it under other plugins or settings"
        if current[p.name][2] < expected:
            return "another catch-up rebuilt it"
        return None

    def _reset(self, p: Projection, *, if_stale: bool = False) -> str | None:
        """Drop ``p``'s tables and start it again from offset 0; with ``if_stale``, only if
        it is still stale once the write lock is held (another catch-up may have just
        rebuilt it). Why it was reset, or ``None``.

        A projection's own tables (a built-in's or a plugin's) are derived data: their DDL is
        the projection's ``create``, versioned with it and run again at every rebuild. That
        is not a schema migration; the core's tables are :mod:`fastcommerce.schema`'s."""
        db = self.log.db
        with self.log.transaction():
            self.log.lock_projections([p.name])
            why = self._stale(p, self._state()) if if_stale else ASKED_FOR
            if why is None:
                return None
            for t in p.tables:
                db.execute(f"DROP TABLE IF EXISTS [{t}]")
            p.create(db)
            db.execute(
                f"INSERT INTO {STATE_TABLE} (name, version, config, last_offset, reading) VALUES (?, ?, ?, 0, ?) "
                "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
                "config = excluded.config, last_offset = 0, reading = excluded.reading",
                [p.name, p.version, p.config, self.reading],
            )
        return why

    def rebuild(self, names: Sequence[str] | None = None, *, batch_size: int | None = None,
                on_batch: Callable[[int, int], None] | None = None,
                to_offset: int | None = None) -> list[CatchUpResult]:
        for name in names or list(self.projections):
            self._reset(self._get(name))
        return self.catch_up(names, batch_size=batch_size,
                             _rebuilt=dict.fromkeys(names or self.projections, ASKED_FOR),
                             on_batch=on_batch, to_offset=to_offset)

    def _get(self, name: str) -> Projection:
        if name not in self.projections:
            raise PluginConfigError(f"no projection named {name!r}; known: {', '.join(sorted(self.projections))}")
        return self.projections[name][1]

    def catch_up(self, names: Sequence[str] | None = None, *, batch_size: int | None = None,
                 _rebuilt: dict[str, str] | None = None,
                 on_batch: Callable[[int, int], None] | None = None,
                 to_offset: int | None = None) -> list[CatchUpResult]:
        """Bring projections up to the log's last offset (or ``to_offset``, if lower). A
        projection whose version or config changed since it was built, or that was built
        under other plugins reading the log (:func:`~fastcommerce.plugins.reading_fingerprint`),
        is rebuilt from offset 0 first. ``on_batch(done, total)`` reports progress in events.
        ``batch_size``: log offsets per transaction (default :data:`BATCH_SIZE`, and
        :data:`BUILD_BATCH` for a first batch from offset 0)."""
        if self.decoder is not None:  # canonical rows first: projections read nothing else
            self.decoder.sync(progress=self.progress)
        started, tick = self.clock(), time.perf_counter()
        latencies: Counter = Counter()  # recorded time -> projected, for events new to the log
        rebuilt = dict(_rebuilt or {})  # name -> why
        wanted = [self._get(n) for n in (names or sorted(self.projections))]
        built = self._state()
        for p in wanted:
            # checked again under the write lock by _reset; most catch-ups find nothing
            # stale and so take no lock for it
            reason = self._reset(p, if_stale=True) if self._stale(p, built) is not None else None
            if reason is not None:
                if reason != FIRST_BUILD:
                    logger.info("projection_rebuild", projection=p.name, reason=reason)
                rebuilt[p.name] = reason
        stopped: dict[str, str] = {}
        state = self.state()
        offsets = {p.name: state[p.name][1] for p in wanted}
        start = dict(offsets)
        counts = dict.fromkeys(offsets, 0)
        end = self.log.last_offset()
        if to_offset is not None:
            end = min(end, to_offset)
        low = min(offsets.values(), default=end)
        with gc_paused():  # a batch's objects die by reference counting; see memory.py
            after = low
            while after < end:
                size = batch_size or (BUILD_BATCH if after == 0 else BATCH_SIZE)
                last = min(after + size, end)
                self._apply_batch(wanted, after, last, offsets, counts, stopped)
                if not rebuilt:  # a replay's latency says nothing about how fresh the reports are
                    committed = self.clock()
                    for recorded, n in self.log.conn.execute(
                            f'SELECT recorded_at, COUNT(*) FROM {LOG_TABLE} WHERE "offset" > ? AND "offset" <= ? '
                            "GROUP BY recorded_at", [after, last]):  # a few per batch
                        latencies[latency_bucket((committed - datetime.fromisoformat(recorded)).total_seconds())] += n
                logger.debug("projection_batch_applied", last_offset=last)
                if on_batch is not None:
                    on_batch(last - low, end - low)
                after = last
        results = [
            CatchUpResult(name=p.name, version=p.version, from_offset=start[p.name],
                          to_offset=offsets[p.name], events=counts[p.name], rebuilt=p.name in rebuilt,
                          why=rebuilt.get(p.name), stopped=stopped.get(p.name))
            for p in wanted
        ]
        self._record(results, started, time.perf_counter() - tick, latencies)
        return results

    def _apply_batch(self, wanted: list[Projection], after: int, last: int,
                     offsets: dict[str, int], counts: dict[str, int], stopped: dict[str, str]) -> None:
        """The offsets ``(after, last]`` to every projection still caught up here, with their
        new offsets, in one transaction."""
        db = self.log.db
        with self.log.transaction():
            self.log.lock_projections(p.name for p in wanted if p.name not in stopped)
            current = self._state()  # under the write lock: what other catch-ups did
            for p in wanted:
                if p.name in stopped:
                    continue
                elsewhere = self._moved_elsewhere(p, current, offsets[p.name])
                if elsewhere is not None:
                    logger.warning("projection_left_to_another_catch_up", projection=p.name,
                                   reason=elsewhere)
                    stopped[p.name] = elsewhere
                    continue
                offsets[p.name] = current[p.name][2]  # may be ahead: another run applied those
                start = max(after, offsets[p.name])
                if start < last:
                    try:
                        counts[p.name] += self._fold(p, start, last)
                    except Exception as exc:
                        plugin = self.projections[p.name][0]
                        raise PluginError(
                            f"projection {p.name!r} from plugin {plugin!r} raised "
                            f"{type(exc).__name__}: {exc}"
                        ) from exc
                    offsets[p.name] = last
                    db.execute(f"UPDATE {STATE_TABLE} SET last_offset = ? WHERE name = ?", [last, p.name])

    def _fold(self, p: Projection, after: int, last: int) -> int:
        """Apply ``(after, last]`` to ``p``: its SQL over the canonical tables, or its Python
        fold over typed events, :data:`FOLD_BATCH` at a time. The events of its streams."""
        if p.apply_range is not None:
            p.apply_range(self.log.db, after, last)
            return self._count(after, last, p.streams)
        n = 0
        for records in self.log.read_batches(after, to_offset=last, batch_size=FOLD_BATCH, streams=p.streams):
            events = typed_events(self.log.conn, records, self.reader.structure_for, self.reader.canonical_of)
            p.apply(self.log.db, events)  # type: ignore[misc]
            n += len(events)
            del events  # while the collector is paused: see memory.py
        return n

    def _count(self, after: int, upto: int, streams: tuple[str, ...] | None) -> int:
        """Records of ``streams`` with offsets in ``(after, upto]``."""
        sql = f'SELECT COUNT(*) FROM {RECORDS} WHERE "offset" > ? AND "offset" <= ?'
        args: list = [after, upto]
        if streams is not None:
            sql += f" AND stream IN ({', '.join('?' * len(streams))})"
            args.extend(streams)
        return self.log.conn.execute(sql, args).fetchone()[0]

    def _record(self, results: list[CatchUpResult], started: datetime, seconds: float,
                latencies: Counter) -> None:
        """A run row per projection: pipeline health reads lag, catch-up time and how long
        events waited between being recorded and being projected."""
        histogram = sorted(latencies.items())
        p50, p95 = percentile(histogram, 0.50), percentile(histogram, 0.95)
        finished = format_time(self.clock())
        with self.log.transaction():
            self.log.conn.executemany(
                f"INSERT INTO {RUNS_TABLE} (run_id, name, started_at, finished_at, from_offset, "
                "to_offset, events, seconds, rebuilt, latency_p50_s, latency_p95_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(self.run_id, r.name, format_time(started), finished, r.from_offset, r.to_offset,
                  r.events, round(seconds, 6), int(r.rebuilt), p50, p95) for r in results],
            )
