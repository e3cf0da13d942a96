"""Names that plugins give their objects: plain identifiers, each registered once.

Below every registry (validators, projections, reports, ...), so each can refuse a bad or
a doubled name without importing the plugin machinery that collects them.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import PluginConfigError

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A plain SQL identifier: safe to put in a statement unquoted."""


def is_identifier(name: str) -> bool:
    return IDENTIFIER.fullmatch(name) is not None


def unique_names(what: str, items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``items`` (``(plugin, object with a name)`` pairs) unchanged, or a
    :class:`PluginConfigError` naming both plugins when two register the same name."""
    owners: dict[str, str] = {}
    for plugin, item in items:
        if item.name in owners:
            raise PluginConfigError(f"{what} {item.name!r} is registered twice: by plugin "
                                    f"{owners[item.name]!r} and by plugin {plugin!r}")
        owners[item.name] = plugin
    return items
