"""Helpers shared by the tests: free ports, readiness waits, real peer processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from watchdog.common.clock import SystemClock
from watchdog.common.state import StateStore
from watchdog.pipeline.observation import Observation
from watchdog.pipeline.probe import ProbeContext, Resources
from watchdog.pipeline.scheduler import Job, run_once
from watchdog.runtime.config_models import WatchdogSettings

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"
EXE = str(Path(sys.executable).parent / "runbook-watchdog")  # the installed console script
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], T | None], timeout: float = 20.0,
             what: str = "condition") -> T:
    """Poll `predicate` until it returns a truthy value; fail after `timeout` seconds.

    Synchronises on an observable condition (a port open, a status field), never on a
    fixed sleep.
    """
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # the peer may not be up yet
            last_exc = exc
        else:
            if value:
                return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc})")


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Await a condition while the loop keeps running (the async twin of `wait_for`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"condition not reached in {timeout}s"
        await asyncio.sleep(0.02)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.closing(socket.socket()) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class Process:
    """A peer or daemon in its own process, with its output captured to a file."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        self.env = env
        self.cwd = cwd or ROOT
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.cwd)
        out.close()
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class HttpPeer:
    """tests/peers/http_peer.py in its own process, on a fixed port so it can come back."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.process: Process | None = None

    def url(self, path: str = "/health") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> HttpPeer:
        self.process = Process([sys.executable, str(PEERS / "http_peer.py"), str(self.port)],
                               self.tmp / f"http-peer-{self.port}.log").start()
        wait_for(lambda: port_open(self.port), what=f"http peer on {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        wait_for(lambda: not port_open(self.port), what="http peer to stop")

    def set_mode(self, mode: str, **extra: str) -> None:
        httpx.post(self.url("/_control"), params={"mode": mode, **extra}).raise_for_status()


def daemon_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_WATCHDOG")}
    env.update(extra)
    return env


def metric_value(exposition: str, name: str, **labels: str) -> float | None:
    """One sample of a Prometheus text exposition, or None when it is not there."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return float(sample.value)
    return None


class Daemon:
    """The daemon as systemd runs it: `runbook-watchdog run --config CONFIG` in its own
    process on loopback. Tests synchronise on what it publishes (/healthz, /api/status,
    /metrics), never on sleeps.

    `Daemon(config, port, log)` runs a config file the test wrote (listening on `port`);
    `Daemon.from_config(dir, document)` writes one first. `command` replaces
    `runbook-watchdog run --config` by a launcher that takes the config path; `args` follow
    the config path (`--log-format json`).
    """

    def __init__(self, config: Path, port: int, log: Path, *, args: Sequence[str] = (),
                 command: Sequence[str] = (EXE, "run", "--config")) -> None:
        self.config, self.port, self.log = config, port, log
        self.dir = config.parent
        self.process = Process([*command, str(config), *args], log)

    @classmethod
    def from_config(cls, directory: Path, document: Mapping[str, Any], *,
                    args: Sequence[str] = (),
                    command: Sequence[str] = (EXE, "run", "--config")) -> Self:
        """Write `document` to directory/watchdog.yaml, its `watchdog` settings over these
        defaults: a free loopback port, state in directory/state, no spread."""
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        settings = {"listen": f"127.0.0.1:{port}", "state_dir": str(directory / "state"),
                    "spread": "0s", **document.get("watchdog", {})}
        config = directory / "watchdog.yaml"
        config.write_text(yaml.safe_dump({"probes": {}, **document, "watchdog": settings},
                                         allow_unicode=True))
        return cls(config, port, directory / "daemon.log", args=args, command=command)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, **env: str) -> Self:
        """Start it (again), with `env` over a clean environment; return once /healthz
        answers 200, fail with the end of its output if it exits first."""
        self.process.env = daemon_env(**env)
        self.process.start()
        try:
            wait_for(lambda: self.exited() or
                     httpx.get(self.url("/healthz"), timeout=2).status_code == 200,
                     what=f"daemon up on {self.port}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output()[-3000:]}") from None
        assert not self.exited(), f"the daemon exited:\n{self.output()[-3000:]}"
        return self

    def exited(self) -> bool:
        return self.process.proc is not None and self.process.proc.poll() is not None

    def running(self) -> bool:
        return self.process.proc is not None and self.process.proc.poll() is None

    def status(self) -> dict[str, Any]:
        response = httpx.get(self.url("/api/status"), timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def probe(self, name: str) -> dict[str, Any]:
        """One probe's row of /api/status."""
        return next(p for p in self.status()["probes"] if p["probe"] == name)

    def metric(self, name: str, **labels: str) -> float | None:
        return metric_value(httpx.get(self.url("/metrics"), timeout=5).text, name, **labels)

    def signal(self, sig: int) -> None:
        self.process.signal(sig)

    def hup(self) -> None:
        self.signal(signal.SIGHUP)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout)

    def shutdown(self, timeout: float = 30) -> int:
        """SIGTERM, as systemd stops it; its exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def stop(self) -> None:
        """Make sure it is gone (terminate, then kill): for clean-ups."""
        self.process.stop()

    def output(self) -> str:
        return self.process.output()

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines of its output (`--log-format json`)."""
        lines = []
        for line in self.output().splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`runbook-watchdog ARGS --config CONFIG`, against this daemon's config."""
        return cli(*args, "--config", str(self.config))


def cli(*args: str, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as an operator would."""
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or daemon_env(), cwd=ROOT, check=False)


@contextlib.contextmanager
def running(process: Process) -> Iterator[Process]:
    process.start()
    try:
        yield process
    finally:
        process.stop()


class FedProbe:
    """Stands for a probe whose observations a test feeds to the engine itself: a `Job`
    needs one, nothing runs it."""

    async def check(self) -> Observation:
        raise AssertionError("a fed probe is never run")

    async def aclose(self) -> None:
        return None


def fed_job(name: str, interval: float = 15.0, timeout: float = 5.0) -> Job:
    """The `Job` of a probe whose observations the test feeds in."""
    return Job(name, FedProbe(), interval, timeout)


def run_probe(probe_type: type[Any], params: Mapping[str, object], *, timeout: float = 2.0,
              store_path: str = ":memory:", name: str = "probe-under-test",
              settings: Mapping[str, object] | None = None) -> Observation:
    """Build one probe from raw config keys and run it once behind the framework's boundary."""

    async def go() -> Observation:
        resources = Resources(WatchdogSettings(**(settings or {})), StateStore(store_path),
                              SystemClock())
        probe = probe_type(probe_type.Params(**params), ProbeContext(name, timeout, resources))
        try:
            return await run_once(Job(name, probe, timeout * 2, timeout), resources.clock, 1.0)
        finally:
            await probe.aclose()
            await resources.aclose()

    return asyncio.run(go())
