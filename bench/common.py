"""Shared pieces of the benchmarks: figures, load average, /proc sampling, nginx targets.

Benchmarks are not tests: they measure and print, never assert. Every load loop here is
bounded in count and in time, and all traffic stays on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Figure:
    """One measured figure, its target, whether it met it, and the machine's load then."""

    bench: str
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None  # None: reference figure, no target
    ratio: str = ""  # against a peer that ran in the same benchmark
    load: float = field(default_factory=lambda: os.getloadavg()[0])
    note: str = ""

    def line(self) -> str:
        verdict = {True: "MET", False: "MISSED", None: "ref"}[self.met]
        text = f"{self.bench} {self.name}: {fmt(self.value)} {self.unit}"
        if self.target:
            text += f" (target {self.target}: {verdict})"
        if self.ratio:
            text += f" [{self.ratio}]"
        return text + f" load={self.load:.2f}" + (f" - {self.note}" if self.note else "")


def fmt(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def report(figures: Sequence[Figure], extra: dict[str, Any] | None = None) -> None:
    """Print the figures and keep them (with notes) for docs/benchmarks.md."""
    for fig in figures:
        print(fig.line(), flush=True)
    if not figures:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"figures": [asdict(f) for f in figures], "extra": extra or {}, "at": time.time()}
    (RESULTS / f"{figures[0].bench}.json").write_text(json.dumps(data, indent=1))


def load1() -> float:
    return os.getloadavg()[0]


def wait_quiet(below: float = 1.0, limit: float = 120.0) -> float:
    """Wait (bounded) for the 1-minute load average to fall below `below`; return it."""
    deadline = time.monotonic() + limit
    while load1() >= below and time.monotonic() < deadline:
        time.sleep(5)
    return load1()


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


# -- /proc -----------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {limit:g}s")


class Peer:
    """A peer process with an argument list, its output in a file, stopped by its pid."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Peer:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.cwd, start_new_session=True)
        out.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)


# -- nginx: the keep-alive HTTP targets ------------------------------------------------------
NGINX_CONF = """\
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  log_format stamp '$msec $uri';
  server {{
    listen 127.0.0.1:{port};
{listen_extra}
    location /m/ {{ access_log {tmp}/monit-access.log stamp; return 200 "ok\\n"; }}
{failing}
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


class Targets:
    """A real keep-alive HTTP server in another process (nginx) serving every target path.

    `phase(failing=True)` reloads nginx so that paths ending in 0 answer 500 and the second
    port stops listening (refused): the fault churn of the soak.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.port2 = free_port()
        self.conf = tmp / "nginx.conf"
        self.peer = Peer(["nginx", "-c", str(self.conf), "-p", str(tmp)], tmp / "nginx.out")

    def url(self, i: int, second: bool = False) -> str:
        return f"http://127.0.0.1:{self.port2 if second else self.port}/t/{i}"

    def _write(self, failing: bool) -> None:
        rule = '    location ~ 0$ { return 500 "broken\\n"; }' if failing else ""
        extra = "" if failing else f"    listen 127.0.0.1:{self.port2};"
        self.conf.write_text(NGINX_CONF.format(tmp=self.tmp, port=self.port, failing=rule,
                                               listen_extra=extra))

    def start(self) -> Targets:
        self._write(failing=False)
        self.peer.start()
        wait_port(self.port)
        return self

    def phase(self, failing: bool) -> None:
        self._write(failing)
        self.peer.signal(signal.SIGHUP)

    def stop(self) -> None:
        self.peer.stop()


# -- configs ---------------------------------------------------------------------------------
def http_config(path: Path, urls: Iterable[str], *, interval: float, timeout: float,
                state_dir: Path, listen_port: int, extra: str = "", spread: float | None = None,
                fail_after: int = 2) -> Path:
    """A watchdog config of one http probe per URL (plus any `extra` YAML)."""
    lines = ["watchdog:", f"  listen: 127.0.0.1:{listen_port}", f"  state_dir: {state_dir}",
             f"  kill_switch: {state_dir}/no-kill-switch",
             f"  spread: {spread if spread is not None else interval}s", "probes:"]
    for i, url in enumerate(urls):
        lines += [f"  t{i}:", "    type: http", f"    url: {url}", f"    interval: {interval}s",
                  f"    timeout: {timeout}s", f"    fail_after: {fail_after}"]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


# -- the watchdog in this process ------------------------------------------------------------
@contextlib.asynccontextmanager
async def daemon_running(config_path: Path, **kwargs: Any) -> AsyncIterator[Any]:
    """Run the real Daemon on this loop (so a sampler can see its tasks and lateness)."""
    from watchdog.runtime.config import load_config
    from watchdog.runtime.daemon import Daemon

    config = load_config(config_path, environ=kwargs.pop("environ", {}),
                         remediations=kwargs.get("remediation_types"))
    daemon = Daemon(config, **kwargs)
    task = asyncio.create_task(daemon.run(), name="daemon")
    deadline = time.monotonic() + 30
    while not (hasattr(daemon, "scheduler") and daemon.scheduler.jobs):
        if task.done() or time.monotonic() > deadline:
            task.result()
            raise RuntimeError("the daemon did not start its probes")
        await asyncio.sleep(0.05)
    try:
        yield daemon
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 60)


class LatenessLog:
    """PipelineEngine subscriber: the exact lateness of every run (not the histogram's buckets)."""

    def __init__(self, daemon: Any, only: frozenset[str] | None = None) -> None:
        self.daemon = daemon
        self.only = only
        self.samples: list[tuple[float, float]] = []  # (monotonic, lateness)
        self.ok = 0
        self.runs = 0
        daemon.engine.subscribers.append(self)

    def __call__(self, event: Any) -> None:
        if self.only is not None and event.probe not in self.only:
            return
        self.runs += 1
        self.ok += event.observation.ok
        last = self.daemon.engine.last.get(event.probe)
        if last is not None:
            self.samples.append((time.monotonic(), last.lateness))

    def reset(self) -> None:
        self.samples.clear()
        self.ok = self.runs = 0

    def lateness(self) -> list[float]:
        return [late for _, late in self.samples]


class LoopLag:
    """Samples how late a 1 ms sleep wakes: the longest event-loop block while it runs."""

    def __init__(self, period: float = 0.001) -> None:
        self.period = period
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.period)
            self.lags.append(time.perf_counter() - before - self.period)

    def start(self) -> LoopLag:
        self._task = asyncio.create_task(self._run(), name="loop-lag")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def quiet_logs(path: Path) -> None:
    """The daemon's log goes to a file, as under systemd it goes to the journal."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def bench_main(coro_fn: Any) -> None:
    """Run one benchmark's async main and exit 0 (a missed target is a figure, not a crash)."""
    figures = asyncio.run(coro_fn())
    sys.exit(0 if figures is not None else 1)


@contextlib.contextmanager
def profiled(name: str, top: int = 25) -> Iterator[None]:
    """cProfile the block (this thread) and keep the top functions by own time."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime")
        stats.print_stats(top)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}-profile.txt").write_text(_trim_profile(out.getvalue()))


def _trim_profile(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "function calls" in line), 0)
    return "\n".join(line.rstrip() for line in lines[start:] if line.strip()) + "\n"
