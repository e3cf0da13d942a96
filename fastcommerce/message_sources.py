"""Sources that are not files: a message broker's stream, named by a URL.

The core knows no broker. A plugin registers a :class:`SourceOpener` for a URL scheme
(``nats``, say) with the ``register_source_openers`` hook; ``fastcommerce ingest orders
nats://127.0.0.1:4222/orders`` asks the opener of ``nats`` for a :class:`MessageSource` and
the ingester reads it as it reads a file: the broker's position of a message (a stream
sequence) stands where a file's line stands, in the log's ``line`` column, in a quarantined
record's ``where`` and in the source's checkpoint, which commits in the append's
transaction. A crash between receiving a message and committing it therefore loses
nothing (the next run asks for the messages after the committed position) and doubles
nothing (the committed ones are not asked for again, and an exact re-delivery is caught by
the content hash as ever).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import attrs

from .errors import PluginConfigError, SourceError
from .sources import (
    DEFAULT_MAX_RECORD_BYTES,
    RawRecord,
    over_limit,
    oversized_identity_of,
    parse_json,
    strip_eol,
)

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def url_scheme(text: str) -> str | None:
    """The scheme of ``text`` when it is a URL (``nats://...``), else ``None`` (a file
    name). ``file://`` is not a message source: it is left to the caller as a name."""
    m = _URL.match(text)
    return None if m is None or m.group(1).lower() == "file" else m.group(1).lower()


@attrs.frozen(slots=True)
class Message:
    """One message as the broker holds it: its position (increasing along the stream,
    never reused while the stream lives) and its bytes."""

    position: int
    body: bytes


class MessageSource(Protocol):
    """An open connection to one broker stream. ``url`` names it in the log (its records'
    ``source``) and keys its checkpoint."""

    url: str

    def identity(self) -> bytes:
        """What tells this stream from another one that took its name later (a stream
        deleted and created again restarts its positions): the checkpoint's fingerprint. A
        checkpoint of another identity is not resumed from; the stream is read from its
        start and the records the log holds count as duplicates."""
        ...

    def last_position(self) -> int:
        """The position of the newest message in the stream now (0: empty)."""
        ...

    def fetch(self, after: int, limit: int, wait: float) -> Sequence[Message]:
        """Up to ``limit`` messages with positions above ``after``, in order; waits up to
        ``wait`` seconds for the first one, and returns ``[]`` when none came."""
        ...

    def close(self) -> None: ...


@attrs.frozen(kw_only=True, slots=True)
class SourceOpener:
    """What a plugin registers with ``register_source_openers``: ``open(url)`` returns a
    :class:`MessageSource` for URLs of ``scheme`` (lower case, no ``://``), or raises
    :class:`~fastcommerce.errors.SourceError` saying why it cannot."""

    scheme: str
    open: Callable[[str], MessageSource]
    description: str = ""


class SourceOpeners:
    """The registered openers by scheme, checked once: a scheme claimed twice is a
    :class:`PluginConfigError` naming both plugins."""

    def __init__(self, items: Iterable[tuple[str, SourceOpener]]) -> None:
        self._openers: dict[str, SourceOpener] = {}
        self._owners: dict[str, str] = {}
        for plugin, opener in items:
            scheme = opener.scheme.lower()
            if scheme in self._owners:
                raise PluginConfigError(f"URL scheme {scheme!r} is claimed twice: by plugin "
                                        f"{self._owners[scheme]!r} and by plugin {plugin!r}")
            self._openers[scheme], self._owners[scheme] = opener, plugin
        self.schemes = tuple(sorted(self._openers))

    def open(self, url: str) -> MessageSource:
        """The source ``url`` names; a :class:`SourceError` naming the schemes that can be
        read when no loaded plugin reads this one."""
        scheme = url_scheme(url)
        if scheme is None or scheme not in self._openers:
            known = ", ".join(f"{s}://" for s in self.schemes) or "none (install a plugin such as fastcommerce-nats)"
            raise SourceError(f"{url}: no loaded plugin reads {scheme or 'this'}:// sources; "
                              f"URL schemes that can be read: {known}")
        return self._openers[scheme].open(url)


def record_of_bytes(line: int, body: bytes, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, *,
                    end: int = 0) -> RawRecord:
    """One record given as bytes (a message, an API caller's line), judged as a JSON Lines
    line is: its line terminator removed, kept whole up to ``max_record_bytes`` (a prefix
    beyond), blank, not JSON or not an object is a reason. ``line``: where it is (a broker's
    position), ``end``: where a resumed read starts."""
    body = strip_eol(body)
    if len(body) > max_record_bytes:
        return RawRecord(line, end, body[:max_record_bytes], None, over_limit("record", len(body), max_record_bytes),
                         identity=oversized_identity_of(body))
    if not body.strip():
        return RawRecord(line, end, body, None, "blank line")
    value, reason = parse_json(body)
    if reason is None and not isinstance(value, dict):
        reason = "JSON value is not an object"
    return RawRecord(line, end, body, value if reason is None else None, reason)
