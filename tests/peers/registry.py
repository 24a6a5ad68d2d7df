"""A real Docker Registry (v2 API) on loopback: Debian's `docker-registry` binary, run
directly with a config of the test's own (storage in a temporary directory, a free port),
never as the system service.

    registry = RegistryPeer.start(tmp)   # serving on 127.0.0.1:PORT, /v2/ answering
    registry.host                        # "127.0.0.1:PORT", a reference's registry part
    registry.manifest_digest("app", "v1")  # what the registry calls that tag now
    registry.stop()

It speaks plain HTTP: the Podman peer's registries.conf marks 127.0.0.1 insecure.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import yaml

from tests.support import Process, free_port, wait_for

MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json")


class RegistryPeer:
    def __init__(self, base: Path, port: int) -> None:
        self.base = base
        self.host = f"127.0.0.1:{port}"
        self.process: Process | None = None

    @classmethod
    def start(cls, base: Path) -> RegistryPeer:
        exe = shutil.which("docker-registry")
        assert exe, "docker-registry is missing: run scripts/install-test-deps.sh"
        peer = cls(base, free_port())
        config = base / "registry.yml"
        config.write_text(yaml.safe_dump({
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(base / "storage")},
                        "delete": {"enabled": True}},
            "http": {"addr": peer.host, "secret": "test-only-upload-secret"}}))
        peer.process = Process([exe, "serve", str(config)], base / "registry.log").start()
        wait_for(peer._answers, timeout=30, what="docker-registry /v2/")
        return peer

    def _answers(self) -> bool:
        return httpx.get(f"http://{self.host}/v2/", timeout=2).status_code == 200

    def manifest_digest(self, repo: str, tag: str) -> str:
        reply = httpx.head(f"http://{self.host}/v2/{repo}/manifests/{tag}", timeout=10,
                           headers={"Accept": MANIFEST_TYPES})
        reply.raise_for_status()
        return reply.headers["Docker-Content-Digest"]

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
