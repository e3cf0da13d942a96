"""Finding the unread rest of a file that a rotation moved away from its path.

A reader that stops, then a writer that appends and a rotation (``live.jsonl`` renamed
``live.jsonl.1``, a new ``live.jsonl`` created, or, with logrotate's ``copytruncate``,
``live.jsonl`` copied and emptied in place), leave lines that no one read under another
name. A file's checkpoint says how far it was read and fingerprints the bytes up to there,
so the old file can be recognised by its bytes, whatever it is now called. The names only
narrow the search to siblings named like rotations of the path.
"""

from __future__ import annotations

import stat
from pathlib import Path

from .eventlog import Checkpoint, EventLog
from .logs import get_logger
from .source_files import fingerprint, source_id

logger = get_logger(__name__)

ROTATION_SEPARATORS = (".", "-", "_")
"""What follows a file's name in the names rotation gives it: ``live.jsonl.1``,
``live.jsonl-20261126``, ``live.jsonl_old``."""


def _holds(path: Path, cp: Checkpoint) -> bool:
    """Whether ``path`` is the file ``cp`` describes: as long, and the same bytes where
    the checkpoint took its fingerprint."""
    try:
        return path.stat().st_size >= cp.byte_offset and fingerprint(path, cp.byte_offset) == cp.fingerprint
    except OSError:
        return False


def _unread(path: Path, cp: Checkpoint | None) -> bool:
    """``path`` is the file ``cp`` describes and has bytes past it."""
    try:
        return cp is not None and path.stat().st_size > cp.byte_offset and _holds(path, cp)
    except OSError:
        return False


def _outdated(log: EventLog, stream: str, path: Path) -> Checkpoint | None:
    """``path``'s checkpoint, if the file there is no longer the one it describes."""
    cp = log.checkpoint(source_id(stream, path))
    return cp if cp is not None and cp.byte_offset > 0 and not _holds(path, cp) else None


def _siblings(path: Path) -> list[tuple[int, Path]]:
    """``(mtime, sibling)`` of the regular files beside ``path`` named like rotations of it."""
    try:
        entries = sorted(path.parent.iterdir())
    except OSError:
        return []
    name, found = path.name, []
    for sibling in entries:
        rest = sibling.name[len(name):]
        if not (sibling.name.startswith(name) and rest[:1] in ROTATION_SEPARATORS and rest[1:]):
            continue
        try:
            st = sibling.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((st.st_mtime_ns, sibling))
    return found


def rotated_away(log: EventLog, stream: str, path: Path) -> list[Path]:
    """Files rotated away from ``path`` that hold lines no one has read, oldest first.

    - The file ``path``'s checkpoint describes, when another file is at ``path`` now: found
      among the siblings by the checkpoint's fingerprint and given the checkpoint (which
      then records where it came from).
    - A file given a checkpoint that way earlier (by this function, or by a follower that
      saw the rotation) that has grown since: a writer that had not reopened its file.

    A sibling with no checkpoint, written after the one found, is another rotation that
    no one read (two rotations between two reads); it is not guessed at, only logged. A
    compressed rotation (``live.jsonl.1.gz``) has other bytes and is not found.
    """
    siblings = sorted(_siblings(path))  # oldest first
    own = {s: log.checkpoint(source_id(stream, s)) for _t, s in siblings}
    cp = _outdated(log, stream, path)
    if cp is not None:
        moved = [(t, s) for t, s in siblings if _unread(s, cp) and not _read_as_far(s, own[s], cp)]
        if moved:
            when, found = moved[-1]  # copies of one file: the last written to
            with log.transaction():
                log.move_checkpoint(source_id(stream, path), source_id(stream, found), str(found.resolve()))
            own[found] = log.checkpoint(source_id(stream, found))
            logger.info("rotated_file_found", stream=stream, source=str(path), old_file=str(found))
            unknown = [str(s) for t, s in siblings if t > when and own[s] is None]
            if unknown:
                logger.warning("rotated_files_not_read", stream=stream, source=str(path), files=unknown,
                               reason="rotated after the file found, never read: ingest them by name")
    followed = str(path.resolve())
    return [s for _t, s in siblings
            if (mine := own[s]) is not None and mine.rotated_from == followed and _unread(s, mine)]


def _read_as_far(sibling: Path, own: Checkpoint | None, cp: Checkpoint) -> bool:
    """``sibling`` has a checkpoint of its own (``own``), at least as far as ``cp``."""
    return own is not None and own.byte_offset >= cp.byte_offset and _holds(sibling, own)


def copy_holding(path: Path, record: bytes, end: int, *, unterminated: bool = False) -> Path | None:
    """The sibling named like a rotation of ``path`` whose line ending at byte ``end`` is
    ``record``: the copy ``copytruncate`` made of ``path`` while a reader was on its way to
    ``end``. The reader found the file emptied when it came to save its checkpoint, so
    that checkpoint is fingerprinted on the copy, which holds the bytes it read.
    ``unterminated``: the record was a settled last line, with no line break after it."""
    endings = (record,) if unterminated else (record + b"\n", record + b"\r\n")
    for _t, sibling in sorted(_siblings(path), reverse=True):  # the newest copy first
        try:
            with open(sibling, "rb") as fh:
                fh.seek(max(0, end - len(record) - 2))
                tail = fh.read(end - max(0, end - len(record) - 2))
        except OSError:
            continue
        if tail.endswith(endings) and len(tail) == min(end, len(record) + 2):
            return sibling
    return None
