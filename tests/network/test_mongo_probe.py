"""The mongo probe against nx-27017 (a MongoDB wire-protocol server), and mockupdb only for
the one reply nx-27017 cannot give: an authentication failure."""

from __future__ import annotations

from mockupdb import MockupDB

from probes.mongo import MongoProbe
from tests.network.conftest import NxMongo
from tests.support import free_port, run_probe
from watchdog.pipeline.observation import Status


def test_a_reachable_mongo_answers_ping_ok_with_its_latency(mongo: NxMongo) -> None:
    obs = run_probe(MongoProbe, {"uri": mongo.uri})
    assert obs.status is Status.OK
    assert obs.values["latency_seconds"] > 0
    assert f"127.0.0.1:{mongo.port}" in obs.summary


def test_a_killed_mongo_is_unreachable(mongo: NxMongo) -> None:
    mongo.stop()
    obs = run_probe(MongoProbe, {"uri": mongo.uri}, timeout=1.0)
    assert (obs.status, obs.cause) == (Status.FAILED, "unreachable")
    assert obs.hint is not None and "3.2" in obs.hint and "df -h" in obs.hint


def test_nothing_listening_is_unreachable() -> None:
    obs = run_probe(MongoProbe, {"uri": f"mongodb://127.0.0.1:{free_port()}/"}, timeout=1.0)
    assert obs.cause == "unreachable"


def test_a_server_that_accepts_but_never_answers_is_a_timeout(silent_port: int) -> None:
    obs = run_probe(MongoProbe, {"uri": f"mongodb://127.0.0.1:{silent_port}/"}, timeout=1.0)
    assert (obs.status, obs.cause) == (Status.FAILED, "timeout")


def test_rejected_credentials_are_auth_failed(scripted_auth_failure: MockupDB) -> None:
    uri = f"mongodb://watchdog:s3cret-pw@127.0.0.1:{scripted_auth_failure.port}/admin"
    obs = run_probe(MongoProbe, {"uri": uri}, timeout=2.0)
    assert (obs.status, obs.cause) == (Status.FAILED, "auth_failed")
    assert "s3cret-pw" not in obs.summary


def test_any_other_server_error_is_error() -> None:
    # A STAND-IN, not a MongoDB: mockupdb scripted to fail `ping` with a plain server error
    # (nx-27017 always answers ping).
    server = MockupDB(auto_ismaster={"maxWireVersion": 21, "minWireVersion": 0})
    server.autoresponds("ping", {"ok": 0, "code": 2, "codeName": "BadValue",
                                 "errmsg": "scripted failure"})
    server.run()
    try:
        obs = run_probe(MongoProbe, {"uri": f"mongodb://127.0.0.1:{server.port}/"})
    finally:
        server.stop()
    assert (obs.status, obs.cause) == (Status.FAILED, "error")
    assert "OperationFailure" in obs.summary
