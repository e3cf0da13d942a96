"""What the command line draws on a terminal: report tables and progress, through rich
(column widths fitted to the terminal, long cells wrapped, a live progress line); plain
text, the same on every run, when the output is a file or a pipe.

rich is imported only when it draws: piped output and the library never load it.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from .reports.base import Report
from .reports.formatting import human_cells, render


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def show_report(result: Report, fmt: str, *, period: str, note: str) -> None:
    """A report on stdout: a rich table on a terminal, else ``render``'s text. ``period``
    (the dates covered) heads the human formats; ``note`` (rows cut) ends them."""
    if fmt == "table" and is_terminal(sys.stdout):
        _rich_table(result, period, note)
        return
    click.echo(render(result, fmt, period=period if fmt in ("table", "markdown") else None))
    if note:
        click.echo(note)


def _rich_table(result: Report, period: str, note: str) -> None:
    from rich.console import Console
    from rich.table import Table

    cells, numeric, summary = human_cells(result)
    table = Table(title=f"{result.name} report", caption=period, title_justify="left", caption_justify="left")
    for column, is_number in zip(result.columns, numeric):
        table.add_column(column, justify="right" if is_number else "left", overflow="fold")
    for row in cells:
        table.add_row(*row)
    console = Console(highlight=False)
    console.print(table)
    if not cells:
        console.print("(no rows)")
    for line in summary:
        console.print(line, markup=False)
    if note:
        console.print(note, markup=False)


class Progress:
    """Progress on stderr while a command reads: rich's live line (count, rate, elapsed) on a
    terminal; nothing otherwise, so logs and pipes get no control characters."""

    def __init__(self, label: str) -> None:
        self.label, self.enabled = label, is_terminal(sys.stderr)
        self.start = time.perf_counter()
        self._live: Any = None
        self._tasks: dict[str, Any] = {}

    def _progress(self) -> Any:
        if self._live is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._live = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                  TextColumn("{task.completed:,.0f} {task.fields[unit]}"),
                                  TextColumn("({task.fields[rate]})"), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=False)
            self._live.start()
        return self._live

    def _update(self, key: str, done: int, total: int | None, unit: str) -> None:
        if not self.enabled:
            return
        progress = self._progress()
        if key not in self._tasks:
            self._tasks[key] = progress.add_task(key, total=total, unit=unit, rate="")
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        progress.update(self._tasks[key], completed=done, total=total, rate=f"{rate:,.0f}/s")

    def records(self, summary: Any) -> None:
        """An ingest batch: the records read so far from one file."""
        self._update(f"{self.label} {summary.stream} {summary.source}", summary.read, None, "records")

    def events(self, done: int, total: int) -> None:
        self._update(self.label, done, total, "events")

    def derived(self, what: str, done: int, total: int) -> None:
        """Canonical rows derived again from raw (``Decoder.sync``'s progress)."""
        self._update(f"{self.label} {what}", done, total, "records")
        if done >= total:
            self.done()

    def done(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live, self._tasks = None, {}
        self.start = time.perf_counter()
