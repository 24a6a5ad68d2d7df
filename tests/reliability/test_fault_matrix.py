"""The fault matrix: faults injected into real peers while one daemon watches them all.

Each fault is injected through the project's fault proxy (tests/peers/fault_proxy.py) or
through the peer's own failure mode, the expected status and cause are awaited in the
daemon's /api/status, the fault is cleared and the probe must come back to OK. Across the
whole matrix the control probe's schedule must hold (no skipped run, no late run), and
every incident must reach the notification channels. docs/reliability.md lists every
fault with its expected and observed behaviour.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.network.conftest import NetHttpPeer
from tests.reliability.conftest import INTERVAL, SECRETS, Stack
from tests.support import port_open, wait_for

Step = Callable[[Stack], None]


@dataclass(frozen=True)
class Fault:
    name: str
    probe: str
    status: str
    cause: str | tuple[str, ...]  # alternatives: equally right, which one is a race
    inject: Step
    clear: Step

    def __str__(self) -> str:
        return self.name


def proxy(name: str, mode: str, delay: float | None = None) -> tuple[Step, Step]:
    return (lambda s: s.proxy(name).set(mode, delay)), (lambda s: s.proxy(name).set("pass"))


def peer_mode(mode: str, tls: bool = False) -> tuple[Step, Step]:
    def peer(s: Stack) -> NetHttpPeer:
        return s.tls_web if tls else s.web
    return (lambda s: peer(s).set_mode(mode)), (lambda s: _unhang(peer(s)))


def _unhang(peer: NetHttpPeer) -> None:
    # A hung handler holds its thread until the peer stops: a restart clears it.
    peer.process.stop()
    wait_for(lambda: not port_open(peer.port), what="peer stopped")
    peer.start()


# -- Redis's own failure modes ----------------------------------------------------------
def redis_killed_mid_probe(s: Stack) -> None:
    """SIGKILL while the probe's command is in flight (the proxy holds it 300 ms)."""
    s.proxy("redis").set("latency", 0.3)
    assert s.redis.process.proc is not None
    s.redis.process.proc.kill()
    s.redis.process.proc.wait(10)
    s.proxy("redis").set("pass")


def redis_back(s: Stack) -> None:
    s.redis.start()


def redis_frozen(s: Stack) -> None:
    # DEBUG SLEEP blocks the whole server, as a fork under memory pressure does.
    threading.Thread(target=lambda: s.redis.cli("DEBUG", "SLEEP", "3"),
                     daemon=True).start()


def redis_answers(s: Stack) -> None:
    wait_for(lambda: s.redis.client().ping(), what="redis to wake up")


def redis_password_rotated(s: Stack) -> None:
    client = s.redis.client()
    client.config_set("requirepass", "rotated-elsewhere")
    client.client_kill_filter(_type="normal", skipme=True)


def redis_password_restored(s: Stack) -> None:
    import redis

    redis.Redis(port=s.redis.port, password="rotated-elsewhere").config_set(
        "requirepass", SECRETS["redis"])


def redis_memory_full(s: Stack) -> None:
    s.redis.client().config_set("maxmemory", "1")


def redis_memory_freed(s: Stack) -> None:
    s.redis.client().config_set("maxmemory", "0")


# -- Podman's own failure mode ------------------------------------------------------------
def podman_restarted_mid_call(s: Stack) -> None:
    """The service process restarts while calls are held in flight by the proxy."""
    s.proxy("docker").set("latency", 0.4)
    assert s.podman.process is not None
    s.podman.process.stop()
    s.proxy("docker").set("pass")
    if s.podman._client is not None:  # the peer's own client: its connections died too
        s.podman._client.close()
        s.podman._client = None


def podman_back(s: Stack) -> None:
    assert s.podman.process is not None
    s.podman.process.start()
    wait_for(s.podman._answers, timeout=60, what="podman service back")


def smtp_stopped(s: Stack) -> None:
    s.smtp.controller.stop()


def smtp_started(s: Stack) -> None:
    # An aiosmtpd controller cannot start twice: a new server on the same port.
    from aiosmtpd.controller import Controller

    from tests.network.conftest import Sink, authenticator

    s.smtp.controller = Controller(Sink(), hostname="127.0.0.1", port=s.smtp.port,
                                   authenticator=authenticator, auth_require_tls=False)
    s.smtp.controller.start()


FAULTS = [
    # -- HTTP service, through the proxy --------------------------------------------------
    Fault("http latency over max_latency", "web", "failed", "slow", *proxy("web", "latency", 0.2)),
    Fault("http latency over timeout", "web", "failed", "timeout", *proxy("web", "latency", 1.0)),
    Fault("http connection reset", "web", "failed", "connect_error", *proxy("web", "reset")),
    Fault("http blackhole", "web", "failed", "timeout", *proxy("web", "blackhole")),
    Fault("http slow drip", "web", "failed", "timeout", *proxy("web", "drip", 0.05)),
    Fault("http half-open pooled connection", "web", "failed", "timeout",
          *proxy("web", "half_open")),
    Fault("http connection refused", "web", "failed", "refused", *proxy("web", "refuse")),
    # -- HTTP service, its own failure modes ------------------------------------------------
    Fault("http 503", "web", "failed", "bad_status", *peer_mode("503")),
    Fault("http unhealthy JSON body", "web", "failed", "bad_body", *peer_mode("badjson")),
    Fault("http handler hung", "web", "failed", "timeout", *peer_mode("hang")),
    Fault("http chunked body never finished", "web", "failed", "timeout",
          *peer_mode("chunked")),
    # -- TLS API --------------------------------------------------------------------------
    Fault("tls handshake stall", "api-tls", "failed", "timeout", *proxy("tls", "blackhole")),
    Fault("tls reset during handshake", "api-tls", "failed", "connect_error",
          *proxy("tls", "reset")),
    Fault("tls slow drip", "api-tls", "failed", "timeout", *proxy("tls", "drip", 0.05)),
    # -- Redis ----------------------------------------------------------------------------
    Fault("redis connection reset", "cache", "failed", "connect_error", *proxy("redis", "reset")),
    Fault("redis blackhole", "cache", "failed", "timeout", *proxy("redis", "blackhole")),
    Fault("redis killed mid-probe", "cache", "failed", "connect_error", redis_killed_mid_probe,
          redis_back),
    Fault("redis frozen (DEBUG SLEEP)", "cache", "failed", "timeout", redis_frozen,
          redis_answers),
    Fault("redis password rotated", "cache", "failed", "auth_failed", redis_password_rotated,
          redis_password_restored),
    Fault("redis memory full", "cache", "failed", "oom_rejecting_writes", redis_memory_full,
          redis_memory_freed),
    # -- MongoDB --------------------------------------------------------------------------
    Fault("mongo blackhole", "payments-db", "failed", "timeout", *proxy("mongo", "blackhole")),
    Fault("mongo connection reset", "payments-db", "failed", "unreachable",
          *proxy("mongo", "reset")),
    # -- SMTP -----------------------------------------------------------------------------
    Fault("smtp banner never sent", "mail", "failed", "timeout", *proxy("smtp", "blackhole")),
    # A reset right after accept reaches smtplib as ECONNRESET or as an empty read
    # (SMTPServerDisconnected), depending on timing: both say the server dropped it.
    Fault("smtp connection reset", "mail", "failed", ("connect_error", "protocol_error"),
          *proxy("smtp", "reset")),
    Fault("smtp slow drip", "mail", "failed", "timeout", *proxy("smtp", "drip", 0.1)),
    Fault("smtp server stopped", "mail", "failed", ("connect_error", "protocol_error"),
          smtp_stopped, smtp_started),
    # -- Docker API (Podman) --------------------------------------------------------------
    Fault("docker api hung", "engine", "unknown", "docker_timeout", *proxy("docker", "blackhole")),
    Fault("docker api reset", "engine", "unknown", "docker_unreachable",
          *proxy("docker", "reset")),
    Fault("podman service restarted mid-call", "engine", "unknown", "docker_unreachable",
          podman_restarted_mid_call, podman_back),
]


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_fault_is_classified_and_recovers(stack: Stack, fault: Fault) -> None:
    stack.watcher.wait_cause(fault.probe, "ok", "ok", after=time.time() - 60)
    injected = time.time()
    fault.inject(stack)
    try:
        stack.watcher.wait_cause(fault.probe, fault.status, fault.cause, after=injected)
    finally:
        fault.clear(stack)
    cleared = time.time()
    stack.watcher.wait_cause(fault.probe, "ok", "ok", after=cleared, timeout=30)


def test_mongo_flapping_is_reported_once_as_flapping(stack: Stack) -> None:
    started = time.time()
    for _ in range(3):
        down = time.time()
        stack.mongo.process.stop()
        stack.watcher.wait_cause("payments-db", "failed", "unreachable", after=down)
        up = time.time()
        stack.mongo.start()
        stack.watcher.wait_cause("payments-db", "ok", "ok", after=up, timeout=30)
    texts = wait_for(lambda: [t for t in stack.receiver.texts() if "flapping" in t.lower()],
                     what="a flapping notice")
    assert len(texts) >= 1
    hooks = [r for r in stack.receiver.received if r.path.startswith("/hook/")
             and r.body.get("probe") == "payments-db" and r.body.get("at", started) >= 0]
    assert hooks, "the first outage was paged"


def test_unresolvable_name_is_dns(stack: Stack) -> None:
    stack.watcher.wait_cause("edge-dns", "failed", "dns", after=time.time() - 60)


def test_schedule_held_through_the_matrix(stack: Stack) -> None:
    """The control probe ran on time all along: no skipped run, no late run, no gap."""
    runs = stack.watcher.runs["control"]
    assert len(runs) > 20
    assert all(r.status == "ok" for r in runs)
    assert max(r.lateness for r in runs) < 0.25
    gaps = [b.at - a.at for a, b in itertools.pairwise(runs)]
    assert max(gaps) < 2 * INTERVAL + 0.3, "a control run was missed"
    for probe in ("control", "web", "cache", "payments-db", "mail", "engine"):
        assert not stack.daemon.metric("runbook_watchdog_scheduler_skipped_runs_total", probe=probe)


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def test_state_database_locked_by_another_process(stack: Stack) -> None:
    """Another process holds the database's write lock while the web service breaks: the
    daemon keeps its schedule, and the incident is opened once the lock is released."""
    import subprocess
    import sys

    with subprocess.Popen([sys.executable, "-c", LOCKER, str(stack.state / "state.db")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as locker:
        assert locker.stdin is not None and locker.stdout is not None
        try:
            assert locker.stdout.readline().strip() == "locked"
            locked = time.time()
            stack.web.set_mode("503")
            wait_for(lambda: len(stack.watcher.since("control", locked)) >= 8,
                     what="four seconds of control runs under the lock")
        finally:
            locker.stdin.write("\n")
            locker.stdin.flush()
            locker.wait(10)
    released = time.time()
    run = stack.watcher.wait_cause("web", "failed", "bad_status", after=released)
    wait_for(lambda: any(i["probe"] == "web" for i in stack.daemon.status()["incidents"]),
             what="the web incident opened after the lock")
    stack.web.set_mode("ok")
    stack.watcher.wait_cause("web", "ok", "ok", after=run.at)
    under_lock = stack.watcher.since("control", locked)
    assert max(r.lateness for r in under_lock) < 0.25


def _bad_config_on_sighup(stack: Stack, break_config: Callable[[Path], object],
                          logged: str) -> None:
    """SIGHUP with a config file spoiled by `break_config`: the reload is rejected (an
    error mentioning `logged`), the old config keeps running on schedule, and the next
    SIGHUP with the file restored reloads."""
    before = time.time()
    break_config(stack.daemon.config)
    try:
        stack.daemon.hup()
        wait_for(lambda: stack.daemon.metric("runbook_watchdog_config_last_reload_successful")
                 == 0, what="the reload to be rejected")
        # The old config keeps running: every probe still runs on schedule.
        rejected = time.time()
        wait_for(lambda: len(stack.watcher.since("control", rejected)) >= 2,
                 what="control runs after the rejected reload")
        assert max(r.lateness for r in stack.watcher.since("control", before)) < 0.25
    finally:
        stack.daemon.config.write_text(stack.config_text)
    errors = [line["msg"] for line in stack.daemon.log_lines() if line["level"] == "error"]
    assert any("reload rejected" in m and logged in m for m in errors), errors[-5:]
    stack.daemon.hup()
    wait_for(lambda: stack.daemon.metric("runbook_watchdog_config_last_reload_successful") == 1,
             what="a good reload")


def test_config_deleted_before_sighup_keeps_the_running_config(stack: Stack) -> None:
    _bad_config_on_sighup(stack, Path.unlink, "cannot read")


def test_config_syntax_error_on_sighup_keeps_the_running_config(stack: Stack) -> None:
    _bad_config_on_sighup(
        stack, lambda path: path.write_text(stack.config_text + "probes: [unclosed\n"),
        "watchdog.yaml")


def _database_text(path: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(repr(row) for t in tables
                         for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()


def test_no_secret_in_any_output_after_the_matrix(stack: Stack) -> None:
    """Every probe and channel had a distinctive secret; after the faults, search it all."""
    import httpx

    from tests.support import cli

    outputs: dict[str, str] = {
        "json log": stack.daemon.output(),
        "/metrics": httpx.get(stack.daemon.url("/metrics")).text,
        "/api/status": httpx.get(stack.daemon.url("/api/status")).text,
        "status page /": httpx.get(stack.daemon.url("/")).text,
        "state database": _database_text(stack.state / "state.db"),
        "notifications": "\n".join(repr(r.body) for r in stack.receiver.received),
    }
    for path in stack.state.rglob("*"):
        if path.is_file() and not path.name.startswith("state.db"):
            outputs[str(path.relative_to(stack.tmp))] = path.read_text(errors="replace")
    stack.proxy("redis").set("reset")  # the one-shot commands below see failures too
    try:
        for args in (["check"], ["check", "--format", "json", "--log-format", "json"],
                     ["incidents", "--all"], ["status"], ["validate"]):
            done = cli(*args, "--config", str(stack.daemon.config))
            outputs[" ".join(args)] = done.stdout + done.stderr
    finally:
        stack.proxy("redis").set("pass")
    assert stack.receiver.received, "the matrix paged"
    assert any("postmortem" in name for name in outputs), list(outputs)
    hits = {(where, name) for where, text in outputs.items()
            for name, secret in SECRETS.items() if secret in text}
    assert not hits, hits
