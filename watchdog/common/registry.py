"""Plugin registries: probe and remediation types by name, from entry points or injected.

Like prometheus_client's registry, a duplicate name is rejected with its own error rather
than silently shadowing the first. Every plugin class is checked against its kind's
`Contract` when it is registered, from an entry point or injected: a class that does not
declare what the contract needs is a `PluginError` at start, naming the plugin and all it
misses, rather than an AttributeError in the middle of a cycle. Each kind has its own
registry type (`ProbeRegistry` in watchdog.pipeline.probe, `RemediationRegistry` in
watchdog.remediation.contract), typed by its protocol.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeVar, cast

from pydantic import BaseModel

from watchdog.common.errors import PluginError

PROBE_GROUP = "runbook_watchdog.probes"
REMEDIATION_GROUP = "runbook_watchdog.remediations"


class Plugin(Protocol):
    """What every plugin type declares: the model of its own config keys."""

    @property
    def Params(self) -> type[BaseModel]: ...


P = TypeVar("P", bound=Plugin, covariant=True)
R = TypeVar("R", bound="Registry[Plugin]")


class DuplicatePluginError(PluginError):
    """Two plugins claim the same name in one group."""


@dataclass(frozen=True)
class Contract:
    """What a plugin class of one kind must declare, checked when it is registered."""

    kind: str  # "probe", "remediation": how errors name it
    group: str  # its entry-point group
    params_base: type[BaseModel]  # `Params` must subclass it
    coroutines: tuple[str, ...]  # methods it must have, each `async def`
    optional_coroutines: tuple[str, ...] = ()  # methods it may have, `async def` if it does
    causes: bool = False  # it declares `causes`, its cause vocabulary: a set of strings,
    # and may declare `warning_causes` and `unknown_causes`, subsets of it (see
    # watchdog/pipeline/probe.py)
    choices: Mapping[str, tuple[object, ...]] = field(default_factory=dict)  # optional
    # class attributes and the values they may take

    def problems(self, plugin: object) -> list[str]:
        """Everything `plugin` misses, in words; empty when it keeps the contract."""
        if not isinstance(plugin, type):
            return [f"is a {type(plugin).__name__}, not a class"]
        found = self._params(plugin)
        if self.causes:
            found += _causes(plugin)
        for name in self.coroutines:
            found += _coroutine(plugin, name, required=True)
        for name in self.optional_coroutines:
            found += _coroutine(plugin, name, required=False)
        for name, allowed in self.choices.items():
            value = getattr(plugin, name, allowed[0])
            if value not in allowed:
                found.append(f"{name} is {value!r}, not one of "
                             f"{', '.join(repr(a) for a in allowed)}")
        return found

    def _params(self, plugin: type) -> list[str]:
        base = self.params_base.__name__
        params = getattr(plugin, "Params", None)
        if params is None:
            return [f"Params is missing (a pydantic model subclassing {base})"]
        if not (isinstance(params, type) and issubclass(params, self.params_base)):
            return [f"Params is {_name(params)}, not a pydantic model subclassing {base}"]
        # The fields that name a probe, checked against the config by the loader.
        strays = [f for f in getattr(params, "probe_fields", ()) if f not in params.model_fields]
        if strays:
            return [f"Params.probe_fields names {', '.join(repr(f) for f in strays)}, not a "
                    f"field of {params.__name__}"]
        return []


def _causes(plugin: type) -> list[str]:
    causes = getattr(plugin, "causes", None)
    if causes is None:
        return ["causes is missing (a set of strings: the cause vocabulary)"]
    if not isinstance(causes, set | frozenset) or not all(isinstance(c, str) for c in causes):
        return [f"causes is {_short(causes)}, not a set of strings"]
    return [problem for name in ("warning_causes", "unknown_causes")
            for problem in _subset(plugin, name, causes)]


def _subset(plugin: type, name: str, causes: AbstractSet[str]) -> list[str]:
    """An optional class of causes (warnings, UNKNOWN ones): a subset of `causes`."""
    subset: object = getattr(plugin, name, frozenset())
    if not isinstance(subset, set | frozenset) or not all(isinstance(c, str) for c in subset):
        return [f"{name} is {_short(subset)}, not a set of strings"]
    strays = sorted(subset - causes)
    return [f"{name} names {', '.join(repr(c) for c in strays)}, not in causes"] if strays \
        else []


def _coroutine(plugin: type, name: str, required: bool) -> list[str]:
    method = getattr(plugin, name, None)
    if method is None:
        return [f"{name}() is missing (an async method)"] if required else []
    if not inspect.iscoroutinefunction(method):
        return [f"{name}() is not a coroutine function (it must be `async def`)"]
    return []


def _name(obj: object) -> str:
    return obj.__qualname__ if isinstance(obj, type) else type(obj).__name__


def _short(obj: object) -> str:
    text = repr(obj)
    return f"{type(obj).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _origin(plugin: object) -> str:
    """Where an injected plugin comes from: `module:QualName`."""
    module = getattr(plugin, "__module__", "?")
    return f"{module}:{getattr(plugin, '__qualname__', type(plugin).__name__)}"


class Registry(Mapping[str, P]):
    """Name -> plugin class for one kind (one entry-point group), each checked on the way in.

    A subclass names its kind's `contract`; `P` is the protocol the checked classes keep.
    """

    contract: ClassVar[Contract]

    def __init__(self, plugins: Mapping[str, object] | None = None) -> None:
        self._plugins: dict[str, P] = {}
        for name, plugin in (plugins or {}).items():
            self.register(name, plugin, origin=_origin(plugin))

    @property
    def kind(self) -> str:
        return self.contract.kind

    def register(self, name: str, plugin: object, origin: str = "") -> None:
        where = f" ({origin})" if origin else ""
        if name in self._plugins:
            raise DuplicatePluginError(f"two {self.kind} types are named {name!r}{where}")
        problems = self.contract.problems(plugin)
        if problems:
            raise PluginError(f"{self.kind} type {name!r}{where} does not keep the "
                              f"{self.kind} contract: {'; '.join(problems)}")
        self._plugins[name] = cast(P, plugin)

    def __getitem__(self, name: str) -> P:
        return self._plugins[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._plugins)

    def __len__(self) -> int:
        return len(self._plugins)

    @classmethod
    def from_entry_points(cls: type[R]) -> R:
        """Every installed plugin of the kind, each loaded and checked."""
        registry = cls()
        kind = registry.kind
        for ep in importlib.metadata.entry_points(group=registry.contract.group):
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(f"{kind} type {ep.name!r} ({ep.value}) failed to load: {exc}") \
                    from exc
            dist = ep.dist.name if ep.dist is not None else "?"
            registry.register(ep.name, plugin, origin=f"entry point {ep.value} from {dist}")
        return registry
