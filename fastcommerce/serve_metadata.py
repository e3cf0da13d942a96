"""What ``fastcommerce serve`` shows over a database, worked out from the declarations.

The tables' descriptions, units, keys and internal flags come from the projections'
``docs`` and the core's (:mod:`.core_docs`); a canned query per registered report comes
from the report's own signature; views that show money as decimals and hashes as hex come
from the columns declared :data:`~.tabledocs.CENTS`, :data:`~.tabledocs.HASH` or
:data:`~.tabledocs.BYTES`. Nothing here imports Datasette: this is data, the Datasette
plugin (:mod:`.serve_plugin`) and the command (:mod:`.cli_serve`) use it.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import attrs
import orjson

from .core_docs import CORE_DOCS
from .money import round_money
from .naming import is_identifier
from .reports.base import Report, ReportSpec
from .reports.formatting import MONEY_FIELDS
from .tabledocs import BYTES, CENTS, HASH, UNITS, Table

REPORT_FUNCTION = "fastcommerce_report"
"""The SQL function each canned query calls: ``fastcommerce_report(name, options_json)``
returns the report as JSON ``{"rows": [...], "summary": {...}}`` (or ``{"error": ...}``)."""
VIEW_SUFFIX = "_readable"
DASHBOARD_PATH = "/-/dashboard"
DATASETTE_UNITS = frozenset({"s", "day", "byte", *UNITS})
"""Units passed to Datasette's filters (its unit library knows these, with :data:`UNITS`
defined); any other declared unit is shown in the column's description only."""


@attrs.frozen(kw_only=True)
class Served:
    """Every table's declaration, the canned queries' SQL and the readable views."""

    tables: dict[str, Table]
    views: dict[str, str]  # view name -> SELECT
    queries: dict[str, dict[str, Any]]  # canned query name -> Datasette's query metadata

    def metadata(self, database: str, *, title: str = "fastcommerce") -> dict[str, Any]:
        """Datasette's metadata for the database named ``database``."""
        tables: dict[str, Any] = {}
        for name, t in self.tables.items():
            entry: dict[str, Any] = {"description": t.description}
            if t.internal:
                entry["hidden"] = True
            columns = {c.name: _column_text(c) for c in t.columns}
            if columns:
                entry["columns"] = columns
            units = {c.name: c.unit for c in t.columns if c.unit in DATASETTE_UNITS}
            if units:
                entry["units"] = units
            if t.label:
                entry["label_column"] = t.label
            tables[name] = entry
        for view in self.views:
            source = self.tables[view.removesuffix(VIEW_SUFFIX)]
            tables[view] = {"description": f"{source.description} (money as decimal amounts, hashes as hex, "
                                           "raw records as text)"}
        about = (f'The log and its projections, read-only. <a href="{DASHBOARD_PATH}">The dashboard</a> '
                 "(charts of every report); a canned query per report (<code>report_NAME</code>); views named "
                 f"<code>*{VIEW_SUFFIX}</code> show money as decimals and hashes as hex.")
        return {
            "title": title,
            "description_html": about,
            "custom_units": list(UNITS.values()),
            "databases": {database: {"description_html": about, "tables": tables, "queries": self.queries}},
        }


def _column_text(c) -> str:
    text = c.description
    if c.unit:
        text += f" [unit: {c.unit}]"
    if c.references:
        text += f" [refers to {c.references}]"
    return text


def declared_tables(projections: Iterable[Any]) -> dict[str, Table]:
    """The core's tables and every projection's, declared or not (an undeclared one is
    described by its projection's ``description``)."""
    out = {t.name: t for t in CORE_DOCS}
    for p in projections:
        docs = {t.name: t for t in p.docs}
        for name in p.tables:
            out[name] = docs.get(name) or Table(name, f"projection {p.name}: {p.description or p.name}")
    return out


def money_text(column: str) -> str:
    """SQL: integer cents as exact decimal text (``-1234`` is ``-12.34``), no binary float."""
    c = f"[{column}]"
    return (f"CASE WHEN {c} IS NULL THEN NULL ELSE (CASE WHEN {c} < 0 THEN '-' ELSE '' END) || "
            f"(abs({c}) / 100) || '.' || substr('0' || (abs({c}) % 100), -2) END")


def readable_views(conn: sqlite3.Connection, tables: dict[str, Table]) -> dict[str, str]:
    """``<table>_readable``: a view over each existing table with a money, hash or bytes
    column, every column in its order, those shown as decimals, hex and text."""
    views = {}
    for name, t in tables.items():
        kinds = {c.name: c.kind for c in t.columns if c.kind is not None}
        if not kinds or t.internal:
            continue
        present = [r[1] for r in conn.execute(f"PRAGMA table_info([{name}])")]
        if not present:
            continue
        cols = []
        for col in present:
            kind = kinds.get(col)
            if kind == CENTS:
                cols.append(f"{money_text(col)} AS [{col.removesuffix('_cents')}]")
            elif kind == HASH:
                cols.append(f"lower(hex([{col}])) AS [{col}]")
            elif kind == BYTES:
                cols.append(f"CAST([{col}] AS TEXT) AS [{col}]")
            else:
                cols.append(f"[{col}]")
        views[f"{name}{VIEW_SUFFIX}"] = f"SELECT {', '.join(cols)} FROM [{name}]"
    return views


def report_parameters(spec: ReportSpec) -> list[str]:
    """The options a report takes (its keyword parameters after the source), in order."""
    try:
        params = list(inspect.signature(spec.function).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and is_identifier(p.name)]


def canned_query(spec: ReportSpec, columns: Iterable[str]) -> dict[str, Any]:
    """A Datasette canned query listing ``spec``'s rows, its options as named parameters."""
    params = report_parameters(spec)
    options = ", ".join(f"'{p}', :{p}" for p in params)
    call = f"{REPORT_FUNCTION}('{spec.name}', json_object({options}))"
    select = ", ".join(f"json_extract(r.value, '$.\"{c}\"') AS [{c}]" for c in columns if is_identifier(c))
    return {"title": f"report: {spec.name}", "description": f"{spec.description} (the same rows as "
            f"`fastcommerce report {spec.name} --format json`; leave a parameter empty for the report's default)",
            "sql": f"SELECT {select or 'r.value'} FROM json_each({call}, '$.rows') r", "params": params}


def summary_query(spec: ReportSpec) -> dict[str, Any]:
    params = report_parameters(spec)
    options = ", ".join(f"'{p}', :{p}" for p in params)
    return {"title": f"report: {spec.name}, summary", "description": f"the summary of report {spec.name}",
            "sql": f"SELECT key, value FROM json_each({REPORT_FUNCTION}('{spec.name}', json_object({options})), "
                   "'$.summary')", "params": params}


def serve_plan(projections: Iterable[Any], reports: dict[str, ReportSpec], conn: sqlite3.Connection,
               columns: dict[str, tuple[str, ...]]) -> Served:
    """Everything served: ``columns`` are each report's column names (from a run of it)."""
    tables = declared_tables(projections)
    queries: dict[str, dict[str, Any]] = {}
    for name, spec in reports.items():
        if name in columns and is_identifier(name):
            queries[f"report_{name}"] = canned_query(spec, columns[name])
            queries[f"report_{name}_summary"] = summary_query(spec)
    return Served(tables=tables, views=readable_views(conn, tables), queries=queries)


def _plain(key: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(round_money(value) if key in MONEY_FIELDS or key.startswith("revenue") else value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(k if key != "revenue_by_channel" else "revenue", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(key, v) for v in value]
    return value


def report_json(report: Report) -> str:
    """The report as the canned queries read it: money as exact decimal text."""
    return orjson.dumps({"rows": [{k: _plain(k, v) for k, v in r.items()} for r in report.rows],
                         "summary": {k: _plain(k, v) for k, v in report.summary.items()}},
                        default=str).decode()


def report_options(options_json: str | None) -> dict[str, Any]:
    """A canned query's parameters as the report's options: empty ones left out (the
    report's default), ``limit`` as a number."""
    given = orjson.loads(options_json or "{}")
    options = {}
    for key, value in given.items():
        if value is None or value == "":
            continue
        if key == "limit":
            try:
                value = int(value)
            except ValueError:
                raise ValueError(f"limit must be a whole number, not {value!r}") from None
        options[key] = value
    return options


def write_views(conn: sqlite3.Connection, views: dict[str, str]) -> int:
    """Create or replace the readable views whose definition changed (the caller holds the
    write transaction); how many were written. Views are derived schema, like the tables
    they read: the log itself is not touched."""
    written = 0
    for name, select in sorted(views.items()):
        ddl = f"CREATE VIEW [{name}] AS {select}"
        found = conn.execute("SELECT type, sql FROM sqlite_master WHERE name = ?", [name]).fetchone()
        if found == ("view", ddl):
            continue
        if found is not None and found[0] != "view":
            raise ValueError(f"cannot create view {name!r}: a {found[0]} of that name exists")
        conn.execute(f"DROP VIEW IF EXISTS [{name}]")
        conn.execute(ddl)
        written += 1
    return written
