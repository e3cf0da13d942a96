"""The business and operations reports: plain functions over the projection tables.

Each function takes a ``sqlite_utils.Database`` (or a :class:`~fastcommerce.Pipeline`)
and returns a :class:`Report`: the contract's rows and a summary. Money is ``Decimal``
(exact); rounding to cents, half-even, happens only when a report is formatted.
"""

from __future__ import annotations

from .base import REPORTS, Report, report_names, run_report
from .business import customers, inventory, products, revenue
from .operations import operations, quality

__all__ = ["REPORTS", "Report", "customers", "inventory", "operations", "products", "quality",
           "report_names", "revenue", "run_report"]
