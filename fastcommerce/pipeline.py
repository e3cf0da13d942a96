"""The library's front door: a log, its plugins, ingestion, reading and projections."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from sqlite_utils import Database

from .canonical import RECORDS as CANON_RECORDS
from .converter import make_converter
from .dashboard import write_dashboard
from .decoding import Decoder, fingerprint_of
from .errors import FastCommerceError, PluginConfigError, PluginError, SourceError
from .eventlog import DEFAULT_BUSY_TIMEOUT, EventLog
from .events import Event
from .follow import follow, follow_messages
from .ingest import DEFAULT_BATCH_SIZE, Ingester, SourceSummary
from .logs import get_logger
from .message_sources import SourceOpeners
from .monitoring import AlertEngine, EvaluationResult, MonitoringConfig, load_config
from .monitoring.health import health
from .naming import unique_names
from .parquet_export import ExportSummary, export_parquet
from .plugins import (
    PluginInfo,
    collect,
    collect_streams,
    decoder_plugins,
    describe,
    make_plugin_manager,
    reading_fingerprint,
)
from .projections import ProjectionRunner
from .projections.runner import CatchUpResult
from .projections.verify import verify
from .reading import EventReader
from .rotation import rotated_away
from .schema import LOG_TABLE
from .settings import Settings
from .source_files import check_readable
from .sources import DEFAULT_MAX_RECORD_BYTES
from .storage import open_log
from .streams import CATALOG_ROLE, StreamRegistry
from .timetravel import as_of, report_as_of, revenue_changes_since
from .upcasting import SchemaRegistry
from .validation import ValidatorSet

logger = get_logger(__name__)

def _check_streams(streams: StreamRegistry, registry: SchemaRegistry) -> None:
    """Every registered stream has schemas, and every schema's stream is registered: one
    without the other could be listed but never read."""
    for name in streams.names:
        if name not in registry.streams:
            raise PluginConfigError(f"stream {name!r} from plugin {streams.owner(name)!r} has no schema "
                                    "(register one with register_schemas)")
    for name in registry.streams:
        if name not in streams:
            raise PluginConfigError(f"schemas of stream {name!r} are registered, but no plugin registers the "
                                    f"stream itself (register_streams); registered streams: "
                                    f"{', '.join(streams.names) or 'none'}")


def utc_now() -> datetime:
    return datetime.now(UTC)


SUMMARY_COUNTS = ("read", "appended", "duplicates", "valid", "quarantined", "malformed", "unknown_schema", "skipped")
"""What a source summary counts: read = appended + duplicates; appended = valid + quarantined."""


@attrs.define
class IngestSummary:
    """Per-source summaries of one run, and their totals per stream."""

    sources: list[SourceSummary] = attrs.field(factory=list)

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for s in self.sources:
            t = out.setdefault(s.stream, dict.fromkeys(("files", *SUMMARY_COUNTS), 0))
            t["files"] += 1
            for k in SUMMARY_COUNTS:
                t[k] += getattr(s, k)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"sources": [s.as_dict() for s in self.sources], "totals": self.totals()}


class Pipeline:
    """Open a log, load plugins, ingest, read events back, keep projections current.

    >>> with Pipeline("shop.db") as p:                          # doctest: +SKIP
    ...     p.ingest("orders", "orders_stream.jsonl")
    ...     for event in p.events(stream="orders"):
    ...         ...

    :param db: a path, a ``sqlite_utils.Database`` or an :class:`EventLog`.
    :param plugins: plugin objects to register explicitly (after entry points).
    :param load_entrypoints: load installed packages of entry point group ``fastcommerce``.
    :param blocked: plugin names (built-in module names or entry point names) not to load.
    :param clock: the wall clock used for recorded times; injectable for tests.
    :param settings: what projections compute with (the allowed lateness, ...).
    :param monitoring: alert thresholds: a ``MonitoringConfig``, or a TOML file path over
        the shipped defaults (``fastcommerce/monitoring/defaults.toml``).
    """

    def __init__(
        self,
        db: str | Path | Database | EventLog = "fastcommerce.db",
        *,
        plugins: Iterable[Any] = (),
        load_entrypoints: bool = True,
        blocked: Iterable[str] = (),
        only_entrypoints: Sequence[str] | None = None,
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        settings: Settings | None = None,
        monitoring: MonitoringConfig | str | Path | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.monitoring = monitoring if isinstance(monitoring, MonitoringConfig) else load_config(monitoring)
        self.run_id = uuid.uuid4().hex
        """Identifies this pipeline's ingest and catch-up runs in the run tables and logs."""
        self._options = dict(plugins=tuple(plugins), load_entrypoints=load_entrypoints, blocked=tuple(blocked),
                             only_entrypoints=only_entrypoints, clock=clock, batch_size=batch_size,
                             max_record_bytes=max_record_bytes, busy_timeout=busy_timeout,
                             settings=self.settings, monitoring=self.monitoring)
        self.pm = make_plugin_manager(plugins=self._options["plugins"], load_entrypoints=load_entrypoints,
                                      blocked=self._options["blocked"], only_entrypoints=only_entrypoints)
        schemas, upcasters = collect(self.pm, "register_schemas"), collect(self.pm, "register_upcasters")
        validators = collect(self.pm, "register_validators")
        self.registry = SchemaRegistry(schemas, upcasters)
        self.streams = collect_streams(self.pm)
        """The registered streams (``register_streams``): readers, payload types, ``run``'s files."""
        _check_streams(self.streams, self.registry)
        self.source_openers = SourceOpeners(collect(self.pm, "register_source_openers"))
        """The URL schemes plugins read (``register_source_openers``): message brokers."""
        self.validators = ValidatorSet(validators)
        self.converter = make_converter(lambda conv: self.pm.hook.configure_converter(converter=conv))
        # every plugin is asked for everything it registers before the database is opened: a
        # plugin that fails leaves no file created or upgraded, and nothing half-configured runs
        reports = unique_names("report", collect(self.pm, "register_reports"))
        self.reports = {spec.name: spec for _plugin, spec in reports}
        self._report_plugins = {spec.name: plugin for plugin, spec in reports}
        self.alert_rules = unique_names("alert rule", collect(self.pm, "register_alert_rules"))
        self.alert_sinks = unique_names("alert sink", collect(self.pm, "register_alert_sinks", config=self.monitoring))
        projections = collect(self.pm, "register_projections", settings=self.settings)
        touched = [(plugin, item.stream) for plugin, item in (*schemas, *upcasters, *validators)]
        if isinstance(db, EventLog):
            self.log = db
        elif isinstance(db, Database):
            self.log = EventLog(db)
        else:
            self.log = open_log(db, busy_timeout=busy_timeout)
        try:
            self._connect(projections, touched, clock=clock, batch_size=batch_size, max_record_bytes=max_record_bytes)
        except BaseException:
            if not isinstance(db, (EventLog, Database)):
                self.log.close()  # opened here: not left open behind an error
            raise

    def _connect(self, projections: list[tuple[str, Any]], touched: list[tuple[str, str]], *, clock: Callable[[], datetime], batch_size: int,
                 max_record_bytes: int) -> None:
        """The parts that work on the opened log."""
        self.clock = clock
        self.reader = EventReader(self.registry, self.validators, self.converter,
                                  payload_types=self.streams.payload_types(),
                                  catalog_stream=self.streams.with_role(CATALOG_ROLE),
                                  plain_converter=not self.pm.hook.configure_converter.get_hookimpls())
        decoders = decoder_plugins(self.pm, touched, catalog=self.streams.with_role(CATALOG_ROLE))
        self.decoder = Decoder(self.log, self.reader, {s: fingerprint_of([p]) for s, p in decoders.items()}, decoders,
                               workers=self.settings.decode_workers)
        """Writes the canonical rows at ingest and keeps them current with the plugins."""
        self.projections = ProjectionRunner(self.log, self.reader, projections, clock=clock, run_id=self.run_id,
                                            reading=reading_fingerprint(self.pm), decoder=self.decoder)
        self._ingester = Ingester(self.log, self.registry, self.streams, clock=clock, batch_size=batch_size,
                                  max_record_bytes=max_record_bytes, run_id=self.run_id, decoder=self.decoder,
                                  settle=self.settings.settle)

    # -- lifecycle ---------------------------------------------------------------------

    def clone(self, db: str | Path | Database | EventLog) -> Pipeline:
        """A pipeline with the same plugins and settings on another database."""
        return Pipeline(db, **self._options)

    def close(self) -> None:
        self.decoder.close()
        self.log.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> Database:
        return self.log.db

    # -- ingestion ---------------------------------------------------------------------

    def ingest(self, stream: str, *paths: str | Path, resume: bool = True,
               on_batch: Callable[[SourceSummary], None] | None = None) -> IngestSummary:
        """Append every record of ``paths`` to ``stream``. All files are checked before
        any is read, so a missing file leaves the log as it was. When a file was rotated
        away since it was last read (``live.jsonl`` renamed ``live.jsonl.1``, a new
        ``live.jsonl`` created), the rest of the old file is read first, under its new name
        (:func:`~fastcommerce.rotation.rotated_away`)."""
        spec = self.streams.get(stream)
        files = [Path(p) for p in paths]
        for f in files:
            check_readable(f)
        summary = IngestSummary()
        named = {f.resolve() for f in files}
        for f in files:
            # the rest of files rotated away since the last run, before the new file
            for rotated in rotated_away(self.log, stream, f) if resume and not spec.whole_file else ():
                if rotated.resolve() not in named:
                    summary.sources.append(self._ingest_file(stream, rotated, on_batch=on_batch))
            summary.sources.append(self._ingest_file(stream, f, resume=resume, on_batch=on_batch))
        return summary

    def _ingest_file(self, stream: str, path: Path, **options: Any) -> SourceSummary:
        before = self.log.last_offset()
        return self._counted(self._ingester.ingest_file(stream, path, **options), before)

    def _counted(self, summary: SourceSummary, before: int) -> SourceSummary:
        """``summary`` with its valid and quarantined counts: the canonical rows of what it
        appended (written in each batch's transaction), the log's offsets after ``before``
        that name its source (another writer's records may sit between them)."""
        if summary.appended:
            valid, quarantined = self.db.execute(
                f'SELECT COALESCE(SUM(1 - c.quarantined), 0), COALESCE(SUM(c.quarantined), 0) FROM {LOG_TABLE} e '
                f'JOIN {CANON_RECORDS} c USING ("offset") WHERE e."offset" > ? AND e.stream = ? AND e.source = ?',
                [before, summary.stream, summary.source]).fetchone()
            summary.valid, summary.quarantined = valid, quarantined
        return summary

    def ingest_records(self, stream: str, records: Iterable[Any], *, source: str = "<records>") -> SourceSummary:
        """Append records from an iterable: dicts, or JSON text / bytes, one record each."""
        self._check_stream(stream)
        before = self.log.last_offset()
        return self._counted(self._ingester.ingest_records(stream, records, source=source), before)

    def ingest_url(self, stream: str, url: str, *, on_batch: Callable[[SourceSummary], None] | None = None,
                   follow: bool = False, resume: bool = True, **options: Any) -> IngestSummary:
        """Append the messages of the broker stream ``url`` names (its scheme's plugin opens
        it: ``register_source_openers``) after its checkpoint, up to the newest there was at
        the start (``resume=False``: from the stream's start, what the log holds counted as
        duplicates); with ``follow``, keep appending and projecting until ``should_stop()``
        (options as :func:`~fastcommerce.follow.follow_messages`)."""
        self._check_stream(stream)
        source = self.source_openers.open(url)
        summary = IngestSummary()
        try:
            if follow:
                follow_messages(self, stream, source, **options)
            else:
                summary.sources.append(self._ingester.ingest_messages(stream, source, on_batch=on_batch,
                                                                      resume=resume))
        finally:
            source.close()
        return summary

    def run(self, data_dir: str | Path = "sample_data", *, resume: bool = True,
            on_batch: Callable[[SourceSummary], None] | None = None) -> IngestSummary:
        """Ingest each registered stream's ``default_file`` from ``data_dir``, in the
        streams' declared order (built-ins: the catalog, then inventory, then orders, by the
        contract's file names), then bring every projection up to date."""
        data_dir = Path(data_dir)
        order = self.streams.run_order()
        files = {s.name: data_dir / s.default_file for s in order if s.default_file is not None}
        missing = [str(f) for f in files.values() if not f.is_file()]
        if missing:
            raise SourceError(f"{data_dir}: missing input file(s): {', '.join(missing)}")
        summary = IngestSummary()
        for stream, file in files.items():
            summary.sources.extend(self.ingest(stream, file, resume=resume, on_batch=on_batch).sources)
        self.project()
        return summary

    def _check_stream(self, stream: str) -> None:
        self.streams.get(stream)  # an UnknownStreamError naming the registered streams

    # -- reading -----------------------------------------------------------------------

    def events(self, from_offset: int = 0, *, stream: str | None = None,
               to_offset: int | None = None, batch_size: int = 5000) -> Iterator[Event]:
        """Events after ``from_offset`` in log order: upcast, validated (against the catalog
        as of each event's place in the log), structured."""
        view = self.reader.catalog_at(self.log, from_offset)
        records = self.log.read(from_offset, to_offset=to_offset, batch_size=batch_size)
        for event in self.reader.decode_all(records, view):
            if stream is None or event.stream == stream:
                yield event

    # -- projections -------------------------------------------------------------------

    def project(self, names: Sequence[str] | None = None, *,
                on_batch: Callable[[int, int], None] | None = None) -> list[CatchUpResult]:
        """Catch every projection (or ``names``) up with the log."""
        return self.projections.catch_up(names, on_batch=on_batch)

    def rebuild(self, names: Sequence[str] | None = None, *,
                on_batch: Callable[[int, int], None] | None = None, redecode: bool = False) -> list[CatchUpResult]:
        """Drop projections' tables and replay them from offset 0 (from the canonical rows;
        ``redecode``: decode every record from its raw bytes again first)."""
        if redecode:
            self.decoder.mark_all_stale()
        return self.projections.rebuild(names, on_batch=on_batch)

    def decode(self, *, redecode: bool = False, progress: Any = None) -> dict[str, int]:
        """Derive again the canonical rows the loaded plugins would derive otherwise (all of
        them with ``redecode``); the records derived, per stream. Projections call this
        themselves before they catch up."""
        if redecode:
            self.decoder.mark_all_stale()
        return self.decoder.sync(progress=progress)

    def export_parquet(self, target: str | Path, *, full: bool = False) -> ExportSummary:
        """Write the canonical tables as Parquet under ``target``, a partition a day; only
        the days touched since the last export to it unless ``full`` (see
        :mod:`fastcommerce.parquet_export`). The rows are brought up to date with the
        loaded plugins first, as before a catch-up. Needs pyarrow (``fastcommerce[parquet]``)."""
        self.decoder.sync()
        return export_parquet(self.log, target, full=full, clock=self.clock)

    def verify(self) -> list[Any]:
        """Rebuild every projection in a scratch copy; compare table checksums with the live ones."""
        return verify(self)

    def verify_log(self, *, expect_head: str | None = None) -> Any:
        """Recompute the log's hash chain from the stored records (tamper evidence); a
        :class:`~fastcommerce.chain.ChainCheck` naming the first offset that does not match."""
        return self.log.check_chain(expect_head=expect_head)

    def follow(self, stream: str, path: str | Path, **options: Any) -> None:
        """Keep ingesting a growing file and projecting as it goes (see :mod:`fastcommerce.follow`)."""
        follow(self, stream, path, **options)

    def report(self, name: str, *, catch_up: bool = True, as_of: int | str | datetime | None = None,
               **options: Any) -> Any:
        """Run a report (``revenue``, ``products``, ``inventory``, ``customers``,
        ``operations``, ``quality``) after catching the projections up; ``as_of`` (a log
        offset, or a time: the last offset recorded at or before it) gives it as it stood
        when the log ended there (:mod:`fastcommerce.timetravel`)."""
        if name not in self.reports:
            raise SourceError(f"no report named {name!r}; known: {', '.join(self.reports)}")
        if as_of is not None:
            return report_as_of(self, name, as_of, **options)
        if catch_up:
            self.project()
        try:
            return self.reports[name].function(self, **options)
        except (ValueError, FastCommerceError):  # a bad option, in the report's own words (a usage error on the CLI)
            raise
        except Exception as exc:
            raise PluginError(f"report {name!r} from plugin {self._report_plugins[name]!r} raised "
                              f"{type(exc).__name__}: {exc}") from exc

    def as_of(self, at: int | str | datetime) -> Any:
        """A context manager: a pipeline on a scratch database holding the log up to ``at``
        (an offset, or a time), its projections built; the live tables only read."""
        return as_of(self, at)

    def revenue_changes_since(self, since: int | str | datetime) -> Any:
        """Per day whose revenue rows changed since the log ended at ``since``: then, now,
        whether the day was restated, and the order events behind it."""
        return revenue_changes_since(self, since)

    def dashboard(self, path: str | Path = "report.html", *, start: Any = None, end: Any = None) -> Any:
        """Write the HTML dashboard of the reports over ``start``..``end`` (order dates;
        default every date with revenue) to ``path``, after catching the projections up;
        returns the numbers shown (:mod:`fastcommerce.dashboard`)."""
        return write_dashboard(self, path, start=start, end=end)

    # -- monitoring --------------------------------------------------------------------

    def alerts(self, *, now: datetime | None = None) -> EvaluationResult:
        """Evaluate every alert rule, update the ``alerts`` table, notify the sinks."""
        engine = AlertEngine(self.db, self.monitoring, self.alert_rules, self.alert_sinks, self.log.transaction)
        return engine.evaluate(now or self.clock())

    def health(self, *, now: datetime | None = None) -> dict[str, Any]:
        """Per source, per projection and per run: see :mod:`fastcommerce.monitoring.health`."""
        return health(self.db, now or self.clock())

    # -- introspection -----------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        return describe(self.pm)

    def status(self) -> dict[str, Any]:
        counts = self.log.counts()
        return {
            "records": sum(c["records"] for c in counts.values()),
            "last_offset": self.log.last_offset(),
            "head": dict(zip(("offset", "chain_hash"), self.log.head())),
            "streams": counts,
            "checkpoints": [
                {"stream": c.stream, "path": c.path, "line": c.line, "byte_offset": c.byte_offset,
                 "last_offset": c.last_offset, "updated_at": c.updated_at}
                for c in self.log.checkpoints()
            ],
            "projections": {
                name: {"version": v, "last_offset": off}
                for name, (v, off) in self.projections.state().items()
            },
        }
