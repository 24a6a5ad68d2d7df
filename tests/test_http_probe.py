"""The http probe against a real HTTP server on loopback."""

from __future__ import annotations

import pytest

from probes.http import HttpProbe
from tests.support import HttpPeer, free_port, run_probe
from watchdog.pipeline.observation import Status

pytestmark = pytest.mark.integration  # a real HTTP peer in its own process


def test_a_healthy_endpoint_is_ok_with_its_status_code(http_peer: HttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": http_peer.url()})
    assert obs.status is Status.OK
    assert obs.values["status_code"] == 200
    assert obs.latency > 0


@pytest.mark.parametrize("code", [500, 503, 404])
def test_an_error_status_is_bad_status(http_peer: HttpPeer, code: int) -> None:
    obs = run_probe(HttpProbe, {"url": http_peer.url(f"/status/{code}")})
    assert (obs.status, obs.cause) == (Status.FAILED, "bad_status")
    assert f"HTTP {code}" in obs.summary
    assert obs.hint is not None and "3.1" in obs.hint


def test_expect_status_accepts_a_listed_code(http_peer: HttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": http_peer.url("/status/401"), "expect_status": [401]})
    assert obs.status is Status.OK


def test_nothing_listening_is_refused() -> None:
    obs = run_probe(HttpProbe, {"url": f"http://127.0.0.1:{free_port()}/api/health"})
    assert (obs.status, obs.cause) == (Status.FAILED, "refused")


def test_a_hung_server_is_a_timeout_failure_not_unknown(http_peer: HttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": http_peer.url("/hang")}, timeout=0.5)
    assert (obs.status, obs.cause) == (Status.FAILED, "timeout")


def test_an_unresolvable_name_is_dns() -> None:
    obs = run_probe(HttpProbe, {"url": "http://no-such-host.invalid/api/health"})
    assert (obs.status, obs.cause) == (Status.FAILED, "dns")


def test_expect_json_checks_a_field(http_peer: HttpPeer) -> None:
    good = run_probe(HttpProbe, {"url": http_peer.url("/json?status=ok&db=up"),
                                 "expect_json": {"status": "ok", "db": "up"}})
    bad = run_probe(HttpProbe, {"url": http_peer.url("/json?status=degraded"),
                                "expect_json": {"status": "ok"}})
    missing = run_probe(HttpProbe, {"url": http_peer.url("/json?a=b"),
                                    "expect_json": {"status": "ok"}})
    assert good.status is Status.OK
    assert (bad.cause, "'status' is \"degraded\"" in bad.summary) == ("bad_body", True)
    assert missing.cause == "bad_body" and "missing" in missing.summary


def test_a_body_that_is_not_json_is_bad_body(http_peer: HttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": http_peer.url("/text/hello"), "expect_json": {"a": 1}})
    assert (obs.cause, obs.summary.endswith("body is not JSON")) == ("bad_body", True)


def test_expect_body_regex(http_peer: HttpPeer) -> None:
    assert run_probe(HttpProbe, {"url": http_peer.url("/text/healthy"),
                                 "expect_body": "^heal"}).status is Status.OK
    assert run_probe(HttpProbe, {"url": http_peer.url("/text/sick"),
                                 "expect_body": "^heal"}).cause == "bad_body"


def test_slower_than_max_latency_is_slow_with_its_own_severity(http_peer: HttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": http_peer.url("/slow/300"), "max_latency": "100ms",
                                "slow_severity": "sev3"})
    assert (obs.status, obs.cause, obs.severity) == (Status.FAILED, "slow", "sev3")
    assert obs.values["latency_seconds"] >= 0.3


def test_secret_headers_are_sent(http_peer: HttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": http_peer.url("/headers"),
                                "secret_headers": {"X-Api-Key": "k-123"},
                                "expect_json": {"X-Api-Key": "k-123"}})
    assert obs.status is Status.OK


def test_garbage_instead_of_http_is_a_failure_not_a_crash(http_peer: HttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": http_peer.url("/garbage")})
    assert obs.status is Status.FAILED
    assert obs.cause in HttpProbe.causes
