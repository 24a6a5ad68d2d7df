"""The probes' read-only Engine API client (watchdog/peers/engine_reads.py) against Podman's
Docker API, beside the docker SDK it replaces for reads: the same documents, the same log
bytes (a multiplexed stream and a TTY's raw one), not-found and engine errors."""

from __future__ import annotations

import pytest

from tests.peers.podman import PodmanPeer
from tests.support import wait_for
from watchdog.peers.engine_reads import EngineError, EngineNotFound, EngineReadClient


def test_inspect_documents_are_the_sdks(podman: PodmanPeer) -> None:
    podman.run("reads", ["sh", "-c", "sleep 30"])
    try:
        ours = EngineReadClient(podman.url, 10).api
        attrs = ours.inspect_container(podman.name("reads"))
        sdk = podman.attrs("reads")
        assert (attrs["Id"], attrs["State"]["Status"], attrs["Image"]) == (
            sdk["Id"], sdk["State"]["Status"], sdk["Image"])
        assert ours.inspect_image(attrs["Image"])["Id"] == podman.image(attrs["Image"])["Id"]
    finally:
        podman.remove("reads")


@pytest.mark.parametrize("tty", [False, True])
def test_logs_are_the_sdks_bytes(podman: PodmanPeer, tty: bool) -> None:
    short = f"logs-{'tty' if tty else 'mux'}"
    podman.run(short, ["sh", "-c", "echo out-1; echo err-1 >&2; echo out-2; sleep 30"],
               tty=tty)
    try:
        name = podman.name(short)
        wait_for(lambda: b"out-2" in podman.client().api.logs(name), what="3 lines logged")
        sdk = podman.client().api.logs(name, stdout=True, stderr=True, timestamps=True,
                                       since=1)
        ours = EngineReadClient(podman.url, 10).api.logs(name, stdout=True, stderr=True,
                                                         timestamps=True, since=1)
        assert ours == sdk
        assert b"\x00\x00\x00" not in ours  # no frame header left in the text
        # Both streams, each line whole (the engine may order stdout and stderr apart).
        assert sorted(line.split(b" ", 1)[1].strip() for line in ours.splitlines()) == [
            b"err-1", b"out-1", b"out-2"]
    finally:
        podman.remove(short)


def test_a_missing_container_or_image_is_not_found(podman: PodmanPeer) -> None:
    ours = EngineReadClient(podman.url, 10).api
    with pytest.raises(EngineNotFound):
        ours.inspect_container(podman.name("never-created"))
    with pytest.raises(EngineNotFound):
        ours.inspect_image("sha256:" + "0" * 64)


def test_an_engine_error_keeps_the_engines_message(podman: PodmanPeer) -> None:
    podman.run("nostream", ["sh", "-c", "sleep 30"])
    try:
        with pytest.raises(EngineError) as caught:
            EngineReadClient(podman.url, 10).api.logs(podman.name("nostream"), stdout=False,
                                                      stderr=False)
        assert caught.value.status == 400 and caught.value.explanation
    finally:
        podman.remove("nostream")
