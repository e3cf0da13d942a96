"""Corrected replacement for the legacy ``OrderProcessor`` (issue 5).

The public interface of the legacy class is kept so that callers keep working::

    processor = OrderProcessor("orders_stream.jsonl")
    processor.process_orders()
    processor.generate_daily_report()    # list of row dicts (was a pandas DataFrame)
    processor.get_top_customers(limit=10)  # list of (customer_id, revenue)
    processor.save_results("processed_orders.json")

What changed, and why, is documented bug by bug in ``DEBUGGING.md`` at the root of
the repository. In short, this version:

* streams the JSON Lines file in binary, decodes each line as UTF-8 and never stops
  on a bad line: every rejected line is kept in :attr:`OrderProcessor.rejected`
  and logged with its file, line number and reason;
* accepts the four order variants of the data contract and rejects unknown shapes as
  ``unknown_schema``, by the rules the library itself applies (:mod:`.lines`);
* computes money exactly with :class:`decimal.Decimal` at any size (:mod:`.exact`);
* counts an exact re-delivery once, and resolves each order from the set of its
  events (data contract section 5) so that the result never depends on the order
  of the lines;
* writes results atomically, with no wall-clock time in the data (:mod:`.results`).

Logging goes through ``structlog.get_logger(__name__)`` and is configured only when the
module runs as a script.
"""

from __future__ import annotations

if not __package__:  # run or loaded as a file: import the package it is part of (PEP 366)
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[2]))
    __package__ = "fastcommerce.compat"

import argparse
import hashlib
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog

from ..sources import strip_eol
from . import exact
from .command import report_text
from .lines import MALFORMED_RECORD, Rejection, parse_line
from .records import REVENUE_STATUSES, STATUSES, OrderEvent, OrderState
from .results import jsonable, replace_atomically

__all__ = ["REVENUE_STATUSES", "STATUSES", "OrderProcessor", "main"]

log = structlog.get_logger(__name__)

_MAX_RAW_CHARS = 4096
_UTF8_BOM = b"\xef\xbb\xbf"


class OrderProcessor:
    """Order-stream processor with the legacy interface and the data contract's rules.

    ``orders_file`` is the path of a JSON Lines order stream. ``processed_at``, if
    given, must be an aware datetime; it is written once, at the top level of
    :meth:`save_results`, and nowhere else. Nothing else in the results depends on
    the wall clock.
    """

    def __init__(self, orders_file: str | os.PathLike[str], *, processed_at: datetime | None = None) -> None:
        if processed_at is not None:
            if not isinstance(processed_at, datetime):
                raise TypeError("processed_at must be a datetime")
            if processed_at.tzinfo is None or processed_at.utcoffset() is None:
                raise ValueError("processed_at must be timezone-aware")
        self.orders_file = orders_file
        self.processed_at = processed_at
        #: Revenue-bearing orders (status confirmed, shipped or delivered), by order_id.
        self.processed_orders: list[dict[str, Any]] = []
        #: Rejected lines: dicts with file, line, reason, reasons, detail, raw.
        self.rejected: list[dict[str, Any]] = []
        #: Line accounting: lines_read == accepted + duplicates + rejected.
        self.stats: dict[str, int] = _empty_stats()
        self._orders: dict[str, OrderState] = {}
        self._processed = False

    # -- public interface -------------------------------------------------------

    def process_orders(self) -> None:
        """Read the whole stream and resolve every order; safe to call again.

        Each call starts from scratch and swaps the new state in only once the file
        has been read, so a second call gives the same result and a failed call
        (for example an unreadable file) leaves the previous result in place.
        """
        source = os.fspath(self.orders_file)
        stats = _empty_stats()
        orders: dict[str, OrderState] = {}
        rejected: list[dict[str, Any]] = []
        seen: set[bytes] = set()

        with open(source, "rb") as stream:
            for line_number, line in enumerate(stream, start=1):
                stats["lines_read"] += 1
                raw = strip_eol(line)
                if line_number == 1 and raw.startswith(_UTF8_BOM):
                    raw = raw[len(_UTF8_BOM) :]
                digest = hashlib.blake2b(raw, digest_size=16).digest()
                if digest in seen:
                    stats["duplicates"] += 1
                    continue
                seen.add(digest)
                try:
                    event = parse_line(_utf8(raw), raw)
                except Rejection as rejection:
                    stats["rejected"] += 1
                    rejected.append(_rejection_entry(source, line_number, raw, rejection.errors))
                    continue
                stats["accepted"] += 1
                state = orders.get(event.order_id)
                if state is None:
                    orders[event.order_id] = OrderState(event)
                else:
                    state.absorb(event)

        stats["orders"] = len(orders)
        stats["revenue_orders"] = sum(1 for s in orders.values() if s.revenue_bearing)
        self._orders = orders
        self.rejected = rejected
        self.stats = stats
        self.processed_orders = [order for order in self._order_dicts() if order["revenue_bearing"]]
        self._processed = True
        log.info("orders_processed", file=source, **stats)

    def generate_daily_report(self) -> list[dict[str, Any]]:
        """Revenue per UTC order date and channel, one dict per row.

        Row keys: ``date`` (:class:`datetime.date`), ``channel``, ``orders`` (distinct
        revenue-bearing orders), ``revenue`` (exact :class:`~decimal.Decimal`),
        ``avg_order_value`` (revenue / orders, rounded half-even to the cent) and
        ``customers`` (distinct customers). Sorted by date, then channel. An empty
        stream gives ``[]``.
        """
        self._ensure_processed()
        groups: dict[tuple[date, str], list[OrderEvent]] = defaultdict(list)
        for state in self._orders.values():
            if state.revenue_bearing:
                groups[(state.placed_at.date(), state.current.channel)].append(state.current)
        rows = []
        for (order_date, channel), events in sorted(groups.items()):
            revenue = exact.total(event.total for event in events)
            rows.append({
                "date": order_date,
                "channel": channel,
                "orders": len(events),
                "revenue": revenue,
                "avg_order_value": exact.average(revenue, len(events)),
                "customers": len({event.customer_id for event in events}),
            })
        return rows

    def get_top_customers(self, limit: int = 10) -> list[tuple[str, Decimal]]:
        """The ``limit`` customers with the most revenue, as ``(customer_id, revenue)``.

        Sorted by revenue descending, then customer_id ascending, so ties are stable.
        ``limit`` must be a non-negative integer.
        """
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int, not {type(limit).__name__}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        self._ensure_processed()
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for state in self._orders.values():
            event = state.current
            if state.revenue_bearing:
                totals[event.customer_id] = exact.total((totals[event.customer_id], event.total))
        ranked = sorted(totals.items(), key=lambda pair: pair[0])
        ranked.sort(key=lambda pair: pair[1], reverse=True)  # stable: ties stay by customer_id
        return ranked[:limit]

    def save_results(self, output_file: str | os.PathLike[str]) -> None:
        """Write the results as JSON, atomically.

        The document is serialised in memory first, written to a temporary file in
        the destination's directory, flushed and fsynced, then moved over the
        destination with :func:`os.replace`. A failure at any point leaves the
        previous file untouched. Money is written as strings with 2 decimals,
        datetimes as ISO-8601 UTC (``...Z``), dates as ``YYYY-MM-DD``.
        """
        self._ensure_processed()
        document: dict[str, Any] = {
            "source": os.fspath(self.orders_file),
            "stats": dict(self.stats),
            "daily_report": self.generate_daily_report(),
            "top_customers": [
                {"customer_id": customer, "revenue": revenue}
                for customer, revenue in self.get_top_customers(limit=len(self._orders))
            ],
            "orders": self._order_dicts(),
            "rejected": self.rejected,
        }
        if self.processed_at is not None:
            document["processed_at"] = self.processed_at
        payload = (json.dumps(jsonable(document), indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")
        target = os.fspath(output_file)
        replace_atomically(target, payload)
        log.info("results_saved", file=target, orders=len(self._orders), bytes=len(payload))

    # -- helpers ------------------------------------------------------------------

    def _ensure_processed(self) -> None:
        if not self._processed:
            self.process_orders()

    def _order_dicts(self) -> list[dict[str, Any]]:
        """Every resolved order as a fresh dict, sorted by order_id."""
        result = []
        for order_id in sorted(self._orders):
            state = self._orders[order_id]
            event = state.current
            result.append({
                "order_id": event.order_id,
                "customer_id": event.customer_id,
                "channel": event.channel,
                "status": event.status,
                "revenue_bearing": state.revenue_bearing,
                "placed_at": state.placed_at,
                "updated_at": event.timestamp,
                "order_date": state.placed_at.date(),
                "items": [{"product_id": item.product_id, "quantity": item.quantity, "unit_price": item.unit_price}
                          for item in event.items],
                "order_total": event.total,
                "shipping_address": dict(event.shipping_address) if event.shipping_address else None,
                "events": state.events,
                "variant": event.variant,
            })
        return result


def _empty_stats() -> dict[str, int]:
    return dict.fromkeys(("lines_read", "accepted", "duplicates", "rejected", "orders", "revenue_orders"), 0)


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejection([(MALFORMED_RECORD, f"invalid UTF-8 at byte {exc.start}")]) from None


def _rejection_entry(source: str, line_number: int, raw: bytes, errors: Iterable[tuple[str, str]]) -> dict[str, Any]:
    errors = list(errors)
    text = raw.decode("utf-8", errors="backslashreplace")
    truncated = len(text) > _MAX_RAW_CHARS
    entry = {
        "file": source,
        "line": line_number,
        "reason": errors[0][0],
        "reasons": sorted({code for code, _ in errors}),
        "detail": "; ".join(detail for _, detail in errors),
        "raw": text[:_MAX_RAW_CHARS],
        "raw_truncated": truncated,
    }
    log.warning("order_record_rejected", file=source, line=line_number, reason=entry["reason"],
                reasons=entry["reasons"], detail=entry["detail"])
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: process a stream, print the reports, save the results."""
    parser = argparse.ArgumentParser(
        prog="python -m fastcommerce.compat.order_processor",
        description="Process a JSON Lines order stream: daily revenue, top customers, saved results.",
    )
    parser.add_argument("orders_file", nargs="?", default="orders_stream.jsonl",
                        help="order stream (JSON Lines, UTF-8)")
    parser.add_argument("-o", "--output", default="processed_orders.json", help="where to write the JSON results")
    parser.add_argument("--top", type=int, default=10, help="how many top customers to print (default 10)")
    args = parser.parse_args(argv)
    if args.top < 0:
        parser.error("--top must be >= 0")
    processor = OrderProcessor(args.orders_file)
    try:
        processor.process_orders()
    except OSError as exc:
        print(f"error: cannot read {args.orders_file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(report_text(processor.generate_daily_report(), processor.get_top_customers(args.top)))
    try:
        processor.save_results(args.output)
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stats = processor.stats
    print(f"{stats['lines_read']} lines: {stats['accepted']} accepted, {stats['duplicates']} duplicates, "
          f"{stats['rejected']} rejected; {stats['orders']} orders; results in {args.output}")
    return 0


if __name__ == "__main__":
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    sys.exit(main())
