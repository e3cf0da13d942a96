"""Exact money for the legacy wrapper: sums of any size, never rounded on the way.

The log keeps money as 64-bit cents and bounds what it accepts (``value_out_of_range``);
the wrapper stores nothing, so it adds amounts of any size exactly (its tests go to 10**33
cents). The decimal module's default context rounds at 28 digits, and
:func:`fastcommerce.money.round_money` with it, so every operation here runs in a trapped
context of maximal precision, one that raises rather than round. The quantum is the
log's :data:`fastcommerce.money.CENT`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

from ..money import CENT

EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
"""Every money operation of the wrapper goes through this context."""


def amount(quantity: int, unit_price: Decimal) -> Decimal:
    return EXACT.multiply(Decimal(quantity), unit_price)


def total(amounts: Iterable[Decimal]) -> Decimal:
    result = Decimal(0)
    for value in amounts:
        result = EXACT.add(result, value)
    return result


def within_a_cent(carried: Decimal, computed: Decimal) -> bool:
    """The contract's total rule (0.01 passes), compared exactly: no arithmetic on the
    carried value, whatever its size."""
    return EXACT.subtract(computed, CENT) <= carried <= EXACT.add(computed, CENT)


def money_text(value: Decimal) -> str:
    """Two decimals, half-even (the contract's rounding for output), at any size."""
    context = EXACT.copy()
    context.traps[Inexact] = False
    return str(value.quantize(CENT, context=context))


def average(amount_sum: Decimal, count: int) -> Decimal:
    """``amount_sum / count`` rounded half-even to the cent, with integers (exact); sums
    are whole cents."""
    cents = int(EXACT.multiply(amount_sum, Decimal(100)))
    quotient, remainder = divmod(cents, count)
    twice = 2 * remainder
    if twice > count or (twice == count and quotient % 2 == 1):
        quotient += 1
    return EXACT.scaleb(Decimal(quotient), Decimal(-2))
