"""Building the plugin manager: hookspecs, built-ins, entry points, explicit plugins.

There is no module-global manager: each :class:`~fastcommerce.pipeline.Pipeline` builds its
own, so tests and embedding applications never leak plugins into each other.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import PluginConfigError, PluginLoadError

BUILTIN_PLUGINS = (
    "fastcommerce.builtins.orders",
    "fastcommerce.builtins.inventory",
    "fastcommerce.builtins.catalog",
    "fastcommerce.builtins.validators",
    "fastcommerce.builtins.projections",
    "fastcommerce.builtins.sales",
    "fastcommerce.builtins.stock",
    "fastcommerce.builtins.quality",
    "fastcommerce.builtins.reports",
    "fastcommerce.builtins.alert_rules",
    "fastcommerce.builtins.alert_sinks",
)


def make_plugin_manager(
    *,
    plugins: Iterable[Any] = (),
    load_entrypoints: bool = True,
    blocked: Iterable[str] = (),
    only_entrypoints: Sequence[str] | None = None,
) -> pluggy.PluginManager:
    """A fresh manager: hookspecs, then built-ins, then blocks, then the ``fastcommerce``
    entry points (all, or ``only_entrypoints`` by name), then ``plugins``.

    ``blocked`` names plugins (built-in module names or entry point names) that must not
    load, so a built-in can be replaced by a plugin of your own.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    blocked = set(blocked)
    for name in BUILTIN_PLUGINS:
        if name not in blocked:
            pm.register(importlib.import_module(name), name)
    for name in blocked:
        pm.set_blocked(name)
    if load_entrypoints:
        _load_entrypoints(pm, only_entrypoints)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            pm.register(plugin, name=name)
        except ValueError as exc:  # pluggy: already registered (by entry point, or twice)
            raise PluginConfigError(
                f"plugin {name!r} cannot be registered: {str(exc).split(':')[0].lower()} "
                f"(loaded from an entry point already, or passed twice?)"
            ) from exc
    pm.check_pending()
    return pm


def _load_entrypoints(pm: pluggy.PluginManager, only: Sequence[str] | None) -> None:
    """Load entry points one by one, so an import failure names its plugin."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=hookspecs.PROJECT_NAME), key=lambda e: e.name):
        if only is not None and ep.name not in only:
            continue
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME, name=ep.name)
        except Exception as exc:
            raise PluginLoadError(f'Error importing plugin "{ep.name}": {exc}') from exc


def collect(pm: pluggy.PluginManager, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a registration hook once per plugin, keeping who answered what.

    Each implementation gets the keyword arguments it asks for (a subset of ``kwargs``).
    Results come in a stable order (plugin name), never in registration order, so no
    answer depends on the order plugins happened to load in.
    """
    out: list[tuple[str, Any]] = []
    caller = getattr(pm.hook, hook)
    for impl in sorted(caller.get_hookimpls(), key=lambda i: i.plugin_name):
        result = impl.function(**{a: kwargs[a] for a in impl.argnames})
        for item in result or ():
            out.append((impl.plugin_name, item))
    return out


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


@attrs.frozen(kw_only=True, slots=True)
class PluginInfo:
    name: str
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


def describe(pm: pluggy.PluginManager, *, find_code_versions: bool = True) -> list[PluginInfo]:
    """Name, distribution version and hooks of each registered plugin. Finding the
    distribution of a plugin registered in code scans every installed package (~0.2 s):
    ``find_code_versions=False`` leaves their version ``None``."""
    versions = {
        pm.get_name(plugin): dist.version for plugin, dist in pm.list_plugin_distinfo()
    }
    infos = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda np: np[0]):
        if plugin is None:
            continue
        hooks = tuple(sorted(c.name for c in (pm.get_hookcallers(plugin) or ())))
        builtin = name in BUILTIN_PLUGINS
        version = versions.get(name) or (_module_version(plugin) if find_code_versions else None)
        if builtin:
            from . import __version__

            version = __version__
        infos.append(PluginInfo(name=name, version=version, hooks=hooks, builtin=builtin))
    return infos


READING_HOOKS = frozenset({"register_schemas", "register_upcasters", "register_validators", "configure_converter"})


def reading_fingerprint(pm: pluggy.PluginManager) -> str:
    """Which plugins, at which versions, decide how the log reads (its variants, upcasters,
    validators and converter): ``name==version`` each, sorted. Projections built under
    another set are stale, whatever their own version says, so the runner rebuilds them.
    (A plugin registered in code counts by name: its version is not looked up.)"""
    return ";".join(f"{info.name}=={info.version or '?'}" for info in describe(pm, find_code_versions=False)
                    if READING_HOOKS.intersection(info.hooks))


def _module_version(plugin: Any) -> str | None:
    """The installed distribution version of a plugin registered in code, if any."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    module = getattr(plugin, "__module__", None) if not hasattr(plugin, "__path__") and not hasattr(plugin, "__file__") else getattr(plugin, "__name__", None)
    if not isinstance(module, str):
        return None
    for dist in packages_distributions().get(module.split(".")[0], []):
        try:
            return version(dist)
        except PackageNotFoundError:  # pragma: no cover
            continue
    return None
