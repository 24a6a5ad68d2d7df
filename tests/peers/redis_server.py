"""Debian's redis-server as a test peer: a free port, its data dir under the test's tmp."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from tests.support import Process, free_port, port_open, wait_for

PASSWORD = "redis-pw-9d2a7c41"  # a test secret: asserted absent from every output


class RedisServer:
    def __init__(self, tmp: Path, *args: str, password: str | None) -> None:
        self.port = free_port()
        self.password = password
        self.dir = tmp / f"redis-{self.port}"
        self.dir.mkdir()
        auth = ["--requirepass", password] if password else []
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
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
        """Write until Redis rejects writes for real (needs a small maxmemory + noeviction)."""
        # The filling connection stays open: its buffers count towards used_memory, and
        # closing it would free just enough for the next small write to pass.
        self.filler, filler = self.client(), "x" * 10_000
        for i in range(10_000):
            try:
                self.filler.set(f"fill:{i}", filler)
            except redis.exceptions.OutOfMemoryError:
                return
        raise AssertionError("redis never rejected a write")
