"""Stage 1 of the pipeline, acquisition: the probe contract and what probes are given.

A probe type is a class found through the `runbook_watchdog.probes` entry-point group. It
declares `Params` (a frozen pydantic model of its own config keys, unknown keys rejected)
and `causes` (its cause vocabulary), and is built as `ProbeType(params, ctx)`, where `ctx`
carries its name, its timeout and the process-wide resources. Its
one I/O method `check()` returns an `Observation`; it translates its library's exceptions
into causes itself. Anything it fails to translate is caught by the scheduler's single
error boundary and reported as UNKNOWN. A type may also declare `common_defaults`, a
mapping of common keys (`severity`, `runbook`) whose default differs for that type, and
`configured_causes(params)`, a classmethod, when its config adds causes to `causes` (the
logs probe's own rules): `validate` checks a remediation's `on: probe:cause` against it.
`config_problems(params, common)`, a classmethod, returns (key, problem) pairs for its own
keys that conflict with common ones (socketio's `hold` must fit in `timeout`); the config
loader reports them like any other config error.

A type may declare `warning_causes`, the causes among `causes` that are warnings (the
certificate expires soon, the answer was slow, a file stopped growing) rather than "down".
Every other failing cause is an outage. A warning never triggers an action that changes
something (restart, rollback, cleanup, switch, block); only a safe one (evidence capture).
`unknown_causes` are those it reports as UNKNOWN (it could not tell), which trigger nothing.

The contract is enforced when a type is registered (`ProbeRegistry`, an entry point or an
injected class): `Params` must subclass `ProbeParams`, `causes` must be a set of strings,
`warning_causes` and `unknown_causes`, if declared, subsets of `causes`, and `check` and
`aclose` must be coroutine functions.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict

from watchdog.common.clock import Clock
from watchdog.common.registry import PROBE_GROUP, Contract, Registry
from watchdog.common.state import StateStore
from watchdog.peers.http import http_client
from watchdog.pipeline.blocking import BlockingPools
from watchdog.pipeline.blocking import BlockingTimeout as BlockingTimeout
from watchdog.pipeline.observation import Observation
from watchdog.runtime.config_models import WatchdogSettings

T = TypeVar("T")
DEFAULT_POOL = "files"  # file scans and parsing; peers with a blocking SDK name their own


class ProbeParams(BaseModel):
    """Base of every probe type's own config keys: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@runtime_checkable
class Probe(Protocol):
    async def check(self) -> Observation:
        """Run the check once; return what was seen."""
        ...

    async def aclose(self) -> None:
        """Release clients; called on reload and shutdown."""
        ...


class ProbeType(Protocol):
    """A probe class (read-only members, so that a class object matches the protocol)."""

    @property
    def Params(self) -> type[BaseModel]: ...

    @property
    def causes(self) -> AbstractSet[str]: ...

    def __call__(self, params: Any, ctx: ProbeContext) -> Probe: ...


PROBE_CONTRACT = Contract("probe", PROBE_GROUP, ProbeParams, coroutines=("check", "aclose"),
                          causes=True)


def warning_causes(probe_type: object) -> frozenset[str]:
    """The causes of a probe type that are warnings, not outages (empty if it declares none)."""
    return frozenset(getattr(probe_type, "warning_causes", frozenset()))


def outage_causes(probe_type: object, params: BaseModel | None = None) -> frozenset[str]:
    """The causes of a probe type (with its config's own, given `params`) that mean down."""
    configured = getattr(probe_type, "configured_causes", None)
    causes = configured(params) if configured is not None and params is not None \
        else getattr(probe_type, "causes", frozenset())
    unknown = frozenset(getattr(probe_type, "unknown_causes", frozenset()))
    return frozenset(causes) - warning_causes(probe_type) - unknown - {"ok"}


class ProbeRegistry(Registry[ProbeType]):
    """Probe types by name, each checked against the probe contract."""

    contract = PROBE_CONTRACT


class Resources:
    """Process-wide resources for probes: one HTTP client, bounded blocking pools, state, clock."""

    def __init__(
        self,
        settings: WatchdogSettings,
        store: StateStore | None,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self._http: httpx.AsyncClient | None = None
        # The docker SDK and other blocking libraries run here, never on the event loop:
        # one bounded pool per kind of peer, so a hung one cannot starve the others.
        self.pools = BlockingPools(settings.blocking_workers)

    def http(self) -> httpx.AsyncClient:
        """The process-wide AsyncClient over aiohttp (watchdog/peers/http.py); building one
        costs ~20 ms and ~1 MB: share it."""
        if self._http is None:
            self._http = http_client()
        return self._http

    async def run_blocking(self, fn: Callable[..., T], *args: Any, timeout: float,
                           pool: str = DEFAULT_POOL) -> T:
        """Run `fn(*args)` in the `pool` kind's threads; BlockingTimeout after `timeout`
        running, WatchdogOverloaded after `timeout` queued (see watchdog/pipeline/blocking.py)."""
        return await self.pools[pool].run(fn, *args, timeout=timeout)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self.pools.shutdown()


class ProbeContext:
    """What one probe instance is given: its name and timeout, and the shared resources."""

    def __init__(self, name: str, timeout: float, resources: Resources) -> None:
        self.name = name
        self.timeout = timeout
        self.resources = resources

    @property
    def settings(self) -> WatchdogSettings:
        return self.resources.settings

    @property
    def store(self) -> StateStore | None:
        return self.resources.store

    @property
    def clock(self) -> Clock:
        return self.resources.clock

    def http(self) -> httpx.AsyncClient:
        return self.resources.http()

    async def run_blocking(self, fn: Callable[..., T], *args: Any,
                           timeout: float | None = None, pool: str = DEFAULT_POOL) -> T:
        """Run a blocking call in a bounded pool, within the probe's timeout by default."""
        return await self.resources.run_blocking(fn, *args, timeout=timeout or self.timeout,
                                                 pool=pool)
