"""Numbers for people: the one place that decides how every human-readable output (report
tables and Markdown, ``run``, ``status``, ``health``, the dashboard) writes a count, an
amount of money, a ratio, a rate or a duration.

Machine output (JSON, CSV, Prometheus) never goes through here: it keeps exact values.
Money is the contract's one currency, USD (any other is quarantined as
``unsupported_currency``), rounded half-even to cents only when it is written.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .money import round_money

CURRENCY = "USD"
CURRENCY_SYMBOL = "$"
MISSING = "-"
"""What a value that does not exist (no data yet, a ratio over nothing) prints as."""

MONEY_FIELDS = frozenset({"revenue", "avg_order_value", "usual_revenue", "value"})
RATIO_SUFFIXES = ("_rate", "_share", "_pct", "_vs_usual")


def is_money_field(key: str) -> bool:
    """Report fields that hold money: by name (``revenue``, ``revenue_by_channel`` ...)."""
    return key in MONEY_FIELDS or key.startswith("revenue")


def is_ratio_field(key: str) -> bool:
    """Report fields that hold a ratio (a fraction of one), shown as a percentage."""
    return key == "share" or key.endswith(RATIO_SUFFIXES)


def integer(value: int | None) -> str:
    """A count with thousands separators: ``4,171``."""
    return MISSING if value is None else f"{value:,}"


def money(value: Decimal | int | None, *, symbol: bool = True) -> str:
    """An amount with thousands separators, two decimals (half-even) and the currency:
    ``$54,297.92``, ``-$3.10``."""
    if value is None:
        return MISSING
    amount = round_money(Decimal(value))
    text = f"{abs(amount):,}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{CURRENCY_SYMBOL if symbol else ''}{text}"  # -$3.10, as accountants read it


def ratio(value: Decimal | float | None, *, places: int = 2, signed: bool = False) -> str:
    """A fraction of one as a percentage: ``0.6867`` -> ``68.67%``; ``signed``, a change:
    ``+18.52%``."""
    if value is None:
        return MISSING
    return f"{Decimal(str(value)) * 100:{'+' if signed else ''},.{places}f}%"


def number(value: Decimal | float | None, *, places: int = 2) -> str:
    """A measured quantity (days of cover, turnover): fixed decimals, thousands separators."""
    if value is None:
        return MISSING
    return f"{Decimal(str(value)):,.{places}f}"


def per_second(value: float | None, what: str = "records") -> str:
    """A throughput: ``6,228 records/s``."""
    return MISSING if value is None else f"{value:,.0f} {what}/s"


def seconds(value: float | None) -> str:
    """A short measured time: ``0.39 s``; a long one in the largest unit (``1,055.0 d``)."""
    if value is None:
        return MISSING
    if value < 60:
        return f"{value:,.2f} s"
    return duration(value)


def duration(value: float | None) -> str:
    """An age or a delay: ``42 s``, ``3.5 m``, ``2.0 h``, ``1,055.0 d``."""
    if value is None:
        return MISSING
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:.0f} s"


def field(key: str, value: Any) -> str:
    """A report's value for a person, chosen by the field's name and the value's type."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        if set(value) == {"severity", "records"}:  # a quality code's count
            return f"{integer(value['records'])} ({value['severity']})"
        inner = "revenue" if is_money_field(key) else None
        return ", ".join(f"{k}: {field(inner or k, v)}" for k, v in value.items())
    if isinstance(value, (Decimal, float)) and is_ratio_field(key):
        return ratio(value, signed=key.endswith("_vs_usual"))
    if isinstance(value, Decimal) and is_money_field(key):
        return money(value)
    if isinstance(value, int):
        return integer(value)
    if isinstance(value, (Decimal, float)):
        return number(value)
    return str(value)
