"""Reports as text: an aligned table, JSON, CSV or Markdown.

JSON money is a number rounded to two decimals, half-even, written from the exact
``Decimal`` (never through a binary float).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from ..money import round_money
from .base import Report

MONEY_FIELDS = frozenset({"revenue", "avg_order_value"})
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


def as_markdown(report: Report) -> str:
    lines = ["| " + " | ".join(report.columns) + " |", "|" + "---|" * len(report.columns)]
    for r in report.rows:
        lines.append("| " + " | ".join(_cell(c, r.get(c)).replace("|", "\\|") for c in report.columns) + " |")
    lines.append("")
    lines.extend(f"- **{k}**: {_cell(k, v)}" for k, v in report.summary.items())
    return "\n".join(lines)


def as_table(report: Report) -> str:
    cells = [[_cell(c, r.get(c)) for c in report.columns] for r in report.rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(report.columns)]
    numeric = [all(_numeric(row[i]) for row in cells) and cells != [] for i in range(len(widths))]

    def fmt(row):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(row, widths, numeric)).rstrip()

    lines = [f"{report.name} report", fmt(report.columns), fmt(["-" * w for w in widths])]
    lines += [fmt(row) for row in cells]
    if not cells:
        lines.append("(no rows)")
    lines.append("")
    lines.extend(f"{k}: {_cell(k, v)}" for k, v in report.summary.items())
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    return bool(re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text)) or text == ""


def render(report: Report, fmt: str) -> str:
    return {"table": as_table, "json": as_json, "csv": as_csv, "markdown": as_markdown}[fmt](report)
