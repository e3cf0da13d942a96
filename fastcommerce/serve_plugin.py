"""The Datasette plugin of ``fastcommerce serve``: the report function behind the canned
queries, cells shown as declared (hashes as hex, raw records as text, keys as links) and the
dashboard's route.

Registered by :mod:`.cli_serve` on Datasette's plugin manager; imports Datasette only inside
the hooks, so the package imports without the ``serve`` extra. The marker is pluggy's (the
one Datasette's ``hookimpl`` is made of).
"""

from __future__ import annotations

import html
import sqlite3
import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson
import pluggy
from sqlite_utils import Database

from .logs import get_logger
from .reports.base import ReportSpec
from .serve_metadata import (
    DASHBOARD_PATH,
    REPORT_FUNCTION,
    Served,
    report_json,
    report_options,
)
from .tabledocs import BYTES, HASH

hookimpl = pluggy.HookimplMarker("datasette")
logger = get_logger(__name__)


class ServePlugin:
    """``reports``: the pipeline's report specs; ``dashboard``: returns the dashboard's HTML
    as it stands (read-only: the projections are not caught up by it)."""

    def __init__(self, served: Served, reports: dict[str, ReportSpec], database: str,
                 dashboard: Callable[[], str]) -> None:
        self.served, self.reports, self.database, self.dashboard = served, reports, database, dashboard
        self.__name__ = "fastcommerce-serve"  # Datasette lists plugins by it

    # -- the canned queries' function ------------------------------------------------------

    def report(self, conn: sqlite3.Connection, name: str, options_json: str | None) -> str:
        """The report ``name`` over this (read-only) connection, as JSON; a bad option or a
        failing report is an ``error`` member, which the summary query shows."""
        spec = self.reports.get(name)
        if spec is None:
            return report_json_error(f"no report named {name!r}")
        try:
            return report_json(spec.function(Database(conn), **report_options(options_json)))
        except Exception as exc:  # noqa: BLE001  (shown to the reader, not SQLite's "function raised")
            logger.warning("serve_report_failed", report=name, error=str(exc))
            return report_json_error(f"{type(exc).__name__}: {exc}")

    @hookimpl
    def prepare_connection(self, conn, database, datasette) -> None:
        if database == self.database:
            conn.create_function(REPORT_FUNCTION, 2, lambda name, options: self.report(conn, name, options))

    # -- cells -----------------------------------------------------------------------------

    @hookimpl
    def render_cell(self, row, value, column, table, database, datasette):
        if database != self.database or table not in self.served.tables or value is None:
            return None
        declared = self.served.tables[table].column(column)
        if declared is None:
            return None
        from markupsafe import Markup  # Datasette's own dependency (Jinja2's)

        if declared.kind == HASH and isinstance(value, bytes):
            return Markup(f"<code>{value.hex()}</code>")
        if declared.kind == BYTES and isinstance(value, bytes):
            return Markup(f"<code>{html.escape(value.decode('utf-8', 'replace'))}</code>")
        if declared.references and not isinstance(value, bytes):
            other, other_column = declared.references.split(".")
            if other == table:
                return None
            href = datasette.urls.table(database, other) + "?" + urllib.parse.urlencode({other_column: value})
            return Markup(f'<a href="{html.escape(href)}">{html.escape(str(value))}</a>')
        return None

    # -- the dashboard ---------------------------------------------------------------------

    @hookimpl
    def register_routes(self, datasette):
        from datasette.utils.asgi import Response  # type: ignore[import-untyped]

        async def dashboard(request) -> Any:
            return Response.html(self.dashboard())

        return [(rf"^{DASHBOARD_PATH}$", dashboard)]

    @hookimpl
    def menu_links(self, datasette, actor, request):
        return [{"href": DASHBOARD_PATH, "label": "Dashboard"}]


def report_json_error(message: str) -> str:
    return orjson.dumps({"error": message, "rows": [], "summary": {"error": message}}).decode()
