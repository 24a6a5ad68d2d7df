"""Real peers for the network probes: HTTP(S) servers, redis-server, nx-27017, aiosmtpd.

Every peer runs on a free port with its files under the test's tmp dir.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from mockupdb import MockupDB
from pymongo import MongoClient

from tests.peers.redis_server import PASSWORD as REDIS_PASSWORD
from tests.peers.redis_server import RedisServer
from tests.support import PEERS, Process, free_port, port_open, wait_for

API_KEY = "shk-test-key-5b1f0c7e"
SMTP_USER, SMTP_PASSWORD = "alerts@amn.gg", "smtp-pw-3e8b6f20"


@dataclass(frozen=True)
class Tls:
    """A test CA and a leaf for 127.0.0.1/localhost, with its files."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    not_after: dt.datetime

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_tls(where: Path, days: float) -> Tls:
    where = Path(tempfile.mkdtemp(prefix="tls-", dir=where))  # several chains per test
    ca = trustme.CA()
    not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    leaf = ca.issue_cert("127.0.0.1", "localhost", not_after=not_after)
    files = Tls(where / "ca.pem", where / "cert.pem", where / "key.pem", not_after)
    ca.cert_pem.write_to_path(str(files.ca_file))
    leaf.cert_chain_pems[0].write_to_path(str(files.cert_file))
    leaf.private_key_pem.write_to_path(str(files.key_file))
    return files


@pytest.fixture
def tls_expiring(tmp_path: Path) -> Tls:
    """A certificate that expires in 3 days."""
    return make_tls(tmp_path, days=3)


class NetHttpPeer:
    """tests/peers/net_http_peer.py in its own process: HTTP, or HTTPS with `tls`."""

    def __init__(self, tmp: Path, tls: Tls | None = None) -> None:
        self.port = free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        argv = [sys.executable, str(PEERS / "net_http_peer.py"), str(self.port), API_KEY]
        if tls is not None:
            argv += [str(tls.cert_file), str(tls.key_file)]
        self.process = Process(argv, tmp / f"net-http-{self.port}.log")

    def url(self, path: str = "/health") -> str:
        return self.base + path

    def start(self) -> NetHttpPeer:
        self.process.start()
        wait_for(lambda: port_open(self.port), what=f"http peer on {self.port}")
        return self

    def set_mode(self, mode: str) -> None:
        import httpx

        verify = ssl.create_default_context(cafile=str(self.tls.ca_file)) if self.tls else True
        httpx.post(self.url("/_control"), params={"mode": mode}, verify=verify) \
            .raise_for_status()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[NetHttpPeer]:
    peer = NetHttpPeer(tmp_path).start()
    yield peer
    peer.process.stop()


@pytest.fixture
def tls_web(tmp_path: Path, tls_expiring: Tls) -> Iterator[NetHttpPeer]:
    peer = NetHttpPeer(tmp_path, tls_expiring).start()
    yield peer
    peer.process.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener that accepts connections (the kernel completes them) and never speaks."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


# -- Redis ------------------------------------------------------------------------------------
@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, password=REDIS_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def broken_disk_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis whose data dir vanished: a real BGSAVE fails (the runbook's "disk full")."""
    # Save points as in production: with them, Redis also refuses writes (MISCONF).
    server = RedisServer(tmp_path, "--save", "3600 1", password=REDIS_PASSWORD).start()
    client = server.client()
    client.set("some", "data")
    shutil.rmtree(server.dir)
    client.bgsave()
    wait_for(lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err"
             and client.info("persistence")["rdb_bgsave_in_progress"] == 0,
             what="the background save to fail")
    yield server
    client.config_set("save", "")  # else SIGTERM's final save fails and Redis will not exit
    server.stop()


# -- MongoDB ----------------------------------------------------------------------------------
class NxMongo:
    """nx-27017, a MongoDB wire-protocol server backed by SQLite, in memory."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        exe = Path(sys.executable).parent / "nx-27017"
        argv = [str(exe), "--db", "memory", "-p", str(self.port),
                "--log-file", str(tmp / f"nx-{self.port}.log"),
                "--pid-file", str(tmp / f"nx-{self.port}.pid")]
        self.process = Process(argv, tmp / f"nx-{self.port}.out")

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/marketplace"

    def client(self) -> MongoClient[dict[str, Any]]:
        return MongoClient(self.uri, serverSelectionTimeoutMS=5000)

    def ping(self) -> bool:
        with self.client() as client:
            return bool(client.admin.command("ping")["ok"])

    def start(self) -> NxMongo:
        self.process.start()
        wait_for(self.ping, what="nx-27017")
        return self

    def stop(self) -> None:
        self.process.stop()
        wait_for(lambda: not port_open(self.port), what="nx-27017 to stop")


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[NxMongo]:
    server = NxMongo(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def scripted_auth_failure() -> Iterator[MockupDB]:
    """A STAND-IN, not a MongoDB: mockupdb scripted to answer every SASL step with
    AuthenticationFailed (code 18), because nx-27017 has no authentication."""
    server = MockupDB(auto_ismaster={"maxWireVersion": 21, "minWireVersion": 0})
    failure = {"ok": 0, "code": 18, "codeName": "AuthenticationFailed",
               "errmsg": "Authentication failed."}
    server.autoresponds("saslStart", failure)
    server.autoresponds("saslContinue", failure)
    server.run()
    yield server
    server.stop()


def seed_payments(server: NxMongo, *, stuck: int, recent: int, paid: int) -> None:
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(hours=2)
    docs = [{"status": "pending", "createdAt": old} for _ in range(stuck)]
    docs += [{"status": "pending", "createdAt": now} for _ in range(recent)]
    docs += [{"status": "paid", "createdAt": old} for _ in range(paid)]
    with server.client() as client:
        client["marketplace"]["payments"].insert_many(docs)


# -- SMTP -------------------------------------------------------------------------------------
class Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def authenticator(server: object, session: object, envelope: object, mechanism: str,
                  auth_data: object) -> AuthResult:
    # handled=False: aiosmtpd then answers 535 itself; with the default a failed AUTH
    # gets no reply at all and the client waits for its timeout.
    good = isinstance(auth_data, LoginPassword) and \
        (auth_data.login, auth_data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=good, handled=False)


@dataclass
class SmtpServer:
    port: int
    controller: Controller


def start_smtp(tls: Tls | None, *, implicit: bool = False) -> SmtpServer:
    port = free_port()
    kwargs: dict[str, Any] = {"authenticator": authenticator}
    if tls is not None and implicit:
        # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; this socket is all TLS.
        kwargs.update(ssl_context=tls.server_context(), auth_require_tls=False)
    elif tls is not None:
        kwargs.update(tls_context=tls.server_context(), require_starttls=True)
    else:
        kwargs["auth_require_tls"] = False
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return SmtpServer(port, controller)


@pytest.fixture
def smtp_tls(tmp_path: Path) -> Iterator[tuple[SmtpServer, Tls]]:
    """aiosmtpd with STARTTLS (required before AUTH) and a self-signed chain."""
    tls = make_tls(tmp_path, days=90)
    server = start_smtp(tls)
    yield server, tls
    server.controller.stop()
