"""The numbers behind the dashboard, taken from the report functions (the ones ``fastcommerce
report`` runs), the health snapshot and the recorded alerts: a chart shows what a report
says, never a second computation of it. Only regrouping of a report's own rows happens
here (the revenue rows, per date x channel x region, summed per channel or per region).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs

from ..monitoring.alerts import list_alerts
from ..reports.base import Report, date_range, iso, table_exists

CURRENCY = "USD"  # the contract quarantines any other currency (unsupported_currency)
VOLUME_RULES = {"orders_spike": "orders", "orders_drop": "orders",
                "revenue_spike": "revenue", "revenue_drop": "revenue"}
TOP_PRODUCTS = 10
TOP_REGIONS = 15
TOP_TURNOVER = 15


@attrs.frozen(kw_only=True, slots=True)
class Anomaly:
    """A volume alert (a spike or drop in one hour and channel), placed on its day."""

    rule: str
    metric: str  # "orders" or "revenue": the chart it is marked on
    channel: str
    day: str
    hour: str
    message: str


@attrs.frozen(kw_only=True, slots=True)
class DashboardData:
    """Everything the page shows; money is exact ``Decimal`` in ``CURRENCY``."""

    start: str | None
    end: str | None
    generated_at: str
    currency: str
    #: channel -> [(date, revenue)], every date of the range (0.00 where a channel sold nothing)
    revenue_by_channel: dict[str, list[tuple[str, Decimal]]]
    #: channel -> [(date, revenue-bearing orders)]
    orders_by_channel: dict[str, list[tuple[str, int]]]
    #: (region, revenue), largest first, the first TOP_REGIONS of ``regions`` regions
    revenue_by_region: list[tuple[str, Decimal]]
    regions: int
    revenue: Report
    products_by_units: Report
    products_by_revenue: Report
    inventory: Report
    customers: Report
    #: customers by their number of orders: [("1", n), ("2", n), ...]
    orders_per_customer: list[tuple[str, int]]
    operations: Report
    #: the range's last day per channel against the same weekday's median (the ``usual`` report)
    usual: Report
    #: code -> [(recorded date, records)] over the operations report's dates
    quality_by_code: dict[str, list[tuple[str, int]]]
    quality_severity: dict[str, str]
    health: dict[str, Any]
    active_alerts: list[dict[str, Any]]
    anomalies: list[Anomaly]

    @property
    def low_stock(self) -> list[dict[str, Any]]:
        return [r for r in self.inventory.rows if r["low_stock"]]

    @property
    def top_turnover(self) -> list[dict[str, Any]]:
        rows = [r for r in self.inventory.rows if r["turnover"] is not None]
        return sorted(rows, key=lambda r: (-r["turnover"], r["product_id"]))[:TOP_TURNOVER]


def _days(lo: str, hi: str) -> list[str]:
    first, last = date.fromisoformat(lo), date.fromisoformat(hi)
    return [date.fromordinal(n).isoformat() for n in range(first.toordinal(), last.toordinal() + 1)]


def _per_channel(report: Report, days: list[str], field: str, zero: Any) -> dict[str, list[tuple[str, Any]]]:
    sums: dict[tuple[str, str], Any] = defaultdict(lambda: zero)
    for r in report.rows:
        sums[(r["channel"], r["date"])] += r[field]
    channels = sorted({c for c, _ in sums})
    return {c: [(d, sums.get((c, d), zero)) for d in days] for c in channels}


def _anomalies(alerts: list[dict[str, Any]], lo: str | None, hi: str | None) -> list[Anomaly]:
    out = []
    for a in alerts:
        metric = VOLUME_RULES.get(a["rule"])
        details = a["details"] or {}
        hour, channel = details.get("hour"), details.get("channel")
        if metric is None or not hour or not channel:
            continue
        day = hour[:10]
        if lo is not None and hi is not None and lo <= day <= hi:
            out.append(Anomaly(rule=a["rule"], metric=metric, channel=channel, day=day, hour=hour,
                               message=a["message"]))
    return sorted(out, key=lambda a: (a.hour, a.channel, a.rule))


def gather(pipeline: Any, *, start: date | str | None = None, end: date | str | None = None,
           now: datetime | None = None) -> DashboardData:
    """The dashboard's numbers over ``start``..``end`` (order dates, as the business
    reports take them; default: every date with revenue). Operations and quality keep
    their own meaning of a date: the day records were *recorded*, over every recorded day.
    Reads only: the alerts are those recorded by ``run`` or ``alerts`` (not evaluated
    here, so opening a dashboard never notifies anyone)."""
    db = pipeline.db
    lo, hi = date_range(db, "sales_daily_revenue", "date", start=iso(start), end=iso(end))
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"the range starts {lo}, after it ends {hi}" + ("" if start is not None and end is not None
                         else " (the first or last date with revenue, where no date was given)"))
    window = {"start": lo, "end": hi}
    days = _days(lo, hi) if lo and hi else []
    revenue = pipeline.report("revenue", catch_up=False, limit=None, **window) if days else \
        Report(name="revenue", rows=[], summary={"from": None, "to": None, "orders": 0, "units": 0,
                                                 "revenue": Decimal("0.00"), "revenue_by_channel": {}},
               columns=())
    regions: dict[str, Decimal] = defaultdict(Decimal)
    for r in revenue.rows:
        regions[r["region"]] += r["revenue"]
    by_region = sorted(regions.items(), key=lambda kv: (-kv[1], kv[0]))
    customers = pipeline.report("customers", catch_up=False, limit=None, **window)
    operations = pipeline.report("operations", catch_up=False, limit=None)
    recorded = [r["date"] for r in operations.rows]
    per_day = {d: pipeline.report("quality", catch_up=False, on=d, limit=0).summary["codes"] for d in recorded}
    codes = sorted({c for counts in per_day.values() for c in counts})
    severity = {c: counts[c]["severity"] for counts in per_day.values() for c in counts}
    alerts = list_alerts(db, include_resolved=False, limit=None) if table_exists(db, "alerts") else []
    active = [a for a in alerts if a["resolved_at"] is None]
    return DashboardData(
        start=lo, end=hi, currency=CURRENCY,
        generated_at=(now or pipeline.clock()).isoformat(timespec="seconds"),
        revenue_by_channel=_per_channel(revenue, days, "revenue", Decimal("0.00")),
        orders_by_channel=_per_channel(revenue, days, "orders", 0),
        revenue_by_region=by_region[:TOP_REGIONS], regions=len(by_region),
        revenue=revenue,
        products_by_units=pipeline.report("products", catch_up=False, by="units", limit=TOP_PRODUCTS, **window),
        products_by_revenue=pipeline.report("products", catch_up=False, by="revenue", limit=TOP_PRODUCTS, **window),
        inventory=pipeline.report("inventory", catch_up=False, limit=None, **window),
        customers=customers,
        orders_per_customer=_orders_histogram(customers),
        operations=operations,
        usual=pipeline.report("usual", catch_up=False, on=hi, limit=None) if hi else
        Report(name="usual", rows=[], summary={}, columns=()),
        quality_by_code={c: [(d, per_day[d].get(c, {"records": 0})["records"]) for d in recorded] for c in codes},
        quality_severity=severity,
        health=pipeline.health(now=now),
        active_alerts=active,
        anomalies=_anomalies(alerts, lo, hi),
    )


def _orders_histogram(customers: Report) -> list[tuple[str, int]]:
    """Customers by their number of revenue-bearing orders; 5 or more share a bar."""
    counts = Counter(min(r["orders"], 5) for r in customers.rows)
    return [(f"{n}" if n < 5 else "5+", counts.get(n, 0)) for n in range(1, 6)]
