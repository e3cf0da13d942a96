"""``fastcommerce copy-log SRC DST``: move a whole log between engines (SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_params import FORMATS, emit
from .errors import EventLogError
from .storage import is_postgres, open_log
from .storage.copy import CopiedTable, copy_log
from .urls import redact_text


@click.command("copy-log")
@click.argument("src")
@click.argument("dst")
@click.option("--project/--no-project", default=True, show_default=True,
              help="Build the projections at DST from the copy, with this command's plugins.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def copy_log_command(ctx: click.Context, src: str, dst: str, project: bool, fmt: str) -> None:
    """Copy the log at SRC into the empty log at DST (each an SQLite file or a
    postgresql:// URL): every record with its offset and hash, every checkpoint, ingest run
    and canonical row. Projections are built at DST from the copy (any command catches them
    up; `verify` there compares them with a rebuild). --db is not used."""
    if not is_postgres(src) and not Path(src).is_file():
        raise EventLogError(f"{src}: no such database")
    source = open_log(src)
    try:
        target = open_log(dst)
        try:
            copied = copy_log(source, target, on_table=None)
        finally:
            target.close()
    finally:
        source.close()
    lines = [f"{t.table:<20} {t.rows:>10,} rows" for t in copied]
    if project:
        ctx.obj["db"] = dst
        pipeline = ctx.obj["open_pipeline"](ctx)  # the group's opener, on DST
        for result in pipeline.project():
            lines.append(f"projection {result.name:<12} built to offset {result.to_offset:,}")
    emit({"src": redact_text(src), "dst": redact_text(dst), "tables": {t.table: t.rows for t in copied}}, fmt,
         "\n".join([*lines, f"copied {redact_text(src)} -> {redact_text(dst)}"]))


__all__ = ["CopiedTable", "copy_log_command"]
