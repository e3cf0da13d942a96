"""The plugin hooks of fastcommerce. These docstrings are the plugin reference.

Every hook is a *registration* hook: it returns declarative, immutable objects (attrs
``frozen``) and never callbacks to fan out. :class:`~fastcommerce.pipeline.Pipeline`
calls each hook once, at start, and builds immutable registries from the answers. Because
each returned object carries its own name, the core attributes any later error to the
plugin that registered it.

Hooks are always called with keyword arguments; an implementation may accept a subset of
them, so new arguments can be added without breaking existing plugins.
"""

from __future__ import annotations

from collections.abc import Iterable

import cattrs
import pluggy

from .message_sources import SourceOpener
from .monitoring.alerts import AlertRule, AlertSink
from .monitoring.config import MonitoringConfig
from .projections.base import Projection
from .reports.base import ReportSpec
from .settings import Settings
from .streams import Stream
from .upcasting import Schema, Upcaster
from .validation import Validator

PROJECT_NAME = "fastcommerce"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------
# Schemas and upcasting: what a record looks like and how it reaches the canonical shape
# ---------------------------------------------------------------------------


@hookspec
def register_schemas() -> Iterable[Schema]:
    """Declare the record shapes this plugin recognises.

    All results are collected.

    A :class:`~fastcommerce.upcasting.Schema` names a stream (``"orders"``,
    ``"inventory"``, ``"catalog"``), a variant and a version, and carries a pure
    ``detect(record) -> bool`` predicate. Exactly one schema per stream is marked
    ``canonical=True``. At ingest every schema of the stream is asked: no match means the
    record is kept as ``unknown_schema``; two matches is a
    :class:`~fastcommerce.errors.PluginConfigError` naming both plugins, never a guess.

    :returns: an iterable of :class:`~fastcommerce.upcasting.Schema` (may be empty).

    .. versionadded:: 0.1
    """


@hookspec
def register_upcasters() -> Iterable[Upcaster]:
    """Declare steps that move a record from one schema to the next.

    All results are collected.

    An :class:`~fastcommerce.upcasting.Upcaster` maps ``(variant, from_version)`` to
    ``(to_variant, to_version)`` with a pure function ``upcast(dict) -> dict`` that returns
    a new dict. Steps chain until the stream's canonical schema is reached. At start the
    registry refuses a chain with a gap, a cycle, or two upcasters claiming the same step,
    naming the plugins involved. Upcasting runs when events are *read* (and at ingest for a
    schema without a ``key_field`` and ``time_field`` of its own: the log indexes the
    canonical key and time); the log keeps the record as received, so a new or fixed
    upcaster applies to old records on the next rebuild. An upcaster that raises is a
    :class:`~fastcommerce.errors.PluginError` naming it and the record.

    :returns: an iterable of :class:`~fastcommerce.upcasting.Upcaster` (may be empty).

    .. versionadded:: 0.1
    """


@hookspec
def configure_converter(converter: cattrs.Converter) -> None:
    """Adjust the cattrs converter that structures canonical records into event objects.

    All implementations are called, in registration order; use it to register hooks for
    your own payload types. Do not replace hooks for ``Decimal`` or ``datetime``: money is
    never a float and timestamps are never naive.

    :param converter: the pipeline's private converter (never ``cattrs.global_converter``).
    :returns: nothing.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------
# Validation: what is wrong with a record
# ---------------------------------------------------------------------------


@hookspec
def register_validators() -> Iterable[Validator]:
    """Declare checks that run on every canonical record when it is read from the log.

    All results are collected.

    A :class:`~fastcommerce.validation.Validator` has a ``name``, the ``stream`` it
    applies to, the contract ``codes`` it may report with their severity, and a pure
    ``check(record, context)`` that yields ``(code, reason)`` pairs (the core makes them
    :class:`~fastcommerce.events.Problem` objects with the declared severity; a code not
    declared is a :class:`~fastcommerce.errors.PluginError`). A validator must not raise;
    one that raises is a bug and surfaces as
    :class:`~fastcommerce.errors.PluginError` naming it. An ``error`` problem quarantines
    the event; a ``warning`` flags it.

    :returns: an iterable of :class:`~fastcommerce.validation.Validator`.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------
# Projections: what is built from the log
# ---------------------------------------------------------------------------


@hookspec
def register_projections(settings: Settings) -> Iterable[Projection]:
    """Declare read models that are built from the log, deterministically.

    All results are collected.

    A :class:`~fastcommerce.projections.Projection` has a unique ``name``, a ``version``
    (bumping it makes the next catch-up rebuild it), the ``tables`` it owns (never one of
    the core's, such as ``event_log``: a rebuild drops a projection's tables), ``create(db)``
    that makes them, and exactly one fold: ``apply_range(db, after, upto)``, set-based SQL
    over the canonical tables (docs/canonical-schema.md) for the log offsets in
    ``(after, upto]``, or ``apply(db, events)``, a Python fold over typed events built from
    those rows (valid orders carry ``event.facts``, an :class:`~fastcommerce.events.OrderFacts`,
    cheaper to read than ``event.payload``). The pipeline commits each batch with the
    projection's tracking offset in one transaction. A projection must not read the wall
    clock, draw random numbers or depend on dict or set iteration order.

    ``docs`` (optional) describes its tables for readers of the database
    (``fastcommerce serve``): a :class:`~fastcommerce.tabledocs.Table` per table with its
    ``description``, its columns (:class:`~fastcommerce.tabledocs.Column`: a description, a
    ``unit``, a ``kind`` of ``cents``, ``hash`` or ``bytes`` to show as decimals, hex or text,
    the ``references`` of a key), whether it is ``internal`` bookkeeping, its ``label`` column.

    :param settings: the pipeline's :class:`~fastcommerce.settings.Settings` (the allowed
        lateness of the watermark, ...); a projection whose output depends on a setting
        puts it in its ``config`` so that changing it rebuilds the projection.
    :returns: an iterable of :class:`~fastcommerce.projections.Projection`.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------
# Reports: what is read from the projections
# ---------------------------------------------------------------------------


@hookspec
def register_reports() -> Iterable[ReportSpec]:
    """Declare named reports, run with ``fastcommerce report NAME`` or ``Pipeline.report``.

    All results are collected.

    A :class:`~fastcommerce.reports.base.ReportSpec` has a unique ``name`` and a
    ``function(source, **options)`` that reads your projection's tables (``source`` is a
    ``sqlite_utils.Database`` or a pipeline) and returns a
    :class:`~fastcommerce.reports.base.Report`. Options are ``on``, ``start``, ``end``
    (dates), ``by`` and ``limit``; accept and ignore the ones you have no use for.
    ``limit=None`` means every row and ``0`` none: :func:`~fastcommerce.reports.base.limited`
    applies it as the built-in reports do (a negative one is a ``ValueError``). Reports
    are registered per pipeline: a plugin's report exists only where the plugin is loaded.

    :returns: an iterable of :class:`~fastcommerce.reports.base.ReportSpec`.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------
# Monitoring: what is watched, and who is told
# ---------------------------------------------------------------------------


@hookspec
def register_alert_rules() -> Iterable[AlertRule]:
    """Declare alert rules, evaluated by ``fastcommerce alerts --evaluate``, at the end of every
    ``run`` and during ``ingest --follow``.

    All results are collected.

    An :class:`~fastcommerce.monitoring.alerts.AlertRule` has a unique ``name`` and
    ``evaluate(context) -> Iterable[Finding]``; ``context`` carries the database, the
    :class:`~fastcommerce.monitoring.config.MonitoringConfig` and the evaluation time. A
    finding is a condition (raised while found, resolved when no longer found) or, with
    ``instant=True``, an event raised once per key. A rule reads the projections and must not
    write; one that raises is logged and skipped, and the others still run.

    :returns: an iterable of :class:`~fastcommerce.monitoring.alerts.AlertRule`.

    .. versionadded:: 0.1
    """


@hookspec
def register_alert_sinks(config: MonitoringConfig) -> Iterable[AlertSink]:
    """Declare where alert notifications go.

    All results are collected.

    An :class:`~fastcommerce.monitoring.alerts.AlertSink` has a ``name`` and
    ``send(notification)``. Every notification (an alert ``raised``, a ``reminder`` after
    the cooldown, ``resolved``) goes to every sink. A sink may raise: the failure is logged
    and recorded in ``alert_deliveries``, the alert stays in the ``alerts`` table, and the
    pipeline goes on.

    :param config: the monitoring configuration (``config.sinks`` holds the built-in sinks'
        settings; read your own from wherever suits you).
    :returns: an iterable of :class:`~fastcommerce.monitoring.alerts.AlertSink`.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------
# Streams: what the log holds, and how each stream's files are read
# ---------------------------------------------------------------------------


@hookspec
def register_streams() -> Iterable[Stream]:
    """Declare the streams this plugin brings: each with its reader and payload type.

    All results are collected.

    A :class:`~fastcommerce.streams.Stream` has a unique ``name``; a ``reader(path, *,
    start, line, max_record_bytes, complete_lines_only)`` yielding
    :class:`~fastcommerce.sources.RawRecord` (:func:`~fastcommerce.sources.read_jsonl` and
    :func:`~fastcommerce.sources.read_csv` fit); the ``payload_type`` (an attrs class) its
    valid canonical records are structured into; the ``default_file`` that ``run DIR``
    reads and its ``order`` there (the built-ins: catalog 10, inventory 20, orders 30); and
    optionally a ``role`` (``"catalog"``: the stream other records are checked against),
    ``whole_file`` (re-read whole, never resumed) and ``header_lines``. Register the
    stream's schemas with :func:`register_schemas` as usual. Two plugins registering one
    name, or one role, is a :class:`~fastcommerce.errors.PluginConfigError` naming both;
    ingesting a stream nobody registers is an
    :class:`~fastcommerce.streams.UnknownStreamError` naming the known ones.

    :returns: an iterable of :class:`~fastcommerce.streams.Stream` (may be empty).

    .. versionadded:: 0.2
    """


@hookspec
def register_source_openers() -> Iterable[SourceOpener]:
    """Declare sources that are not files, by URL scheme: a message broker's stream.

    All results are collected.

    A :class:`~fastcommerce.message_sources.SourceOpener` has a ``scheme`` (``"nats"``)
    and ``open(url)`` returning a :class:`~fastcommerce.message_sources.MessageSource`:
    ``identity()`` (tells the stream from a later one of the same name), ``last_position()``,
    ``fetch(after, limit, wait)`` (messages in position order, each a
    :class:`~fastcommerce.message_sources.Message` of position and bytes) and ``close()``.
    ``fastcommerce ingest STREAM URL`` (and ``Pipeline.ingest_url``) opens the URL with the
    opener of its scheme and appends its messages as a file's lines are: the position
    stands where a file's line stands (in the log, in a quarantined record's place, in
    the checkpoint, which commits in the append's transaction). ``open`` raises
    :class:`~fastcommerce.errors.SourceError` for a URL it cannot read (no server, no such
    stream). Two plugins claiming one scheme is a
    :class:`~fastcommerce.errors.PluginConfigError` naming both.

    :returns: an iterable of :class:`~fastcommerce.message_sources.SourceOpener` (may be empty).

    .. versionadded:: 0.3
    """
