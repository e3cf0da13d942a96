"""Regenerate docs/reports.md (every report, run on the bundled sample data) and the sample
output block of README's tour, each by the real `fastcommerce report` command.

    python docs/build_reports.py            # rewrite docs/reports.md and README's block
    python docs/build_reports.py --check    # exit 1 if either is out of date

The log is recorded with a fixed clock (2024-01-18 00:15 UTC, a quarter of an hour after
the sample's last day ends), so the output, latencies included, is reproducible. The
`usual` report needs weeks of history: it runs on a generated four-week sample (seed 1).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDED_AT = datetime(2024, 1, 18, 0, 15, tzinfo=timezone.utc)

INTRO = """# Reports

Every number below follows section 5 of the [data contract](data-contract.md), restated here. The
sample output is produced by `docs/build_reports.py` from the bundled `sample_data/`
(recorded with a fixed clock, 2024-01-18 00:15 UTC); `tests/test_docs.py` fails if this
page is out of date. Run any report with

```console
$ fastcommerce report NAME [--date D | --from D --to D | --days N | --last-week | --all-days]
                           [--by WHAT] [--low-stock] [--limit N | --all] [--format table|json|csv|markdown]
```

Dates are UTC days: `YYYY-MM-DD`, or `today` and `yesterday`. `--days N` is N days ending
`--to` (or starting `--from`), else the N complete days ending yesterday; `--last-week` the
previous calendar week, Monday to Sunday; `--all-days` every date there is. With no dates a
report takes its own default (`revenue` and `usual`: the latest day with revenue; the others:
every date), and a table or Markdown starts with the line that says which dates it covers
and why. (`--all` is about rows, `--all-days` about dates.) `--by` groups `revenue` by
`date`, `channel` and/or `region` (comma-separated, in any order; default all three) and
ranks `products` by `units` (default) or `revenue`, as it always did. `--low-stock` keeps the
inventory rows low on stock. What the counts are called (malformed, rejected at ingest,
quarantined, ...) is in [glossary.md](glossary.md).

or from Python: `fastcommerce.reports.revenue(pipeline, on=..., start=..., end=...)` and
friends return a `Report(name, rows, summary, columns)`; `pipeline.report(name, ...)` catches
the projections up first. `--limit N` (`limit=N`) keeps the first N rows of any report, 0
keeps none. Without it, `--format json` and `csv` hold every row, and a table lists the
report's default (`products` 10, `customers` 20, `quality` 50, the others every row) and
ends with `showing 50 of 201 rows ...` when it cut; `--all` lists every row in any format.
From Python, `limit` defaults to those same numbers. The summary is of every row, listed or not. JSON output is `{"report": NAME, "rows": [...], "summary": {...}}`
with money as numbers rounded to 2 decimals, half-even, from exact `Decimal` values; CSV
holds the same exact values. A table and Markdown are for people: money in USD with
thousands separators (`$54,297.92`), counts with separators, ratios as percentages, `-` for
a value that does not exist (all written by `fastcommerce/display.py`). On a terminal the
table is drawn by rich, fitted to its width; piped or redirected, it is the plain text below.
CSV output is safe to open in a spreadsheet: a text cell that begins with `=`, `+`, `-`, `@`, a tab or a
carriage return (a product name `=HYPERLINK(...)` from a catalog, say) gets a `'` before it,
as OWASP's CSV-injection advice says, so it shows as text and never runs as a formula; numbers
(`-12.50`, a negative restatement) are written as they are and stay numbers, since a number
cannot hold a formula; a cell with a comma, a quote, a CR or an LF is quoted.

## Definitions

- **Valid events only.** Business reports see only events with no error-severity problem;
  quarantined ones appear in the quality report only.
- **Order state.** An order's current status, items, customer, channel and address are those
  of its valid event with the greatest `timestamp`; ties go to the later status (pending <
  confirmed < shipped < delivered < cancelled < refunded), then to the greater raw record byte
  by byte. Its placed time is its smallest timestamp and its **order date** the UTC date of
  that. An order whose events are all quarantined does not exist for the reports.
- **Revenue-bearing:** current status `confirmed`, `shipped` or `delivered`. **Order value:**
  the sum of quantity x unit price, exact.
- **Region:** `country` upper-cased, and `region` = `country-state` (`US-CA`), or the country
  alone without a state.
- **Watermark:** after each valid order event, in log order, the greatest timestamp seen minus
  the allowed lateness (default one hour, `Settings(allowed_lateness=...)`). An event strictly
  older than the watermark before it is **late** (a `late_event` warning; it still counts). A
  day is closed once the watermark passes its end (strictly); a late event whose own
  timestamp falls on a closed day restates that day (recorded in `sales_restatements`). A
  day's end is the next midnight UTC, which belongs to the next day.
- **Catalog checks** (`unknown_product`, `price_deviation`) use the catalog as it stood at the
  event's place in the log, so a rebuild reproduces them.

| report | rows | summary |
|---|---|---|
| `revenue` | `date, channel, country, region, orders, units, revenue` for revenue-bearing orders by order date (default: the latest day); `--by channel` (or `region`, `date`, `date,channel`, `date,region` ...) sums them over the dimensions left out (`country` stays beside `region`) | totals and revenue per channel (the same whatever the grouping), `by` when grouped |
| `products` | `product_id, name, category, orders, units, revenue` over a date range (default: all), ranked by units or revenue, ties by product_id; `orders` counts distinct orders | range, ranking |
| `inventory` | `product_id, name` (the catalog's), `available` (sum over warehouses of each one's latest level), `warehouses, units_sold, avg_daily_units, days_of_cover, turnover, reorder_point, low_stock`, for every product with stock or sales and every active catalog product (one with no stock anywhere has `available` 0); low-stock rows first | period, low-stock count |
| `customers` | `customer_id, orders, revenue, first_order_date, last_order_date, avg_order_value` over revenue-bearing orders, by revenue | customers, repeat-customer rate (2+ orders), revenue share of the top 10% (ceiling) by revenue, ties by customer_id |
| `operations` | per date the events were recorded: `events, valid, quarantined, duplicates, late, latency_p50_s, latency_p95_s` (order latency = recorded time - event time, nearest-rank percentiles, whole seconds) | totals, error rate |
| `quality` | each quarantined record: `offset, stream, source, line, key, codes, reasons` (`key`: the order or product id, when it can be read; a catalog product the reader cannot take is named by its index in the list, `products[41]`, in its reason); `--date`/`--from`/`--to` select by the date the records were **recorded**, as for `operations` | per code, the records carrying it (warnings counted on valid records only) |
| `statuses` | per status (in lifecycle order, every status listed): `status, revenue_bearing, orders, share, units, value` of the orders placed in the range (default: all), by current status; `value` = the orders' value whatever the status, `share` = orders / all orders | range, orders, revenue-bearing orders |
| `usual` | one day (default: the latest with revenue) per channel: `date, channel, orders, usual_orders, orders_vs_usual, revenue, usual_revenue, revenue_vs_usual, weeks`; the usual = the median of the same weekday over the 4 weeks before (only weeks the data reaches: `weeks` says how many; within them a channel with no revenue counts 0); `..._vs_usual` = (day - usual) / usual, none when the usual is 0 | the day, its weekday, the days compared with, totals |

Inventory: `turnover` = units sold in the period / average daily closing stock, a day's
closing stock being the sum over warehouses of each one's latest level before the next
midnight UTC (a level stamped exactly at midnight opens the next day; days with no known
level are left out); `avg_daily_units` = units sold / days in
the period; `days_of_cover` = available / avg_daily_units; `low_stock`: available <=
reorder_point (default 20). The period defaults to the first to the last order date.

## What is pre-computed, what is computed on demand

| what | where | why |
|---|---|---|
| order state, enriched order lines | `sales_orders`, `sales_order_lines` | the processed data; every report starts from it |
| revenue per day x channel x region | `sales_daily_revenue` (integer cents), updated by deltas | the day-end report is a primary-key range lookup |
| sales per day x product | `sales_daily_products` (+ index on product) | top products over any range is a small GROUP BY over days x products, not over order lines |
| current inventory levels, level history | `inventory_current`, `inventory_history` | a late batch is resolved once, at write time |
| problems of every event; daily counts; latency histogram | `quality_problems`, `quality_daily`, `quality_latency` | quality and operations reports are lookups; percentiles come from a per-second histogram |
| customers report | on demand from `sales_orders` (a scan of the orders in the range by the `order_date` index, grouped by customer) | first/last dates are not delta-maintainable under restatements, and the query is one GROUP BY |
| closing stock per day (turnover) | on demand from `inventory_history` | depends on the requested period |

## Sample output (bundled sample data)
"""

TIME_TRAVEL = """
## Time travel: a report as it stood, and what changed since

The log is append-only and every report is a function of a prefix of it, so a report "as of"
an earlier point is exact. `--as-of OFFSET` gives the report as it stood when the log ended
at that offset; `--as-of TIMESTAMP` (ISO-8601 with a timezone, `2024-01-16T18:00:00Z`) means
the last offset recorded at or before that time. It is built in a scratch database: the
log's rows and canonical rows up to the offset are copied (SQL, one transaction, the live
file attached beside it; for an offset in the last quarter of the log, the whole file by
SQLite's backup API with the tail deleted, which is faster there), the projections are built
there from offset 0 in one batch per table (the rebuild's fast path), the report runs, and
the scratch file (in the temporary directory, `$TMPDIR`: it needs room for the log) is
deleted. The live tables are only read; a log in memory travels too (by the whole copy). It
costs about what a rebuild does: `benchmarks/timetravel.py` measures it against a copy and
rebuild of the whole file. Every other option (`--date`, `--from`, `--by`, `--limit`,
`--format`) applies as usual. The operations report's `duplicates` come from whole ingest
runs: as of an offset it counts the runs that had finished when that record was recorded.

`fastcommerce report revenue --changes-since OFFSET|TIMESTAMP` compares the revenue report
then and now and lists each day whose rows differ: its orders and revenue then and now, the
channel/region rows that changed, `restated` (`yes` when the day was already closed then,
the watermark past its end, so its figures changed after the fact; `no` for a day still
open, which simply received orders), and the order events since that offset (their offsets
and order ids, the first {listed} of each) of the orders whose contribution to that day
changed (new, cancelled, moved to another day or region, or of another value).

From Python: `pipeline.report(name, as_of=OFFSET_OR_TIME, ...)`,
`pipeline.revenue_changes_since(OFFSET_OR_TIME)` (a `Report`), and `with
pipeline.as_of(OFFSET_OR_TIME) as past:` for a pipeline on the scratch database (any report,
any query, while the block runs); the work is `fastcommerce/timetravel.py`'s.
`tests/test_timetravel.py` checks, with hypothesis over the cut, that a report as of an
offset equals the report of a fresh database that ingested only the records up to it, and
that `--changes-since` lists exactly the days whose rows differ.

On the bundled sample, as of offset {cut:,} (of {last:,}):
"""


def time_travel() -> str:
    """The time travel section, on a log of its own (the bundled sample, the same clock): a
    report as of an offset, and the changes since it."""
    from fastcommerce import Pipeline
    from fastcommerce.reports.formatting import as_markdown
    from fastcommerce.timetravel import LISTED

    with tempfile.TemporaryDirectory() as tmp, \
            Pipeline(Path(tmp) / "docs.db", load_entrypoints=False, clock=lambda: RECORDED_AT) as p:
        os.chdir(ROOT)
        p.run("sample_data")
        last = p.log.last_offset()
        cut = last - 2000
        parts = [TIME_TRAVEL.format(cut=cut, last=last, listed=LISTED)]
        then = p.report("products", as_of=cut, by="revenue", limit=5)
        parts.append(f"`fastcommerce report products --as-of {cut} --by revenue --limit 5 --format markdown`\n\n"
                     f"{as_markdown(then)}\n")
        changes = p.revenue_changes_since(cut)
        parts.append(f"`fastcommerce report revenue --changes-since {cut} --format markdown`\n\n"
                     f"{as_markdown(changes)}\n")
    return "\n".join(parts)


OUTRO = """
## Adding a projection

A projection is a plugin like any other: return a `Projection` from `register_projections`.

```python
from fastcommerce import Projection, hookimpl

def create(db):
    db.execute("CREATE TABLE channel_orders (channel TEXT PRIMARY KEY, events INTEGER NOT NULL)")

def apply(db, events):
    counts = {}
    for e in events:
        if e.payload is not None:          # quarantined events have no payload
            counts[e.payload.channel] = counts.get(e.payload.channel, 0) + 1
    db.conn.executemany(
        "INSERT INTO channel_orders VALUES (?, ?) ON CONFLICT (channel) "
        "DO UPDATE SET events = events + excluded.events", sorted(counts.items()))

@hookimpl
def register_projections(settings):
    return [Projection(name="channel_orders", version=1, tables=("channel_orders",),
                       create=create, apply=apply, streams=("orders",))]
```

The runner hands `apply` each batch once, in log order, inside the transaction that also
records the projection's offset: never commit in it. Keep it deterministic (no clock, no
randomness, no set or dict order); bump `version` when its output changes, and the next
catch-up rebuilds it. `fastcommerce verify` rebuilds every projection in a scratch copy and
compares table checksums with the live tables. `plugins/fastcommerce-fraud` is a complete
example with its own tables and report.
"""


RUNS = [
    ("revenue", ["revenue", "--date", "{latest}"]),
    ("revenue by channel, every day", ["revenue", "--all-days", "--by", "date,channel"]),
    ("revenue by channel over the last three days", ["revenue", "--days", "3", "--to", "{latest}", "--by", "channel"]),
    ("revenue by region", ["revenue", "--date", "{latest}", "--by", "region", "--limit", "8"]),
    ("products", ["products", "--by", "revenue", "--limit", "10"]),
    ("inventory", ["inventory", "--limit", "12"]),
    ("inventory, low stock only", ["inventory", "--low-stock"]),
    ("customers", ["customers", "--limit", "10"]),
    ("statuses", ["statuses"]),
    ("operations", ["operations"]),
    ("quality", ["quality", "--limit", "15"]),
]
TOUR = ["revenue", "--by", "channel"]
TOUR_START, TOUR_END = "<!-- generated by docs/build_reports.py: start -->", "<!-- generated by docs/build_reports.py: end -->"


def _command(db: Path, args: list[str]) -> str:
    """What `fastcommerce report ARGS` prints (built-in plugins only), run through the CLI."""
    from click.testing import CliRunner

    from fastcommerce.cli import main

    result = CliRunner(env={"FASTCOMMERCE_LOAD_PLUGINS": "", "FASTCOMMERCE_CONFIG": None}).invoke(
        main, ["--db", str(db), "report", *args])
    if result.exit_code != 0:
        raise SystemExit(f"fastcommerce report {' '.join(args)} failed: {result.output}")
    return result.stdout.rstrip("\n")


def build() -> tuple[str, str]:
    """docs/reports.md's text, and the block of README's tour."""
    sys.path.insert(0, str(ROOT))
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from datetime import date

    from fastcommerce import Pipeline
    from fastcommerce.sample import write_sample

    parts = [INTRO]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "docs.db"
        with Pipeline(db, load_entrypoints=False, clock=lambda: RECORDED_AT) as p:
            os.chdir(ROOT)  # sources are recorded as given: keep them relative, like a user's run
            p.run("sample_data")
            latest = p.report("revenue", catch_up=False).summary["from"]
        for title, args in RUNS:
            args = [a.format(latest=latest) for a in args]
            shown = " ".join(args)
            parts.append(f"### {title}\n\n`fastcommerce report {shown} --format markdown`\n\n"
                         f"{_command(db, [*args, '--format', 'markdown'])}\n")
        tour = _command(db, TOUR)
        weeks = Path(tmp) / "weeks"
        write_sample(weeks / "data", orders=1500, days=29, seed=1, start=date(2024, 1, 1))
        after = datetime(2024, 1, 30, 0, 15, tzinfo=RECORDED_AT.tzinfo)  # a quarter of an hour after its last day
        with Pipeline(weeks / "log.db", load_entrypoints=False, clock=lambda: after) as p:
            p.run(weeks / "data")
        parts.append("### usual\n\nOn a generated four-week sample (`fastcommerce sample --orders 1500 --days 29 "
                     "--seed 1 --start 2024-01-01 --out weeks`, then `fastcommerce run weeks`): the last day "
                     "against the same weekday of the four weeks before.\n\n"
                     f"`fastcommerce report usual --format markdown`\n\n{_command(weeks / 'log.db', ['usual', '--format', 'markdown'])}\n")
    parts.append(time_travel())
    parts.append(OUTRO)
    block = (f"{TOUR_START}\n```console\n$ fastcommerce report {' '.join(TOUR)}\n{tour}\n```\n{TOUR_END}")
    return "\n".join(parts), block


def _with_block(readme: str, block: str) -> str:
    start, end = readme.index(TOUR_START), readme.index(TOUR_END) + len(TOUR_END)
    return readme[:start] + block + readme[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    target, readme = ROOT / "docs" / "reports.md", ROOT / "README.md"
    text, block = build()
    tour = _with_block(readme.read_text(), block)
    if args.check:
        stale = [str(f) for f, want in ((target, text), (readme, tour)) if not f.exists() or f.read_text() != want]
        if stale:
            print(f"{', '.join(stale)} out of date: run python docs/build_reports.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    readme.write_text(tour)
    return 0


if __name__ == "__main__":
    sys.exit(main())
