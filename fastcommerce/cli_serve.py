"""``fastcommerce serve``: Datasette over the database, read-only, described by the code.

Needs the ``serve`` extra (``pip install 'fastcommerce[serve]'``). Before serving it catches
the projections up and writes the ``*_readable`` views (derived schema, in one
transaction); then Datasette opens the file read-only (``?mode=ro``: it sees what a running
ingest or follower commits, and can write nothing).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .dashboard import gather, render
from .serve_metadata import DASHBOARD_PATH, Served, serve_plan, write_views
from .serve_plugin import ServePlugin

SETTINGS = {"sql_time_limit_ms": 30_000, "default_page_size": 100, "truncate_cells_html": 300}


def prepare(pipeline: Any) -> Served:
    """The plan for ``pipeline``'s database, its views written: each report is run once,
    with no rows, for its column names."""
    columns = {}
    for name in pipeline.reports:
        try:
            columns[name] = tuple(pipeline.report(name, catch_up=False, limit=0).columns)
        except Exception as exc:  # noqa: BLE001  (a report that cannot run here gets no canned query, and a line says so)
            click.echo(f"fastcommerce serve: report {name!r} left out: {exc}", err=True)
    projections = [p for _plugin, p in pipeline.projections.projections.values()]
    served = serve_plan(projections, pipeline.reports, pipeline.log.conn, columns)
    with pipeline.log.transaction() as conn:
        write_views(conn, served.views)
    return served


def datasette_app(pipeline: Any, served: Served) -> Any:
    """The Datasette instance over ``pipeline``'s file, with our plugin registered."""
    from datasette.app import Datasette  # type: ignore[import-untyped]
    from datasette.plugins import pm  # type: ignore[import-untyped]

    file = Path(pipeline.log.file)
    name = file.stem
    plugin = ServePlugin(served, pipeline.reports, name, lambda: render(gather(pipeline)))
    if pm.has_plugin("fastcommerce-serve"):
        pm.unregister(name="fastcommerce-serve")
    pm.register(plugin, name="fastcommerce-serve")
    return Datasette([str(file)], metadata=served.metadata(name), settings=SETTINGS)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Browse the database in Datasette, read-only: tables described with their units, a
    canned query per report, views with money as decimals, and the dashboard at
    /-/dashboard. Stop with Ctrl-C."""
    try:
        import uvicorn
    except ImportError:
        raise click.UsageError("`fastcommerce serve` needs Datasette: pip install 'fastcommerce[serve]'") from None
    pipeline = ctx.obj["open_pipeline"](ctx)  # the group's opener: cli imports this module, not back
    if not pipeline.log.file:
        raise click.UsageError("`fastcommerce serve` needs a database file, not one in memory")
    pipeline.project()
    served = prepare(pipeline)
    ds = datasette_app(pipeline, served)
    click.echo(f"serving {pipeline.log.file} read-only at http://{host}:{port}/ (dashboard: "
               f"http://{host}:{port}{DASHBOARD_PATH}); Ctrl-C stops", err=True)
    sys.stderr.flush()
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on", workers=1)
