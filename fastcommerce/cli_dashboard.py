"""``fastcommerce dashboard``: the reports as one HTML page that opens from disk."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_params import FORMATS, emit
from .dashboard import write_dashboard


@click.command()
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write (replaced if there).")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First order date [default: the first with revenue].")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last order date [default: the last with revenue].")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def dashboard(ctx: click.Context, out: Path, start, end, fmt: str) -> None:
    """Write one self-contained HTML page (no network needed to open it): revenue by channel
    and region, top products, inventory, customers, quality, pipeline health and alerts.
    Reads only: the alerts shown are the recorded ones (`run` or `alerts` evaluate them)."""
    pipeline = ctx.obj["open_pipeline"](ctx)  # the group's opener: cli imports this module, not back
    try:
        data = write_dashboard(pipeline, out, start=start and start.date(), end=end and end.date())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    emit({"out": str(out), "from": data.start, "to": data.end, "anomalies": len(data.anomalies),
          "active_alerts": len(data.active_alerts)}, fmt,
         f"wrote {out} (order dates {data.start or '-'} to {data.end or '-'}; {len(data.anomalies)} anomalies, "
         f"{len(data.active_alerts)} active alerts)")
