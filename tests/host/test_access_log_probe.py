"""The access_log probe on an access log written by a real nginx, including a rotation."""

from __future__ import annotations

from pathlib import Path

from probes.access_log import AccessLogProbe
from tests.peers.nginx import NginxPeer
from tests.support import run_probe, wait_for
from watchdog.pipeline.observation import Observation, Status


def check(nginx: NginxPeer, store: Path, **params: object) -> Observation:
    return run_probe(AccessLogProbe, {"path": str(nginx.access_log), **params},
                     store_path=str(store), name="abuse")


def settle(nginx: NginxPeer, lines: int) -> None:
    wait_for(lambda: nginx.logged() >= lines, what=f"{lines} access-log lines")


def test_a_client_over_the_rate_limit_is_named_in_the_details(
        nginx: NginxPeer, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    nginx.request("/", times=1)
    settle(nginx, 1)
    assert check(nginx, store).cause == "ok"  # first sight: from the end
    nginx.request("/api/items", client="127.0.0.7", times=12)
    nginx.request("/api/items", client="127.0.0.8", times=3)
    settle(nginx, 16)
    obs = check(nginx, store, max_requests=10)
    assert (obs.status, obs.cause) == (Status.FAILED, "abusive_client")
    assert obs.details["offenders"] == [{"ip": "127.0.0.7", "requests": 12, "failed_logins": 0}]
    assert [row["ip"] for row in obs.details["top"]] == ["127.0.0.7", "127.0.0.8"]
    assert obs.signals == {"client 127.0.0.7"}


def test_failed_logins_over_the_limit_are_brute_force(nginx: NginxPeer, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    check(nginx, store, from_start=True)
    nginx.request("/api/auth/login", client="127.0.0.9", method="POST", times=6)
    settle(nginx, 6)
    obs = check(nginx, store, max_failed_logins=5)
    assert (obs.status, obs.cause) == (Status.FAILED, "brute_force")
    assert obs.details["offenders"][0] == {"ip": "127.0.0.9", "requests": 6, "failed_logins": 6}
    assert obs.values["failed_logins"] == 6


def test_counts_survive_rotation_without_double_counting(
        nginx: NginxPeer, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    check(nginx, store, from_start=True)
    nginx.request("/a", client="127.0.0.5", times=4)
    settle(nginx, 4)
    assert check(nginx, store).values["top_client_requests"] == 4
    nginx.request("/b", client="127.0.0.5", times=2)  # still in the old file
    settle(nginx, 6)
    nginx.rotate()
    nginx.request("/c", client="127.0.0.5", times=3)  # in the new file
    settle(nginx, 3)
    obs = check(nginx, store)
    assert obs.values["top_client_requests"] == 9
    assert check(nginx, store).values["top_client_requests"] == 9


def test_requests_older_than_the_window_do_not_count(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    old = '203.0.113.9 - - [01/Jan/2020:00:00:00 +0000] "GET / HTTP/1.1" 200 3 "-" "x"\n'
    log.write_text(old * 500 + "not an access log line \xff\n")
    obs = run_probe(AccessLogProbe, {"path": str(log), "from_start": True})
    assert (obs.status, obs.values["clients"]) == (Status.OK, 0)
