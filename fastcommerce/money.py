"""Money as integer cents in storage, ``Decimal`` everywhere else.

Unit prices have at most two decimals (the contract refuses more), so every amount is a
whole number of cents and SQLite can sum them exactly as 64-bit integers.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> int:
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def round_money(amount: Decimal) -> Decimal:
    """Two decimals, half-even, as the contract asks for money in output."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)
