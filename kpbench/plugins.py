"""The plugin manager: built-ins and third-party plugins, all through the ``kpbench`` entry points.

A plugin that fails to import, register or answer a hook is kept as data (name, source,
error) for ``kpbench list`` and the log; it never takes the other plugins down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from kpbench import hookspecs
from kpbench.errors import PluginError
from kpbench.specs import (
    DatasetSpec,
    ExporterSpec,
    MethodSpec,
    MetricSpec,
    PresetSpec,
    ReportFormatSpec,
    TaskSpec,
)

log = logging.getLogger("kpbench")

ENTRY_POINT_GROUP = "kpbench"
_HOOKS = {
    "tasks": ("kpbench_tasks", TaskSpec),
    "datasets": ("kpbench_datasets", DatasetSpec),
    "methods": ("kpbench_methods", MethodSpec),
    "metrics": ("kpbench_metrics", MetricSpec),
    "report_formats": ("kpbench_report_formats", ReportFormatSpec),
    "exporters": ("kpbench_exporters", ExporterSpec),
    "presets": ("kpbench_presets", PresetSpec),
}


@dataclass
class PluginInfo:
    """One plugin as ``kpbench list`` shows it.

    Attributes:
        name: the entry-point (or registration) name.
        source: ``"built-in"``, ``"<distribution> <version>"`` or ``"in-process"``.
        error: why it could not be used, or None when it works.
        provides: record names per kind (``{"methods": ["bkind"]}``).
    """

    name: str
    source: str
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Entry:
    """A record (dataset/method/metric spec) and the plugin that offered it."""

    spec: Any
    plugin: PluginInfo


class Registry:
    """Plugins and what they offer, validated and de-duplicated.

    Args:
        load_entrypoints: load every installed distribution's ``kpbench`` entry points
            (the built-ins are installed the same way).
    """

    def __init__(self, load_entrypoints: bool = True):
        self.pm = pluggy.PluginManager("kpbench")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._cache: dict[str, dict[str, Entry]] | None = None
        if load_entrypoints:
            self._load_entrypoints()

    # -- registration -------------------------------------------------------------------------
    def _load_entrypoints(self) -> None:
        """Register every ``kpbench`` entry point, the built-ins first.

        Built-ins go first so a third-party plugin never takes a built-in's name, nor (through
        the first-one-wins rule of :meth:`_collect`) its records.
        """
        found = [(ep, _source(ep)) for ep in entry_points(group=ENTRY_POINT_GROUP)]
        for ep, source in sorted(found, key=lambda item: item[1] != "built-in"):
            name = self._free_name(ep.name, source)
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin is data, not a crash
                self._broken(name, source, f"import failed: {type(exc).__name__}: {exc}")
                continue
            self.register(obj, name=name, source=source)

    def _free_name(self, name: str, source: str) -> str:
        """``name``, or when a plugin already has it, ``"<name> (<source>)"`` (then ``#2``, ...).

        A taken name is never reused: both plugins stay registered and listed, and a warning
        names both sources.
        """
        taken = set(self.plugins) | {n for n, _ in self.pm.list_name_plugin()}
        if name not in taken:
            return name
        free, n = f"{name} ({source})", 2
        while free in taken:
            free, n = f"{name} ({source})#{n}", n + 1
        other = self.plugins.get(name)
        log.warning(
            "plugin name %r is taken by %s and claimed again by %s; the second is registered as %r",
            name,
            other.source if other else "another plugin",
            source,
            free,
        )
        return free

    def _broken(self, name: str, source: str, error: str) -> None:
        self.plugins[name] = PluginInfo(name, source, error)
        log.warning("plugin %r (%s) is disabled: %s", name, source, error)

    def register(
        self, plugin: object, name: str | None = None, source: str = "in-process"
    ) -> PluginInfo:
        """Register a plugin object or module carrying ``@kpbench.hookimpl`` functions.

        Args:
            plugin: the object or module.
            name: its name in ``kpbench list`` (default: its ``__name__`` or class name). A
                name another plugin already has becomes ``"<name> (<source>)"`` (see
                :meth:`_free_name`); the plugin already there is kept as it was.
            source: where it comes from, for ``kpbench list`` and warnings.

        Returns:
            Its :class:`PluginInfo`; ``error`` says why it is disabled, if it is.
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self.plugins or self.pm.get_plugin(name) is not None:
            name = self._free_name(name, source)
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.get_plugin(name) is plugin:  # only ever undo this registration
                self.pm.unregister(plugin=plugin, name=name)
            self._broken(name, source, f"registration failed: {type(exc).__name__}: {exc}")
            return self.plugins[name]
        info = PluginInfo(name, source)
        self.plugins[name] = info
        self._cache = None
        return info

    def unregister(self, name: str) -> None:
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        self.plugins.pop(name, None)
        self._cache = None

    # -- collecting records ---------------------------------------------------------------------
    def _collect(self) -> dict[str, dict[str, Entry]]:
        if self._cache is not None:
            return self._cache
        out: dict[str, dict[str, Entry]] = {kind: {} for kind in _HOOKS}
        for info in self.plugins.values():
            info.provides = {}
        for kind, (hook_name, record_type) in _HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = self.plugins.get(impl.plugin_name)
                if info is None or info.error:
                    continue
                try:
                    records = list(impl.function() or [])
                    bad = [r for r in records if not isinstance(r, record_type)]
                    if bad:
                        raise TypeError(
                            f"{hook_name} returned {type(bad[0]).__name__}, expected {record_type.__name__}"
                        )
                except Exception as exc:
                    info.error = f"{hook_name} failed: {type(exc).__name__}: {exc}"
                    log.warning(
                        "plugin %r (%s) is disabled: %s", info.name, info.source, info.error
                    )
                    continue
                for rec in records:
                    key = f"{rec.task}/{rec.name}" if kind in ("metrics", "exporters") else rec.name
                    if key in out[kind]:
                        other = out[kind][key].plugin
                        log.warning(
                            "%s %r is offered by plugin %r (%s) and by %r (%s); using the first",
                            kind[:-1],
                            key,
                            other.name,
                            other.source,
                            info.name,
                            info.source,
                        )
                        continue
                    out[kind][key] = Entry(rec, info)
                    info.provides.setdefault(kind, []).append(rec.name)
        # a plugin disabled by a failing hook offers nothing at all
        for kind in out:
            out[kind] = {k: e for k, e in out[kind].items() if not e.plugin.error}
        self._cache = out
        return out

    def tasks(self) -> dict[str, Entry]:
        return self._collect()["tasks"]

    def task(self, name: str) -> TaskSpec:
        entries = self.tasks()
        if name not in entries:
            raise PluginError(_unknown("task", name, entries, self.errors()))
        return entries[name].spec

    def datasets(self) -> dict[str, Entry]:
        return self._collect()["datasets"]

    def methods(self) -> dict[str, Entry]:
        return self._collect()["methods"]

    def metrics(self, task: str | None = None) -> list[MetricSpec]:
        specs = [e.spec for e in self._collect()["metrics"].values()]
        return [m for m in specs if task is None or m.task == task]

    def exporters(self, task: str | None = None) -> list[Entry]:
        """Prediction exporters (with the plugin offering each), of ``task`` when given."""
        entries = self._collect()["exporters"].values()
        return [e for e in entries if task is None or e.spec.task == task]

    def report_formats(self) -> dict[str, Entry]:
        return self._collect()["report_formats"]

    def report_format(self, name: str) -> ReportFormatSpec:
        """The ``compare --format`` called ``name``.

        Raises:
            ConfigError: no installed plugin offers it (the message lists those that exist).
        """
        from kpbench.errors import ConfigError

        entries = self.report_formats()
        if name not in entries:
            broken = [p.name for p in self.errors()]
            extra = f"; plugins that failed to load: {', '.join(broken)}" if broken else ""
            raise ConfigError(
                f"--format {name!r} is unknown; valid formats: {', '.join(sorted(entries))}{extra}"
            )
        return entries[name].spec

    def presets(self) -> dict[str, Entry]:
        """Run presets (``--preset NAME``), the built-in layers included."""
        return self._collect()["presets"]

    def errors(self) -> list[PluginInfo]:
        self._collect()
        return [p for p in self.plugins.values() if p.error]

    def method(self, name: str) -> MethodSpec:
        entries = self.methods()
        if name not in entries:
            raise PluginError(_unknown("method", name, entries, self.errors()))
        return entries[name].spec

    def dataset(self, name: str) -> DatasetSpec:
        entries = self.datasets()
        if name not in entries:
            raise PluginError(_unknown("dataset", name, entries, self.errors()))
        return entries[name].spec

    def pairs(self) -> list[tuple[str, str, list[str]]]:
        """Every (dataset, method, shared tasks) that can run."""
        out = []
        for d in self.datasets().values():
            for m in self.methods().values():
                shared = [t for t in m.spec.tasks if t in d.spec.tasks]
                if shared:
                    out.append((d.spec.name, m.spec.name, shared))
        return out


def _source(ep: Any) -> str:
    """Where an entry point comes from: ``"built-in"`` or ``"<distribution> <version>"``."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "entry point"
    if dist.metadata["Name"] == "kpbench":
        return "built-in"
    return f"{dist.metadata['Name']} {dist.version}"


def _unknown(kind: str, name: str, entries: dict, errors: list[PluginInfo]) -> str:
    msg = f"unknown {kind} {name!r}; available: {', '.join(sorted(entries)) or 'none'}"
    broken = [p.name for p in errors]
    if broken:
        msg += f" (plugins that failed to load: {', '.join(broken)}; see `kpbench list`)"
    return msg


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry (built on first use)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY


def reset_registry(registry: Registry | None = None) -> None:
    """Replace the process-wide registry (tests use this for isolation)."""
    global _REGISTRY
    _REGISTRY = registry
