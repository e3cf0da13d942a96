"""What every report shares: its result type, its registry and date-range handling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import attrs
from sqlite_utils import Database

from ..tables import table_exists

__all__ = ["Report", "ReportSpec", "check_limit", "database", "date_range", "iso", "limited", "table_exists"]


@attrs.frozen(kw_only=True, slots=True)
class Report:
    """A report's result: the contract's rows (in order), a summary, the column order."""

    name: str
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    columns: tuple[str, ...]


@attrs.frozen(kw_only=True, slots=True)
class ReportSpec:
    """A named report, registered through ``register_reports``.

    ``function(source, **options)`` takes a Database or Pipeline and the options the
    command line passes (``on``, ``start``, ``end`` as dates, ``limit``; ``by``,
    ``all_days`` and ``only_low_stock`` only when given); it should accept and ignore
    options it has no use for (``**_``), and raise ``ValueError`` for a bad one (``by`` is
    the report's to define: revenue groups by it, products ranks by it).
    """

    name: str
    function: Callable[..., Report]
    description: str = ""


def check_limit(limit: int | None) -> int | None:
    """A report's ``limit``: ``None`` means every row, 0 means none (as SQL's ``LIMIT 0``)."""
    if limit is not None and limit < 0:
        raise ValueError("limit must be 0 or more")
    return limit


def limited(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """At most ``limit`` rows (see :func:`check_limit`)."""
    return rows if check_limit(limit) is None else rows[:limit]


def database(source: Any) -> Database:
    """Accept a Database (SQLite's, or PostgreSQL's face of one), or anything with a ``db``
    attribute (a Pipeline)."""
    return source.db if hasattr(source, "db") and not isinstance(source, Database) else source


def iso(value: date | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(value).isoformat()  # validates the text


def date_range(db: Database, table: str, column: str, *, on=None, start=None, end=None,
               since: date | str | None = None) -> tuple[str | None, str | None]:
    """``(from, to)``: a single date, an explicit range, or by default every date present
    (with ``since``, every date from it on: bounds one absurd date cannot stretch; when no
    date is that late, every date present again)."""
    if on is not None:
        d = iso(on)
        return d, d
    start, end = iso(start), iso(end)
    if start is None or end is None:
        if table_exists(db, table):
            lo, hi = db.execute(f"SELECT MIN({column}), MAX({column}) FROM {table} WHERE {column} >= ?",
                                [iso(since) or ""]).fetchone()
            if lo is None and since is not None:
                lo, hi = db.execute(f"SELECT MIN({column}), MAX({column}) FROM {table}").fetchone()
        else:
            lo = hi = None
        start = start or lo
        end = end or hi
    return start, end
