"""``fastcommerce backup FILE`` and ``fastcommerce restore FILE``: online, checked copies."""

from __future__ import annotations

from pathlib import Path

import attrs
import click

from .backup import BackupError, backup, restore
from .cli_params import FORMATS, emit


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def backup_command(ctx: click.Context, file: Path, fmt: str) -> None:
    """Copy the live database to FILE (SQLite's online backup: an ingest may go on), check
    the copy's integrity and hash chain, and record its SHA-256 in FILE.sha256."""
    db = ctx.obj["db"]
    # the group's opener (cli imports this module, not back): it refuses a missing file or
    # another program's database, and applies pending migrations, so the copy has the chain
    pipeline = ctx.obj["open_pipeline"](ctx)
    try:
        info = backup(pipeline.log.conn, file)
    except OSError as exc:  # the group prints a BackupError as one line; this too
        raise BackupError(f"{file}: {exc.strerror or exc}") from exc
    emit(attrs.asdict(info), fmt,
         f"backed up {db} to {info.path}: {info.records:,} records, head offset {info.head_offset:,} "
         f"chain hash {info.head_hash}\nsha256 {info.sha256} (in {info.path}.sha256)")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Restore even though the database holds records the backup lacks.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def restore_command(ctx: click.Context, file: Path, force: bool, fmt: str) -> None:
    """Replace the database with the backup FILE, once its recorded SHA-256, its integrity and
    its hash chain check out (nothing is replaced otherwise)."""
    db = ctx.obj["db"]
    try:
        info = restore(file, db, force=force)
    except OSError as exc:  # the group prints a BackupError as one line; this too
        raise BackupError(f"{file}: {exc.strerror or exc}") from exc
    emit(attrs.asdict(info) | {"restored_to": str(db)}, fmt,
         f"restored {db} from {info.path}: {info.records:,} records, head offset {info.head_offset:,} "
         f"chain hash {info.head_hash}")
