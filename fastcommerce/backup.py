"""Online backups and checked restores of a log file.

Copying a live WAL database by hand (the file without its ``-wal``, or the two at different
moments) gives a copy that misses commits or is damaged. :func:`backup` uses SQLite's online
backup API in one step: it reads one consistent snapshot while writers go on (WAL readers
never block them), writes it to a self-contained file (rollback journal, no ``-wal``), checks
that copy (integrity, hash chain) and records its SHA-256 beside it, in ``sha256sum``'s
format. :func:`restore` checks that checksum, the copy's integrity and its chain before it
replaces anything, and replaces the live file's pages through the same API, under the
write lock, so a process holding the file open sees the restored database, never a mix.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import attrs

from . import chain
from .errors import FastCommerceError
from .schema import LOG_TABLE

CHECKSUM_SUFFIX = ".sha256"


class BackupError(FastCommerceError):
    """A backup could not be made or checked, or a restore was refused."""


@attrs.frozen(kw_only=True, slots=True)
class BackupInfo:
    """What a backup holds: its file, SHA-256, records and chain head."""

    path: str
    sha256: str
    records: int
    head_offset: int
    head_hash: str
    bytes: int


def checksum_file(path: Path) -> Path:
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _owner_only(path: Path) -> None:
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass


def _check_copy(path: Path) -> chain.ChainCheck:
    """Integrity and chain of a database file, opened read-only; raises :class:`BackupError`."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open it as a database ({exc})") from exc
    try:
        found = [m for (m,) in conn.execute("PRAGMA integrity_check(5)")]
        if found != ["ok"]:
            raise BackupError(f"{path}: the copy is damaged (SQLite's integrity check: {'; '.join(found)})")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [LOG_TABLE]).fetchone() is None:
            raise BackupError(f"{path}: not a fastcommerce database (no {LOG_TABLE} table)")
        return chain.check(conn, LOG_TABLE)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: the copy is damaged or not a database ({exc})") from exc
    finally:
        conn.close()


def backup(source: sqlite3.Connection, dest: str | Path) -> BackupInfo:
    """Copy the database of ``source`` (a connection to the live file) to ``dest``, check the
    copy and write ``dest.sha256``. ``dest`` is replaced only once the copy checked out."""
    dest = Path(dest)
    if dest.is_dir():
        raise BackupError(f"{dest}: is a directory; give the backup's file name")
    partial = dest.with_name(dest.name + ".partial")
    for leftover in (partial, partial.with_name(partial.name + "-journal")):
        leftover.unlink(missing_ok=True)
    fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)  # owner-only from the start
    os.close(fd)
    try:
        dst = sqlite3.connect(partial)
        try:
            source.backup(dst)  # pages=-1: one step, one snapshot, while writers go on
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
        finally:
            dst.close()
        check = _check_copy(partial)
        if not check.ok:
            raise BackupError(f"{dest}: the copy's hash chain does not hold ({check.problem}): "
                              "the live log itself is damaged or was changed; run `fastcommerce verify --log-only`")
        digest = file_sha256(partial)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    sums = checksum_file(dest)
    sums.write_text(f"{digest}  {dest.name}\n")
    _owner_only(sums)
    return BackupInfo(path=str(dest), sha256=digest, records=check.records, head_offset=check.head_offset,
                      head_hash=check.head_hash, bytes=dest.stat().st_size)


def check_backup(path: str | Path) -> BackupInfo:
    """Check a backup's recorded checksum, integrity and chain; raises :class:`BackupError`."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    sums = checksum_file(path)
    try:
        recorded = sums.read_text().split()[0].lower()
    except (OSError, IndexError) as exc:
        raise BackupError(f"{sums}: cannot read the backup's recorded checksum ({exc or 'empty file'})") from exc
    digest = file_sha256(path)
    if digest != recorded:
        raise BackupError(f"{path}: its SHA-256 is {digest}, not the {recorded} recorded in {sums.name}: "
                          "the backup was changed or damaged since it was made")
    check = _check_copy(path)
    if not check.ok:
        raise BackupError(f"{path}: its hash chain does not hold: {check.problem}")
    return BackupInfo(path=str(path), sha256=digest, records=check.records, head_offset=check.head_offset,
                      head_hash=check.head_hash, bytes=path.stat().st_size)


def restore(backup_file: str | Path, target: str | Path, *, force: bool = False,
            busy_timeout: float = 30.0) -> BackupInfo:
    """Replace ``target``'s database with the checked backup. Refused (nothing changed)
    when the checks fail, or, without ``force``, when ``target`` holds records the backup
    does not (a longer log, or another one): restoring would lose them."""
    info = check_backup(backup_file)
    target = Path(target)
    if target.exists() and not force:
        lost = _would_lose(target, Path(backup_file), info)
        if lost:
            raise BackupError(f"{target}: {lost}; restoring {backup_file} would lose them (--force to restore anyway)")
    if not target.exists():
        fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    src = sqlite3.connect(f"file:{Path(backup_file)}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=busy_timeout)
    try:
        dst.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        src.backup(dst)  # under the target's write lock: its readers see the old pages or the new, never a mix
        dst.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as exc:
        raise BackupError(f"{target}: the restore failed ({exc}); the database is as it was") from exc
    finally:
        src.close()
        dst.close()
    return info


def _would_lose(target: Path, backup_file: Path, info: BackupInfo) -> str | None:
    """What of ``target`` a restore of the backup would lose; ``None``: nothing (no log, an
    empty one, or the backup's own log up to some offset)."""
    try:
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        try:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [LOG_TABLE]).fetchone() is None:
                return None
            last, head = chain.head(conn, LOG_TABLE)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None  # unreadable or damaged: what a restore is for
    if last > info.head_offset:
        return f"holds {last - info.head_offset:,} records after the backup's last offset {info.head_offset:,}"
    if last == 0:
        return None
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        row = src.execute(f'SELECT chain_hash FROM {LOG_TABLE} WHERE "offset" = ?', [last]).fetchone()
    finally:
        src.close()
    if row is None or row[0] != head:
        return f"holds another log than the backup (their chain hashes at offset {last:,} differ)"
    return None
