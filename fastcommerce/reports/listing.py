"""How many of a report's rows the command line shows: machine formats (json, csv) hold every
row unless a limit is given, so nothing is cut silently; a table shows the report's own
default number of rows and says how many there are."""

from __future__ import annotations

import inspect
from typing import Any

import attrs

from .base import Report

MACHINE_FORMATS = ("json", "csv")


def default_limit(function: Any) -> int | None:
    """The rows a report lists when not told (its ``limit`` parameter's default), if any."""
    try:
        parameter = inspect.signature(function).parameters.get("limit")
    except (TypeError, ValueError):
        return None
    default = None if parameter is None else parameter.default
    return default if isinstance(default, int) and not isinstance(default, bool) else None


def shown_rows(result: Report, fmt: str, *, function: Any, limit: int | None, every_row: bool) -> tuple[Report, str]:
    """``result`` (run with the user's ``limit``, ``None`` for every row) cut to what ``fmt``
    shows, and the line that says it was cut (empty when it was not)."""
    if every_row or limit is not None or fmt in MACHINE_FORMATS:
        return result, ""
    shown, total = default_limit(function), len(result.rows)
    if shown is None or total <= shown:
        return result, ""
    return (attrs.evolve(result, rows=result.rows[:shown]),
            f"showing {shown:,} of {total:,} rows (--limit N for more, --all for every row)")
