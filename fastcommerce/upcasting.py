"""Versioned schemas and the upcaster chains that bring every variant to the canonical shape.

The log stores each record exactly as it was received. Upcasting runs when events are
read: a pure chain of functions, one step per version, from the detected schema to the
stream's canonical schema. Fixing or adding an upcaster therefore fixes old records on
the next rebuild, with nothing re-ingested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .errors import PluginConfigError, PluginError

Record = dict[str, Any]


@attrs.frozen(kw_only=True, slots=True)
class Schema:
    """A recognisable shape of records in one stream.

    ``detect`` must be a pure predicate that never raises, whatever JSON value it is
    given. ``key_field`` and ``time_field`` name where the log's natural key and event time
    are: the canonical schema must name them; another schema may, when its records keep
    them at the top level, which spares ingest an upcast (leave them ``None`` and ingest
    upcasts first, then reads the canonical fields).
    """

    stream: str
    variant: str
    version: int
    detect: Callable[[Any], bool]
    canonical: bool = False
    key_field: str | None = None
    time_field: str | None = None
    description: str = ""

    @property
    def node(self) -> tuple[str, int]:
        return (self.variant, self.version)


@attrs.frozen(kw_only=True, slots=True)
class Upcaster:
    """One step of a chain: ``(variant, from_version) -> (to_variant, to_version)``.

    ``upcast`` is a pure function returning a *new* dict; it must not mutate its input.
    ``to_variant`` defaults to ``variant`` (a version bump within one variant).
    """

    stream: str
    variant: str
    from_version: int
    to_version: int
    upcast: Callable[[Record], Record]
    to_variant: str | None = None

    @property
    def source(self) -> tuple[str, int]:
        return (self.variant, self.from_version)

    @property
    def target(self) -> tuple[str, int]:
        return (self.to_variant or self.variant, self.to_version)


def _node(n: tuple[str, int]) -> str:
    return f"{n[0]} v{n[1]}"


@attrs.frozen(slots=True)
class _Chain:
    steps: tuple[tuple[str, Upcaster], ...]  # (plugin name, upcaster)


class SchemaRegistry:
    """Immutable registry of schemas and upcasters, checked once when a pipeline starts.

    It refuses: two schemas or two upcasters for the same node, a stream without exactly
    one canonical schema, and any chain that stops (a gap) or loops before reaching the
    canonical schema. Every refusal names the plugins involved.
    """

    def __init__(
        self,
        schemas: Iterable[tuple[str, Schema]],
        upcasters: Iterable[tuple[str, Upcaster]],
    ) -> None:
        self._schemas: dict[str, dict[tuple[str, int], tuple[str, Schema]]] = {}
        self._canonical: dict[str, tuple[str, Schema]] = {}
        for plugin, schema in schemas:
            by_node = self._schemas.setdefault(schema.stream, {})
            if schema.node in by_node:
                other = by_node[schema.node][0]
                raise PluginConfigError(
                    f"schema {schema.stream}/{_node(schema.node)} is registered twice: "
                    f"by plugin {other!r} and by plugin {plugin!r}"
                )
            by_node[schema.node] = (plugin, schema)
            if schema.canonical:
                if schema.stream in self._canonical:
                    other = self._canonical[schema.stream][0]
                    raise PluginConfigError(
                        f"stream {schema.stream!r} has two canonical schemas: from plugin "
                        f"{other!r} and from plugin {plugin!r}"
                    )
                self._canonical[schema.stream] = (plugin, schema)

        steps: dict[tuple[str, tuple[str, int]], tuple[str, Upcaster]] = {}
        for plugin, up in upcasters:
            key = (up.stream, up.source)
            if key in steps:
                other = steps[key][0]
                raise PluginConfigError(
                    f"two upcasters claim the step {up.stream}/{_node(up.source)}: "
                    f"plugin {other!r} and plugin {plugin!r}"
                )
            steps[key] = (plugin, up)

        for stream in self._schemas:
            if stream not in self._canonical:
                raise PluginConfigError(f"stream {stream!r} has no canonical schema")

        for (stream, source), (plugin, up) in steps.items():
            if stream not in self._canonical:
                raise PluginConfigError(
                    f"upcaster {stream}/{_node(source)} from plugin {plugin!r} is for a "
                    f"stream with no canonical schema"
                )
        self._chains: dict[tuple[str, tuple[str, int]], _Chain] = {}
        for stream, by_node in self._schemas.items():
            for node, (plugin, _schema) in by_node.items():
                self._chains[(stream, node)] = self._build_chain(stream, node, plugin, steps)
        self.streams = tuple(sorted(self._schemas))
        self._by_stream = {s: self.schemas(s) for s in self.streams}

    def _build_chain(self, stream, node, plugin, steps) -> _Chain:
        target = self._canonical[stream][1].node
        chain: list[tuple[str, Upcaster]] = []
        seen = {node}
        current, owner = node, plugin
        while current != target:
            step = steps.get((stream, current))
            if step is None:
                via = "" if owner == plugin and current == node else f", reached through plugin {owner!r}"
                raise PluginConfigError(
                    f"gap in the upcaster chain of {stream}/{_node(node)} (schema from plugin "
                    f"{plugin!r}): nothing upcasts {_node(current)}{via}; the chain must end "
                    f"at the canonical {_node(target)}"
                )
            chain.append(step)
            owner, current = step[0], step[1].target
            if current in seen:
                raise PluginConfigError(
                    f"the upcaster chain of {stream}/{_node(node)} loops at "
                    f"{_node(current)} (plugin {owner!r})"
                )
            seen.add(current)
        return _Chain(tuple(chain))

    # -- lookups ---------------------------------------------------------------------

    def canonical(self, stream: str) -> Schema:
        return self._canonical[stream][1]

    def nodes(self, stream: str) -> list[tuple[str, int]]:
        """``(variant, version)`` of every schema of ``stream``."""
        return sorted(self._schemas.get(stream, {}))

    def owner(self, stream: str, node: tuple[str, int]) -> str:
        """The plugin that registered the schema ``node`` of ``stream``."""
        return self._schemas[stream][node][0]

    def schemas(self, stream: str) -> list[tuple[str, Schema]]:
        """``(plugin name, schema)`` pairs of a stream, in a stable order."""
        return [self._schemas[stream][n] for n in sorted(self._schemas.get(stream, {}))]

    def knows(self, stream: str, variant: str | None, version: int | None) -> bool:
        return (stream, (variant, version)) in self._chains

    def detect(self, stream: str, record: Any, *, where: str = "") -> Schema | None:
        """The one schema that claims ``record``; ``None`` when none does.

        Two claims are a configuration error, never a guess.
        """
        found: list[tuple[str, Schema]] = []
        for plugin, schema in self._by_stream.get(stream, ()):
            try:
                hit = schema.detect(record)
            except Exception as exc:  # a detector must never raise: that is a plugin bug
                raise PluginError(
                    f"detector of {stream}/{_node(schema.node)} from plugin {plugin!r} "
                    f"raised {type(exc).__name__}: {exc}{' on ' + where if where else ''}; "
                    f"detectors must answer False, never raise"
                ) from exc
            if hit:
                found.append((plugin, schema))
        if not found:
            return None
        if len(found) > 1:
            names = ", ".join(f"{_node(s.node)} (plugin {p!r})" for p, s in found)
            raise PluginConfigError(
                f"{where + ': ' if where else ''}record matches more than one {stream} "
                f"schema: {names}; fix the detectors, a record is never guessed at"
            )
        return found[0][1]

    def upcast(self, stream: str, variant: str, version: int, record: Record, *, where: str = "") -> Record:
        """Run the chain from ``(variant, version)`` to the canonical shape. ``where``
        (``file:line``) only goes into the error of an upcaster that raises."""
        chain = self._chains[(stream, (variant, version))]
        for plugin, up in chain.steps:
            try:
                record = up.upcast(record)
            except Exception as exc:
                raise PluginError(
                    f"upcaster {stream}/{_node(up.source)} -> {_node(up.target)} from "
                    f"plugin {plugin!r} raised {type(exc).__name__}: {exc}"
                    f"{' on ' + where if where else ''}; upcasters must leave what they cannot "
                    f"convert, never raise"
                ) from exc
        return record

    def chain(self, stream: str, variant: str, version: int) -> list[tuple[str, Upcaster]]:
        return list(self._chains[(stream, (variant, version))].steps)

    def describe(self) -> Mapping[str, list[dict[str, Any]]]:
        """A plain description for ``fastcommerce plugins`` and the docs."""
        out: dict[str, list[dict[str, Any]]] = {}
        for stream in self.streams:
            out[stream] = [
                {
                    "variant": s.variant,
                    "version": s.version,
                    "canonical": s.canonical,
                    "plugin": p,
                    "chain": [f"{_node(u.source)} -> {_node(u.target)}" for _, u in self.chain(stream, *s.node)],
                }
                for p, s in self.schemas(stream)
            ]
        return out
