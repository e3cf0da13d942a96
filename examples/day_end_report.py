"""Day-end report: ingest the three inputs, bring the projections up to date, and print one
day's revenue, its top products by revenue, the low-stock inventory rows and the data
quality summary, all through the Python API.

    python examples/day_end_report.py                          # sample_data/ next to examples/
    python examples/day_end_report.py --data path/to/data --db shop.db --date 2024-01-16
    python examples/day_end_report.py --format json            # one JSON document on stdout

``--data`` must hold the contract's three files (``product_catalog.json``,
``inventory_updates.csv``, ``orders_stream.jsonl``). If the default ``sample_data/`` does
not hold them, a sample (300 orders over 2 days) is generated into a temporary folder. The
log goes to ``--db``, or to a temporary file deleted at the end; an existing log is
resumed, so running twice on one ``--db`` ingests nothing new. ``--date`` defaults to the
latest day with revenue.

Progress logs go to stderr and the report to stdout. ``FASTCOMMERCE_LOAD_PLUGINS`` (a comma
list, ``""`` for none) chooses the installed plugins.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import structlog

from fastcommerce import FastCommerceError, Pipeline
from fastcommerce.reports import Report
from fastcommerce.reports.formatting import as_json, as_markdown, as_table

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
FILES = ("product_catalog.json", "inventory_updates.csv", "orders_stream.jsonl")
FORMATS = ("table", "markdown", "json")


def configure_logging(verbose: bool) -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if verbose else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def has_inputs(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES)


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="SQLite file for the log (default: a temporary file)")
    parser.add_argument("--data", type=Path,
                        help=f"folder holding the three input files (default: {SAMPLE_DATA}, "
                             "or a generated sample if it lacks them)")
    parser.add_argument("--date", type=day, help="the day to report, YYYY-MM-DD (default: the latest day with revenue)")
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--top", type=int, default=10, metavar="N", help="top products to show (default 10)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)
    log = structlog.get_logger("day_end_report")
    with tempfile.TemporaryDirectory(prefix="fastcommerce-day-end-") as scratch:
        scratch_dir = Path(scratch)
        if args.data is not None:
            data_dir = args.data
            if not has_inputs(data_dir):
                print(f"day_end_report: error: {data_dir} does not hold {', '.join(FILES)}", file=sys.stderr)
                return 2
        elif has_inputs(SAMPLE_DATA):
            data_dir = SAMPLE_DATA
        else:
            from fastcommerce.sample import write_sample

            data_dir = scratch_dir / "data"
            write_sample(data_dir, orders=300, days=2, seed=1)
            log.info("sample_generated", reason=f"{SAMPLE_DATA} does not hold the input files", into=str(data_dir))
        db = args.db or scratch_dir / "day_end.db"
        try:
            return run(data_dir, db, on=args.date, fmt=args.fmt, top=args.top)
        except FastCommerceError as exc:
            print(f"day_end_report: error: {exc}", file=sys.stderr)
            return 1


def quality_summary(report: Report) -> Report:
    """The quality report's per-code counts as rows (``code, severity, records``)."""
    rows = [{"code": code, "severity": c["severity"], "records": c["records"]}
            for code, c in report.summary["codes"].items()]
    return Report(name="quality", rows=rows, summary={"quarantined": report.summary["quarantined"]},
                  columns=("code", "severity", "records"))


def run(data_dir: Path, db: Path, *, on: date | None, fmt: str, top: int) -> int:
    selection = os.environ.get("FASTCOMMERCE_LOAD_PLUGINS")
    only = None if selection is None else [n.strip() for n in selection.split(",") if n.strip()]
    with Pipeline(db, only_entrypoints=only) as pipeline:
        summary = pipeline.run(data_dir)  # catalog, inventory, orders; then every projection
        if on is None:
            latest = pipeline.report("revenue", catch_up=False).summary["from"]
            if latest is None:
                print("day_end_report: error: no day with revenue in the log; pass --date", file=sys.stderr)
                return 1
            on = date.fromisoformat(latest)
        sections: dict[str, Report] = {
            "revenue": pipeline.report("revenue", catch_up=False, on=on),
            "top_products": pipeline.report("products", catch_up=False, on=on, by="revenue", limit=top),
        }
        inventory = pipeline.report("inventory", catch_up=False, on=on)
        sections["low_stock"] = attrs.evolve(inventory, rows=[r for r in inventory.rows if r["low_stock"]])
        sections["quality"] = quality_summary(pipeline.report("quality", catch_up=False, limit=0))
        totals = summary.totals()

    if fmt == "json":
        document: dict[str, Any] = {"date": on.isoformat(), "data": str(data_dir), "ingested": totals}
        document.update({name: json.loads(as_json(report)) for name, report in sections.items()})
        print(json.dumps(document, indent=2))
        return 0
    titles = {
        "revenue": f"Revenue on {on}",
        "top_products": f"Top {top} products on {on} by revenue",
        "low_stock": "Low-stock inventory (available <= reorder point)",
        "quality": "Data quality over the whole log (records per problem code)",
    }
    ingested = ", ".join(f"{stream} {t['appended']:,} new of {t['read']:,} read" for stream, t in totals.items())
    if fmt == "markdown":
        print(f"# Day-end report for {on}\n\ndata: `{data_dir}`; ingested: {ingested}\n")
        for name, report in sections.items():
            print(f"## {titles[name]}\n\n{as_markdown(report)}\n")
    else:
        print(f"Day-end report for {on}\ndata: {data_dir}\ningested: {ingested}\n")
        for name, report in sections.items():
            print(f"== {titles[name]} ==\n{as_table(report)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
