"""Reports: their result type, their registration, how they are listed and formatted.

A report is a plain function over the projection tables that takes a
``sqlite_utils.Database`` (or a :class:`~fastcommerce.Pipeline`) and returns a
:class:`Report`: the contract's rows and a summary. Money is ``Decimal`` (exact); rounding
to cents, half-even, happens only when a report is formatted.

The six built-in reports live with the projections whose tables they read, in
:mod:`fastcommerce.builtins`, registered through ``register_reports`` like any plugin's.
``fastcommerce.reports.revenue`` (and ``products``, ``inventory``, ``customers``,
``operations``, ``quality``) still work: a name not defined here is looked up among the
reports the built-in plugins register.
"""

from __future__ import annotations

from typing import Any

from .base import Report, ReportSpec

__all__ = ["Report", "ReportSpec"]


def __getattr__(name: str) -> Any:
    if not name.startswith("_"):
        # a local import: plugins imports hookspecs, which imports reports.base, so this
        # package is still loading whenever plugins is
        from ..plugins import builtin_reports

        found = builtin_reports().get(name)
        if found is not None:
            return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
