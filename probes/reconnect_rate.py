"""Reconnect-rate probe (runbook §3.6): a WebSocket disconnect storm.

Counts, in a sliding window, the backend's `🔌 User connected/disconnected` lines (from a
container's log or a file) and the socket.io requests in the nginx access log (clients
falling back to polling when the upgrade fails). Either over its threshold is
`websocket_storm` (Sev2). Lines are read incrementally (positions in the state store) and
counted when read. A storm is one finding however many lines it has: it names no
distinct clients, so the escalation rule counts it once.

Causes: websocket_storm, no_source (UNKNOWN), docker_timeout / docker_unreachable /
docker_error (UNKNOWN).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from probes import _window
from probes._accesslog import parse
from probes._logread import LogSource
from watchdog.common.durations import Duration
from watchdog.peers.docker import DOCKER_CAUSES, DockerUnavailable
from watchdog.pipeline.observation import Observation, Status, failed, unknown
from watchdog.pipeline.probe import ProbeContext, ProbeParams

NS = "reconnect_rate.state"
HINT = ("WebSocket reconnect storm: check nginx has proxy_http_version 1.1, "
        "proxy_set_header Upgrade $http_upgrade and Connection \"upgrade\" for /socket.io/; "
        "raise proxy_read_timeout; client clock skew; then restart nginx and the backend "
        "(runbook §3.6)")


class ReconnectParams(ProbeParams):
    container: str | None = None
    path: Path | None = None  # the backend's log file, instead of a container
    pattern: str = r"🔌 User (?:connected|disconnected)"
    access_log: Path | None = None
    socketio_path: str = "/socket.io/"
    threshold: Annotated[int, Field(ge=1)] = 120  # connect/disconnect lines per window
    socketio_threshold: Annotated[int, Field(ge=1)] | None = None  # default: threshold
    within: Duration = 60.0
    lookback: Duration = 60.0
    storm_severity: str | None = "sev2"  # the runbook's severity for §3.6

    @model_validator(mode="after")
    def _a_source(self) -> ReconnectParams:
        if self.container is not None and self.path is not None:
            raise ValueError("give `container` or `path`, not both")
        if self.container is None and self.path is None and self.access_log is None:
            raise ValueError("give `container` or `path`, and/or `access_log`")
        return self


class ReconnectRateProbe:
    Params: ClassVar[type[ReconnectParams]] = ReconnectParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "websocket_storm", "no_source", "docker_timeout", "docker_unreachable",
         "docker_error"})
    # Reported UNKNOWN (nothing certain was learnt): never trigger anything.
    unknown_causes: ClassVar[frozenset[str]] = frozenset({"no_source", *DOCKER_CAUSES})

    def __init__(self, params: ReconnectParams, ctx: ProbeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.regex = re.compile(params.pattern)
        has_backend = params.container is not None or params.path is not None
        self.backend = LogSource(ctx, container=params.container, path=params.path,
                                 lookback=params.lookback, from_start=False) \
            if has_backend else None
        self.access = LogSource(ctx, container=None, path=params.access_log,
                                lookback=params.lookback, from_start=False) \
            if params.access_log is not None else None

    async def check(self) -> Observation:
        state = self._load()
        try:
            lines = await self._read(self.backend, state, "pos")
            requests = await self._read(self.access, state, "apos")
        except DockerUnavailable as exc:
            return exc.observation()
        except FileNotFoundError as exc:
            return unknown("no_source", str(exc))
        new_lines, new_requests = await self.ctx.run_blocking(self._count, lines, requests)
        return self._verdict(state, new_lines, new_requests)

    def _count(self, lines: tuple[str, ...], requests: tuple[str, ...]) -> tuple[int, int]:
        """In the executor: a cycle's lines can be many."""
        return (sum(1 for line in lines if self.regex.search(line)),
                sum(1 for line in requests if self._is_socketio(line)))

    def _load(self) -> dict[str, Any]:
        store = self.ctx.store
        saved = store.get(NS, self.ctx.name) if store is not None else None
        return saved if isinstance(saved, dict) else {}

    async def _read(self, source: LogSource | None, state: dict[str, Any],
                    key: str) -> tuple[str, ...]:
        if source is None:
            return ()
        got = await source.read(state.get(key))
        if got is None:
            raise FileNotFoundError(f"{source.label} does not exist")
        state[key] = got.position
        return got.lines

    def _is_socketio(self, line: str) -> bool:
        request = parse(line)
        return request is not None and request.path.startswith(self.params.socketio_path)

    def _verdict(self, state: dict[str, Any], new_lines: int, new_requests: int) -> Observation:
        now, within = self.ctx.clock.time(), self.params.within
        state["lines"] = _window.add(state.get("lines"), now, new_lines, within)
        state["requests"] = _window.add(state.get("requests"), now, new_requests, within)
        if self.ctx.store is not None:
            self.ctx.store.put(NS, self.ctx.name, state, now)
        lines = _window.total(state["lines"], now, within)
        requests = _window.total(state["requests"], now, within)
        values = {"reconnect_lines": float(lines), "socketio_requests": float(requests)}
        limit = self.params.socketio_threshold or self.params.threshold
        if lines <= self.params.threshold and requests <= limit:
            return Observation(Status.OK, "ok", f"{lines} reconnect lines and {requests} "
                               f"socket.io requests within {within:g}s", values=values)
        return failed("websocket_storm", f"WebSocket storm: {lines} connect/disconnect lines "
                      f"(threshold {self.params.threshold}) and {requests} socket.io requests "
                      f"(threshold {limit}) within {within:g}s", hint=HINT,
                      severity=self.params.storm_severity,
                      values=values)

    async def aclose(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()
