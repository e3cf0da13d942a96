"""The core's own tables described the way projections describe theirs (:mod:`.tabledocs`).

The columns themselves are :mod:`fastcommerce.schema`'s and :mod:`fastcommerce.canonical`'s
(docs/canonical-schema.md says the same of the canonical ones in prose); this is what a
browser over the database shows beside them.
"""

from __future__ import annotations

from . import canonical
from .schema import (
    ALERTS,
    CHECKPOINT_TABLE,
    DELIVERIES,
    EXPORT_STATE,
    LOG_TABLE,
    MIGRATIONS_TABLE,
    PROJECTION_RUNS,
    PROJECTION_STATE,
    RUNS_TABLE,
)
from .tabledocs import BYTES, HASH, Column, Table, money

_OFFSET = Column("offset", "the record's log offset", references=f"{LOG_TABLE}.offset")
_IN_LOG = f"{LOG_TABLE}.offset"

CORE_DOCS: tuple[Table, ...] = (
    Table(LOG_TABLE, "every record ever received, in arrival order, as received: the source of truth "
          "(append-only: the database refuses UPDATE and DELETE)", (
        Column("offset", "the record's place in the log; never reused"),
        Column("stream", "orders, inventory, catalog, ..."),
        Column("content_hash", "SHA-256 of the record's bytes: with the stream, the idempotency key", kind=HASH),
        Column("natural_key", "the order id, product id, ... when one could be read"),
        Column("event_time", "the time the record says it happened (UTC)"),
        Column("recorded_at", "when it was received (UTC wall clock)"),
        Column("source", "the file (or other source) it came from"), Column("line", "its line in that file"),
        Column("variant", "the shape detected (web, mobile, api, legacy, ...)"),
        Column("schema_version", "that shape's version"),
        Column("rejected", "malformed_record or unknown_schema when rejected at ingest"),
        Column("reason", "why it was rejected"), Column("raw", "the record's bytes as received", kind=BYTES))),
    Table(CHECKPOINT_TABLE, "how far each source file has been read", (
        Column("source_id", "the file's checkpoint key"), Column("stream", "the stream it feeds"),
        Column("path", "the file's path"), Column("byte_offset", "bytes read", unit="byte"),
        Column("line", "lines read"), Column("fingerprint", "the file's first bytes and the bytes before the "
                                              "checkpoint, hashed", kind=HASH),
        Column("last_offset", "the log offset of the last record appended from it", references=_IN_LOG),
        Column("updated_at", "when it moved (UTC)"),
        Column("rotated_from", "the path it was rotated away from, if it was"))),
    Table(RUNS_TABLE, "one row per file per ingest run: what was read, appended, duplicated, malformed", (
        Column("id", "row id"), Column("run_id", "the run (also in the logs)"),
        Column("source_id", "the file's checkpoint key"), Column("stream", "the stream"),
        Column("started_at", "UTC"), Column("finished_at", "UTC"), Column("read", "records read"),
        Column("appended", "records appended"), Column("duplicates", "exact duplicates, not appended"),
        Column("malformed", "records rejected at ingest"), Column("skipped", "lines an earlier run read"),
        Column("seconds", "how long it took", unit="s"),
        Column("latency_p50_s", "median recorded time minus event time", unit="s"),
        Column("latency_p95_s", "95th percentile of the same", unit="s"))),
    Table(ALERTS, "alerts raised by the rules: open conditions, resolved ones and instant events", (
        Column("rule", "the rule that found it"), Column("key", "what it is about (a product, an hour, ...)"),
        Column("severity", "warning or critical"), Column("message", "what was found"),
        Column("raised_at", "UTC"), Column("resolved_at", "UTC; empty while open"))),
    Table(DELIVERIES, "each notification sent (or that failed) to an alert sink", (
        Column("alert_id", "the alert", references=f"{ALERTS}.id"), Column("sink", "where it went"),
        Column("ok", "1 when delivered"), Column("error", "why it failed"))),
    Table(canonical.RECORDS, "one row per logged record, as decoded once at ingest", (
        _OFFSET, Column("stream", "the stream"), Column("decoder", "the plugins that decoded it (internal id)"),
        Column("quarantined", "1 when an error-severity problem was found"),
        Column("event_time", "the record's event time (UTC)"),
        Column("recorded_date", "the UTC date it was appended"),
        Column("latency_s", "recorded time minus event time, whole seconds", unit="s"))),
    Table(canonical.PROBLEMS, "every problem found when decoding a record", (
        _OFFSET, Column("n", "the problem's number on the record"), Column("code", "the data contract's code"),
        Column("severity", "error or warning"), Column("reason", "what was wrong"),
        Column("validator", "the validator that found it"))),
    Table(canonical.ORDERS, "one row per valid order event, typed (the canonical shape, money in cents)", (
        _OFFSET, Column("order_id", "the order's id"), Column("customer_id", "the customer's id"),
        Column("channel", "the channel"), Column("status", "lower-case status"),
        Column("status_rank", "pending 0 < confirmed < shipped < delivered < cancelled < refunded 5"),
        Column("ts", "the event's timestamp (UTC, fixed width)"), Column("country", "shipping country"),
        Column("region", "country-state, or the country"), Column("units", "items (sum of quantities)"),
        money("value_cents", "the order's value"))),
    Table(canonical.LINES, "the items of each valid order event", (
        Column("offset", "the order event's log offset", references=f"{canonical.ORDERS}.offset"),
        Column("line_no", "the item's position"), Column("product_id", "the product's id"),
        Column("quantity", "units"), money("unit_price_cents", "the unit price"))),
    Table(canonical.INVENTORY, "one row per valid inventory reading", (
        _OFFSET, Column("product_id", "the product's id"), Column("warehouse", "the warehouse"),
        Column("last_updated", "when the level was reported (UTC)"), Column("quantity", "units available"))),
    Table(canonical.CATALOG, "one row per valid catalog product record (a version of the product)", (
        _OFFSET, Column("product_id", "the product's id"), Column("name", "its name"),
        Column("category", "its category"), Column("price", "list price, a decimal amount", unit="usd"),
        Column("cost", "cost, a decimal amount", unit="usd"),
        Column("reorder_point", "low stock at or below this"), Column("active", "1 while sold"),
        Column("metadata", "other fields, as JSON")), label="name"),
    Table(canonical.DECODERS, "the plugin sets that decoded canonical rows (bookkeeping)", internal=True),
    Table(canonical.META, "the canonical rows' backfill progress (bookkeeping)", internal=True),
    Table(PROJECTION_STATE, "how far each projection is built, under which version (bookkeeping)", internal=True),
    Table(EXPORT_STATE, "how far each `export parquet` directory was written (bookkeeping)", internal=True),
    Table(PROJECTION_RUNS, "one row per projection catch-up (bookkeeping; `fastcommerce health` reads it)",
          internal=True),
    Table(MIGRATIONS_TABLE, "the schema migrations applied to this file", internal=True),
    Table("sqlite_sequence", "SQLite's AUTOINCREMENT counters", internal=True),
)
