"""Bad input: generated configs are valid or a clear error; malformed probe input is classified.

A clear config error is a `ConfigError` whose every problem names the file and says what
is wrong; anything else escaping `load_config` would reach the operator as a traceback.
A malformed answer from a peer, or a malformed log, must give a classified observation
(a cause from the probe's vocabulary), never `probe_crashed`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.access_log import AccessLogProbe
from probes.http import HttpProbe
from probes.logs import LogsProbe
from probes.redis import RedisProbe
from tests.support import run_probe
from watchdog.common.errors import ConfigError
from watchdog.pipeline.probe import ProbeRegistry
from watchdog.remediation.contract import RemediationRegistry
from watchdog.runtime.config import load_config

PROBES = ProbeRegistry.from_entry_points()
REMEDIATIONS = RemediationRegistry.from_entry_points()
TYPES = ["http", "redis", "mongo", "smtp", "container", "deploy", "logs", "disk", "file_age",
         "access_log", "shkeeper", "mail_dns", "sentry", "nginx_websocket", "reconnect_rate",
         "nope"]
KEYS = ["type", "url", "uri", "host", "port", "interval", "timeout", "severity", "fail_after",
        "recover_after", "runbook", "hint", "depends_on", "escalate", "enabled", "password",
        "container", "path", "paths", "expect_json", "expect_status", "max_latency", "tls",
        "username", "rules", "min_free", "max_age", "within", "on", "mode", "after", "budget",
        "command", "verify", "secret_headers", "headers", "listen", "state_dir", "spread",
        "channels", "levels", "to", "sender", "cron", "duration", "start", "end", "name"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**12), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["10s", "1m", "500ms", "0s", "-1s", "sev1", "sev9",
                                           "http://127.0.0.1:1/", "${UNSET_VAR}", "${X:-5s}",
                                           "auto", "dry-run", "127.0.0.1:0", "/tmp", "*/5 * *"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=8)
PROBE = st.fixed_dictionaries({"type": st.sampled_from(TYPES)},
                              optional={k: VALUES for k in KEYS[1:20]})
CONFIGS = st.fixed_dictionaries({}, optional={
    "watchdog": st.dictionaries(st.sampled_from(["listen", "state_dir", "spread", "timeout",
                                                 "blocking_workers", "max_actions", "lease"]),
                                VALUES, max_size=3),
    "severity": VALUES,
    "probes": st.dictionaries(st.text(max_size=8), st.one_of(PROBE, VALUES), max_size=3),
    "remediations": st.dictionaries(st.text(max_size=8), VALUES, max_size=2),
    "notify": st.dictionaries(st.sampled_from(["channels", "flapping", "retry_after", "x"]),
                              VALUES, max_size=2),
    "maintenance": VALUES,
    "surprise": VALUES,
})


def assert_valid_or_clear(path: Path) -> None:
    try:
        load_config(path, probes=PROBES, remediations=REMEDIATIONS, environ={})
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == str(path) and problem.message, problem


@settings(max_examples=800, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(doc=CONFIGS)
def test_generated_configs_are_valid_or_a_clear_error(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    assert_valid_or_clear(path)


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.text(max_size=200).map(str.encode), st.binary(max_size=200)))
def test_generated_config_bytes_are_valid_or_a_clear_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "watchdog.yaml"
    path.write_bytes(raw)
    assert_valid_or_clear(path)


def test_config_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.yaml"
    path.write_bytes(b"probes:\n  web: {type: http, url: \"\xff\xfe\"}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, probes=PROBES, remediations=REMEDIATIONS, environ={})
    assert str(path) in str(caught.value)


# -- malformed answers from peers ------------------------------------------------------------
class RawServer:
    """A STAND-IN peer that answers every connection with fixed bytes, for replies no real
    server sends on purpose (a broken proxy, a truncated body, a protocol it does not speak)."""

    def __init__(self, reply: bytes | Any) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()

    def serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(2)
            if callable(self.reply):
                self.reply(conn)
                return
            conn.recv(65536)
            conn.sendall(self.reply)


@contextlib.contextmanager
def raw_server(reply: bytes | Any) -> Iterator[RawServer]:
    server = RawServer(reply)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server._stop.set()
        thread.join(5)
        server.sock.close()


def http_reply(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}"
            "Connection: close\r\n\r\n").encode() + body


HTTP_CASES = {
    "invalid utf-8": (http_reply(b'{"status": "\xff\xfe ok"}'), "bad_body"),
    "not json": (http_reply(b"<html>502 Bad Gateway</html>"), "bad_body"),
    "a json array": (http_reply(b"[1, 2, 3]"), "bad_body"),
    "deeply nested json": (http_reply(b"[" * 200_000 + b"]" * 200_000), "bad_body"),
    "10 MB body": (http_reply(b'{"status": "ok", "pad": "' + b"x" * 10_000_000 + b'"}'), "ok"),
    "not http at all": (b"\x00\x01SSH-2.0-OpenSSH\r\n\r\n", "connect_error"),
    "truncated body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"sta", "connect_error"),
    "garbage status line": (b"HTTP/1.1 abc\r\n\r\n", "connect_error"),
}


@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_malformed_http_answers_are_classified(case: str) -> None:
    reply, cause = HTTP_CASES[case]
    with raw_server(reply) as server:
        obs = run_probe(HttpProbe, {"url": f"http://127.0.0.1:{server.port}/health",
                                    "expect_json": {"status": "ok"}}, timeout=5.0)
    assert obs.cause == cause, obs


def resp(conn: socket.socket, info: bytes) -> None:
    """Answer redis-py as a server whose INFO is malformed (AUTH/PING/SET succeed)."""
    buffer = b""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buffer += data
        while b"\r\n" in buffer and buffer.startswith(b"*"):
            command, buffer = _command(buffer)
            if command is None:
                break
            name = command[0].upper()
            conn.sendall(b"$%d\r\n%s\r\n" % (len(info), info) if name == b"INFO" else
                         b"+PONG\r\n" if name == b"PING" else b"+OK\r\n")


def _command(buffer: bytes) -> tuple[list[bytes] | None, bytes]:
    lines = buffer.split(b"\r\n")
    count = int(lines[0][1:])
    if len(lines) < 1 + 2 * count + 1:
        return None, buffer
    parts = [lines[2 + 2 * i] for i in range(count)]
    rest = b"\r\n".join(lines[1 + 2 * count:])
    return parts, rest


REDIS_INFOS = {
    "no colon lines": (b"# Memory\r\ngarbage line\r\n:\r\n", "ok"),
    "invalid utf-8": (b"# Memory\r\nused_memory:\xff\xfe\r\n", "error"),
    "non-numeric memory": (b"# Memory\r\nused_memory:lots\r\nmaxmemory:0\r\n", "error"),
    "persistence failing": (b"rdb_last_bgsave_status:err\r\nused_memory:10\r\n",
                            "persistence_error"),
    "empty": (b"", "ok"),
}


@pytest.mark.parametrize("case", REDIS_INFOS, ids=str)
def test_malformed_redis_info_is_classified(case: str) -> None:
    info, cause = REDIS_INFOS[case]
    with raw_server(lambda conn: resp(conn, info)) as server:
        obs = run_probe(RedisProbe, {"url": f"redis://127.0.0.1:{server.port}/0"}, timeout=3.0)
    assert obs.cause == cause, obs


LOG_GARBAGE = [
    b"\xff\xfe\xfd invalid utf-8 \xc3\x28 SHKeeper request failed \xe2\x82\n",
    b"x" * 10_000_000 + b" MongoNetworkError\n",
    b"\x00" * 5000 + b"\n",
    b"no newline at the end MongoNetworkError",
]
ACCESS_GARBAGE = [
    b'45.155.205.7 - - [27/Nov/2026:10:00:00 +0000] "POST /api/auth/login HTTP/1.1" 401 12\n',
    b"\xff\xfe not an access log line at all\n",
    b'999.999.1.1 - - [bad date] "GET / HTTP/1.1" abc -\n',
    b"-" * 10_000_000 + b"\n",
    b'"unterminated quote 127.0.0.1 - - [x] "GET\n',
    b"\n\n\n",
]


def test_log_lines_with_invalid_utf8_and_10mb_lines_are_classified(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(LOG_GARBAGE))
    obs = run_probe(LogsProbe, {"path": str(log), "from_start": True}, timeout=10.0)
    assert obs.status.label in ("ok", "failed") and obs.cause != "probe_crashed", obs


def test_access_log_garbage_is_classified(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(ACCESS_GARBAGE * 3))
    obs = run_probe(AccessLogProbe, {"path": str(log), "from_start": True}, timeout=10.0)
    assert obs.cause in AccessLogProbe.causes, obs


@pytest.mark.parametrize("section", ["probes", "remediations"])
def test_a_type_that_is_not_a_string_is_a_clear_error(tmp_path: Path, section: str) -> None:
    """Found by the generated configs: `type: []` was a TypeError (unhashable list)."""
    path = tmp_path / "watchdog.yaml"
    path.write_text(f"{section}:\n  x: {{type: [http]}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, probes=PROBES, remediations=REMEDIATIONS, environ={})
    assert any(p.key == f"{section}.x.type" for p in caught.value.problems), caught.value


# -- configured paths into the unit's drop-in ------------------------------------------------
SHIPPED_UNIT = Path(__file__).resolve().parents[2] / "systemd" / "runbook-watchdog.service"
DROP_IN_KEYS = ("ReadWritePaths=", "CapabilityBoundingSet=", "AmbientCapabilities=",
                "RestrictAddressFamilies=")
PATH_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24)


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(env=PATH_TEXT, compose=PATH_TEXT, evidence=PATH_TEXT, name=PATH_TEXT,
       block=st.sampled_from(["off", "dry-run", "auto"]))
def test_any_configured_path_gives_a_drop_in_that_grants_it_or_a_clear_error(
        tmp_path: Path, env: str, compose: str, evidence: str, name: str, block: str) -> None:
    from watchdog.common.errors import WatchdogError
    from watchdog.remediation.sandbox import needs_of, read_unit, render_drop_in

    doc = {"watchdog": {"state_dir": "/var/lib/runbook-watchdog"},
           "probes": {"web": {"type": "http", "url": "http://127.0.0.1:1/"}},
           "remediations": {
               name: {"type": "payment_provider_switch", "mode": "auto",
                      "env_file": f"/srv/{env}/.env", "container": None},
               "rollback": {"type": "rollback", "mode": "dry-run", "container": "app",
                            "strategy": "compose", "service": "app",
                            "compose_file": f"/opt/{compose}/docker-compose.yml"},
               "evidence": {"type": "capture_evidence", "mode": "auto",
                            "dir": f"/var/{evidence}"},
               "block": {"type": "block_ip", "mode": block}}}
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    try:
        config = load_config(path, probes=PROBES, remediations=REMEDIATIONS, environ={})
    except ConfigError as exc:
        assert all(p.file == str(path) and p.message for p in exc.problems)
        return
    needs = needs_of(config)
    try:
        text = render_drop_in(config, needs)
    except WatchdogError as exc:  # a newline, another control character or a quote
        assert "cannot be granted in a unit file; rename it" in str(exc)
        return
    # nothing the config says can add a directive of its own to the unit
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "[Service]" and all(line.startswith(DROP_IN_KEYS) for line in lines[1:])
    unit = tmp_path / "unit" / SHIPPED_UNIT.name
    unit.parent.mkdir(exist_ok=True)
    unit.write_text(SHIPPED_UNIT.read_text())
    conf = unit.with_name(f"{unit.name}.d") / "50-remediations.conf"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text(text)
    grants = read_unit(unit)
    assert [n for n in needs if not grants.grants(n)] == [], text
