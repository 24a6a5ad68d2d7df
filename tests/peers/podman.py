"""A real Docker Engine API for the tests: Podman's compatible service, with runc.

Everything lives under one short temporary directory (a storage root of its own, `vfs`
driver), so parallel sessions and other developers' containers never meet ours:

    peer = PodmanPeer.start()        # service up, API answering, busybox image imported
    peer.url                         # unix:///tmp/rw-podman-XXXX/podman.sock
    peer.run("web", ["sleep", "60"]) # a container named with this session's prefix
    peer.stop()                      # removes our containers, stops the service

The base image is built offline from busybox-static (`sh`, `sleep`, `httpd`, ...) and
tagged `localhost/app:v1`, `:v2` and `:latest`. `import_image()` makes further images
with different content (a new image ID), to play a deploy.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from tests.support import Process, wait_for
from watchdog.peers.docker import connect

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
[engine]
runtime = "runc"
"""
# A registry on loopback (tests/peers/registry.py) speaks plain HTTP; "127.0.0.1" matches
# every port of it. It replaces the host's registries.conf: the tests pull from nowhere else.
REGISTRIES_CONF = """\
[[registry]]
location = "127.0.0.1"
insecure = true
"""
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "sleep", "httpd", "echo", "cat", "head", "yes", "dd", "true", "false",
           "printf", "seq", "ls")
BASE_TAGS = ("localhost/app:v1", "localhost/app:v2", "localhost/app:latest")


class PodmanPeer:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "podman.sock"
        self.url = f"unix://{self.sock}"
        self.prefix = f"rw{uuid.uuid4().hex[:6]}-"
        self.conf = base / "containers.conf"
        self.process: Process | None = None
        self.image_id = ""
        self._client: docker.DockerClient | None = None

    # -- lifecycle ----------------------------------------------------------------------
    @classmethod
    def start(cls) -> PodmanPeer:
        # A short path: runroot holds unix sockets (conmon), limited to 108 bytes.
        peer = cls(Path(tempfile.mkdtemp(prefix="rw-podman-")))
        peer.conf.write_text(CONTAINERS_CONF)
        (peer.base / "registries.conf").write_text(REGISTRIES_CONF)
        peer.process = Process(peer.podman_argv("system", "service", "--time=0", peer.url),
                               peer.base / "service.log", env=peer.env(),
                               cwd=peer.base).start()  # conmon drops files (`oom`) in its cwd
        wait_for(peer._answers, timeout=60, what="podman system service")
        peer.image_id = peer.import_image(BASE_TAGS)
        return peer

    def _answers(self) -> bool:
        return bool(self.client().ping())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.remove_containers()
        if self._client is not None:
            self._client.close()
        if self.process is not None:
            self.process.stop()
        # vfs layers are plain files; runc leaves nothing mounted once containers are gone.
        subprocess.run(self.podman_argv("rm", "-af"), env=self.env(), capture_output=True,
                       timeout=60, check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    def env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.conf),
                "CONTAINERS_REGISTRIES_CONF": str(self.base / "registries.conf")}

    def podman_argv(self, *args: str) -> list[str]:
        return ["podman", "--root", str(self.base / "root"), "--runroot",
                str(self.base / "runroot"), "--storage-driver", "vfs", *args]

    def podman(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The podman CLI on this peer's storage (`healthcheck run` needs no systemd)."""
        return subprocess.run(self.podman_argv(*args), env=self.env(), capture_output=True,
                              text=True, timeout=timeout, check=False)

    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = connect(self.url, 30)
        return self._client

    # -- images -------------------------------------------------------------------------
    def import_image(self, tags: Sequence[str], files: dict[str, str] | None = None) -> str:
        """Import a busybox root filesystem (plus `files`) and tag it; returns the image ID."""
        reply = self.client().api.import_image_from_data(_rootfs(files or {}))
        image_id = str(json.loads(reply)["id"])
        image = self.client().images.get(image_id)
        for tag in tags:
            repo, _, name = tag.rpartition(":")
            image.tag(repo, name)
        return image_id

    def image(self, ref: str) -> dict[str, Any]:
        attrs: dict[str, Any] = self.client().api.inspect_image(ref)
        return attrs

    # -- containers ---------------------------------------------------------------------
    def name(self, short: str) -> str:
        return f"{self.prefix}{short}"

    def run(self, short: str, command: Sequence[str], image: str = "localhost/app:v1",
            **kwargs: Any) -> Any:
        """Start a detached container named `<prefix><short>` on the host network."""
        kwargs.setdefault("network_mode", "host")
        return self.client().containers.run(image, list(command), name=self.name(short),
                                            detach=True, **kwargs)

    def attrs(self, short: str) -> dict[str, Any]:
        attrs: dict[str, Any] = self.client().api.inspect_container(self.name(short))
        return attrs

    def remove(self, short: str) -> None:
        wait_for(lambda: self.removed(self.name(short)), what=f"{short} removed")

    def removed(self, name: str) -> bool:
        """Force-remove; False while Podman is between states (a crashlooping container
        being restarted answers "container state improper"), so the caller retries."""
        try:
            self.client().api.remove_container(name, force=True)
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as exc:
            if "state improper" in str(exc):
                return False
            raise
        return True

    def remove_containers(self) -> None:
        for container in self.client().containers.list(all=True):
            if container.name.startswith(self.prefix):
                wait_for(functools.partial(self.removed, container.id),
                         what="container removed")


def _rootfs(files: dict[str, str]) -> bytes:
    """A tar of a tiny root filesystem: busybox, its applets as symlinks, and `files`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for directory in ("bin", "tmp", "www", "www/api", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for path, text in {"www/api/health": "ok\n", **files}.items():
            data = text.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@contextlib.contextmanager
def podman_peer() -> Iterator[PodmanPeer]:
    """Start a peer for a test session; always clean up what it created."""
    peer = PodmanPeer.start()
    try:
        yield peer
    finally:
        peer.stop()
