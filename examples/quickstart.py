"""Quickstart: ingest the three inputs into a log, then read the orders back as events.

    python examples/quickstart.py                      # sample_data/ next to examples/
    python examples/quickstart.py path/to/data --db shop.db
    python examples/quickstart.py --generate           # a fresh small sample in a temp dir

DATA_DIR must hold the contract's three files: ``product_catalog.json``,
``inventory_updates.csv`` and ``orders_stream.jsonl``. If the default ``sample_data/`` does
not hold them yet, the script writes a small sample into a temporary folder and uses that.
The log goes to ``--db``, or to a temporary file that is deleted at the end.

Progress logs go to stderr and the results to stdout. Set ``FASTCOMMERCE_LOAD_PLUGINS``
(a comma list, ``""`` for none) to choose the installed plugins, and
``FASTCOMMERCE_TRACE_PLUGINS=1`` to log every hook call.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import structlog

from fastcommerce import Event, FastCommerceError, Pipeline

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
FILES = {  # the order matters: the catalog describes the products before the orders use them
    "catalog": "product_catalog.json",
    "inventory": "inventory_updates.csv",
    "orders": "orders_stream.jsonl",
}
COLUMNS = ("read", "appended", "duplicates", "malformed", "unknown_schema")


def configure_logging(trace: bool) -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if trace else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def has_inputs(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES.values())


def generate(into: Path) -> Path:
    from fastcommerce.sample import write_sample

    write_sample(into, orders=200, days=2, seed=0)
    return into


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path,
                        help=f"folder holding the three input files (default: {SAMPLE_DATA})")
    parser.add_argument("--db", type=Path, help="SQLite file for the log (default: a temporary file)")
    parser.add_argument("--generate", action="store_true",
                        help="write a small fresh sample (200 orders, 2 days) into a temp dir and use it")
    parser.add_argument("--show", type=int, default=3, metavar="N", help="valid orders to print (default 3)")
    return parser.parse_args(argv)


def order_value(event: Event) -> Decimal:
    return sum((item.quantity * item.unit_price for item in event.payload.items), Decimal(0))


def describe_order(event: Event) -> str:
    order = event.payload
    variant = f"{event.record.variant} v{event.record.schema_version}" if event.record.variant else "detected at read"
    timestamp = order.timestamp.isoformat().replace("+00:00", "Z")
    return (f"  offset {event.offset:>6}  {order.order_id:<12} {order.status:<10} {timestamp}  "
            f"channel {order.channel:<8} {len(order.items)} item(s)  value {order_value(event)} USD  "
            f"(received as {variant})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(os.environ.get("FASTCOMMERCE_TRACE_PLUGINS") == "1")
    log = structlog.get_logger("quickstart")

    with tempfile.TemporaryDirectory(prefix="fastcommerce-quickstart-") as scratch:
        scratch = Path(scratch)
        if args.generate:
            data_dir = generate(scratch / "data")
        elif args.data_dir is not None:
            data_dir = args.data_dir
            if not has_inputs(data_dir):
                print(f"quickstart: error: {data_dir} does not hold {', '.join(FILES.values())} "
                      f"(use --generate for a fresh sample)", file=sys.stderr)
                return 2
        elif has_inputs(SAMPLE_DATA):
            data_dir = SAMPLE_DATA
        else:
            log.info("sample_generated", reason=f"{SAMPLE_DATA} does not hold the input files")
            data_dir = generate(scratch / "data")
        db = args.db or scratch / "quickstart.db"
        try:
            return run(data_dir, db, args.show)
        except FastCommerceError as exc:
            print(f"quickstart: error: {exc}", file=sys.stderr)
            return 1


def run(data_dir: Path, db: Path, show: int) -> int:
    selection = os.environ.get("FASTCOMMERCE_LOAD_PLUGINS")
    only = None if selection is None else [n.strip() for n in selection.split(",") if n.strip()]
    with Pipeline(db, only_entrypoints=only) as pipeline:
        if os.environ.get("FASTCOMMERCE_TRACE_PLUGINS") == "1":
            trace = structlog.get_logger("fastcommerce.trace")
            pipeline.pm.add_hookcall_monitoring(
                lambda name, impls, kw: trace.debug("hook_called", hook=name, plugins=[i.plugin_name for i in impls]),
                lambda outcome, name, impls, kw: None,
            )
        print(f"data: {data_dir}")
        print(f"log:  {db}")
        print("plugins: " + ", ".join(f"{i.name} {i.version or ''}".strip() for i in pipeline.plugins()))

        # 1. ingest: catalog, then inventory, then orders; remember where the orders start
        print(f"\n{'stream':<10}" + "".join(f"{c:>16}" for c in COLUMNS))
        orders_from = 0
        for stream, name in FILES.items():
            if stream == "orders":
                orders_from = pipeline.log.last_offset()
            summary = pipeline.ingest(stream, data_dir / name)
            totals = summary.totals()[stream]
            print(f"{stream:<10}" + "".join(f"{totals[c]:>16,}" for c in COLUMNS))
        status = pipeline.status()
        print(f"log: {status['records']:,} records, last offset {status['last_offset']:,}")

        # 2. read the order events back, from the offset where this run's orders start
        events = valid = flagged = quarantined = 0
        per_code: Counter[str] = Counter()
        shown: list[str] = []
        for event in pipeline.events(from_offset=orders_from, stream="orders"):
            events += 1
            if event.quarantined:
                quarantined += 1
                per_code.update({p.code for p in event.errors})
                continue
            valid += 1
            flagged += bool(event.warnings)
            if len(shown) < show:
                shown.append(describe_order(event))

        print(f"\norders read back from offset {orders_from}: {events} events, {valid} valid "
              f"({flagged} with warnings), {quarantined} quarantined")
        print(f"first {len(shown)} valid orders, canonical:")
        print("\n".join(shown) if shown else "  (none)")
        print("quarantined events per problem code:")
        for code, count in sorted(per_code.items()):
            print(f"  {code:<22}{count:>6}")
        if not per_code:
            print("  (none)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
