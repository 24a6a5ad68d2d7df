"""The fault-matrix stack: every real peer behind a fault proxy, and the daemon watching them.

One daemon process (the installed command, JSON logs) watches an HTTP service, a TLS API,
Redis, nx-27017, aiosmtpd and a Podman container, each through a `FaultProxy`, plus a
control probe straight to a healthy HTTP peer that witnesses the schedule. Every probe
and notification channel carries a distinctive secret (`SECRETS`), so the last test of
the matrix can search every output for them.

A `Watcher` thread polls /api/status every 20 ms and keeps each probe's runs (one entry
per distinct `last_run`), so tests wait for an observed cause instead of sleeping.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.network.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    NetHttpPeer,
    NxMongo,
    SmtpServer,
    Tls,
    make_tls,
    start_smtp,
)
from tests.peers.fault_proxy import FaultProxy
from tests.peers.podman import PodmanPeer
from tests.peers.receiver import Receiver
from tests.peers.redis_server import RedisServer
from tests.support import Daemon, HttpPeer, free_port, wait_for

SECRETS = {
    "web": "sec-web-header-7Qx1",
    "redis": "sec-redis-pass-4Kd9",
    "mongo": "sec-mongo-app-8Zr2",
    "smtp": SMTP_PASSWORD,
    "hook_url": "sec-hook-path-2Pw5",
    "hook_header": "sec-hook-hdr-6Vn3",
    "slack": "sec-slack-path-9Lm4",
    "telegram": "sec-tg-token-3Jb8",
}
INTERVAL = 0.5


@dataclass(frozen=True)
class Run:
    at: float  # the daemon's wall-clock time of the result
    status: str
    cause: str
    lateness: float
    severity: str | None


@dataclass
class Watcher:
    """Polls /api/status and records every run of every probe."""

    url: str
    runs: dict[str, list[Run]] = field(default_factory=dict)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Watcher:
        threading.Thread(target=self._poll, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _poll(self) -> None:
        with httpx.Client(timeout=2.0) as client:
            while not self._stop.wait(0.02):
                try:
                    self._record(client.get(self.url).json())
                except Exception:  # the daemon reloading or stopping: keep watching
                    self.errors += 1

    def _record(self, status: dict[str, Any]) -> None:
        for probe in status["probes"]:
            at = probe.get("last_run")
            runs = self.runs.setdefault(probe["probe"], [])
            if at is not None and (not runs or runs[-1].at != at):
                runs.append(Run(at, probe["status"], probe["cause"], probe["lateness"],
                                probe["severity"]))

    def since(self, probe: str, at: float) -> list[Run]:
        return [r for r in list(self.runs.get(probe, [])) if r.at >= at]

    def wait_cause(self, probe: str, status: str, cause: str | tuple[str, ...], after: float,
                   timeout: float = 15.0) -> Run:
        causes = (cause,) if isinstance(cause, str) else cause

        def seen() -> Run | None:
            return next((r for r in self.since(probe, after)
                         if r.status == status and r.cause in causes), None)
        try:
            return wait_for(seen, timeout, what=f"{probe} {status}/{cause}")
        except AssertionError as exc:
            runs = [(r.status, r.cause) for r in self.since(probe, after)][-5:]
            raise AssertionError(f"{exc}; seen since: {runs}") from None


@dataclass
class Stack:
    tmp: Path
    web: NetHttpPeer
    tls_web: NetHttpPeer
    tls: Tls
    control: HttpPeer
    redis: RedisServer
    mongo: NxMongo
    smtp: SmtpServer
    podman: PodmanPeer
    container: str
    receiver: Receiver
    proxies: dict[str, FaultProxy]
    config_text: str = ""
    started: tuple[Daemon, Watcher] | None = None  # by the `stack` fixture

    @property
    def daemon(self) -> Daemon:
        assert self.started is not None, "the stack fixture starts the daemon"
        return self.started[0]

    @property
    def watcher(self) -> Watcher:
        assert self.started is not None, "the stack fixture starts the daemon"
        return self.started[1]

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    def proxy(self, name: str) -> FaultProxy:
        return self.proxies[name]

    def render(self) -> str:
        p = {name: proxy.port for name, proxy in self.proxies.items()}
        hook = self.receiver.url(f"/hook/{SECRETS['hook_url']}")
        return f"""\
watchdog:
  listen: 127.0.0.1:{free_port()}
  state_dir: {self.state}
  docker_url: tcp://127.0.0.1:{p['docker']}
  spread: 0s
  deadline_grace: 500ms
  shutdown_grace: 3s
  kill_switch: {self.tmp / 'disable-remediation'}
probes:
  control:
    type: http
    url: {self.control.url()}
    interval: {INTERVAL}s
    timeout: 400ms
  web:
    type: http
    url: http://127.0.0.1:{p['web']}/health
    secret_headers: {{X-Api-Token: {SECRETS['web']}}}
    expect_json: {{status: ok}}
    max_latency: 250ms
    interval: 1s
    timeout: 700ms
    severity: sev2
    runbook: "3.1"
  api-tls:
    type: http
    url: https://127.0.0.1:{p['tls']}/health
    ca_file: {self.tls.ca_file}
    interval: 1s
    timeout: 700ms
    severity: sev2
  edge-dns:
    type: http
    url: http://rw-reliability-missing.invalid/health
    interval: 2s
    timeout: 1s
    severity: sev4
  cache:
    type: redis
    url: redis://127.0.0.1:{p['redis']}/0
    password: {SECRETS['redis']}
    interval: 1s
    timeout: 700ms
    severity: sev2
    runbook: "3.3"
  payments-db:
    type: mongo
    uri: mongodb://127.0.0.1:{p['mongo']}/marketplace?appname={SECRETS['mongo']}
    interval: 1500ms
    timeout: 1s
    severity: sev1
    runbook: "3.2"
  mail:
    type: smtp
    host: 127.0.0.1
    port: {p['smtp']}
    tls: none
    username: {SMTP_USER}
    password: {SECRETS['smtp']}
    interval: 1500ms
    timeout: 1s
    severity: sev3
  engine:
    type: container
    container: {self.container}
    interval: 2500ms
    timeout: 2s
notify:
  check_every: 500ms
  retry_after: 1s
  flapping: {{changes: 4, within: 60s}}
  channels:
    hook:
      type: webhook
      url: {hook}
      secret_headers: {{Authorization: "Bearer {SECRETS['hook_header']}"}}
      timeout: 2s
    slack:
      type: slack
      url: {self.receiver.url(f"/slack/{SECRETS['slack']}")}
      timeout: 2s
    telegram:
      type: telegram
      bot_token: {SECRETS['telegram']}
      chat_id: "42"
      api_url: {self.receiver.url("")}
      timeout: 2s
    email:
      type: email
      host: 127.0.0.1
      port: {self.smtp.port}
      username: {SMTP_USER}
      password: {SECRETS['smtp']}
      sender: watchdog@amn.gg
      to: [oncall@amn.gg]
      severities: [sev1]
      timeout: 2s
"""


@contextlib.contextmanager
def _peers(tmp: Path, podman: PodmanPeer) -> Iterator[Stack]:
    with contextlib.ExitStack() as stack:
        web = NetHttpPeer(tmp).start()
        stack.callback(web.process.stop)
        tls = make_tls(tmp, days=90)
        tls_web = NetHttpPeer(tmp, tls).start()
        stack.callback(tls_web.process.stop)
        control = HttpPeer(tmp).start()
        stack.callback(control.stop)
        redis = RedisServer(tmp, "--enable-debug-command", "yes",
                            password=SECRETS["redis"]).start()
        stack.callback(redis.process.stop)
        mongo = NxMongo(tmp).start()
        stack.callback(mongo.process.stop)
        smtp = start_smtp(None)
        stack.callback(lambda: smtp.controller.stop())
        receiver = Receiver(free_port()).start()
        stack.callback(receiver.stop)
        podman.run("rel-app", ["sleep", "3600"])
        stack.callback(podman.remove, "rel-app")
        upstreams: dict[str, int | str] = {
            "web": web.port, "tls": tls_web.port, "redis": redis.port, "mongo": mongo.port,
            "smtp": smtp.port, "docker": str(podman.sock)}
        proxies = {name: FaultProxy(up).start() for name, up in upstreams.items()}
        for proxy in proxies.values():
            stack.callback(proxy.stop)
        yield Stack(tmp, web, tls_web, tls, control, redis, mongo, smtp, podman,
                    podman.name("rel-app"), receiver, proxies)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, podman: PodmanPeer) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("matrix")
    with _peers(tmp, podman) as s:
        s.config_text = s.render()
        config = tmp / "watchdog.yaml"
        config.write_text(s.config_text)
        port = int(s.config_text.split("listen: 127.0.0.1:")[1].split()[0])
        daemon = Daemon(config, port, tmp / "daemon.jsonl", args=("--log-format", "json"))
        daemon.start()
        watcher = Watcher(daemon.url("/api/status")).start()
        s.started = (daemon, watcher)
        try:
            yield s
        finally:
            watcher.stop()
            daemon.stop()
