"""The built-in reports, registered like any plugin's."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..reports.base import ReportSpec
from .business_reports import customers, inventory, products, revenue
from .day_reports import statuses, usual
from .operations_reports import operations, quality


@hookimpl
def register_reports() -> list[ReportSpec]:
    return [
        ReportSpec(name="revenue", function=revenue, description="daily revenue by channel and region"),
        ReportSpec(name="products", function=products, description="top products by units or revenue"),
        ReportSpec(name="inventory", function=inventory, description="stock, turnover and low-stock alerts"),
        ReportSpec(name="customers", function=customers, description="customer purchase patterns"),
        ReportSpec(name="operations", function=operations, description="events, errors, duplicates, latency per day"),
        ReportSpec(name="quality", function=quality, description="quarantined records and problem counts"),
        ReportSpec(name="statuses", function=statuses, description="how many orders ended in each status"),
        ReportSpec(name="usual", function=usual,
                   description="one day's orders and revenue per channel against the same weekday's median"),
    ]
