"""The ``fastcommerce`` command line: a thin layer over :class:`~fastcommerce.Pipeline`.

Only this module (and the example scripts) configure logging; the library never does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import sys
import threading
from datetime import UTC
from pathlib import Path
from typing import Any

import attrs
import click
import structlog

from . import display
from .cli_backup import backup_command, restore_command
from .cli_console import Progress, show_report
from .cli_copy_log import copy_log_command
from .cli_dashboard import dashboard
from .cli_dates import date_options
from .cli_dates import describe as describe_period
from .cli_dates import resolve as resolve_period
from .cli_export import export
from .cli_params import (
    FORMATS,
    SETTLE_OPTION,
    WORKERS_OPTION,
    Formats,
    StreamName,
    emit,
    entrypoint_selection,
    error_text,
)
from .cli_plugins import plugins
from .cli_sample import sample
from .cli_serve import serve
from .cli_text import alert_lines, drop_alert_lines
from .cli_timetravel import AS_OF_OPTION, CHANGES_SINCE_OPTION, travelled_report
from .errors import EventLogError, FastCommerceError
from .message_sources import url_scheme
from .monitoring.alerts import list_alerts
from .monitoring.health import prometheus_text
from .pipeline import IngestSummary, Pipeline
from .reports.listing import shown_rows
from .settings import Settings
from .source_files import check_readable
from .storage import is_postgres
from .storage.postgres import holds_log
from .urls import redact_text, redact_values
from .version import __version__


def configure_logging(verbosity: int, json_logs: bool | None) -> None:
    """Console lines on a terminal, JSON lines otherwise (production: a log shipper reads
    them); ``--log-json``/``--log-console`` force one. Every line carries the run id."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            *([] if json_logs or verbosity else [drop_alert_lines]),  # on a terminal: listed after the summary
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_values,  # no URL's user info, path token or query reaches the log
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def _check_database(db: str, *, create: bool) -> None:
    """Commands that read a database refuse a missing file (a mistyped ``--db`` would
    otherwise be created and report zeros) and an SQLite file of something else (they
    would add their tables to it). Only ``ingest`` and ``run`` create a database."""
    if is_postgres(db):
        if not create and not holds_log(db):
            raise EventLogError(f"{redact_text(db)}: no fastcommerce log there (`fastcommerce run` or `fastcommerce "
                                "ingest` creates one; --db or FASTCOMMERCE_DB names another)")
        return
    path = Path(db)
    if not path.exists():
        if not create:
            raise EventLogError(f"{db}: no such database (`fastcommerce run` or `fastcommerce ingest` "
                                "creates one; --db or FASTCOMMERCE_DB names another)")
        return
    if create or path.is_dir():
        return  # opening says what is wrong with it
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise EventLogError(f"{db}: {exc}") from exc
    if tables and "event_log" not in tables:
        raise EventLogError(f"{db}: an SQLite database, but not a fastcommerce one (it has no event_log table)")


def _settings(settle: float | None, workers: int | None) -> Settings | None:
    if settle is None and workers is None:
        return None  # the defaults
    defaults = Settings()
    return attrs.evolve(defaults, settle=defaults.settle if settle is None else settle,
                        decode_workers=defaults.decode_workers if workers is None else workers)


def open_pipeline(ctx: click.Context, *, create: bool = False, memory_if_missing: bool = False,
                  settle: float | None = None, workers: int | None = None) -> Pipeline:
    """The command's pipeline. ``create``: a missing database is created (``ingest``,
    ``run``); ``memory_if_missing``: a missing one is stood in for by an empty database in
    memory (``plugins``, which lists code, not data)."""
    obj = ctx.obj
    if "pipeline" not in obj:
        db = obj["db"]
        if memory_if_missing and not is_postgres(db) and not Path(db).exists():
            db = ":memory:"
        else:
            _check_database(db, create=create)
        try:
            pipeline = Pipeline(db, only_entrypoints=entrypoint_selection(), blocked=obj["blocked"],
                                monitoring=obj["config"], settings=_settings(settle, workers))
        except EventLogError as exc:  # sqlite's own words do not say which file
            raise type(exc)(f"{db}: {exc}") from exc
        structlog.contextvars.bind_contextvars(run_id=pipeline.run_id)
        if os.environ.get("FASTCOMMERCE_TRACE_PLUGINS") == "1":
            log = structlog.get_logger("fastcommerce.trace")
            pipeline.pm.add_hookcall_monitoring(
                lambda name, impls, kw: log.debug("hook_called", hook=name, plugins=[i.plugin_name for i in impls]),
                lambda outcome, name, impls, kw: None,
            )
        decoding = Progress("decode")
        pipeline.projections.progress = decoding.derived  # canonical rows derived again, on a terminal
        obj["pipeline"] = pipeline
        ctx.call_on_close(pipeline.close)
    return obj["pipeline"]


def summary_text(summary: IngestSummary) -> str:
    cols = ("read", "appended", "duplicates", "valid", "quarantined", "malformed", "unknown_schema", "skipped")
    widths = {c: max(len(c), 9) for c in cols}
    head = f"{'stream':<10} {'files':>5} " + " ".join(f"{c.replace('_', ' '):>{widths[c]}}" for c in cols)
    lines = [head]
    for stream, t in summary.totals().items():
        lines.append(f"{stream:<10} {display.integer(t['files']):>5} "
                     + " ".join(f"{display.integer(t[c]):>{widths[c]}}" for c in cols))
    lines.append("(read = appended + duplicates; appended = valid + quarantined; malformed + unknown schema = "
                 "rejected at ingest, among the quarantined and kept in the log; skipped: lines an earlier run "
                 "already ingested, per the checkpoint)")
    lines += [f"held back: {s.source} line {display.integer(s.held_back_line)}, not ended yet (read once it ends "
              "with a line break or the file has settled; --settle 0 takes it now)"
              for s in summary.sources if s.held_back]
    return "\n".join(lines)


class FastCommerceGroup(click.Group):
    """Turns library errors into one clear line on stderr and exit status 1 (with
    ``--format json``, a JSON object on that line; a usage error then too, status 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FastCommerceError as exc:
            click.echo(error_text(ctx, redact_text(str(exc)), type(exc).__name__), err=True)
            ctx.exit(1)
        except sqlite3.DatabaseError as exc:  # a damaged file, found part-way through a command
            db = (ctx.obj or {}).get("db", "the database")
            click.echo(error_text(ctx, f"{db}: {exc}", "DatabaseError"), err=True)
            ctx.exit(1)
        except click.UsageError as exc:
            if (ctx.obj or {}).get("format") != "json":
                raise
            click.echo(error_text(ctx, exc.format_message(), "UsageError"), err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=FastCommerceGroup)
@click.version_option(__version__, prog_name="fastcommerce")
@click.option("--db", default="fastcommerce.db", show_default=True, envvar="FASTCOMMERCE_DB",
              type=click.Path(dir_okay=False),
              help="The SQLite file holding the log; $FASTCOMMERCE_DB when it is set and --db is not given.")
@click.option("--block", "blocked", multiple=True, metavar="PLUGIN", help="Do not load this plugin.")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), envvar="FASTCOMMERCE_CONFIG",
              help="Monitoring thresholds and alert sinks (TOML) over the defaults; "
                   "default: ./fastcommerce.toml when it exists.")
@click.option("-v", "--verbose", count=True, help="Log progress to stderr (-vv: debug).")
@click.option("--log-json/--log-console", "log_json", default=None,
              help="Log as JSON lines or console text (default: console on a terminal, JSON otherwise).")
@click.pass_context
def main(ctx: click.Context, db: str, blocked: tuple[str, ...], config: Path | None, verbose: int,
         log_json: bool | None) -> None:
    """Event-sourced e-commerce data pipeline on an append-only SQLite log."""
    configure_logging(verbose, log_json)
    if config is None and Path("fastcommerce.toml").is_file():
        config = Path("fastcommerce.toml")
    ctx.obj = {"db": db, "blocked": blocked, "config": config, "open_pipeline": open_pipeline}


@main.command()
@click.argument("stream", type=StreamName())
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--no-resume", is_flag=True, help="Read files from the start, ignoring checkpoints "
              "(re-delivered records are still counted as duplicates, never appended twice).")
@click.option("--follow", is_flag=True, help="Keep reading the (one) growing file, as tail -F does "
              "(waiting for it if it does not exist yet, reading a rotated-away file until it has been quiet "
              "for --rotation-grace), and keep the projections current; the catalog, one JSON document, is "
              "read again only when the file changed; stop with Ctrl-C or SIGTERM.")
@click.option("--poll", default=0.2, show_default=True, type=click.FloatRange(min=0.01),
              help="With --follow: seconds between looks at the file.")
@click.option("--alert-interval", default=10.0, show_default=True, type=click.FloatRange(min=0),
              help="With --follow: evaluate the alert rules in the background at most this often (seconds), "
                   "after something was appended; never delays reading new lines.")
@click.option("--rotation-grace", default=2.0, show_default=True, type=click.FloatRange(min=0),
              help="With --follow: keep reading a rotated-away file until nothing was written to it for "
                   "this many seconds.")
@click.option("--settle", **SETTLE_OPTION)
@click.option("--workers", **WORKERS_OPTION)
@click.pass_context
def ingest(ctx: click.Context, stream: str, files: tuple[str, ...], fmt: str, no_resume: bool,
           follow: bool, poll: float, alert_interval: float, rotation_grace: float, settle: float | None,
           workers: int | None) -> None:
    """Append every record of FILES to the log of STREAM. A FILE may be a broker stream's
    URL (nats://HOST:PORT/STREAM, read by a plugin such as fastcommerce-nats): its messages
    after the checkpoint are appended, up to the newest there was (--follow: until stopped)."""
    url = files[0] if len(files) == 1 and url_scheme(files[0]) else None
    if url is None and any(url_scheme(f) for f in files):
        raise click.UsageError("a broker URL is read on its own: give exactly one")
    if not follow and url is None:  # before the database is created: a file that cannot be read leaves nothing behind
        for f in files:
            check_readable(Path(f))
    pipeline = open_pipeline(ctx, create=True, settle=settle, workers=workers)
    if follow:
        if len(files) != 1:
            raise click.UsageError("--follow takes exactly one file")
        log = structlog.get_logger("fastcommerce.cli")
        stop = threading.Event()
        received: list[str] = []

        def on_signal(signum, _frame):  # writes nothing: the main thread may be writing to stderr
            received.append(signal.Signals(signum).name)
            if stop.is_set():  # asked twice: stop now, whatever is under way (rolled back)
                raise KeyboardInterrupt
            stop.set()  # the follower finishes its cycle and stops

        def on_cycle(summary):
            if summary.read:
                log.info("follow_cycle", source=summary.source, appended=summary.appended,
                         duplicates=summary.duplicates, malformed=summary.malformed,
                         line=summary.resumed_from_line + summary.read)

        def on_waiting(path):
            click.echo(f"fastcommerce: {path}: no such file yet; waiting for it to appear", err=True)

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if url is not None:
                pipeline.ingest_url(stream, url, follow=True, poll_interval=poll, should_stop=stop.is_set,
                                    on_cycle=on_cycle, alert_interval=alert_interval)
            else:
                pipeline.follow(stream, files[0], poll_interval=poll, should_stop=stop.is_set, on_cycle=on_cycle,
                                alert_interval=alert_interval, rotation_grace=rotation_grace, on_waiting=on_waiting)
        except KeyboardInterrupt:
            pass
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        log.info("stopped_following", signals=received)
        click.echo("stopped following", err=True)
        return
    progress = Progress("ingest")
    if url is not None:
        summary = pipeline.ingest_url(stream, url, on_batch=progress.records, resume=not no_resume)
    else:
        summary = pipeline.ingest(stream, *files, resume=not no_resume, on_batch=progress.records)
    progress.done()
    emit(summary.as_dict(), fmt, summary_text(summary))


@main.command()
@click.argument("data_dir", default="sample_data", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--settle", **SETTLE_OPTION)
@click.option("--workers", **WORKERS_OPTION)
@click.pass_context
def run(ctx: click.Context, data_dir: Path, fmt: str, settle: float | None, workers: int | None) -> None:
    """Ingest catalog, inventory and orders from DATA_DIR, then update the projections.

    DATA_DIR must hold product_catalog.json (the catalog, read first), inventory_updates.csv
    (the hourly stock levels) and orders_stream.jsonl (the order events), and the default
    file of every stream a plugin adds (`fastcommerce plugins` lists them under "streams");
    a missing one stops the run before anything is read. Files already read are resumed
    from their checkpoints: running it again appends only what is new."""
    pipeline = open_pipeline(ctx, create=True, settle=settle, workers=workers)
    progress = Progress("run")
    summary = pipeline.run(data_dir, on_batch=progress.records)
    progress.done()
    alerts = pipeline.alerts()
    status = pipeline.status()
    revenue = pipeline.report("revenue", catch_up=False)
    quality = pipeline.report("quality", catch_up=False, limit=0)
    headline = {
        "date": revenue.summary["from"],
        "revenue_by_channel": revenue.summary["revenue_by_channel"],
        "quarantined_by_code": {code: c["records"] for code, c in quality.summary["codes"].items()
                                if c["severity"] == "error"},
    }
    headline["alerts"] = {"raised": len(alerts.raised), "resolved": len(alerts.resolved),
                          "delivery_failures": alerts.delivery_failures}
    data = {**summary.as_dict(), "log": {"records": status["records"], "last_offset": status["last_offset"]},
            "headline": headline}
    rejected = sum(t["malformed"] + t["unknown_schema"] for t in summary.totals().values())
    quarantined = quality.summary["quarantined"]
    lines = [summary_text(summary),
             (f"log: {display.integer(status['records'])} records, last offset "
              f"{display.integer(status['last_offset'])} in {ctx.obj['db']}"),
             f"this run: {display.integer(rejected)} rejected at ingest (malformed or unknown schema)",
             f"revenue on {headline['date'] or '(no revenue yet)'}:"]
    lines += [f"  {ch:<12} {display.money(v):>15}" for ch, v in headline["revenue_by_channel"].items()]
    lines.append(f"quarantined: {display.integer(quarantined)} records in the log, by code "
                 "(a record may carry several; `fastcommerce report quality` lists them):")
    lines += [f"  {code:<22} {display.integer(n):>8}" for code, n in headline["quarantined_by_code"].items()] \
        or ["  (none)"]
    lines.append(f"alerts: {len(alerts.raised)} raised, {len(alerts.resolved)} resolved"
                 + (" (fastcommerce alerts lists them)" if alerts.raised or alerts.resolved else ""))
    lines += alert_lines(alerts)
    emit(data, fmt, "\n".join(lines))


@main.command()
@click.argument("name", metavar="NAME")
@date_options
@click.option("--by", metavar="WHAT", help="revenue: group by date, channel and/or region (channel, region, "
              "date,channel, date,region ...) [default: date,channel,region]; products: rank by units or revenue "
              "[default: units].")
@click.option("--low-stock", is_flag=True, help="inventory: only the products low on stock.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many rows [default: every row in "
              "json and csv; the report's own default (top 10 products, ...) in a table].")
@click.option("--all", "every_row", is_flag=True, help="Every row, in any format (the opposite of --limit).")
@click.option("--format", "fmt", type=Formats(["table", "json", "csv", "markdown"]), default="table",
              show_default=True)
@click.option("--as-of", **AS_OF_OPTION)  # cli_timetravel.py: kept in ctx.meta, not a parameter
@click.option("--changes-since", **CHANGES_SINCE_OPTION)
@click.pass_context
def report(ctx, name, on, start, end, days, last_week, all_days, by, low_stock, limit, every_row, fmt) -> None:
    """Print report NAME: revenue, products, inventory, customers, operations, quality,
    statuses, usual, or one a plugin registers (`fastcommerce plugins` lists them). json and
    csv hold every row unless --limit is given; a table shows the report's default number and
    says so. A table starts with the dates it covers."""
    if every_row and limit is not None:
        raise click.UsageError("--all and --limit contradict each other: give one")
    pipeline = open_pipeline(ctx)
    if name not in pipeline.reports:
        raise click.BadParameter(f"{name!r} is not one of {', '.join(pipeline.reports)}", param_hint="NAME")
    if low_stock and name != "inventory":
        raise click.UsageError("--low-stock is an option of the inventory report")
    period = resolve_period(pipeline.clock().astimezone(UTC).date(), on=on, start=start, end=end,
                            days=days, last_week=last_week, all_days=all_days)
    options = {**period.options(), "limit": limit}  # limit None: every row; a table is cut below, with a note
    if by is not None:
        options["by"] = by
    if low_stock:
        options["only_low_stock"] = True
    try:
        result = travelled_report(ctx, pipeline, name, options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    result, note = shown_rows(result, fmt, function=pipeline.reports[name].function, limit=limit, every_row=every_row)
    show_report(result, fmt, period=describe_period(period, result.summary), note=note)


@main.command()
@click.argument("names", nargs=-1)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def project(ctx, names, fmt) -> None:
    """Catch projections (all, or NAMES) up with the log."""
    results = open_pipeline(ctx).project(list(names) or None)
    _projection_results(results, fmt)


@main.command()
@click.argument("names", nargs=-1)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--redecode", is_flag=True,
              help="Decode every record again from its raw bytes first (else the canonical rows are reused "
                   "while the plugins that decode them are unchanged).")
@click.option("--workers", **WORKERS_OPTION)
@click.pass_context
def rebuild(ctx, names, fmt, redecode, workers) -> None:
    """Drop projections' tables (all, or NAMES) and replay them from offset 0."""
    progress = Progress("rebuild")
    results = open_pipeline(ctx, workers=workers).rebuild(list(names) or None, on_batch=progress.events, redecode=redecode)
    progress.done()
    _projection_results(results, fmt)


@main.command()
@click.option("--all", "everything", is_flag=True, help="Decode every record again, not only stale ones.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--workers", **WORKERS_OPTION)
@click.pass_context
def decode(ctx, everything, fmt, workers) -> None:
    """Derive the canonical rows that the loaded plugins would derive otherwise (a plugin
    added, removed or upgraded since), from the raw records; projections do it themselves
    before they catch up."""
    pipeline = open_pipeline(ctx, workers=workers)
    done = pipeline.decode(redecode=everything, progress=pipeline.projections.progress)
    emit(done, fmt, "\n".join(f"{what:<12} {n:,} records decoded again" for what, n in done.items())
         or "canonical rows are current: nothing to decode")


def _projection_results(results, fmt) -> None:
    data = [attrs.asdict(r) for r in results]
    emit(data, fmt, "\n".join(
        f"{r.name:<12} v{r.version}  offsets {r.from_offset:,} -> {r.to_offset:,}  "
        f"{r.events:,} events{f'  (rebuilt: {r.why})' if r.rebuilt else ''}"
        f"{f'  (stopped: {r.stopped})' if r.stopped else ''}" for r in results))


def _chain_line(check) -> str:
    if check.ok:
        return (f"log: hash chain holds over {check.records:,} records, head offset {check.head_offset:,} "
                f"chain hash {check.head_hash}"
                + ("" if check.expected_head_found is None else " (the expected head hash is in it)"))
    return f"log: TAMPERED: {check.problem}"


@main.command()
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--log-only", is_flag=True, help="Only recompute the log's hash chain (fast): no rebuild.")
@click.option("--expect-head", metavar="HASH", default=None,
              help="A chain hash written down earlier (`status` prints it): it must be in the log's chain.")
@click.pass_context
def verify(ctx, fmt, log_only, expect_head) -> None:
    """Recompute the log's hash chain (an edited, removed, inserted or reordered record is
    named by its offset), check the database file's integrity, then rebuild every
    projection in a scratch copy and compare its tables with the live ones."""
    if expect_head is not None:
        try:
            bytes.fromhex(expect_head)
        except ValueError:
            raise click.BadParameter("a chain hash is 64 hex digits", param_hint="--expect-head") from None
    pipeline = open_pipeline(ctx)
    chain_check = pipeline.verify_log(expect_head=expect_head)
    log_data = attrs.asdict(chain_check) | {"ok": chain_check.ok}
    if log_only or not chain_check.ok:
        emit({"ok": chain_check.ok, "log": log_data, "tables": []}, fmt, _chain_line(chain_check))
        if not chain_check.ok:
            ctx.exit(1)
        return
    checks = pipeline.verify()
    bad = [c for c in checks if not c.ok]
    data = {"ok": not bad, "log": log_data, "tables": [attrs.asdict(c) | {"ok": c.ok} for c in checks]}
    lines = [_chain_line(chain_check)] + [f"{'ok ' if c.ok else 'DIFF'} {c.projection:<12} {c.table:<28} "
             + (f"live {c.live_rows:>9,} rows" if c.live_exists else "live table missing")
             + ("" if c.ok else f", rebuilt {c.rebuilt_rows:,} rows ({c.live_checksum[:12]} != {c.rebuilt_checksum[:12]})")
             for c in checks]
    offsets = sorted({(c.projection, c.offset) for c in checks})
    at = (f"as of offset {offsets[0][1]:,}" if len({o for _n, o in offsets}) == 1
          else "as of offset " + ", ".join(f"{o:,} ({n})" for n, o in offsets)) if offsets else ""
    lines.append(f"all projections match a rebuild from the log, {at}" if not bad else f"{len(bad)} table(s) differ, {at}")
    emit(data, fmt, "\n".join(lines))
    if bad:
        ctx.exit(1)


@main.command()
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def status(ctx: click.Context, fmt: str) -> None:
    """The log's size and last offset, each source's checkpoint, each projection's offset."""
    st = open_pipeline(ctx).status()
    n = display.integer
    lines = [f"log: {n(st['records'])} records, last offset {n(st['last_offset'])}",
             f"head: offset {n(st['head']['offset'])} chain hash {st['head']['chain_hash']}"]
    for stream, c in st["streams"].items():
        lines.append(f"  {stream:<10} {n(c['records']):>10} records  {n(c['rejected']):>8} rejected at ingest"
                     f"  last offset {n(c['last_offset'])}")
    lines.append("checkpoints:")
    for c in st["checkpoints"] or []:
        lines.append(f"  {c['stream']:<10} {c['path']}  line {n(c['line'])}  byte {n(c['byte_offset'])}"
                     f"  (log offset {n(c['last_offset'])}, {c['updated_at']})")
    if not st["checkpoints"]:
        lines.append("  (none)")
    lines.append("projections:")
    for name, p in st["projections"].items():
        lines.append(f"  {name:<20} v{p['version']}  offset {n(p['last_offset'])}")
    emit(st, fmt, "\n".join(lines))


@main.command()
@click.option("--format", "fmt", type=Formats(["text", "json", "prometheus"]), default="text", show_default=True)
@click.pass_context
def health(ctx, fmt) -> None:
    """Pipeline health: per source, per projection, recent runs and active alerts."""
    snapshot = open_pipeline(ctx).health()
    if fmt == "prometheus":
        click.echo(prometheus_text(snapshot), nl=False)
        return
    n, secs = display.integer, display.seconds
    lines = ["sources:"]
    for stream, s in snapshot["sources"].items():
        last = s.get("last_ingest") or {}
        lines.append(
            f"  {stream:<10} {n(s.get('records', 0)):>9} records  {n(s.get('rejected_at_ingest', 0)):>6} rejected at "
            f"ingest  {n(s.get('quarantined', 0)):>6} quarantined  freshness {display.duration(s.get('freshness_seconds')):>10}"
            f"  last ingest {last.get('finished_at', display.MISSING)} ("
            f"{display.per_second(last.get('records_per_second'))}, malformed {display.ratio(last.get('error_rate'))}, "
            f"latency p50 {secs(last.get('latency_p50_s'))}, p95 {secs(last.get('latency_p95_s'))})")
    lines.append("projections:")
    for name, p in snapshot["projections"].items():
        cu = p.get("last_catch_up") or {}
        lines.append(f"  {name:<12} offset {n(p['offset']):>9}  lag {n(p['lag']):>7}  last catch-up "
                     f"{secs(cu.get('seconds'))} ({display.per_second(cu.get('log_events_per_second'), 'events')})")
    lines.append("recent runs:")
    for r in snapshot["runs"]:
        lines.append(f"  {r['finished_at']}  {r['stream']:<10} read {n(r['read']):>8}  appended {n(r['appended']):>8}  "
                     f"duplicates {n(r['duplicates']):>6}  malformed {n(r['malformed']):>5}  "
                     f"{display.per_second(r['records_per_second'])}  run {r['run_id'][:8]}")
    lines.append("active alerts: " + (", ".join(f"{a['rule']} ({a['severity']}) x{a['count']}"
                                                for a in snapshot["active_alerts"]) or "none"))
    emit(snapshot, fmt, "\n".join(lines))


@main.command()
@click.option("--open", "only_open", is_flag=True,
              help="Only conditions not yet resolved (instant events, like a spike in one hour, are never open).")
@click.option("--evaluate/--no-evaluate", default=False, show_default=True,
              help="Evaluate the alert rules first, recording what they find and notifying the configured "
                   "sinks (as `run` does); without it, only list what is recorded.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def alerts(ctx, only_open, evaluate, limit, fmt) -> None:
    """List the recorded alerts, newest first. A listing has no side effect: only
    --evaluate (or `run`) evaluates the rules and notifies the sinks."""
    pipeline = open_pipeline(ctx)
    result = pipeline.alerts() if evaluate else None
    rows = list_alerts(pipeline.db, include_resolved=True, only_open=only_open, limit=limit)
    data = {"evaluation": None if result is None else {
        "findings": result.findings, "raised": len(result.raised), "reminded": len(result.reminded),
        "resolved": len(result.resolved), "rule_errors": result.rule_errors,
        "delivery_failures": result.delivery_failures}, "alerts": rows}
    lines = []
    if result is not None:
        lines.append(f"evaluated: {result.findings} findings; {len(result.raised)} raised, "
                     f"{len(result.reminded)} reminded, {len(result.resolved)} resolved"
                     + (f"; {result.delivery_failures} delivery failures" if result.delivery_failures else "")
                     + "".join(f"\nrule {k} failed: {v}" for k, v in result.rule_errors.items()))
    for a in rows:
        state = "resolved " + a["resolved_at"] if a["resolved_at"] and not a["instant"] else (
            "event" if a["instant"] else "open")
        lines.append(f"{a['raised_at']}  {a['severity']:<8} {a['rule']:<20} {a['key']:<26} {state:<12} {a['message']}")
    if not rows:
        lines.append("no alerts" + ("" if evaluate else " recorded (--evaluate evaluates the rules now)"))
    emit(data, fmt, "\n".join(lines))


main.add_command(sample)
main.add_command(plugins)
main.add_command(dashboard)
main.add_command(backup_command)
main.add_command(restore_command)
main.add_command(serve)
main.add_command(export)
main.add_command(copy_log_command)


if __name__ == "__main__":  # pragma: no cover
    main()
