"""A dependent that fails first pages once, under its root cause (issue 14 item 1).

The bundled config's `backend-health`, `mongodb` and `redis` probes, as written (15 s × 2
with a 5 s timeout for the backend; the defaults, 30 s × 2 with a 10 s timeout, for
MongoDB and Redis), run by the daemon against real peers: an HTTP server as the backend,
nx-27017 as MongoDB, redis-server. What is asserted is what a real webhook receiver got.
The waits follow those timings: about 100 s per test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.network.conftest import NxMongo
from tests.notify.conftest import Watchdog
from tests.peers.receiver import Receiver
from tests.peers.redis_server import PASSWORD, RedisServer
from tests.support import ROOT, Daemon, HttpPeer, wait_for

DETECTION = 180.0  # generous ceiling for the slowest detection here (Mongo's, ~70 s)


@pytest.fixture
def stack(tmp_path: Path, http_peer: HttpPeer) -> Iterator[dict[str, Any]]:
    mongo = NxMongo(tmp_path).start()
    redis = RedisServer(tmp_path, password=PASSWORD).start()
    yield {"backend": http_peer, "mongo": mongo, "redis": redis}
    if mongo.process.proc is not None and mongo.process.proc.poll() is None:
        mongo.stop()
    redis.stop()


def _start(tmp_path: Path, stack: dict[str, Any], receiver: Receiver,
           daemons: list[Daemon]) -> Watchdog:
    bundled = yaml.safe_load((ROOT / "config" / "watchdog.yaml").read_text())
    probes = {name: bundled["probes"][name] for name in ("backend-health", "mongodb", "redis")}
    dog = Watchdog.from_config(tmp_path / "dog", {
        "probes": probes,
        "notify": {"channels": {"hook": {"type": "webhook", "url": receiver.url()}}}})
    daemons.append(dog)
    dog.start(BACKEND_HEALTH_URL=stack["backend"].url(), MONGO_URI=stack["mongo"].uri,
              REDIS_URL=stack["redis"].url, REDIS_PASSWORD=PASSWORD)
    wait_for(lambda: all(p["status"] == "ok" for p in dog.status()["probes"]),
             timeout=60, what="every probe ok")
    return dog


def _incidents(dog: Watchdog) -> dict[str, dict[str, Any]]:
    listing = dog.cli("incidents", "--format", "json")
    return {i["probe"]: i for i in json.loads(listing.stdout)}


def _pages(receiver: Receiver) -> list[tuple[str, str]]:
    return [(r.body["kind"], r.body["probe"]) for r in receiver.received]


def test_a_dependent_failing_first_pages_once_under_its_dependency(
        tmp_path: Path, stack: dict[str, Any], receiver: Receiver,
        daemons: list[Daemon]) -> None:
    dog = _start(tmp_path, stack, receiver, daemons)
    stack["mongo"].stop()  # Mongo stopped together with the backend
    stack["backend"].stop()
    wait_for(lambda: _pages(receiver), timeout=DETECTION, what="a page")
    opened = _incidents(dog)
    assert opened["backend-health"]["opened_at"] < opened["mongodb"]["opened_at"]
    assert opened["backend-health"]["attached_to"] == opened["mongodb"]["id"]
    assert _pages(receiver) == [("started", "mongodb")]
    assert "Also affected (attached): backend-health" in receiver.received[0].body["text"]
    root = dog.root_incidents()
    assert [(i["probe"], [a["probe"] for a in i["attached"]]) for i in root] == \
        [("mongodb", ["backend-health"])]


def test_a_dependent_failing_after_its_dependency_is_attached_without_a_page(
        tmp_path: Path, stack: dict[str, Any], receiver: Receiver,
        daemons: list[Daemon]) -> None:
    dog = _start(tmp_path, stack, receiver, daemons)
    stack["mongo"].stop()
    wait_for(lambda: _pages(receiver), timeout=DETECTION, what="the mongodb page")
    stack["backend"].stop()
    wait_for(lambda: "backend-health" in _incidents(dog), timeout=DETECTION,
             what="the backend incident")
    opened = _incidents(dog)
    assert opened["mongodb"]["opened_at"] < opened["backend-health"]["opened_at"]
    assert opened["backend-health"]["attached_to"] == opened["mongodb"]["id"]
    assert _pages(receiver) == [("started", "mongodb")]
