"""A source file's identity: its checkpoint key, the fingerprint of the bytes read, readability,
and how its bytes are opened: a gzip, bz2 or xz file (zstd with the ``zstd`` extra) is read as
the bytes it holds, known by its first bytes, not its name.

Shared by ingest (resume or start again), rotation (find the file a checkpoint describes
under another name) and follow (move a checkpoint to a file's new name), so none of them
imports another for it. Positions in a compressed file (checkpoints, fingerprints) are
positions in its uncompressed bytes.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import sys
import threading
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

from .errors import SourceError

FINGERPRINT_BYTES = 4096

MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
"""The first bytes that name a compression format (a file's name is not trusted for it)."""

_DAMAGE = (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def compression(path: Path) -> str | None:
    """``"gzip"``, ``"bz2"``, ``"xz"`` or ``"zstd"`` when the file starts with that format's
    magic bytes, else ``None`` (also for a file that cannot be read: opening it says why)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError:
        return None
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), None)


class Decompressed(io.RawIOBase):
    """A compressed file's bytes, read forward only. Damaged data (a truncated file, a bad
    checksum) is not raised: the stream ends there and :attr:`damage` says why, so a reader
    keeps every record before it and reports the rest as one malformed record."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__()
        self.kind, self.position = kind, 0
        self.damage: str | None = None
        self._raw = open(path, "rb")  # noqa: SIM115 -- closed by close()
        try:
            self._inner: Any = _decompressor(self._raw, kind, path)
        except BaseException:
            self._raw.close()
            raise

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.damage is not None:
            return 0
        try:
            data = self._inner.read(len(buffer))
        except _DAMAGE as exc:
            self.damage = str(exc) or type(exc).__name__
            return 0
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)

    def close(self) -> None:
        try:
            if hasattr(self._inner, "close"):
                self._inner.close()
        finally:
            self._raw.close()
            super().close()


def _decompressor(raw: IO[bytes], kind: str, path: Path) -> Any:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bz2":
        return bz2.BZ2File(raw, "rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, "rb")
    try:
        import zstandard
    except ImportError:
        raise SourceError(f"{path}: zstd-compressed, and reading zstd needs the zstandard package "
                          "(pip install 'fastcommerce[zstd]'); or decompress it first (zstd -d)") from None
    return _Zstd(raw, zstandard)


class _Zstd:
    """zstd frames one after another, read forward. zstandard's own stream reader ends
    silently, with no bytes at all, on a truncated frame: here a frame that the file ends
    inside is damage (``EOFError``), and so is any decoding error, as for the other formats."""

    def __init__(self, raw: IO[bytes], zstandard: Any) -> None:
        self._raw, self._zstd = raw, zstandard
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._pending, self._started = b"", False

    def read(self, size: int) -> bytes:
        while len(self._pending) < size:
            chunk = self._raw.read(1 << 16)
            if not chunk:
                if self._started and not self._obj.eof:
                    raise EOFError("the file ends inside a zstd frame (truncated)")
                break
            while chunk:
                if self._obj.eof:  # the last frame ended: the next one starts here
                    self._obj = self._zstd.ZstdDecompressor().decompressobj()
                self._started = True
                try:
                    self._pending += self._obj.decompress(chunk)
                except self._zstd.ZstdError as exc:
                    raise ValueError(f"zstd: {exc}") from exc
                chunk = self._obj.unused_data if self._obj.eof else b""
        out, self._pending = self._pending[:size], self._pending[size:]
        return out


def open_source(path: Path, start: int = 0) -> io.BufferedReader[Any]:
    """The file's bytes from position ``start``: the file itself, or what it holds when it is
    compressed (:func:`compression`), skipped forward to ``start``. The object's
    ``damage`` attribute (compressed files only) says why their bytes ended early."""
    kind = compression(path)
    if kind is None:
        fh = open(path, "rb")  # noqa: SIM115 -- the caller closes it
        fh.seek(start)
        return fh
    stream = io.BufferedReader(Decompressed(path, kind), buffer_size=1 << 16)
    skip(stream, start)
    return stream


def skip(stream: IO[bytes], count: int) -> int:
    """Read and drop ``count`` bytes (fewer when the stream ends first); how many were."""
    done = 0
    while done < count:
        chunk = stream.read(min(1 << 20, count - done))
        if not chunk:
            break
        done += len(chunk)
    return done


def damage_of(stream: Any) -> str | None:
    """Why a compressed stream from :func:`open_source` ended early, else ``None``."""
    raw = getattr(stream, "raw", None)
    return getattr(raw, "damage", None)


def readable_size(path: Path) -> int:
    """The size a checkpoint's position is compared with: the file's, or for a compressed
    file "unknown" (as large as can be: only its fingerprint, on uncompressed bytes, tells a
    resumable file from another)."""
    return sys.maxsize if compression(path) else path.stat().st_size


class _Scan:
    """A compressed file read forward once while its checkpoints are fingerprinted, batch
    after batch: each fingerprint continues where the last one stopped, instead of
    decompressing the file from its start again."""

    def __init__(self, path: Path, key: tuple) -> None:
        self.key, self.stream, self.pos = key, open_source(path), 0
        self.head, self.tail = b"", b""

    def upto(self, upto: int) -> tuple[bytes, bytes]:
        while self.pos < upto:
            chunk = self.stream.read(min(1 << 20, upto - self.pos))
            if not chunk:
                break
            if len(self.head) < FINGERPRINT_BYTES:
                self.head += chunk[:FINGERPRINT_BYTES - len(self.head)]
            self.tail = (self.tail + chunk)[-FINGERPRINT_BYTES:]
            self.pos += len(chunk)
        # as for a plain file: the bytes from upto - 4096 up to upto, or to the end when it is shorter
        back = self.pos - max(0, upto - FINGERPRINT_BYTES)
        return self.head[:min(FINGERPRINT_BYTES, upto)], self.tail[-back:] if back > 0 else b""


_scans: OrderedDict[str, _Scan] = OrderedDict()
_scans_lock = threading.Lock()


def _compressed_ends(path: Path, upto: int) -> tuple[bytes, bytes]:
    st = os.stat(path)
    name, key = str(path.resolve()), (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _scans_lock:
        scan = _scans.pop(name, None)
        if scan is None or scan.key != key or scan.pos > upto:
            if scan is not None:
                scan.stream.close()
            scan = _Scan(path, key)
        try:
            return scan.upto(upto)
        finally:
            _scans[name] = scan
            while len(_scans) > 4:
                _scans.popitem(last=False)[1].stream.close()


def source_id(stream: str, path: Path) -> str:
    """The key of a file's checkpoint: its stream and absolute path."""
    return f"{stream}:{path.resolve()}"


def fingerprint(path: Path, upto: int) -> bytes:
    """A digest of the file's first bytes and of the bytes just before ``upto``: enough
    to tell a grown file (resume) from a replaced one (read again from the start). Of a
    compressed file, its uncompressed bytes, ``upto`` counting them too."""
    if compression(path) is not None:
        head, tail = _compressed_ends(path, upto)
        return hashlib.sha256(head + b"\0" + tail + b"\0" + str(upto).encode()).digest()
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
