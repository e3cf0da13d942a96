"""``fastcommerce dashboard``: one self-contained HTML page of the reports' numbers.

>>> from fastcommerce.dashboard import write_dashboard      # doctest: +SKIP
>>> write_dashboard(pipeline, "report.html", start="2024-01-15", end="2024-01-17")

``data`` gathers the numbers from the report functions, ``svg`` draws the charts, ``page``
assembles the HTML. ``Pipeline.dashboard(path, start=, end=)`` is the same call.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from .data import DashboardData, gather
from .page import render

__all__ = ["DashboardData", "gather", "render", "write_dashboard"]


def write_dashboard(pipeline: Any, path: str | Path, *, start: date | str | None = None,
                    end: date | str | None = None, catch_up: bool = True) -> DashboardData:
    """Catch the projections up (unless told not to), gather the numbers over
    ``start``..``end`` (order dates; default every date with revenue) and write the page
    to ``path``; returns the numbers it shows."""
    if catch_up:
        pipeline.project()
    data = gather(pipeline, start=start, end=end)
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(render(data), encoding="utf-8")
    tmp.replace(target)  # a reader never sees half a page
    return data
