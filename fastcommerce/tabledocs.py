"""What a table and its columns mean: descriptions, units, keys, how to show a value.

A projection declares these beside its tables (``Projection(docs=...)``) and the core does
the same for its own tables, so a browser over the database (``fastcommerce serve``,
Datasette) describes each table from the code that writes it, never from a list kept
elsewhere. The declaration is data only: nothing here reads or writes a database.
"""

from __future__ import annotations

import attrs

from .naming import is_identifier

CENTS, HASH, BYTES = "cents", "hash", "bytes"
"""How a stored value is shown: integer cents as a decimal amount, a binary hash as hex,
raw bytes (a record as received) as text."""
KINDS = frozenset({CENTS, HASH, BYTES})

UNITS = {
    "usd": "usd = [currency]",
    "usd_cents": "usd_cents = usd / 100",
}
"""Units a declaration may name beyond the SI ones (``s``, ``day``): their definitions in
the unit library Datasette filters with, so ``revenue_cents__gt=10 usd`` means 1000 cents."""


def _identifier(_instance, attribute, value: str) -> None:
    if not is_identifier(value):
        raise ValueError(f"{attribute.name} {value!r} is not a plain SQL identifier")


def _reference(_instance, _attribute, value: str | None) -> None:
    if value is not None and (value.count(".") != 1 or not all(map(is_identifier, value.split(".")))):
        raise ValueError(f"references {value!r} is not 'table.column'")


def _kind(_instance, _attribute, value: str | None) -> None:
    if value is not None and value not in KINDS:
        raise ValueError(f"kind {value!r} is not one of {', '.join(sorted(KINDS))}")


@attrs.frozen(slots=True)
class Column:
    """One column: what it holds, in which ``unit`` (``usd_cents``, ``s``, ...), what
    ``kind`` of value needs showing differently (:data:`CENTS`, :data:`HASH`,
    :data:`BYTES`), and the ``table.column`` it refers to, if any."""

    name: str = attrs.field(validator=_identifier)
    description: str
    unit: str | None = None
    kind: str | None = attrs.field(default=None, validator=_kind)
    references: str | None = attrs.field(default=None, validator=_reference)


@attrs.frozen(slots=True)
class Table:
    """One table: what a row is, its columns, and whether it is ``internal`` bookkeeping
    (migrations, tracking offsets, a running watermark) that a reader of the data has no
    use for. ``label`` names the column that says what a row is to a person (a product's
    name)."""

    name: str = attrs.field(validator=_identifier)
    description: str
    columns: tuple[Column, ...] = ()
    internal: bool = False
    label: str | None = None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def money(name: str, what: str) -> Column:
    """A column of integer cents (USD): the usual money column of a projection."""
    return Column(name, f"{what}, in integer US cents", unit="usd_cents", kind=CENTS)
