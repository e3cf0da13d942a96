"""``fastcommerce export parquet DIR``: the canonical tables as Parquet files, a partition a day."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_params import FORMATS, emit


@click.group()
def export() -> None:
    """Write the log's canonical rows out, for a warehouse, Spark or DuckDB."""


@export.command("parquet")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--full", is_flag=True, help="Write every day partition again, not only the days touched since the "
              "last export to TARGET.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def parquet(ctx: click.Context, target: Path, full: bool, fmt: str) -> None:
    """Write each canonical table (docs/canonical-schema.md) under TARGET as Hive-style day
    partitions (TARGET/canon_orders/day=2024-01-15/part-0.parquet). Incremental: only new
    days, and old days that late events restated, are written again (export_state in the
    database remembers how far TARGET was written). Needs pyarrow: pip install 'fastcommerce[parquet]'."""
    pipeline = ctx.find_root().obj["open_pipeline"](ctx)  # the group's opener: cli imports this module, not back
    summary = pipeline.export_parquet(target, full=full)
    days = summary.days
    shown = ", ".join(days[:8]) + (f" and {len(days) - 8} more" if len(days) > 8 else "")
    text = (f"wrote {summary.files} files under {summary.target} ({'every day: ' + summary.reason if summary.full else 'incremental'}); "
            f"days: {shown or 'none'}; rows up to log offset {summary.upto_offset:,}\n"
            + "\n".join(f"  {table:<18} {n:>10,} rows" for table, n in summary.rows.items()))
    emit(summary.as_dict(), fmt, text)
