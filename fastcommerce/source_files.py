"""A source file's identity: its checkpoint key, the fingerprint of the bytes read, readability.

Shared by ingest (resume or start again), rotation (find the file a checkpoint describes
under another name) and follow (move a checkpoint to a file's new name), so none of them
imports another for it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import SourceError

FINGERPRINT_BYTES = 4096


def source_id(stream: str, path: Path) -> str:
    """The key of a file's checkpoint: its stream and absolute path."""
    return f"{stream}:{path.resolve()}"


def fingerprint(path: Path, upto: int) -> bytes:
    """A digest of the file's first bytes and of the bytes just before ``upto``: enough
    to tell a grown file (resume) from a replaced one (read again from the start)."""
    with open(path, "rb") as fh:
        head = fh.read(min(FINGERPRINT_BYTES, upto))
        fh.seek(max(0, upto - FINGERPRINT_BYTES))
        tail = fh.read(min(FINGERPRINT_BYTES, upto))
    return hashlib.sha256(head + b"\0" + tail + b"\0" + str(upto).encode()).digest()


def check_readable(path: Path) -> None:
    """A :class:`SourceError` in our words for a path that is missing, no file or unreadable,
    before any run starts on it."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if not path.is_file():
        raise SourceError(f"{path}: not a regular file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from exc
