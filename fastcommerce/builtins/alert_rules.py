"""The built-in alert rules: data quality, volume and revenue anomalies, unusual patterns,
stock, freshness and projection lag. Thresholds come from the monitoring configuration.

Every baseline is read from projection tables, which see valid events only, so a burst of
bad data is reported by the quality rule and never becomes the new normal of the others.
Anomalies compare a value with the same hour (or day) on previous days, using the median
and the median absolute deviation: a handful of past outliers cannot move them, and the
daily shape of the shop (quiet nights, busy evenings) is compared like with like.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from ..eventlog import LOG_TABLE
from ..hookspecs import hookimpl
from ..monitoring.alerts import AlertContext, AlertRule, Finding
from ..monitoring.health import newest_valid_events
from ..schema import PROJECTION_STATE
from ..tables import table_exists
from . import quality as quality_projection
from . import sales, stock
from .business_reports import inventory

HOUR = timedelta(hours=1)


def robust_z(value: float, history: list[float], floor: float | None = None) -> tuple[float, float, float]:
    """``(z, median, scale)`` with scale = max(1.4826 * MAD, floor, 1): the MAD of a few
    days can be near zero by chance, so the scale never drops below the noise the metric has
    anyway. For a count that is Poisson noise, sqrt(median) (the default floor)."""
    med = statistics.median(history)
    mad = statistics.median(abs(v - med) for v in history)
    if floor is None:
        floor = math.sqrt(max(med, 0.0))
    scale = max(1.4826 * mad, floor, 1.0)
    return (value - med) / scale, med, scale


def revenue_z(value: float, history: list[float], median_orders: float) -> tuple[float, float]:
    """``(z, median)`` of an hour's revenue, scored on a log scale.

    Revenue is a sum of ``n`` order values whose spread is about their mean, so it varies
    by a factor, not by an amount, and its distribution is skewed: a few big orders lift an
    hour far more than they can sink one. On the log scale both sides are symmetric, a
    5x spike and a fall to a fifth score alike, and the noise of a sum of ``n`` orders is
    about sqrt(2 / n): the floor is 1.5 / sqrt(n). An empty hour counts as a twentieth of
    the usual revenue, so a fall to nothing is a finite, large drop."""
    med = statistics.median(history)
    eps = max(med / 20.0, 100.0)  # cents

    def log(v: float) -> float:
        return math.log(max(v, eps))

    logs = [log(v) for v in history]
    centre = statistics.median(logs)
    mad = statistics.median(abs(v - centre) for v in logs)
    scale = max(1.4826 * mad, 1.5 / math.sqrt(max(median_orders, 1.0)), 0.05)
    return (log(value) - centre) / scale, med


def _hour(text: str) -> datetime:
    return datetime.fromisoformat(text + ":00:00+00:00")


def complete_hours(ctx: AlertContext) -> list[str]:
    """The latest complete hours of order data: those that end at or before the watermark
    (newest order time minus the allowed lateness), so a filling hour never alarms."""
    if not table_exists(ctx.db, sales.WATERMARK):
        return []
    row = ctx.db.execute(f"SELECT watermark FROM {sales.WATERMARK}").fetchone()
    if row is None or row[0] is None:
        return []
    watermark = datetime.fromisoformat(row[0])
    last = watermark.replace(minute=0, second=0, microsecond=0) - HOUR
    return [(last - i * HOUR).strftime("%Y-%m-%dT%H") for i in range(ctx.config.volume.evaluate_hours)][::-1]


def _hourly(ctx: AlertContext) -> tuple[dict[tuple[str, str], tuple[int, int, int, int]], str | None]:
    rows = ctx.db.execute(f"SELECT hour, channel, orders, units, revenue_orders, revenue_cents FROM {sales.HOURLY}").fetchall()
    first = min((r[0] for r in rows), default=None)
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}, first


def volume_rule(ctx: AlertContext) -> Iterator[Finding]:
    """Orders and revenue per hour and channel against the same hour on previous days."""
    if not table_exists(ctx.db, sales.HOURLY):
        return
    cfg = ctx.config.volume
    data, first = _hourly(ctx)
    channels = sorted({c for _, c in data})
    for hour in complete_hours(ctx):
        h = _hour(hour)
        past = [(h - timedelta(days=d)).strftime("%Y-%m-%dT%H") for d in range(1, cfg.history_days + 1)]
        past = [p for p in past if first is not None and p >= first]
        if len(past) < cfg.min_history_days:
            continue
        for channel in channels:
            for metric, index, minimum in (("orders", 0, float(cfg.min_orders)),
                                           ("revenue", 3, float(cfg.min_revenue) * 100)):
                value = data.get((hour, channel), (0, 0, 0, 0))[index]
                history = [data.get((p, channel), (0, 0, 0, 0))[index] for p in past]
                if metric == "revenue":
                    orders = statistics.median(data.get((p, channel), (0, 0, 0, 0))[2] for p in past)
                    z, med = revenue_z(value, history, orders)
                else:
                    z, med, _scale = robust_z(value, history)
                if max(value, med) < minimum or abs(z) < cfg.threshold:
                    continue
                if metric == "revenue":  # a quiet hour is quiet in orders too: one big order is no spike
                    now_orders = data.get((hour, channel), (0, 0, 0, 0))[0]
                    usual = statistics.median(data.get((p, channel), (0, 0, 0, 0))[0] for p in past)
                    if max(now_orders, usual) < cfg.min_orders:
                        continue
                kind = "spike" if z > 0 else "drop"
                shown = (lambda v: f"{Decimal(int(v)) / 100:.2f}") if metric == "revenue" else (lambda v: f"{v:g}")
                yield Finding(
                    rule=f"{metric}_{kind}", key=f"{channel}@{hour}", severity="warning", instant=True,
                    message=f"{metric} {kind} on {channel} at {hour}:00 UTC: {shown(value)} against a "
                            f"median of {shown(med)} for that hour (robust z {z:+.1f})",
                    value=round(z, 2), threshold=cfg.threshold,
                    details={"channel": channel, "hour": hour, "value": value, "median": med, "history": history},
                )


def basket_rule(ctx: AlertContext) -> Iterator[Finding]:
    """Average units per order per hour and channel, against the same hour on previous days."""
    if not table_exists(ctx.db, sales.HOURLY):
        return
    cfg, vol = ctx.config.patterns, ctx.config.volume
    data, first = _hourly(ctx)
    for hour in complete_hours(ctx):
        h = _hour(hour)
        for channel in sorted({c for _, c in data}):
            orders, units = data.get((hour, channel), (0, 0, 0, 0))[:2]
            if orders < cfg.min_basket_orders:
                continue
            history = []
            for d in range(1, vol.history_days + 1):
                p = (h - timedelta(days=d)).strftime("%Y-%m-%dT%H")
                o, u = data.get((p, channel), (0, 0, 0, 0))[:2]
                if first is not None and p >= first and o > 0:
                    history.append(u / o)
            if len(history) < vol.min_history_days:
                continue
            med = statistics.median(history)
            mad = statistics.median(abs(v - med) for v in history)
            scale = max(1.4826 * mad, 0.1 * med, 0.25)
            z = (units / orders - med) / scale
            if abs(z) >= cfg.basket_threshold:
                yield Finding(rule="basket_size", key=f"{channel}@{hour}", severity="info", instant=True,
                              message=f"average basket on {channel} at {hour}:00 UTC is {units / orders:.2f} "
                                      f"units against a usual {med:.2f} (robust z {z:+.1f})",
                              value=round(z, 2), threshold=cfg.basket_threshold,
                              details={"channel": channel, "hour": hour, "orders": orders, "units": units})


def price_deviation_rule(ctx: AlertContext) -> Iterator[Finding]:
    """Share of valid order events flagged price_deviation on the latest recorded day."""
    if not table_exists(ctx.db, quality_projection.DAILY):
        return
    cfg = ctx.config.patterns
    row = ctx.db.execute(f"SELECT recorded_date, valid FROM {quality_projection.DAILY} WHERE stream = 'orders' "
                         "ORDER BY recorded_date DESC LIMIT 1").fetchone()
    if row is None or row[1] < cfg.min_priced_events:
        return
    day, valid = row
    flagged = ctx.db.execute(
        f"SELECT COUNT(DISTINCT \"offset\") FROM {quality_projection.PROBLEMS} WHERE code = 'price_deviation' "
        "AND quarantined = 0 AND recorded_date = ?", [day]).fetchone()[0]
    rate = flagged / valid
    if rate > cfg.max_price_deviation_rate:
        yield Finding(rule="price_deviation_rate", key=day, severity="warning",
                      message=f"{rate:.1%} of valid order events recorded on {day} deviate more than 50% "
                              f"from the catalog price ({flagged} of {valid})",
                      value=round(rate, 4), threshold=cfg.max_price_deviation_rate)


def product_demand_rule(ctx: AlertContext) -> Iterator[Finding]:
    """A product's units on the latest complete day against its previous days."""
    if not table_exists(ctx.db, sales.PRODUCTS_DAILY):
        return
    cfg = ctx.config.patterns
    hours = complete_hours(ctx)
    if not hours:
        return
    last_hour = _hour(hours[-1])
    day = last_hour.date() if last_hour.hour == 23 else last_hour.date() - timedelta(days=1)  # last whole day
    days = [(day - timedelta(days=d)).isoformat() for d in range(cfg.demand_history_days + 1)]
    units: dict[str, dict[str, int]] = defaultdict(dict)
    for pid, date, n in ctx.db.execute(
        f"SELECT product_id, date, units FROM {sales.PRODUCTS_DAILY} WHERE date BETWEEN ? AND ?", [days[-1], days[0]]
    ):
        units[pid][date] = n
    first = ctx.db.execute(f"SELECT MIN(date) FROM {sales.PRODUCTS_DAILY}").fetchone()[0]
    past = [d for d in days[1:] if first is not None and d >= first]
    if len(past) < ctx.config.volume.min_history_days:
        return
    for pid in sorted(units):
        value = units[pid].get(days[0], 0)
        history = [units[pid].get(d, 0) for d in past]
        z, med, _ = robust_z(value, history)
        if value >= cfg.demand_min_units and z >= cfg.demand_threshold:
            yield Finding(rule="product_demand", key=f"{pid}@{days[0]}", severity="info", instant=True,
                          message=f"{pid} sold {value} units on {days[0]} against a usual {med:g} (robust z {z:+.1f})",
                          value=round(z, 2), threshold=cfg.demand_threshold,
                          details={"product_id": pid, "date": days[0], "units": value, "history": history})


def quality_rule(ctx: AlertContext) -> Iterator[Finding]:
    """Quarantine rate per source and per code over the last window of recorded records."""
    if not table_exists(ctx.db, quality_projection.PROBLEMS):
        return
    cfg = ctx.config.quality
    latest = ctx.db.execute(f"SELECT MAX(recorded_at) FROM {LOG_TABLE}").fetchone()[0]
    if latest is None:
        return
    since = (datetime.fromisoformat(latest) - timedelta(hours=cfg.window_hours)).isoformat(timespec="microseconds")
    since = since[:26] + "Z"
    totals = dict(ctx.db.execute(
        f"SELECT stream, COUNT(*) FROM {LOG_TABLE} WHERE recorded_at >= ? GROUP BY stream", [since]).fetchall())
    quarantined = dict(ctx.db.execute(
        f"SELECT l.stream, COUNT(DISTINCT q.\"offset\") FROM {quality_projection.PROBLEMS} q JOIN {LOG_TABLE} l "
        "ON l.\"offset\" = q.\"offset\" WHERE q.quarantined = 1 AND l.recorded_at >= ? GROUP BY l.stream",
        [since]).fetchall())
    for stream, total in sorted(totals.items()):
        bad = quarantined.get(stream, 0)
        if total >= cfg.min_records and bad / total > cfg.max_source_rate:
            yield Finding(rule="quarantine_rate", key=stream, severity="critical",
                          message=f"{bad / total:.1%} of {stream} records recorded in the last "
                                  f"{cfg.window_hours:g} h were quarantined ({bad} of {total})",
                          value=round(bad / total, 4), threshold=cfg.max_source_rate)
    for stream, code, bad in ctx.db.execute(
        f"SELECT l.stream, q.code, COUNT(DISTINCT q.\"offset\") FROM {quality_projection.PROBLEMS} q JOIN {LOG_TABLE} l "
        "ON l.\"offset\" = q.\"offset\" WHERE q.quarantined = 1 AND q.severity = 'error' AND l.recorded_at >= ? "
        "GROUP BY l.stream, q.code ORDER BY l.stream, q.code", [since]
    ):
        total = totals.get(stream, 0)
        if total >= cfg.min_records and bad / total > cfg.max_code_rate:
            yield Finding(rule="code_rate", key=f"{stream}/{code}", severity="warning",
                          message=f"{code} on {bad / total:.1%} of {stream} records in the last "
                                  f"{cfg.window_hours:g} h ({bad} of {total})",
                          value=round(bad / total, 4), threshold=cfg.max_code_rate)


def stock_rule(ctx: AlertContext) -> Iterator[Finding]:
    """Low stock (available <= reorder point) and short days of cover, per product with a
    known stock level. A product no inventory row names is listed by the inventory report
    (available 0) but raises nothing here: before the first inventory file, every product
    would, and a feed that stops is for ``source_silent`` (the freshness rule) to report."""
    if not table_exists(ctx.db, stock.CURRENT):
        return
    cfg = ctx.config.stock
    for row in inventory(ctx.db).rows:
        if not row["warehouses"]:
            continue
        pid = row["product_id"]
        if cfg.low_stock and row["low_stock"]:
            yield Finding(rule="low_stock", key=pid, severity="warning",
                          message=f"{pid}: {row['available']} available, at or below its reorder point "
                                  f"{row['reorder_point']}",
                          value=row["available"], threshold=row["reorder_point"])
        cover = row["days_of_cover"]
        if cfg.days_of_cover_below and cover is not None and cover < Decimal(str(cfg.days_of_cover_below)):
            yield Finding(rule="days_of_cover", key=pid, severity="warning",
                          message=f"{pid}: {cover} days of cover at {row['avg_daily_units']} units a day",
                          value=float(cover), threshold=cfg.days_of_cover_below)


def freshness_rule(ctx: AlertContext) -> Iterator[Finding]:
    """A source silent for longer than expected; a projection lagging behind the log."""
    cfg = ctx.config.freshness
    newest = {stream: datetime.fromisoformat(t) for stream, t in newest_valid_events(ctx.db).items()}
    if newest:
        reference = ctx.now if cfg.reference == "clock" else max(newest.values())
        for stream, limit in (("orders", cfg.orders_silent_minutes), ("inventory", cfg.inventory_silent_minutes)):
            if stream not in newest or not limit:
                continue
            silent = (reference - newest[stream]).total_seconds() / 60
            if silent > limit:
                yield Finding(rule="source_silent", key=stream, severity="critical",
                              message=f"{stream}: newest event {newest[stream].isoformat()} is "
                                      f"{silent:,.0f} min behind {'now' if cfg.reference == 'clock' else 'the newest event of any source'}",
                              value=round(silent, 1), threshold=limit)
    last = ctx.db.execute('SELECT MAX("offset") FROM event_log').fetchone()[0] or 0
    if table_exists(ctx.db, PROJECTION_STATE):
        for name, offset in ctx.db.execute(f"SELECT name, last_offset FROM {PROJECTION_STATE} ORDER BY name"):
            lag = last - offset
            if lag > cfg.max_projection_lag:
                yield Finding(rule="projection_lag", key=name, severity="warning",
                              message=f"projection {name} is {lag:,} events behind the log",
                              value=lag, threshold=cfg.max_projection_lag)


@hookimpl
def register_alert_rules() -> list[AlertRule]:
    return [
        AlertRule(name="quality", evaluate=quality_rule, description="quarantine rate per source and per code"),
        AlertRule(name="volume", evaluate=volume_rule, description="hourly orders and revenue per channel: spikes and drops"),
        AlertRule(name="basket", evaluate=basket_rule, description="unusual average basket size per hour and channel"),
        AlertRule(name="price_deviation", evaluate=price_deviation_rule, description="share of prices far from the catalog"),
        AlertRule(name="product_demand", evaluate=product_demand_rule, description="a product's sudden demand"),
        AlertRule(name="stock", evaluate=stock_rule, description="low stock and days of cover"),
        AlertRule(name="freshness", evaluate=freshness_rule, description="silent sources and projection lag"),
    ]
