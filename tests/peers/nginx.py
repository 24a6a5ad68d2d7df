"""A real nginx (Debian nginx-light) on a loopback port, with its files in a temp directory.

`NginxPeer(tmp).start(socketio_upgrade=True)` writes nginx.conf (the socket.io location
includes `socketio.conf`, with or without the upgrade headers), runs
`nginx -c CONF -g 'daemon off;'` and waits for the port. nginx writes the access log
itself (`logs/access.log`, combined format); `rotate()` renames it and sends SIGUSR1 as
logrotate does. `/api/auth/login` answers 401 and `/socket.io/` 200, so requests made
from several loopback addresses (127.0.0.x) play clients.

`start_proxy(upstream, upgrade=..., read_timeout=..., tls=...)` instead proxies
`/socket.io/` to a real socket.io server on `upstream`, with or without the upgrade
headers, with nginx's `proxy_read_timeout`, and optionally also on a TLS port
(`tls_port`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import httpx

from tests.support import Process, free_port, port_open, wait_for

# Workers run as root: pytest's temporary directories are 0700, so the default worker
# user could not reopen the logs after a rotation.
NGINX_CONF = """\
user root;
worker_processes 1;
error_log {tmp}/logs/error.log;
pid {tmp}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/logs/access.log combined;
    client_body_temp_path {tmp}/tmp;
    proxy_temp_path {tmp}/tmp;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        proxy_set_header Host $host;
        location /api/auth/login {{ return 401; }}
        location / {{ return 200 "ok\\n"; }}
        include conf.d/*.conf;
    }}
}}
"""
SOCKETIO_GOOD = """\
location /socket.io/ {
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";  # the runbook's spelling
    proxy_set_header Host $host;
    return 200 "polling\\n";
}
"""
SOCKETIO_BAD = """\
location /socket.io/ {
    proxy_set_header X-Real-IP $remote_addr;  # hides the server-level headers, no upgrade
    return 200 "polling\\n";
}
"""
SOCKETIO_PROXY = """\
location /socket.io/ {{
    proxy_pass http://127.0.0.1:{upstream};
    proxy_read_timeout {read_timeout};
{upgrade}}}
"""
UPGRADE_HEADERS = """\
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";
"""
TLS_LISTEN = """\
listen 127.0.0.1:{port} ssl;
ssl_certificate {cert};
ssl_certificate_key {key};
"""


class NginxPeer:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp / "nginx"
        self.port = free_port()
        self.conf = self.tmp / "nginx.conf"
        self.access_log = self.tmp / "logs" / "access.log"
        self.tls_port = free_port()
        self.process: Process | None = None

    def write(self, socketio_upgrade: bool = True, body: str | None = None) -> NginxPeer:
        for sub in ("logs", "tmp", "conf.d"):
            (self.tmp / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(NGINX_CONF.format(tmp=self.tmp, port=self.port))
        body = body or (SOCKETIO_GOOD if socketio_upgrade else SOCKETIO_BAD)
        (self.tmp / "conf.d" / "socketio.conf").write_text(body)
        return self

    def start_proxy(self, upstream: int, *, upgrade: bool = True, read_timeout: str = "60s",
                    tls: tuple[Path, Path] | None = None) -> NginxPeer:
        """nginx in front of a socket.io server; `tls` = (certificate, key) adds `tls_port`."""
        body = SOCKETIO_PROXY.format(upstream=upstream, read_timeout=read_timeout,
                                     upgrade=UPGRADE_HEADERS if upgrade else "")
        if tls is not None:
            body = TLS_LISTEN.format(port=self.tls_port, cert=tls[0], key=tls[1]) + body
        self.write(body=body)
        return self._run()

    def start(self, socketio_upgrade: bool = True) -> NginxPeer:
        self.write(socketio_upgrade)
        return self._run()

    def _run(self) -> NginxPeer:
        self.process = Process(["nginx", "-c", str(self.conf), "-g", "daemon off;"],
                               self.tmp / "nginx.out").start()
        wait_for(lambda: port_open(self.port), what=f"nginx on {self.port}")
        return self

    def request(self, path: str, *, client: str = "127.0.0.1", method: str = "GET",
                times: int = 1) -> None:
        """`times` requests from the loopback address `client`."""
        transport = httpx.HTTPTransport(local_address=client)
        with httpx.Client(transport=transport, base_url=f"http://127.0.0.1:{self.port}") as c:
            for _ in range(times):
                c.request(method, path)

    def logged(self) -> int:
        return len(self.access_log.read_text().splitlines()) if self.access_log.exists() else 0

    def rotate(self) -> Path:
        """Rename the access log and make nginx reopen it (what logrotate does)."""
        rotated = self.access_log.with_name("access.log.1")
        self.access_log.rename(rotated)
        assert self.process is not None
        self.process.signal(signal.SIGUSR1)
        wait_for(lambda: not self._holds(rotated), what="nginx workers to reopen the log")
        return rotated

    def _holds(self, path: Path) -> bool:
        """Whether the master or a worker still has `path` open."""
        assert self.process is not None and self.process.proc is not None
        master = self.process.proc.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        for pid in [str(master), *children]:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if Path(os.readlink(fd)) == path:
                        return True
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
