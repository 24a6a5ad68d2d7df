"""Debian's redis-server as a test peer: a free port, its data dir under the test's tmp."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from tests.support import Process, free_port, port_open, wait_for

PASSWORD = "redis-pw-9d2a7c41"  # a test secret: asserted absent from every output


class RedisServer:
    def __init__(self, tmp: Path, *args: str, password: str | None,
                 config_file: Path | None = None) -> None:
        """`args` are command-line options; `config_file`, the config file redis-server
        reads first (and `CONFIG REWRITE` writes); without it the server has none."""
        self.port = free_port()
        self.password = password
        self.dir = tmp / f"redis-{self.port}"
        self.dir.mkdir()
        auth = ["--requirepass", password] if password else []
        conf = [str(config_file)] if config_file else []
        argv = ["redis-server", *conf, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--appendonly", "no", *auth, *args]
        self.process = Process(argv, tmp / f"redis-{self.port}.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, decode_responses=True)

    def cli(self, *args: str) -> str:
        auth = ["--no-auth-warning", "-a", self.password] if self.password else []
        out = subprocess.run(["redis-cli", "-p", str(self.port), *auth, *args],
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()

    def start(self) -> RedisServer:
        self.process.start()
        wait_for(lambda: self.client().ping(), what=f"redis on {self.port}")
        return self

    def stop(self) -> None:
        self.process.stop()
        wait_for(lambda: not port_open(self.port), what="redis to stop")

    def fill_until_oom(self) -> None:
        """Write until Redis rejects writes for real (needs a small maxmemory + noeviction),
        then lower maxmemory below what is used, so that it stays full."""
        # The filling connection stays open: its buffers count towards used_memory, and
        # closing it would free just enough for the next small write to pass.
        self.filler, filler = self.client(), "x" * 10_000
        for i in range(10_000):
            try:
                self.filler.set(f"fill:{i}", filler)
            except redis.exceptions.OutOfMemoryError:
                self._past_full()
                return
        raise AssertionError("redis never rejected a write")

    def _past_full(self) -> None:
        # Just full is not full enough: used memory wobbles with client buffers, and a probe
        # write that slips through resolves the incident a test is driving (seen under load).
        used = int(self.client().info("memory")["used_memory"])
        self.client().config_set("maxmemory", used - 128 * 1024)
