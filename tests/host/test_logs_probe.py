"""The logs probe on real files and on a real container's log stream (Podman)."""

from __future__ import annotations

from pathlib import Path

import pytest

from probes.logs import LogsProbe
from tests.peers.podman import PodmanPeer
from tests.support import run_probe, wait_for
from watchdog.pipeline.observation import Observation, Status

RUNBOOK_LINES = {
    "mongo_unreachable": "MongooseServerSelectionError: connect ECONNREFUSED 172.18.0.3:27017",
    "redis_unreachable": "[ioredis] Unhandled error event: Error: connect ECONNREFUSED "
                         "redis:6379",
    "shkeeper_down": "SHKeeper request failed: ECONNREFUSED",
    "email_failure": "SMTPError: 535 Authentication failed (nodemailer)",
    "missing_env": "Error: Missing required environment variable JWT_SECRET",
    "port_conflict": "Error: listen EADDRINUSE: address already in use :::4000",
}


class LogFile:
    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "backend.log"
        self.path.write_text("startup noise\n")
        self.store = str(tmp / "state.db")

    def write(self, *lines: str) -> None:
        with self.path.open("a") as f:
            f.writelines(line + "\n" for line in lines)

    def check(self, **params: object) -> Observation:
        return run_probe(LogsProbe, {"path": str(self.path), **params}, store_path=self.store,
                         name="backend-logs")


@pytest.mark.parametrize(("cause", "line"), sorted(RUNBOOK_LINES.items()))
def test_each_runbook_symptom_has_a_bundled_rule(tmp_path: Path, cause: str, line: str) -> None:
    log = LogFile(tmp_path)
    assert log.check().cause == "ok"
    log.write(*[f"2026-11-27T10:00:0{i}Z {line}" for i in range(3)])
    obs = log.check()
    assert (obs.status, obs.cause) == (Status.FAILED, cause)
    assert obs.signals == {f"error {cause}"}
    assert [r["new_matches"] for r in obs.details["rules"]] == [3]
    assert obs.hint is not None and obs.details["runbook"] in obs.hint


@pytest.mark.parametrize("line", [
    "Error: Environment variable MONGO_URI is not set",
    "TypeError: env var SHKEEPER_API_KEY is required",
    "Missing environment variables: SMTP_PASS",
])
def test_missing_env_messages_in_their_common_shapes(tmp_path: Path, line: str) -> None:
    log = LogFile(tmp_path)
    log.check()
    log.write(line)
    assert log.check().cause == "missing_env"


def test_lines_are_never_counted_twice_across_cycles_or_restarts(tmp_path: Path) -> None:
    log = LogFile(tmp_path)
    log.check()
    log.write("MongoNetworkError: a", "MongoNetworkError: b", "MongoNetworkError: c")
    first = log.check()
    # Each run_probe builds a new probe on the same state file: a watchdog restart.
    second = log.check()
    log.write("MongoNetworkError: d")
    third = log.check()
    assert [o.values["matches_in_window"] for o in (first, second, third)] == [3, 3, 4]
    assert [o.details["rules"][0]["new_matches"] for o in (first, second, third)] == [3, 0, 1]


def test_below_the_threshold_is_ok(tmp_path: Path) -> None:
    log = LogFile(tmp_path)
    log.check()
    log.write("MongoNetworkError: once")
    obs = log.check()
    assert (obs.status, obs.values["lines_read"]) == (Status.OK, 1)


def test_an_operator_rule_comes_before_the_bundled_ones(tmp_path: Path) -> None:
    log = LogFile(tmp_path)
    rule = {"pattern": "MongoNetworkError", "cause": "db_flaky", "severity": "sev3",
            "threshold": 1, "within": "1m", "runbook": "3.2"}
    log.check(rules=[rule])
    log.write("MongoNetworkError", "MongoNetworkError", "MongoNetworkError")
    obs = log.check(rules=[rule])
    assert (obs.cause, obs.severity) == ("db_flaky", "sev3")
    assert [r["cause"] for r in obs.details["rules"]] == ["db_flaky", "mongo_unreachable"]


def test_a_missing_log_file_is_unknown(tmp_path: Path) -> None:
    obs = run_probe(LogsProbe, {"path": str(tmp_path / "nope.log")})
    assert (obs.status, obs.cause) == (Status.UNKNOWN, "no_source")


def test_container_then_path_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        LogsProbe.Params(container="a", path="/b")
    with pytest.raises(ValueError, match="not a regular expression"):
        LogsProbe.Params(path="/b", rules=[{"pattern": "(", "cause": "x"}])


def test_a_container_log_stream_is_read_incrementally(podman: PodmanPeer, tmp_path: Path) -> None:
    script = ("for i in 1 2 3; do echo \"MongoNetworkError: failed to connect $i\"; done; "
              "while [ ! -f /tmp/go ]; do sleep 0.1; done; "
              "echo 'MongoNetworkError: again'; echo 'SHKeeper request failed: 502'; sleep 600")
    podman.run("logger", ["sh", "-c", script])
    store, params = str(tmp_path / "s.db"), {"container": podman.name("logger")}
    settings = {"docker_url": podman.url}
    try:
        wait_for(lambda: podman.client().containers.get(podman.name("logger")).logs()
                 .count(b"MongoNetworkError") == 3, what="three lines")
        first = run_probe(LogsProbe, params, timeout=5, store_path=store, settings=settings)
        assert (first.cause, first.details["rules"][0]["new_matches"]) == \
            ("mongo_unreachable", 3)
        podman.client().containers.get(podman.name("logger")).exec_run(["sh", "-c",
                                                                        "echo > /tmp/go"])
        wait_for(lambda: b"SHKeeper" in podman.client().containers.get(
            podman.name("logger")).logs(), what="two more lines")
        second = run_probe(LogsProbe, params, timeout=5, store_path=store, settings=settings)
        assert (second.cause, second.values["matches_in_window"]) == ("mongo_unreachable", 4)
        assert [r["new_matches"] for r in second.details["rules"]] == [1]
    finally:
        podman.remove("logger")


def test_a_missing_container_is_unknown_for_the_logs_probe(podman: PodmanPeer) -> None:
    obs = run_probe(LogsProbe, {"container": podman.name("ghost")}, timeout=5,
                    settings={"docker_url": podman.url})
    assert (obs.status, obs.cause) == (Status.UNKNOWN, "no_source")


def test_a_recreated_container_is_read_after_a_silent_one(podman: PodmanPeer,
                                                          tmp_path: Path) -> None:
    """Issue 19 item 5: the old container logged nothing, so no line timestamp was saved."""
    rule = {"pattern": "boot failed", "cause": "boot_failed", "severity": "sev2",
            "threshold": 1, "within": "10m", "runbook": "9.9"}
    store = str(tmp_path / "s.db")
    params = {"container": podman.name("logger"), "rules": [rule]}
    settings = {"docker_url": podman.url}
    try:
        old_id = podman.run("logger", ["sleep", "600"]).id
        silent = run_probe(LogsProbe, params, timeout=5, store_path=store, settings=settings)
        assert (silent.status, silent.cause, silent.values["lines_read"]) == (Status.OK, "ok", 0)
        podman.remove("logger")
        new_id = podman.run("logger", ["sh", "-c", "echo 'boot failed: no config'; sleep 600"]).id
        assert new_id != old_id
        wait_for(lambda: b"boot failed" in podman.client().containers.get(
            podman.name("logger")).logs(), what="the new container's line")
        obs = run_probe(LogsProbe, params, timeout=5, store_path=store, settings=settings)
        assert (obs.status, obs.cause, obs.severity) == (Status.FAILED, "boot_failed", "sev2")
        assert (obs.details["rules"][0]["new_matches"], obs.values["lines_read"]) == (1, 1)
        again = run_probe(LogsProbe, params, timeout=5, store_path=store, settings=settings)
        assert (again.status, again.details["rules"][0]["new_matches"],
                again.values["lines_read"]) == (Status.FAILED, 0, 0)
    finally:
        podman.remove("logger")
