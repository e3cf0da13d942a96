"""The business and operations reports: plain functions over the projection tables.

Each function takes a ``sqlite_utils.Database`` (or a :class:`~fastcommerce.Pipeline`)
and returns a :class:`Report`: the contract's rows and a summary. Money is ``Decimal``
(exact); rounding to cents, half-even, happens only when a report is formatted.
"""

from __future__ import annotations

from .base import Report, ReportSpec
from .business import customers, inventory, products, revenue
from .operations import operations, quality

__all__ = ["Report", "ReportSpec", "customers", "inventory", "operations", "products", "quality", "revenue"]
