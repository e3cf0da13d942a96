"""Following a growing file, as ``tail -F`` does, and projecting as it goes.

Each cycle ingests what was appended since the checkpoint (complete lines only: a line
still being written waits for its newline), then catches the projections up. The file is
held open between cycles, so when it is rotated (renamed away and a new one created) the
rest of the old file is still read before switching to the new one; a truncated or
replaced file no longer matches its checkpoint's fingerprint and is read from the start,
its known records counted as duplicates.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .ingest import SourceSummary
from .logs import get_logger

if TYPE_CHECKING:
    from .pipeline import Pipeline

logger = get_logger(__name__)


def _fd_path(fh: IO[bytes]) -> Path | None:
    candidate = Path(f"/proc/self/fd/{fh.fileno()}")
    return candidate if candidate.exists() else None


def follow(
    pipeline: Pipeline,
    stream: str,
    path: str | Path,
    *,
    poll_interval: float = 0.2,
    should_stop: Callable[[], bool] = lambda: False,
    on_cycle: Callable[[SourceSummary], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Keep ingesting ``path`` into ``stream`` until ``should_stop()`` is true."""
    path = Path(path)
    log = logger.bind(stream=stream, source=str(path))
    fh: IO[bytes] | None = None
    inode = None

    def cycle(read_from: Path | None) -> None:
        summary = pipeline._ingester.ingest_file(stream, path, read_from=read_from, complete_lines_only=True,
                                                     record_empty_run=False)
        if summary.appended:
            pipeline.project()
        if on_cycle is not None:
            on_cycle(summary)

    try:
        while not should_stop():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            if fh is not None and (st is None or st.st_ino != inode):
                cycle(_fd_path(fh))  # drain what was written to the old file before rotation
                fh.close()
                fh = None
                log.info("file_rotated")
            if fh is None and st is not None:
                fh = open(path, "rb")
                inode = os.fstat(fh.fileno()).st_ino
            if fh is not None:
                cycle(_fd_path(fh))
            sleep(poll_interval)
    finally:
        if fh is not None:
            fh.close()
