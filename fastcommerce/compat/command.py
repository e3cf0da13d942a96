"""What ``python -m fastcommerce.compat.order_processor`` prints: the daily report and the
top customers as aligned text tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from .exact import money_text


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[str(header) for header in headers]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def report_text(daily: list[dict[str, Any]], top: list[tuple[str, Decimal]]) -> str:
    """The two tables, a blank line after each."""
    days = format_table(
        ("date", "channel", "orders", "revenue", "avg_order_value", "customers"),
        ((row["date"].isoformat(), row["channel"], row["orders"], money_text(row["revenue"]),
          money_text(row["avg_order_value"]), row["customers"]) for row in daily),
    )
    customers = format_table(("customer_id", "revenue"), ((c, money_text(r)) for c, r in top))
    return f"{days}\n\n{customers}\n"
