"""Check a release against the data contract on a real public retail data set (CDNOW).

    python examples/public_retail_check.py PATH/TO/CDNOW_master.txt --workdir /tmp/cdnow

The data set is the CDNOW purchase history that the PyPI package ``lifetimes`` ships as
``lifetimes/datasets/CDNOW_master.txt`` (see docs/public-data.md for where it comes from,
its citation and how to fetch it). The script:

1. converts the source rows into the contract's three input files in ``WORKDIR/input``
   (orders as canonical "web" JSON lines, a catalog of the products seen, an inventory CSV
   with its header only: the data set has no stock levels); nothing is cleaned away, a row
   the contract would call bad goes through as it is, for the validators to quarantine;
2. runs the pipeline on them through the public API (what ``fastcommerce run`` does:
   catalog, inventory, orders, then the projections), on ``WORKDIR/cdnow.db``;
3. computes the reports independently from the source rows, by the contract's definitions,
   and compares: ingestion counts, quarantined and flagged records per code, daily revenue
   rows, top products, customers and their summary, inventory, operations totals;
4. delivers the order file a second time (read from the start) and checks that every line
   is counted as an exact duplicate, nothing is appended and the reports do not move;
5. with ``--permutation-check``, ingests the same records in another order (the source
   file's own, customer by customer, so most events arrive late; or by date when that was
   the first run's) into a second log and checks that the report tables are the same, as
   the contract's section 5 promises, and that the late count is the contract's;
6. prints timing (records/s while ingesting, events/s while projecting).

Differences are printed and the exit status is 1 if there is any. Only the built-in
plugins are loaded (the contract is the core's); ``--plugins`` loads the installed ones too.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import structlog

from fastcommerce import Pipeline

PRODUCT_ID = "CDNOW-CD"
PRODUCT_NAME = "Compact disc (title not recorded in the data set)"
PRODUCT_CATEGORY = "Music"
CHANNEL = "web"  # CDNOW was an online store
STATUS = "confirmed"  # every row is a completed purchase; the data set has no later status
REVENUE_STATUSES = {"confirmed", "shipped", "delivered"}
CONTRACT_CODES = {  # section 4; a plugin's own codes are printed but not compared
    "malformed_record", "unknown_schema", "missing_field", "invalid_timestamp", "invalid_item", "invalid_status",
    "invalid_quantity", "unknown_product", "total_mismatch", "unsupported_currency", "price_deviation",
    "incomplete_address", "late_event",
}
LATENESS = timedelta(hours=1)  # the contract's default allowed lateness
CENT = Decimal("0.01")
INVENTORY_HEADER = "product_id,available_quantity,warehouse_location,last_updated\n"


# --------------------------------------------------------------------------- source

@dataclass(frozen=True)
class SourceRow:
    row: int  # 1-based data row in the source file (the header is row 0)
    customer: str
    day: date
    cds: int
    dollars: Decimal  # exactly as written in the file


def read_cdnow(path: Path) -> list[SourceRow]:
    """CDNOW_master.txt: whitespace-separated ``customer_id date number_of_cds dollar_value``
    under a header line; dates are ``YYYYMMDD``."""
    rows = []
    with open(path, encoding="ascii") as fh:
        header = fh.readline().split()
        if header != ["customer_id", "date", "number_of_cds", "dollar_value"]:
            sys.exit(f"{path}: unexpected header {header!r}; is this lifetimes' CDNOW_master.txt?")
        for n, line in enumerate(fh, start=1):
            fields = line.split()
            try:
                customer, day, cds, dollars = fields
                rows.append(SourceRow(n, customer, datetime.strptime(day, "%Y%m%d").date(), int(cds),
                                      Decimal(dollars)))
            except ValueError as exc:  # not a contract question: the mapping itself cannot go on
                sys.exit(f"{path}: data row {n} cannot be read ({exc}): {line!r}")
    return rows


# --------------------------------------------------------------------------- mapping

def money_text(amount: Decimal) -> str:
    """A JSON number with the amount's own digits (never through a binary float)."""
    return format(amount, "f")


def order_items(r: SourceRow) -> list[tuple[int, Decimal]]:
    """``(quantity, unit_price)`` lines for one source row.

    The source gives the number of CDs and what they cost together. When that total does not
    divide into whole cents per CD, the row becomes two lines of the same product whose
    prices differ by one cent (e.g. 3 CDs for 35.00: 2 at 11.67 and 1 at 11.66), so units
    and value stay exact and every price has two decimals. A row the contract would refuse
    (no CDs, a negative amount, more than two decimals) is passed through as one line as it
    is, for the validators to quarantine."""
    cents = r.dollars * 100
    if r.cds <= 0 or r.dollars < 0 or cents != cents.to_integral_value():
        return [(r.cds, r.dollars)]
    base, rest = divmod(int(cents), r.cds)
    lines = []
    if rest:
        lines.append((rest, (Decimal(base + 1) / 100).quantize(CENT)))
    if r.cds - rest:
        lines.append((r.cds - rest, (Decimal(base) / 100).quantize(CENT)))
    return lines


def order_id(r: SourceRow) -> str:
    return f"CDNOW-{r.row:06d}"


def timestamp(r: SourceRow) -> str:
    return f"{r.day.isoformat()}T00:00:00Z"  # the source has dates only; its UTC day is that date


def order_line(r: SourceRow) -> str:
    """The canonical ("web") order record for one source row. No shipping_address: the data
    set does not say where customers lived."""
    items = ",".join(
        f'{{"product_id":"{PRODUCT_ID}","quantity":{q},"unit_price":{money_text(p)}}}'
        for q, p in order_items(r))
    return (f'{{"order_id":"{order_id(r)}","customer_id":{json.dumps(r.customer)},'
            f'"timestamp":"{timestamp(r)}","channel":"{CHANNEL}","items":[{items}],"status":"{STATUS}"}}')


def catalog_price(rows: list[SourceRow]) -> Decimal:
    """The median price per CD over the rows (the lower median, so it is a price seen)."""
    per_cd = sorted((r.dollars / r.cds).quantize(CENT, rounding=ROUND_HALF_EVEN) for r in rows if r.cds > 0)
    return per_cd[(len(per_cd) - 1) // 2] if per_cd else Decimal("0.00")


def write_inputs(rows: list[SourceRow], folder: Path, arrival: str, seed: int) -> dict[str, Any]:
    """The contract's three files in ``folder``; returns the mapping's facts."""
    folder.mkdir(parents=True, exist_ok=True)
    price = catalog_price(rows)
    product = {
        "product_id": PRODUCT_ID, "name": PRODUCT_NAME, "category": PRODUCT_CATEGORY, "price": "@PRICE@",
        "source": "CDNOW_master.txt: every row is a number of CDs and their total dollar value",
    }
    text = json.dumps({"products": [product]}, indent=1).replace('"@PRICE@"', money_text(price))
    (folder / "product_catalog.json").write_text(text + "\n", encoding="utf-8")
    (folder / "inventory_updates.csv").write_text(INVENTORY_HEADER, encoding="utf-8")
    ordered = arrange(rows, arrival, seed)
    with open(folder / "orders_stream.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(order_line(r) + "\n" for r in ordered)
    return {"catalog_price": price, "order_rows": ordered}


def arrange(rows: list[SourceRow], arrival: str, seed: int) -> list[SourceRow]:
    if arrival == "date":  # the order a live feed would have delivered them in
        return sorted(rows, key=lambda r: (r.day, r.row))
    if arrival == "source":  # the file's own order: customer by customer
        return list(rows)
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    return shuffled


# --------------------------------------------------------------------------- expectation

def item_problem(q: Any, p: Decimal) -> bool:
    return not (type(q) is int and q > 0) or p < 0 or p != p.quantize(CENT)


def expected(rows: list[SourceRow], arrival_rows: list[SourceRow], price: Decimal) -> dict[str, Any]:
    """The reports as the contract defines them, computed from the source rows alone."""
    quarantined: Counter = Counter()
    warnings: Counter = Counter()
    valid: list[tuple[SourceRow, list[tuple[int, Decimal]]]] = []
    lines_seen: Counter = Counter()
    for r in arrival_rows:
        lines_seen[order_line(r)] += 1
    duplicates = sum(n - 1 for n in lines_seen.values())
    for r in rows:
        items = order_items(r)
        errors = set()
        if any(item_problem(q, p) for q, p in items):
            errors.add("invalid_item")
        if errors:
            quarantined.update(errors)
            continue
        # warnings on valid records only: no address at all has no city (section 4)
        warnings["incomplete_address"] += 1
        if any(abs(p - price) * 2 > price for _, p in items):
            warnings["price_deviation"] += 1
        valid.append((r, items))

    # late events: the watermark over valid events in arrival order (sections 5 and 6)
    late = 0
    max_ts = None
    valid_ids = {r.row for r, _ in valid}
    for r in arrival_rows:
        if r.row not in valid_ids:
            continue
        ts = datetime.combine(r.day, datetime.min.time(), tzinfo=UTC)
        if max_ts is not None and ts < max_ts - LATENESS:
            late += 1
        if max_ts is None or ts > max_ts:
            max_ts = ts
    if late:
        warnings["late_event"] = late

    daily: dict[tuple, list] = defaultdict(lambda: [0, 0, Decimal(0)])
    products = {"orders": 0, "units": 0, "revenue": Decimal(0)}
    customers: dict[str, list] = {}
    for r, items in valid:  # one event per order: it is the order's state
        if STATUS not in REVENUE_STATUSES:
            continue
        units = sum(q for q, _ in items)
        value = sum((q * p for q, p in items), Decimal(0))
        key = (r.day.isoformat(), CHANNEL, "", "")  # no address: no country, no region
        row = daily[key]
        row[0] += 1
        row[1] += units
        row[2] += value
        products["orders"] += 1
        products["units"] += units
        products["revenue"] += value
        c = customers.setdefault(r.customer, [0, Decimal(0), r.day, r.day])
        c[0] += 1
        c[1] += value
        c[2], c[3] = min(c[2], r.day), max(c[3], r.day)

    ranked = sorted(customers.items(), key=lambda kv: (-kv[1][1], kv[0]))
    total = sum((v[1] for _, v in ranked), Decimal(0))
    top_n = math.ceil(len(ranked) * Decimal("0.1"))
    top = sum((v[1] for _, v in ranked[:top_n]), Decimal(0))
    days = sorted({r.day for r, _ in valid})
    span = (days[-1] - days[0]).days + 1 if days else 0
    return {
        "records": {"catalog": 1, "inventory": 0, "orders": len(arrival_rows)},
        "duplicates": {"catalog": 0, "inventory": 0, "orders": duplicates},
        "quarantined": dict(quarantined),
        "quarantined_total": sum(1 for r in rows if any(item_problem(q, p) for q, p in order_items(r))),
        "warnings": dict(warnings),
        "valid_orders": len(valid),
        "daily": {k: tuple(v) for k, v in daily.items()},
        "products": products,
        "customers": {cid: tuple(v) for cid, v in customers.items()},
        "customers_summary": {
            "customers": len(ranked),
            "repeat_customer_rate": Decimal(sum(v[0] >= 2 for _, v in ranked)) / len(ranked) if ranked else None,
            "top_10pct_customers": top_n,
            "top_10pct_revenue_share": top / total if total else None,
            "revenue": total,
        },
        "period_days": span,
        "late": late,
        "source_duplicate_rows": sum(n - 1 for n in Counter((r.customer, r.day, r.cds, r.dollars)
                                                              for r in rows).values()),
    }


# --------------------------------------------------------------------------- run

def run_pipeline(folder: Path, db: Path, plugins: bool) -> tuple[Pipeline, dict[str, Any]]:
    """What ``fastcommerce run`` does, one step at a time so each can be timed."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    pipeline = Pipeline(db, load_entrypoints=plugins)
    timing: dict[str, Any] = {"ingest": {}}
    totals: dict[str, dict[str, int]] = {}
    t0 = time.perf_counter()
    for stream, name in (("catalog", "product_catalog.json"), ("inventory", "inventory_updates.csv"),
                         ("orders", "orders_stream.jsonl")):
        start = time.perf_counter()
        summary = pipeline.ingest(stream, folder / name)
        timing["ingest"][stream] = time.perf_counter() - start
        totals.update(summary.totals())
    t1 = time.perf_counter()
    results = pipeline.project()
    t2 = time.perf_counter()
    timing.update(ingest_total=t1 - t0, project=t2 - t1, events=pipeline.log.last_offset(),
                  projected=results)
    return pipeline, {"totals": totals, "timing": timing}


def report_tables(pipeline: Pipeline) -> dict[str, Any]:
    """The report tables the contract says cannot depend on arrival order."""
    return {
        "revenue": pipeline.report("revenue", start="0001-01-01", end="9999-12-31", catch_up=False).rows,
        "products": pipeline.report("products", limit=None, catch_up=False).rows,
        "customers": pipeline.report("customers", limit=None, catch_up=False).rows,
        "inventory": pipeline.report("inventory", catch_up=False).rows,
    }


# --------------------------------------------------------------------------- compare

class Diffs:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.plugin_codes: dict[str, int] = {}

    def check(self, what: str, got: Any, want: Any) -> None:
        if got != want:
            self.items.append(f"{what}: pipeline {got!r}, expected {want!r}")


def rounded(x: Decimal | None, places: str) -> Decimal | None:
    return None if x is None else x.quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def compare(pipeline: Pipeline, run: dict[str, Any], exp: dict[str, Any]) -> Diffs:
    d = Diffs()
    totals = run["totals"]
    for stream in ("catalog", "inventory", "orders"):
        t = totals.get(stream, {"read": 0, "appended": 0, "duplicates": 0})
        d.check(f"{stream}: lines read", t["read"], exp["records"][stream])
        d.check(f"{stream}: read = appended + duplicates", t["read"], t["appended"] + t["duplicates"])
        d.check(f"{stream}: duplicates", t["duplicates"], exp["duplicates"][stream])

    quality = pipeline.report("quality", limit=None, catch_up=False)
    codes = quality.summary["codes"]
    errors = {c: v["records"] for c, v in codes.items() if v["severity"] == "error" and c in CONTRACT_CODES}
    warns = {c: v["records"] for c, v in codes.items() if v["severity"] == "warning" and c in CONTRACT_CODES}
    d.plugin_codes = {c: v["records"] for c, v in codes.items() if c not in CONTRACT_CODES}
    d.check("quarantined records", quality.summary["quarantined"], exp["quarantined_total"])
    d.check("quarantined per code", errors, exp["quarantined"])
    d.check("flagged (warning) records per code", warns, exp["warnings"])

    revenue = pipeline.report("revenue", start="0001-01-01", end="9999-12-31", catch_up=False)
    got_daily = {(r["date"], r["channel"], r["country"], r["region"]): (r["orders"], r["units"], r["revenue"])
                 for r in revenue.rows}
    want_daily = exp["daily"]
    for key in sorted(set(got_daily) | set(want_daily)):
        d.check(f"daily revenue {key}", got_daily.get(key), want_daily.get(key))
    d.check("daily revenue rows", len(revenue.rows), len(want_daily))

    products = pipeline.report("products", limit=None, catch_up=False)
    p = exp["products"]
    want_products = [{"product_id": PRODUCT_ID, "name": PRODUCT_NAME,
                      "category": PRODUCT_CATEGORY, "orders": p["orders"], "units": p["units"],
                      "revenue": p["revenue"]}] if p["orders"] else []
    d.check("top products", products.rows, want_products)

    customers = pipeline.report("customers", limit=None, catch_up=False)
    got_c = {r["customer_id"]: r for r in customers.rows}
    want_c = exp["customers"]
    missing = sorted(set(want_c) - set(got_c))
    extra = sorted(set(got_c) - set(want_c))
    d.check("customers missing from the report (first 5)", missing[:5], [])
    d.check("customers not expected (first 5)", extra[:5], [])
    wrong = 0
    for cid in sorted(set(got_c) & set(want_c)):
        r, (orders, revenue_c, first, last) = got_c[cid], want_c[cid]
        got = (r["orders"], r["revenue"], r["first_order_date"], r["last_order_date"],
               rounded(r["avg_order_value"], "0.01"))
        want = (orders, revenue_c, first.isoformat(), last.isoformat(), rounded(revenue_c / orders, "0.01"))
        if got != want:
            wrong += 1
            if wrong <= 5:
                d.check(f"customer {cid}", got, want)
    d.check("customers with a wrong row", wrong, 0)
    order = [r["customer_id"] for r in customers.rows]
    want_order = [cid for cid, _ in sorted(want_c.items(), key=lambda kv: (-kv[1][1], kv[0]))]
    d.check("customers ranked by revenue, ties by customer_id", order == want_order, True)
    s, ws = customers.summary, exp["customers_summary"]
    d.check("customers: count", s["customers"], ws["customers"])
    d.check("customers: repeat rate (4 places)", s["repeat_customer_rate"],
            rounded(ws["repeat_customer_rate"], "0.0001"))
    d.check("customers: top 10% count", s["top_10pct_customers"], ws["top_10pct_customers"])
    d.check("customers: top 10% revenue share (4 places)", s["top_10pct_revenue_share"],
            rounded(ws["top_10pct_revenue_share"], "0.0001"))
    d.check("customers: revenue", s["revenue"], ws["revenue"])

    inventory = pipeline.report("inventory", catch_up=False)
    units, span = p["units"], exp["period_days"]
    avg = (Decimal(units) / span).quantize(CENT) if span else Decimal(0).quantize(CENT)
    want_inv = [{"product_id": PRODUCT_ID, "name": PRODUCT_NAME, "available": 0, "warehouses": 0, "units_sold": units,
                 "avg_daily_units": avg, "days_of_cover": Decimal("0.00") if avg else None,
                 "turnover": None, "reorder_point": 20, "low_stock": True}] if units else []
    d.check("inventory", inventory.rows, want_inv)

    ops = pipeline.report("operations", catch_up=False).summary
    n_events = sum(exp["records"].values()) - sum(exp["duplicates"].values())
    d.check("operations: events", ops["events"], n_events)
    d.check("operations: quarantined", ops["quarantined"], exp["quarantined_total"])
    d.check("operations: valid", ops["valid"], n_events - exp["quarantined_total"])
    d.check("operations: duplicates", ops["duplicates"], sum(exp["duplicates"].values()))
    d.check("operations: late", ops["late"], exp["late"])
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="CDNOW_master.txt (from the lifetimes package)")
    ap.add_argument("--workdir", type=Path, required=True, help="where the inputs and logs go (reused)")
    ap.add_argument("--arrival", choices=("date", "source", "shuffle"), default="date",
                    help="order of the order events in the file: by date (a live feed; default), "
                         "the source file's (customer by customer) or shuffled")
    ap.add_argument("--seed", type=int, default=1, help="for --arrival shuffle")
    ap.add_argument("--limit", type=int, help="use only the first N source rows (a quick try)")
    ap.add_argument("--permutation-check", action="store_true",
                    help="ingest the same records in another order into a second log and compare tables")
    ap.add_argument("--verify", action="store_true", help="also rebuild every projection and compare (verify)")
    ap.add_argument("--plugins", action="store_true", help="load installed plugins too (default: built-ins only)")
    args = ap.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))

    rows = read_cdnow(args.data)
    if args.limit is not None:
        rows = rows[:args.limit]
    inputs = args.workdir / "input"
    mapped = write_inputs(rows, inputs, args.arrival, args.seed)
    exp = expected(rows, mapped["order_rows"], mapped["catalog_price"])
    print(f"source: {args.data} ({len(rows):,} rows, {len({r.customer for r in rows}):,} customers, "
          f"{min(r.day for r in rows)} to {max(r.day for r in rows)}; "
          f"{exp['source_duplicate_rows']} rows repeat an earlier row exactly)")
    print(f"inputs: {inputs} (orders by {args.arrival}; catalog price {mapped['catalog_price']}; "
          f"{sum(len(order_items(r)) == 2 for r in rows):,} rows split into two price lines)")

    pipeline, run = run_pipeline(inputs, args.workdir / "cdnow.db", args.plugins)
    diffs = compare(pipeline, run, exp)
    t = run["timing"]
    orders_read = run["totals"].get("orders", {}).get("read", 0)
    q = pipeline.report("quality", limit=None, catch_up=False).summary
    rev = pipeline.report("revenue", start="0001-01-01", end="9999-12-31", catch_up=False).summary
    cust = pipeline.report("customers", limit=0, catch_up=False).summary
    print("pipeline:")
    for stream, tot in run["totals"].items():
        print(f"  {stream:<9} read {tot['read']:>7,}  appended {tot['appended']:>7,}  "
              f"duplicates {tot['duplicates']:>5,}  malformed {tot['malformed']:>5,}")
    print(f"  quarantined {q['quarantined']:,}; per code: "
          + ", ".join(f"{c} {v['records']:,} ({v['severity']})" for c, v in q["codes"].items()))
    print(f"  revenue {rev['revenue']} over {rev['orders']:,} orders, {rev['units']:,} units, "
          f"{cust['from']} to {cust['to']}; customers {cust['customers']:,}, repeat rate "
          f"{cust['repeat_customer_rate']}, top 10% share {cust['top_10pct_revenue_share']}")
    if diffs.plugin_codes:
        print(f"  (codes of plugins, not the contract's: not compared: {diffs.plugin_codes})")
    print("timing:")
    print(f"  ingest   {t['ingest_total']:7.2f} s  ({orders_read / max(t['ingest']['orders'], 1e-9):,.0f} "
          f"order records/s)")
    print(f"  project  {t['project']:7.2f} s  ({t['events'] / max(t['project'], 1e-9):,.0f} events/s)")
    total = t["ingest_total"] + t["project"]
    print(f"  total    {total:7.2f} s  ({t['events'] / max(total, 1e-9):,.0f} events/s end to end, "
          f"{t['events']:,} events)")

    # re-delivery: the whole order file again, read from the start; every line is an exact
    # duplicate (section 6): counted, not appended, and the report tables do not move
    before = report_tables(pipeline)
    start = time.perf_counter()
    again = pipeline.ingest("orders", inputs / "orders_stream.jsonl", resume=False).totals()["orders"]
    pipeline.project()
    n = exp["records"]["orders"]
    print(f"re-delivery of the order file: read {again['read']:,}, appended {again['appended']:,}, "
          f"duplicates {again['duplicates']:,} ({time.perf_counter() - start:.2f} s)")
    diffs.check("re-delivery: read, appended, duplicates", (again["read"], again["appended"], again["duplicates"]),
                (n, 0, n))
    diffs.check("re-delivery: report tables unchanged", report_tables(pipeline) == before, True)

    if args.verify:
        start = time.perf_counter()
        bad = [c for c in pipeline.verify() if not c.ok]
        print(f"verify: {'ok' if not bad else 'MISMATCH'} ({time.perf_counter() - start:.2f} s)")
        for c in bad:
            diffs.items.append(f"verify: {c.projection}.{c.table}: live {c.live_rows} rows, "
                               f"rebuilt {c.rebuilt_rows} rows, checksums differ")

    if args.permutation_check:
        other = "source" if args.arrival != "source" else "date"
        folder = args.workdir / f"input-{other}"
        write_inputs(rows, folder, other, args.seed)
        start = time.perf_counter()
        second, _ = run_pipeline(folder, args.workdir / f"cdnow-{other}.db", args.plugins)
        a, b = report_tables(pipeline), report_tables(second)
        late = second.report("operations", catch_up=False).summary["late"]
        want_late = expected(rows, arrange(rows, other, args.seed), mapped["catalog_price"])["late"]
        diffs.check(f"permutation: late events with orders by {other}", late, want_late)
        print(f"permutation: orders by {other} ({time.perf_counter() - start:.2f} s, {late:,} late events): "
              + ("same report tables" if a == b else "REPORT TABLES DIFFER"))
        for name in a:
            if a[name] != b[name]:
                first = next((i for i, (x, y) in enumerate(zip(a[name], b[name])) if x != y),
                             min(len(a[name]), len(b[name])))
                diffs.items.append(f"permutation: {name} differs from row {first} "
                                   f"({len(a[name])} vs {len(b[name])} rows)")
        second.close()
    pipeline.close()

    if diffs.items:
        print(f"DIFFERENCES ({len(diffs.items)}):")
        for item in diffs.items:
            print(f"  {item}")
        return 1
    print("all reports agree with the independent computation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
