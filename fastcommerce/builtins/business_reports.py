"""Revenue, top products, inventory and customers (data contract section 5).

Queries over the built-in projections' tables, each named by the projection that declares
it (:mod:`.sales`, :mod:`.stock`, the catalog's :mod:`.projections`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ..contract import PLAUSIBLE_SINCE
from ..money import from_cents
from ..reports.base import Report, check_limit, database, date_range, limited
from ..tables import table_exists
from . import sales, stock
from .projections import PRODUCTS as CATALOG_PRODUCTS

REVENUE_COLUMNS = ("date", "channel", "country", "region", "orders", "units", "revenue")


REVENUE_DIMENSIONS = ("date", "channel", "region")
"""What ``revenue`` can group by (``by="channel"``, ``by="date,region"`` ...); by default, all three."""


def revenue_grouping(by: str | None) -> tuple[str, ...]:
    """``by`` as the dimensions it names, in the report's column order; ``ValueError`` for
    anything else (``units``/``revenue`` rank products, not revenue)."""
    if by is None:
        return REVENUE_DIMENSIONS
    named = [part.strip() for part in by.split(",") if part.strip()]
    unknown = [n for n in named if n not in REVENUE_DIMENSIONS]
    if unknown or not named:
        raise ValueError(f"revenue groups by date, channel and/or region (comma-separated, e.g. "
                         f"'channel' or 'date,channel'), not {by!r}")
    return tuple(d for d in REVENUE_DIMENSIONS if d in named)


def _grouped(rows: list[dict[str, Any]], dims: tuple[str, ...]) -> list[dict[str, Any]]:
    """The per date x channel x region rows summed over the dimensions not kept (an order has
    one date, channel and region, so its count adds up)."""
    keys = [c for c in REVENUE_COLUMNS if c in dims or (c == "country" and "region" in dims)]
    sums: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = tuple(r[k] for k in keys)
        out = sums.setdefault(key, {**dict(zip(keys, key)), "orders": 0, "units": 0, "revenue": Decimal("0.00")})
        out["orders"] += r["orders"]
        out["units"] += r["units"]
        out["revenue"] += r["revenue"]
    return [sums[k] for k in sorted(sums)]


def revenue(source: Any, *, on=None, start=None, end=None, by: str | None = None, all_days: bool = False,
            limit: int | None = None, **_: Any) -> Report:
    """Daily revenue by channel and region, or grouped ``by`` fewer of date, channel and
    region. Default: the latest day with revenue (``all_days``: every day). The summary covers
    every row; ``limit`` only shortens the list."""
    check_limit(limit)
    dims = revenue_grouping(by)
    db = database(source)
    if not all_days and on is None and start is None and end is None and table_exists(db, sales.DAILY):
        on = db.execute(f"SELECT MAX(date) FROM {sales.DAILY}").fetchone()[0]
    lo, hi = date_range(db, sales.DAILY, "date", on=on, start=start, end=end)
    rows: list[dict[str, Any]] = []
    if lo is not None and table_exists(db, sales.DAILY):
        for d, ch, country, region, orders, units, cents in db.execute(
            f"SELECT date, channel, country, region, orders, units, revenue_cents FROM {sales.DAILY} "
            "WHERE date BETWEEN ? AND ? ORDER BY date, channel, country, region", [lo, hi]
        ):
            rows.append({"date": d, "channel": ch, "country": country, "region": region,
                         "orders": orders, "units": units, "revenue": from_cents(cents)})
    by_channel: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        by_channel[r["channel"]] += r["revenue"]
    summary = {
        "from": lo, "to": hi,
        "orders": sum(r["orders"] for r in rows), "units": sum(r["units"] for r in rows),
        "revenue": sum((r["revenue"] for r in rows), Decimal("0.00")),
        "revenue_by_channel": dict(sorted(by_channel.items())),
    }
    columns: tuple[str, ...] = REVENUE_COLUMNS
    if dims != REVENUE_DIMENSIONS:
        rows = _grouped(rows, dims)
        kept = {*dims, "orders", "units", "revenue", *(["country"] if "region" in dims else [])}
        columns = tuple(c for c in REVENUE_COLUMNS if c in kept)
        summary["by"] = ",".join(dims)
    return Report(name="revenue", rows=limited(rows, limit), summary=summary, columns=columns)


PRODUCT_COLUMNS = ("product_id", "name", "category", "orders", "units", "revenue")


def products(source: Any, *, on=None, start=None, end=None, by: str = "units", limit: int | None = 10, **_: Any) -> Report:
    """Top products over a date range, ranked by units or revenue, ties by product_id."""
    check_limit(limit)
    if by not in ("units", "revenue"):
        raise ValueError("by must be 'units' or 'revenue'")
    db = database(source)
    lo, hi = date_range(db, sales.PRODUCTS_DAILY, "date", on=on, start=start, end=end)
    rows: list[dict[str, Any]] = []
    if lo is not None:
        order = "units DESC" if by == "units" else "revenue DESC"  # ties by product_id, as the contract says
        sql = (
            "SELECT p.product_id, c.name, c.category, SUM(p.orders) AS orders, SUM(p.units) AS units, "
            f"SUM(p.revenue_cents) AS revenue FROM {sales.PRODUCTS_DAILY} p "
            f"LEFT JOIN {sales.CATALOG} c ON c.product_id = p.product_id "
            f"WHERE p.date BETWEEN ? AND ? GROUP BY p.product_id, c.name, c.category ORDER BY {order}, p.product_id"
        )
        params: list[Any] = [lo, hi]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        for pid, name, category, orders, units, cents in db.execute(sql, params):
            rows.append({"product_id": pid, "name": name, "category": category, "orders": orders,
                         "units": units, "revenue": from_cents(cents)})
    sold = len(rows)  # products sold in the range, listed or not
    if lo is not None and limit is not None and sold == limit:
        sold = db.execute(f"SELECT COUNT(DISTINCT product_id) FROM {sales.PRODUCTS_DAILY} WHERE date BETWEEN ? AND ?",
                          [lo, hi]).fetchone()[0]
    summary = {"from": lo, "to": hi, "by": by, "products": sold}
    return Report(name="products", rows=rows, summary=summary, columns=PRODUCT_COLUMNS)


INVENTORY_COLUMNS = ("product_id", "name", "available", "warehouses", "units_sold", "avg_daily_units",
                     "days_of_cover", "turnover", "reorder_point", "low_stock")


def _days(lo: str, hi: str) -> list[date]:
    start, end = date.fromisoformat(lo), date.fromisoformat(hi)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _ratio(num: Decimal, den: Decimal) -> Decimal | None:
    return None if den == 0 else (num / den).quantize(Decimal("0.01"))


def inventory(source: Any, *, on=None, start=None, end=None, only_low_stock: bool = False,
              limit: int | None = None, **_: Any) -> Report:
    """Stock, sales and turnover per product over a period (default: the order dates from
    1990 on, see ``implausible_timestamp``): every
    product with stock or sales, and every active catalog product (with none in stock, it is
    low on stock), with its catalog name. ``only_low_stock``: the rows low on stock only (the
    summary still counts every product)."""
    check_limit(limit)
    db = database(source)
    # robust default bounds: an order date the implausible_timestamp warning flags does not
    # stretch the period (one order on 0001-01-01 made it 738,906 days long)
    lo, hi = date_range(db, sales.ORDERS, "order_date", on=on, start=start, end=end, since=PLAUSIBLE_SINCE.date())
    if not table_exists(db, stock.CURRENT):
        return Report(name="inventory", rows=[], summary={"from": lo, "to": hi, "products": 0, "low_stock": 0},
                      columns=INVENTORY_COLUMNS)
    days = _days(lo, hi) if lo and hi else []
    available: dict[str, tuple[int, int]] = {
        pid: (qty, n) for pid, qty, n in db.execute(
            f"SELECT product_id, SUM(quantity), COUNT(*) FROM {stock.CURRENT} GROUP BY product_id")
    }
    sold: dict[str, int] = {}
    if lo is not None:
        sold = dict(db.execute(
            f"SELECT product_id, SUM(units) FROM {sales.PRODUCTS_DAILY} WHERE date BETWEEN ? AND ? "
            "GROUP BY product_id", [lo, hi]).fetchall())
    reorder: dict[str, int] = {}
    names: dict[str, str] = {}
    listed: set[str] = set()  # active catalog products: one with no stock anywhere is low on stock
    if table_exists(db, CATALOG_PRODUCTS):
        for pid, name, point, active in db.execute(
                f"SELECT product_id, name, reorder_point, active FROM {CATALOG_PRODUCTS}"):
            reorder[pid] = point
            names[pid] = name
            if active:
                listed.add(pid)
    closing = _closing_stock(db, days)
    rows = []
    for pid in sorted(set(available) | set(sold) | listed):
        qty, warehouses = available.get(pid, (0, 0))
        units = sold.get(pid, 0)
        avg_daily = Decimal(units) / len(days) if days else Decimal(0)
        stock_days = closing.get(pid, [])
        avg_stock = Decimal(sum(stock_days)) / len(stock_days) if stock_days else Decimal(0)
        rp = reorder.get(pid, 20)
        rows.append({
            "product_id": pid, "name": names.get(pid), "available": qty, "warehouses": warehouses, "units_sold": units,
            "avg_daily_units": avg_daily.quantize(Decimal("0.01")),
            "days_of_cover": _ratio(Decimal(qty), avg_daily),
            "turnover": _ratio(Decimal(units), avg_stock),
            "reorder_point": rp, "low_stock": qty <= rp,
        })
    rows.sort(key=lambda r: (not r["low_stock"], r["product_id"]))
    summary = {"from": lo, "to": hi, "days": len(days), "products": len(rows),
               "low_stock": sum(r["low_stock"] for r in rows)}
    if only_low_stock:
        rows = [r for r in rows if r["low_stock"]]
    return Report(name="inventory", rows=limited(rows, limit), summary=summary,
                  columns=INVENTORY_COLUMNS)


def _closing_stock(db, days: list[date]) -> dict[str, list[int]]:
    """Per product, each day's closing stock: the sum over warehouses of each one's latest
    level at or before the day's end; days with no known level are left out."""
    if not days:
        return {}
    ends = [(d + timedelta(days=1)).isoformat() + "T00:00:00.000000Z" for d in days]
    out: dict[str, list[int]] = defaultdict(list)
    per_product: dict[str, dict[str, list[tuple[str, int]]]] = defaultdict(lambda: defaultdict(list))
    for pid, wh, ts, qty in db.execute(
        f"SELECT product_id, warehouse, last_updated, quantity FROM {stock.HISTORY} "
        "WHERE last_updated < ? ORDER BY product_id, warehouse, last_updated", [ends[-1]]
    ):
        per_product[pid][wh].append((ts, qty))
    for pid in sorted(per_product):
        totals = []
        for end in ends:
            known = False
            total = 0
            for history in per_product[pid].values():
                level = None
                for ts, qty in history:  # histories are short: a few reports a day
                    if ts < end:
                        level = qty
                    else:
                        break
                if level is not None:
                    known = True
                    total += level
            if known:
                totals.append(total)
        out[pid] = totals
    return out


CUSTOMER_COLUMNS = ("customer_id", "orders", "revenue", "first_order_date", "last_order_date", "avg_order_value")


def customers(source: Any, *, on=None, start=None, end=None, limit: int | None = 20, **_: Any) -> Report:
    """Customers with revenue-bearing orders, by revenue; repeat rate and top-10% share."""
    check_limit(limit)
    db = database(source)
    lo, hi = date_range(db, sales.ORDERS, "order_date", on=on, start=start, end=end)
    rows = []
    if lo is not None:
        for cid, orders, cents, first, last in db.execute(
            "SELECT customer_id, COUNT(*), SUM(value_cents), MIN(order_date), MAX(order_date) "
            f"FROM {sales.ORDERS} WHERE revenue_bearing = 1 AND order_date BETWEEN ? AND ? "
            "GROUP BY customer_id ORDER BY SUM(value_cents) DESC, customer_id", [lo, hi]
        ):
            rows.append({"customer_id": cid, "orders": orders, "revenue": from_cents(cents),
                         "first_order_date": first, "last_order_date": last,
                         "avg_order_value": from_cents(cents) / orders})
    total = sum((r["revenue"] for r in rows), Decimal(0))
    top_n = math.ceil(len(rows) * 0.1)
    top = sum((r["revenue"] for r in rows[:top_n]), Decimal(0))
    summary = {
        "from": lo, "to": hi, "customers": len(rows),
        "repeat_customer_rate": (Decimal(sum(r["orders"] >= 2 for r in rows)) / len(rows)).quantize(Decimal("0.0001")) if rows else None,
        "top_10pct_customers": top_n,
        "top_10pct_revenue_share": (top / total).quantize(Decimal("0.0001")) if total else None,
        "revenue": total,
    }
    return Report(name="customers", rows=limited(rows, limit), summary=summary, columns=CUSTOMER_COLUMNS)
