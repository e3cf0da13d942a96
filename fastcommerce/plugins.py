"""Building the plugin manager: hookspecs, built-ins, entry points, explicit plugins.

There is no module-global manager: each :class:`~fastcommerce.pipeline.Pipeline` builds its
own, so tests and embedding applications never leak plugins into each other.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import traceback
import types
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import FastCommerceError, PluginConfigError, PluginError, PluginLoadError
from .streams import StreamRegistry
from .version import __version__

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
    plugins = list(plugins)
    blocked = set(blocked)
    _check_blocked(blocked, plugins)
    for name in BUILTIN_PLUGINS:
        if name not in blocked:
            pm.register(importlib.import_module(name), name)
    for name in blocked:
        pm.set_blocked(name)
    if load_entrypoints:
        _load_entrypoints(pm, only_entrypoints)
    for plugin in plugins:
        name = _plugin_name(plugin)
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise _hook_mismatch(name, exc) from exc
        except ValueError as exc:  # pluggy: already registered (by entry point, or twice)
            raise PluginConfigError(
                f"plugin {name!r} cannot be registered: {str(exc).split(':')[0].lower()} "
                f"(loaded from an entry point already, or passed twice?)"
            ) from exc
    _check_hook_names(pm)
    return pm


def _hook_mismatch(name: str, exc: pluggy.PluginValidationError) -> PluginLoadError:
    """pluggy's words (several lines, naming the plugin object) on one line under the
    plugin's registered name."""
    return PluginLoadError(f"plugin {name!r} does not match the fastcommerce hookspecs: "
                           f"{' '.join(str(exc).split())}")


def _check_hook_names(pm: pluggy.PluginManager) -> None:
    """pluggy's ``check_pending`` (an implementation of no hook: a misspelt name, most
    likely), naming the plugin as registered and the hook it may have meant."""
    specs = sorted(n for n, c in vars(pm.hook).items() if not n.startswith("_") and c.has_spec())
    for hook, caller in sorted(vars(pm.hook).items()):
        if hook.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                guess = difflib.get_close_matches(hook, specs, n=1)
                raise PluginLoadError(
                    f"plugin {impl.plugin_name!r} implements {hook!r}, which is not a fastcommerce hook"
                    + (f" (did you mean {guess[0]!r}?)" if guess else "") + f"; the hooks: {', '.join(specs)}"
                )


def _where(exc: BaseException) -> str:
    """The file and line a plugin failed to load at: a syntax error's own, else the deepest
    frame of the traceback (the plugin's code, or what it called)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "no traceback"


def _plugin_name(plugin: Any) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__name__


def _check_blocked(blocked: set[str], plugins: list[Any]) -> None:
    """A blocked name must name a plugin: a misspelt one would block nothing, silently."""
    if not blocked:
        return
    from importlib.metadata import entry_points

    known = {*BUILTIN_PLUGINS, *(ep.name for ep in entry_points(group=hookspecs.PROJECT_NAME)),
             *(_plugin_name(p) for p in plugins)}
    unknown = sorted(blocked - known)
    if unknown:
        raise PluginConfigError(
            f"cannot block {', '.join(map(repr, unknown))}: no built-in or installed plugin has that name "
            f"(built-ins are blocked by module name, entry points by their name); known: {', '.join(sorted(known))}"
        )


def _load_entrypoints(pm: pluggy.PluginManager, only: Sequence[str] | None) -> None:
    """Load entry points one by one, so an import failure names its plugin."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=hookspecs.PROJECT_NAME), key=lambda e: e.name):
        if only is not None and ep.name not in only:
            continue
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME, name=ep.name)
        except pluggy.PluginValidationError as exc:  # it imported, but its hooks do not fit
            raise _hook_mismatch(ep.name, exc) from exc
        except Exception as exc:
            raise PluginLoadError(f'Error importing plugin "{ep.name}" ({ep.value}, {_where(exc)}): '
                                  f"{type(exc).__name__}: {exc}") from exc


def collect(pm: pluggy.PluginManager, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a registration hook once per plugin, keeping who answered what.

    Each implementation gets the keyword arguments it asks for (a subset of ``kwargs``).
    Results come in a stable order (plugin name), never in registration order, so no
    answer depends on the order plugins happened to load in.
    """
    out: list[tuple[str, Any]] = []
    caller = getattr(pm.hook, hook)
    for impl in sorted(caller.get_hookimpls(), key=lambda i: i.plugin_name):
        try:
            # listed here: a generator's objects (a Validator refusing its severity) are made now
            items = list(impl.function(**{a: kwargs[a] for a in impl.argnames}) or ())
        except FastCommerceError:  # already in our words (a bad setting, a refused name)
            raise
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r} raised {type(exc).__name__} in {hook}: {exc}") from exc
        out.extend((impl.plugin_name, item) for item in items)
    return out


def collect_streams(pm: pluggy.PluginManager) -> StreamRegistry:
    """The registered streams, each attributed to its plugin. Each plugin's answer comes
    from an ordinary pluggy hook call (a caller holding that plugin's implementation), so
    hook-call monitoring and wrappers see it; plugins are asked in name order."""
    plugins = {n: p for n, p in pm.list_name_plugin() if p is not None}
    items: list[tuple[str, Any]] = []
    for name in sorted(plugins):
        if not any(c.name == "register_streams" for c in pm.get_hookcallers(plugins[name]) or ()):
            continue
        others = [p for n, p in plugins.items() if n != name]
        caller = pm.subset_hook_caller("register_streams", remove_plugins=others)
        try:
            answers = [list(answer or ()) for answer in caller()]
        except FastCommerceError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {name!r} raised {type(exc).__name__} in register_streams: {exc}") from exc
        items.extend((name, stream) for answer in answers for stream in answer)
    return StreamRegistry(items)


@functools.cache
def builtin_reports() -> dict[str, Any]:
    """The report functions the built-in plugins register, by name: what the names
    ``fastcommerce.reports.revenue`` and the like resolve to (see :mod:`fastcommerce.reports`)."""
    pm = make_plugin_manager(load_entrypoints=False)
    return {spec.name: spec.function for _, spec in collect(pm, "register_reports")}


@attrs.frozen(kw_only=True, slots=True)
class PluginInfo:
    name: str
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


def describe(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Name, distribution version and hooks of each registered plugin."""
    versions = {
        pm.get_name(plugin): dist.version for plugin, dist in pm.list_plugin_distinfo()
    }
    infos = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda np: np[0]):
        if plugin is None:
            continue
        hooks = tuple(sorted(c.name for c in (pm.get_hookcallers(plugin) or ())))
        builtin = name in BUILTIN_PLUGINS
        version = versions.get(name) or _module_version(plugin)
        if builtin:
            version = __version__
        infos.append(PluginInfo(name=name, version=version, hooks=hooks, builtin=builtin))
    return infos


READING_HOOKS = frozenset({"register_schemas", "register_upcasters", "register_validators", "configure_converter"})
# The core's side of reading: what a built-in plugin's behaviour also depends on.
_READING_CORE = ("canonical", "contract", "converter", "decoding", "events", "money", "reading", "times", "upcasting",
                 "validation", "builtins._shared")


def reading_fingerprint(pm: pluggy.PluginManager) -> str:
    """Which plugins, in which versions, decide how the log reads (its variants, upcasters,
    validators and converter), sorted. Projections built under another set are stale,
    whatever their own version says, so the runner rebuilds them.

    A plugin is named by what it is, not by the name it was registered under (an entry
    point ``fraud`` and the module ``fastcommerce_fraud`` registered in code are one
    plugin): its module, or its class for an instance. Its version is its distribution's
    (``?`` when it has none, as for a class in a test). The built-ins carry a digest of
    their source and the core's reading code, so a change to a built-in validator rebuilds
    the projections even when fastcommerce's version did not move."""
    return ";".join(sorted(_plugin_versions(pm).values()))


def _plugin_versions(pm: pluggy.PluginManager) -> dict[str, str]:
    """``registered name -> identity==version`` of every plugin with a reading hook."""
    versions = {id(plugin): dist.version for plugin, dist in pm.list_plugin_distinfo()}
    out = {}
    for name, plugin in pm.list_name_plugin():
        if plugin is None or not READING_HOOKS.intersection(c.name for c in pm.get_hookcallers(plugin) or ()):
            continue
        module, identity = _identity(plugin)
        if name in BUILTIN_PLUGINS:
            version = _builtin_reading_digest(name)
        else:
            version = versions.get(id(plugin)) or _distribution_version(module) or "?"
        out[name] = f"{identity}=={version}"
    return out


def decoder_plugins(pm: pluggy.PluginManager, touched: Iterable[tuple[str, str]],
                    catalog: str | None = None) -> dict[str, str]:
    """Per stream, the plugins (``identity==version``, sorted, ``;``-joined) whose hooks
    decide how its records decode: those that registered one of its schemas, upcasters or
    validators, every converter hook, and (for every stream but ``catalog``, the stream of
    the catalog role, whose versions the others are checked against) the catalog's. ``touched``: ``(plugin, stream)`` pairs."""
    versions = _plugin_versions(pm)
    by_stream: dict[str, set[str]] = {}
    for plugin, stream in touched:
        if plugin in versions:
            by_stream.setdefault(stream, set()).add(versions[plugin])
    everywhere = {versions[impl.plugin_name] for impl in pm.hook.configure_converter.get_hookimpls()
                  if impl.plugin_name in versions}
    products = by_stream.get(catalog, set()) if catalog is not None else set()
    return {stream: ";".join(sorted(parts | everywhere | (products if stream != catalog else set())))
            for stream, parts in by_stream.items()}


@functools.cache
def _builtin_reading_digest(plugin: str) -> str:
    """A built-in plugin's version: fastcommerce's, and a digest of its module and of the
    core's reading code (a change to another built-in, a projection say, leaves it alone)."""
    digest = hashlib.blake2b(digest_size=6)
    for module in sorted({plugin, *(f"fastcommerce.{m}" for m in _READING_CORE)}):
        file = getattr(importlib.import_module(module), "__file__", None)
        digest.update(Path(file).read_bytes() if file else module.encode())
    return f"{__version__}+{digest.hexdigest()}"


@functools.cache
def _distribution_version(module: str) -> str | None:
    """The version of the installed distribution holding ``module``'s top-level package
    (the first call scans the installed packages: ~0.2 s, once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in _packages_distributions().get(module.split(".")[0], []):
        try:
            return version(dist)
        except PackageNotFoundError:  # pragma: no cover
            continue
    return None


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _identity(plugin: Any) -> tuple[str, str]:
    """``(module, identity)`` of a plugin object: a module is itself; a class, or the class
    of an instance, is its module and qualified name."""
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__, plugin.__name__
    cls = plugin if isinstance(plugin, type) else type(plugin)
    return cls.__module__, f"{cls.__module__}.{cls.__qualname__}"


def _module_version(plugin: Any) -> str | None:
    """The installed distribution version of a plugin registered in code, if any."""
    return _distribution_version(_identity(plugin)[0])
