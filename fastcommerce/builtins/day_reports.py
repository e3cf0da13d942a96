"""How orders ended (``statuses``) and one day against the usual (``usual``).

Both read the sales projection's tables (:mod:`.sales`): ``statuses`` the current state of
each order, ``usual`` the daily revenue per channel. Neither reads the clock: "the day"
defaults to the latest day with revenue, and the command line turns ``--date yesterday``
into a date before it calls.
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ..events import ORDER_STATUSES, REVENUE_STATUSES
from ..money import from_cents
from ..reports.base import Report, check_limit, database, date_range, iso, limited
from ..tables import table_exists
from . import sales

STATUS_COLUMNS = ("status", "revenue_bearing", "orders", "share", "units", "value")


def statuses(source: Any, *, on=None, start=None, end=None, limit: int | None = None, **_: Any) -> Report:
    """How many orders ended in each status (an order's current status, as the reports
    resolve it), over the orders placed in a range of order dates (default: every date);
    ``value`` is the orders' value whatever their status, ``share`` the fraction of orders."""
    check_limit(limit)
    db = database(source)
    lo, hi = date_range(db, sales.ORDERS, "order_date", on=on, start=start, end=end)
    found: dict[str, tuple[int, int, int]] = {}
    if lo is not None and table_exists(db, sales.ORDERS):
        for status, orders, units, cents in db.execute(
            f"SELECT status, COUNT(*), SUM(units), SUM(value_cents) FROM {sales.ORDERS} "
            "WHERE order_date BETWEEN ? AND ? GROUP BY status", [lo, hi]
        ):
            found[status] = (orders, units, cents)
    total = sum(n for n, _u, _c in found.values())
    rows: list[dict[str, Any]] = []
    for status in [*ORDER_STATUSES, *sorted(set(found) - set(ORDER_STATUSES))]:  # the lifecycle's order
        orders, units, cents = found.get(status, (0, 0, 0))
        rows.append({"status": status, "revenue_bearing": status in REVENUE_STATUSES, "orders": orders,
                     "share": (Decimal(orders) / total).quantize(Decimal("0.0001")) if total else None,
                     "units": units, "value": from_cents(cents)})
    summary = {"from": lo, "to": hi, "orders": total,
               "revenue_bearing_orders": sum(r["orders"] for r in rows if r["revenue_bearing"])}
    return Report(name="statuses", rows=limited(rows, limit), summary=summary, columns=STATUS_COLUMNS)


USUAL_COLUMNS = ("date", "channel", "orders", "usual_orders", "orders_vs_usual",
                 "revenue", "usual_revenue", "revenue_vs_usual", "weeks")
USUAL_WEEKS = 4
"""Same weekdays before the day that make "the usual" (those the data reaches back to)."""


def _change(value: Decimal, usual: Decimal | None) -> Decimal | None:
    if usual is None or usual == 0:
        return None
    return ((value - usual) / usual).quantize(Decimal("0.0001"))


def usual(source: Any, *, on=None, end=None, weeks: int = USUAL_WEEKS, limit: int | None = None,
          **_: Any) -> Report:
    """One day's revenue-bearing orders and revenue per channel against the usual: the
    median of the same weekday over the ``weeks`` weeks before it. A weekday before the
    first day with revenue is not counted (``weeks`` says how many were); within the data,
    a channel with no revenue that day counts as 0. Default day: the latest with revenue
    (``on``, or ``end`` of a range, chooses another)."""
    check_limit(limit)
    if weeks < 1:
        raise ValueError("weeks must be 1 or more")
    db = database(source)
    day = iso(on) or iso(end)
    rows: list[dict[str, Any]] = []
    first = None
    before: list[str] = []
    if table_exists(db, sales.DAILY):
        first, latest = db.execute(f"SELECT MIN(date), MAX(date) FROM {sales.DAILY}").fetchone()
        day = day or latest
    if day is not None and first is not None:
        target = date.fromisoformat(day)
        before = [(target - timedelta(weeks=w)).isoformat() for w in range(1, weeks + 1)]
        before = [d for d in before if d >= first]
        wanted = [day, *before]
        per: dict[tuple[str, str], tuple[int, int]] = {}
        marks = ", ".join("?" for _ in wanted)
        for d, ch, orders, cents in db.execute(
            f"SELECT date, channel, SUM(orders), SUM(revenue_cents) FROM {sales.DAILY} "
            f"WHERE date IN ({marks}) GROUP BY date, channel", wanted
        ):
            per[(d, ch)] = (orders, cents)
        for ch in sorted({c for _d, c in per}):
            orders, cents = per.get((day, ch), (0, 0))
            past = [per.get((d, ch), (0, 0)) for d in before]
            # medians of exact values (an even count: the mean of the middle two, still exact)
            usual_orders = statistics.median([Decimal(o) for o, _c in past]) if past else None
            usual_revenue = statistics.median([from_cents(c) for _o, c in past]) if past else None
            revenue = from_cents(cents)
            rows.append({"date": day, "channel": ch, "orders": orders, "usual_orders": usual_orders,
                         "orders_vs_usual": _change(Decimal(orders), usual_orders),
                         "revenue": revenue, "usual_revenue": usual_revenue,
                         "revenue_vs_usual": _change(revenue, usual_revenue), "weeks": len(past)})
    summary = {"date": day, "weekday": date.fromisoformat(day).strftime("%A") if day else None,
               "compared_with": ", ".join(sorted(before)) or None,
               "orders": sum(r["orders"] for r in rows), "revenue": sum((r["revenue"] for r in rows), Decimal("0.00"))}
    return Report(name="usual", rows=limited(rows, limit), summary=summary, columns=USUAL_COLUMNS)
