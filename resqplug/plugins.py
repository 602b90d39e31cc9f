"""The plugin manager: entry points, code registration, blocking, listing and
job-option ownership."""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections.abc import Iterable
from typing import Any

import pluggy

from . import hookspecs, options
from .errors import ConfigError, StopRun
from .errors import ConnectionError as ResqplugConnectionError
from .hookcall import Caller, fast_caller
from .writes import check_fragments

log = logging.getLogger("resqplug.plugins")


def redis_down(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis could not be reached (expected during an
    outage: worth one log line, not a traceback). redis-py is not imported for
    this: a process that never loaded it (a fork server's job child) cannot
    have got one of its errors."""
    if isinstance(exc, ResqplugConnectionError):
        return True
    rex = sys.modules.get("redis.exceptions")
    return rex is not None and isinstance(exc, (rex.ConnectionError, rex.TimeoutError))


ENTRY_POINT_GROUP = "resqplug"
DISABLE_ENV = "RESQPLUG_DISABLE_PLUGINS"


class Plugins:
    """A pluggy PluginManager plus what resqplug adds around it."""

    def __init__(self, load_entry_points: bool = True, disabled: Iterable[str] = ()) -> None:
        from .builtin import CorePlugin

        self.pm = pluggy.PluginManager("resqplug")
        self.pm.add_hookspecs(hookspecs)
        self.hook = self.pm.hook
        self._lock = threading.RLock()
        _MANAGERS.add(self)
        self._options_ok: dict[type, bool] = {}
        self._declared: dict[str, options.Declared] | None = None
        self._impls: dict[str, list[Any]] = {}
        self._callers: dict[str, Caller] = {}
        self._fragments: dict[str, str] | None = None
        self._core = CorePlugin()
        self.pm.register(self._core, name="core")
        self.pm.hook.add_hookspecs.call_historic(kwargs={"pm": SpecAdder(self.pm)})
        self.disabled = {n for n in disabled if n and n != "core"}
        for name in self.disabled:
            self.pm.set_blocked(name)
        if load_entry_points:
            self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        self.pm.check_pending()

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register ``plugin`` (any object with hookimpls). An earlier plugin of
        the same name, including one from an entry point, is replaced."""
        with self._lock:
            name = name or type(plugin).__name__.lower()
            if name == "core":
                raise ConfigError("the plugin name 'core' is reserved")
            if self.pm.is_blocked(name):
                log.info("plugin %s is disabled by %s; not registering it", name, DISABLE_ENV)
                return name
            replaced = self.pm.unregister(name=name) if self.pm.has_plugin(name) else None
            try:
                self.pm.register(plugin, name=name)
                self.pm.check_pending()
            except (pluggy.PluginValidationError, ValueError) as exc:
                if self.pm.is_registered(plugin):
                    self.pm.unregister(plugin)
                if replaced is not None:
                    self.pm.register(replaced, name=name)
                raise ConfigError(f"plugin {name!r} was refused: {exc}") from exc
            finally:
                self._forget()
            return name

    def _forget(self) -> None:
        self._options_ok.clear()
        self._declared = None
        self._impls.clear()
        self._callers.clear()
        self._fragments = None

    def write_fragments(self) -> dict[str, str]:
        """Every loaded plugin's write fragments (hook ``write_scripts``), by
        name. The same dict object until plugins change, so a caller can tell
        by identity when to rebuild what it composed from it."""
        fragments = self._fragments
        if fragments is None:
            with self._lock:
                found: list[tuple[str, Any]] = [
                    (impl.plugin_name, impl.function())
                    for impl in self.hook.write_scripts.get_hookimpls()
                ]
                fragments = self._fragments = check_fragments(
                    (name, answer or {}) for name, answer in found
                )
        return fragments

    def implemented(self, hook_name: str) -> bool:
        """Whether any plugin implements ``hook_name`` (wrappers included)."""
        return bool(getattr(self.hook, hook_name).get_hookimpls())

    def caller(self, hook_name: str) -> Caller:
        """A per-job hook's implementations as one function taking the hook's
        arguments positionally (see resqplug.hookcall); built once until
        plugins change."""
        found = self._callers.get(hook_name)
        if found is None:
            found = self._callers[hook_name] = fast_caller(getattr(self.hook, hook_name))
        return found

    def unregister(self, name: str) -> None:
        with self._lock:
            if name != "core" and self.pm.has_plugin(name):
                self.pm.unregister(name=name)
                self._forget()

    def entry_point_specs(self) -> list[tuple[str, str]]:
        """(name, "module:attr") of each loaded entry-point plugin, so another
        process can load the same ones without reading package metadata."""
        specs = []
        for _, dist in self.pm.list_plugin_distinfo():
            for ep in dist.entry_points:
                if ep.group == ENTRY_POINT_GROUP and self.pm.get_plugin(ep.name) is not None:
                    specs.append((ep.name, ep.value))
        return list(dict.fromkeys(specs))

    def load_specs(self, specs: Iterable[tuple[str, str]]) -> None:
        """Register plugins named as by entry_point_specs (another process's)."""
        import importlib

        for name, value in specs:
            module, _, attr = value.partition(":")
            plugin: Any = importlib.import_module(module.strip())
            for part in filter(None, attr.strip().split(".")):
                plugin = getattr(plugin, part)
            self.register(plugin, name=name)

    def names(self) -> list[str]:
        return [n for n, p in self.pm.list_name_plugin() if p is not None]

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, distribution, version) of every loaded plugin, core first."""
        from . import __version__

        dists = {id(p): d for p, d in self.pm.list_plugin_distinfo()}
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked by RESQPLUG_DISABLE_PLUGINS
                continue
            dist = dists.get(id(plugin))
            if name == "core":
                rows.append((name, "resqplug", __version__))
            elif dist is not None:
                rows.append((name, dist.project_name, dist.version))
            else:
                version = getattr(plugin, "__version__", None) or "-"
                rows.append((name, "(registered in code)", str(version)))
        return rows

    def declared_options(self) -> dict[str, options.Declared]:
        """Every job option the loaded plugins declare in ``job_options()``,
        by name, with the declaring plugin. Cached until plugins change."""
        declared = self._declared
        if declared is None:
            impls = reversed(self.hook.job_options.get_hookimpls())  # registration order
            declared = options.collect((i.plugin_name, i.function()) for i in impls)
            self._declared = declared
        return declared

    def owned_options(self) -> set[str]:
        """The names of the declared job options."""
        return set(self.declared_options())

    def check_job_options(self, job_class: type) -> None:
        """Check ``job_class``'s options against the declared ones (the rule is
        in resqplug.options): ``UnknownOptionError`` for a likely typo of a
        declared name, a warning (once per class) for an option no loaded
        plugin declares. Cached per class until plugins change: after the first
        call, one dict lookup (it runs at every enqueue and job load)."""
        if self._options_ok.get(job_class):
            return
        with self._lock:
            if not self._options_ok.get(job_class):  # another thread may have checked it
                options.check_class(job_class, self.declared_options())
                self._options_ok[job_class] = True

    def _plain_impls(self, hook_name: str) -> list[Any]:
        """Non-wrapper implementations in call order, cached until plugins change."""
        found = self._impls.get(hook_name)
        if found is None:
            impls = reversed(getattr(self.hook, hook_name).get_hookimpls())
            found = [i for i in impls if not (i.hookwrapper or i.wrapper)]
            self._impls[hook_name] = found
        return found

    def call_each(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of a notification hook, logging (not
        raising) the errors of each with its plugin's name. A plugin's
        ``SystemExit`` or ``GeneratorExit`` is such an error too (it must not
        skip the plugins after it or stop a worker); only the worker's own
        ``StopRun`` and a ``KeyboardInterrupt`` (the caller's Ctrl-C) pass."""
        for impl in self._plain_impls(hook_name):
            try:
                impl.function(*[kwargs[n] for n in impl.argnames])
            except (StopRun, KeyboardInterrupt):
                raise
            except BaseException as exc:
                if not redis_down(exc):
                    log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)
                    continue
                log.warning(  # expected while Redis is away: one line
                    "plugin %s could not reach Redis in %s: %s", impl.plugin_name, hook_name, exc
                )


class SpecAdder:
    """What ``add_hookspecs(pm)`` receives: a plugin manager whose
    ``add_hookspecs`` skips hooks that already have a specification, so a plugin
    that adds hooks can be replaced or registered again."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm

    def add_hookspecs(self, module_or_class: object) -> None:
        marker = f"{self._pm.project_name}_spec"
        new = {
            name: getattr(module_or_class, name)
            for name in dir(module_or_class)
            if getattr(getattr(module_or_class, name), marker, None) is not None
            and getattr(getattr(self._pm.hook, name, None), "spec", None) is None
        }
        if new:
            self._pm.add_hookspecs(type("HookSpecs", (), new))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pm, name)


_plugins: Plugins | None = None
_plugins_lock = threading.Lock()
_MANAGERS: weakref.WeakSet[Plugins] = weakref.WeakSet()


def _new_locks_after_fork() -> None:
    """In a forked child, locks no other thread holds: a fork worker forks
    while its ack thread may hold a manager's lock (building the write
    fragments), and the child, which has no such thread, would wait forever."""
    global _plugins_lock
    _plugins_lock = threading.Lock()
    for manager in list(_MANAGERS):
        manager._lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_after_fork)


def disabled_from_env() -> list[str]:
    return [n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()]


def get_plugins() -> Plugins:
    """The process-wide plugin manager, built (and entry points loaded) on first use."""
    global _plugins
    if _plugins is None:
        with _plugins_lock:
            if _plugins is None:
                _plugins = Plugins(disabled=disabled_from_env())
    return _plugins


def use_plugins(plugins: Plugins) -> None:
    """Make ``plugins`` the process-wide manager (a fork server, which builds
    its own from the worker's list instead of reading package metadata)."""
    global _plugins
    with _plugins_lock:
        _plugins = plugins


def reset_plugins() -> None:
    """Forget the process-wide manager; the next use rebuilds it (tests, reload)."""
    global _plugins
    with _plugins_lock:
        _plugins = None


def register(plugin: object, name: str | None = None) -> str:
    return get_plugins().register(plugin, name)


def unregister(name: str) -> None:
    get_plugins().unregister(name)
