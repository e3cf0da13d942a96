"""Reports as text: an aligned table, JSON, CSV or Markdown.

JSON money is a number rounded to two decimals, half-even, written from the exact
``Decimal`` (never through a binary float); CSV holds the same exact values as text. The
table and Markdown are for people: every value goes through :mod:`fastcommerce.display`
(thousands separators, money with its currency, ratios as percentages).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from .. import display
from ..money import round_money
from .base import Report

MONEY_FIELDS = frozenset({"revenue", "avg_order_value", "usual_revenue"})
FORMATS = ("table", "json", "csv", "markdown")


def _plain(key: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        return round_money(value) if key in MONEY_FIELDS or key.startswith("revenue") else value
    if isinstance(value, dict):
        return {k: _plain(k if key != "revenue_by_channel" else "revenue", v) for k, v in value.items()}
    return value


def as_json(report: Report) -> str:
    def mark(o: Any) -> Any:
        if isinstance(o, Decimal):
            return f"__decimal__{o}__"
        if isinstance(o, dict):
            return {k: mark(v) for k, v in o.items()}
        if isinstance(o, list):
            return [mark(v) for v in o]
        return o

    data = {"report": report.name,
            "rows": [{k: _plain(k, v) for k, v in r.items()} for r in report.rows],
            "summary": {k: _plain(k, v) for k, v in report.summary.items()}}
    text = json.dumps(mark(data), indent=2)
    return re.sub(r'"__decimal__([-0-9.E+]+)__"', r"\1", text)


def _cell(key: str, value: Any) -> str:
    value = _plain(key, value)
    if isinstance(value, dict):
        if set(value) == {"severity", "records"}:  # a quality code's count
            return f"{value['records']} ({value['severity']})"
        return ", ".join(f"{k}: {_cell(k, v)}" for k, v in value.items())
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes for the start of a formula (OWASP, CSV injection)."""


def csv_safe(value: Any, text: str) -> str:
    """``text`` (the cell of ``value``) with a ``'`` before it when it is text that a
    spreadsheet would run as a formula: a product name ``=HYPERLINK(...)`` from the
    catalog, say. Numbers are left as they are (``-12.50`` stays a negative number, not
    text): a number cannot hold a formula."""
    if text.startswith(FORMULA_STARTS) and not isinstance(value, (int, float, Decimal)):
        return "'" + text
    return text


def _csv_row(cells: list[str]) -> str:
    """One RFC 4180 row: a cell with a comma, a quote, a CR or an LF is quoted (the csv
    module leaves a bare CR unquoted when rows end in LF, which splits the row for readers)."""
    return ",".join('"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\r\n') else c
                    for c in cells) + "\n"


def as_csv(report: Report) -> str:
    lines = [_csv_row([csv_safe(c, c) for c in report.columns])]
    for r in report.rows:
        lines.append(_csv_row([csv_safe(r.get(c), _cell(c, r.get(c))) for c in report.columns]))
    return "".join(lines)


def _shown(key: str, value: Any) -> str:
    """A value in a table or Markdown: for people."""
    return display.field(key, value)


def as_markdown(report: Report, *, period: str | None = None) -> str:
    numeric = _numeric_columns(report, [[_shown(c, r.get(c)) for c in report.columns] for r in report.rows])
    lines = [f"_{period}_", ""] if period else []
    lines += ["| " + " | ".join(report.columns) + " |",
              "|" + "".join("--:|" if n else "---|" for n in numeric)]
    for r in report.rows:
        lines.append("| " + " | ".join(_shown(c, r.get(c)).replace("|", "\\|") for c in report.columns) + " |")
    lines.append("")
    lines.extend(f"- **{k}**: {_shown(k, v)}" for k, v in report.summary.items())
    return "\n".join(lines)


def _numeric_columns(report: Report, cells: list[list[str]]) -> list[bool]:
    return [all(_numeric(row[i]) for row in cells) and cells != [] for i in range(len(report.columns))]


def human_cells(report: Report) -> tuple[list[list[str]], list[bool], list[str]]:
    """What a table for people shows: each row's cells, which columns are numbers (right-
    aligned), and the summary's lines; shared by :func:`as_table` and the terminal's table."""
    cells = [[_shown(c, r.get(c)) for c in report.columns] for r in report.rows]
    return cells, _numeric_columns(report, cells), [f"{k}: {_shown(k, v)}" for k, v in report.summary.items()]


def as_table(report: Report, *, period: str | None = None) -> str:
    cells, numeric, summary = human_cells(report)
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(report.columns)]

    def fmt(row):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(row, widths, numeric)).rstrip()

    lines = [f"{report.name} report" + (f": {period}" if period else ""), fmt(report.columns),
             fmt(["-" * w for w in widths])]
    lines += [fmt(row) for row in cells]
    if not cells:
        lines.append("(no rows)")
    lines.append("")
    lines.extend(summary)
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    """A cell that is a number for people (``$1,234.50``, ``68.67%``, ``-``): right-aligned."""
    return bool(re.fullmatch(r"[-+]?\$?[0-9][0-9,]*(\.[0-9]+)?%?", text)) or text in ("", display.MISSING)


def render(report: Report, fmt: str, *, period: str | None = None) -> str:
    """``report`` as ``fmt``; ``period``, a line saying which dates the report covers, heads
    the human formats (machine formats carry ``from``/``to`` in their summary)."""
    if fmt == "table":
        return as_table(report, period=period)
    if fmt == "markdown":
        return as_markdown(report, period=period)
    return {"json": as_json, "csv": as_csv}[fmt](report)
