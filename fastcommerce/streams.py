"""Streams: what the log holds, each registered by a plugin with its reader.

The core names no stream: a :class:`Stream` says how its files are read, which payload
class its valid records become, which file ``run`` looks for, and when. A role names the
one part a contract rule gives a stream (``"catalog"``: the products every other record is
checked against, as of its place in the log), so the core asks for the role, not the name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

from .errors import FastCommerceError, PluginConfigError
from .naming import is_identifier

CATALOG_ROLE = "catalog"
"""The stream whose valid records are the products other streams are validated and
enriched against (contract: catalog enrichment as of the event's place in the log)."""

ROLES = frozenset({CATALOG_ROLE})


class UnknownStreamError(FastCommerceError, LookupError):
    """A stream no loaded plugin registers (a typo, or its plugin is not loaded)."""


@attrs.frozen(kw_only=True, slots=True)
class Stream:
    """A stream of records, as a plugin registers it with ``register_streams``.

    ``reader(path, *, start, line, max_record_bytes, complete_lines_only)`` yields
    :class:`~fastcommerce.sources.RawRecord` from byte ``start`` (line ``line``) on, as
    :func:`~fastcommerce.sources.read_jsonl` does. ``payload_type`` is the attrs class a
    valid canonical record is structured into. ``default_file`` is the name ``run DIR``
    looks for (``None``: ``run`` skips the stream); ``order`` is its place in ``run``
    (lower first; ties by name). ``whole_file``: the file is one document, read whole each
    time (no resume, no rotation). ``header_lines``: lines before the first record that a
    resumed read counts as not skipped (a CSV header).
    """

    name: str
    reader: Callable[..., Iterator[Any]]
    payload_type: type
    default_file: str | None = None
    order: int = 100
    role: str | None = attrs.field(default=None)
    whole_file: bool = False
    header_lines: int = 0
    description: str = ""

    @role.validator
    def _known_role(self, _attribute: Any, value: str | None) -> None:
        if value is not None and value not in ROLES:
            raise PluginConfigError(f"stream {self.name!r}: unknown role {value!r}; roles: {', '.join(sorted(ROLES))}")


class StreamRegistry:
    """The registered streams, checked once: a name or a role claimed twice is a
    :class:`PluginConfigError` naming both plugins."""

    def __init__(self, items: Iterable[tuple[str, Stream]]) -> None:
        self._streams: dict[str, Stream] = {}
        self._owners: dict[str, str] = {}
        roles: dict[str, str] = {}
        for plugin, stream in items:
            if not isinstance(stream.name, str) or not is_identifier(stream.name):
                raise PluginConfigError(f"stream {stream.name!r} from plugin {plugin!r} is not a plain identifier "
                                        "(letters, digits and _; it names rows and tables in SQL)")
            if stream.name in self._owners:
                raise PluginConfigError(f"stream {stream.name!r} is registered twice: by plugin "
                                        f"{self._owners[stream.name]!r} and by plugin {plugin!r}")
            if stream.role is not None and stream.role in roles:
                raise PluginConfigError(f"role {stream.role!r} is claimed twice: by stream {roles[stream.role]!r} "
                                        f"(plugin {self._owners[roles[stream.role]]!r}) and by stream "
                                        f"{stream.name!r} (plugin {plugin!r})")
            self._streams[stream.name] = stream
            self._owners[stream.name] = plugin
            if stream.role is not None:
                roles[stream.role] = stream.name
        self._roles = roles
        self.names = tuple(sorted(self._streams))

    def __contains__(self, name: object) -> bool:
        return name in self._streams

    def __iter__(self) -> Iterator[Stream]:
        return iter(self._streams[n] for n in self.names)

    def get(self, name: str) -> Stream:
        """The stream ``name``, or an :class:`UnknownStreamError` naming the known ones."""
        found = self._streams.get(name)
        if found is None:
            raise UnknownStreamError(f"unknown stream {name!r}; the loaded plugins register: "
                                     f"{', '.join(self.names) or 'none'}")
        return found

    def owner(self, name: str) -> str:
        return self._owners[name]

    def with_role(self, role: str) -> str | None:
        """The name of the stream holding ``role``, if one does."""
        return self._roles.get(role)

    def run_order(self) -> list[Stream]:
        """The streams ``run`` reads, in the order it reads them."""
        return sorted((s for s in self._streams.values() if s.default_file is not None),
                      key=lambda s: (s.order, s.name))

    def payload_types(self) -> dict[str, type]:
        return {name: s.payload_type for name, s in self._streams.items()}

    def by_plugin(self) -> dict[str, list[str]]:
        """``plugin -> stream names`` (for ``fastcommerce plugins``)."""
        out: dict[str, list[str]] = {}
        for name in self.names:
            out.setdefault(self._owners[name], []).append(name)
        return out
