"""Plugin registries: probe and remediation types by name, from entry points or injected.

Like prometheus_client's registry, a duplicate name is rejected with its own error rather
than silently shadowing the first.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from watchdog.common.errors import PluginError

PROBE_GROUP = "runbook_watchdog.probes"
REMEDIATION_GROUP = "runbook_watchdog.remediations"

P = TypeVar("P")


class DuplicatePluginError(PluginError):
    """Two plugins claim the same name in one group."""


class Registry(Generic[P], Mapping[str, P]):
    """Name -> plugin class for one entry-point group."""

    def __init__(self, kind: str, plugins: Mapping[str, P] | None = None) -> None:
        self.kind = kind
        self._plugins: dict[str, P] = {}
        for name, plugin in (plugins or {}).items():
            self.register(name, plugin)

    def register(self, name: str, plugin: P, origin: str = "") -> None:
        if name in self._plugins:
            raise DuplicatePluginError(
                f"two {self.kind} types are named {name!r}{' (' + origin + ')' if origin else ''}"
            )
        self._plugins[name] = plugin

    def __getitem__(self, name: str) -> P:
        return self._plugins[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._plugins)

    def __len__(self) -> int:
        return len(self._plugins)

    @classmethod
    def from_entry_points(cls, group: str, kind: str) -> Registry[P]:
        registry: Registry[P] = cls(kind)
        for ep in importlib.metadata.entry_points(group=group):
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(f"{kind} type {ep.name!r} ({ep.value}) failed to load: {exc}") \
                    from exc
            dist = ep.dist.name if ep.dist is not None else "?"
            registry.register(ep.name, plugin, origin=f"{ep.value} from {dist}")
        return registry
