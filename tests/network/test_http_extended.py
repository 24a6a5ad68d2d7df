"""The http probe's TLS expiry, redirect policy and retry, against real HTTP(S) servers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from probes.http import HttpProbe
from tests.network.conftest import NetHttpPeer, Tls
from tests.support import run_probe
from watchdog.pipeline.observation import Status

pytestmark = pytest.mark.integration


def test_a_certificate_expiring_within_tls_min_days_is_cert_expiring(
        tls_web: NetHttpPeer, tls_expiring: Tls) -> None:
    obs = run_probe(HttpProbe, {"url": tls_web.url(), "ca_file": str(tls_expiring.ca_file),
                                "tls_min_days": 14, "cert_severity": "sev3"})
    assert (obs.status, obs.cause, obs.severity) == (Status.FAILED, "cert_expiring", "sev3")
    assert 2.9 < obs.values["cert_days_left"] <= 3.0
    assert "expires in 3.0 days (< 14)" in obs.summary
    assert obs.hint is not None and "renew" in obs.hint


def test_a_certificate_with_enough_days_left_is_ok_and_reports_them(
        tls_web: NetHttpPeer, tls_expiring: Tls) -> None:
    obs = run_probe(HttpProbe, {"url": tls_web.url(), "ca_file": str(tls_expiring.ca_file),
                                "tls_min_days": 2})
    assert obs.status is Status.OK
    assert 2.9 < obs.values["cert_days_left"] <= 3.0


def test_an_untrusted_certificate_on_the_shared_client_is_tls_error(tls_web: NetHttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": tls_web.url(), "tls_min_days": 14})
    assert (obs.status, obs.cause) == (Status.FAILED, "tls_error")
    assert obs.hint is not None and "certificate" in obs.hint


def test_tls_min_days_without_verification_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="tls_min_days needs verify_tls"):
        HttpProbe.Params(url="https://x.invalid/", tls_min_days=5, verify_tls=False)


def test_a_redirect_is_a_bad_status_unless_redirects_are_followed(web: NetHttpPeer) -> None:
    not_followed = run_probe(HttpProbe, {"url": web.url("/redirect/2")})
    followed = run_probe(HttpProbe, {"url": web.url("/redirect/2"), "follow_redirects": True})
    assert (not_followed.cause, "HTTP 302" in not_followed.summary) == ("bad_status", True)
    assert followed.status is Status.OK
    assert followed.values["redirects"] == 2


def test_too_many_redirects_is_bad_redirect(web: NetHttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": web.url("/redirect/4"), "follow_redirects": True,
                                "max_redirects": 3})
    assert (obs.status, obs.cause) == (Status.FAILED, "bad_redirect")
    assert "more than 3 redirects" in obs.summary


def test_a_redirect_to_another_host_is_refused_and_gets_no_secret_headers(
        web: NetHttpPeer, tmp_path: Path) -> None:
    other = NetHttpPeer(tmp_path).start()
    try:
        away = web.url(f"/redirect-away?to=http://localhost:{other.port}/headers")
        refused = run_probe(HttpProbe, {"url": away, "follow_redirects": True,
                                        "secret_headers": {"X-Api-Key": "k-123"}})
        allowed = run_probe(HttpProbe, {"url": away, "follow_redirects": True,
                                        "redirect_other_hosts": True,
                                        "secret_headers": {"X-Api-Key": "k-123"}})
        seen = httpx.get(other.url("/headers")).json()
    finally:
        other.process.stop()
    assert (refused.cause, "another host (localhost)" in refused.summary) == \
        ("bad_redirect", True)
    assert allowed.status is Status.OK
    assert "X-Api-Key" not in seen and "x-api-key" not in seen


def test_a_dropped_connection_is_retried_once_within_the_timeout(web: NetHttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": web.url("/flaky/a")})
    assert obs.status is Status.OK
    assert httpx.get(web.url("/requests")).json()["/flaky/a"] == 2


def test_a_slow_answer_keeps_its_own_severity_over_the_probe_s(web: NetHttpPeer) -> None:
    obs = run_probe(HttpProbe, {"url": web.url("/slow/300"), "max_latency": "100ms",
                                "slow_severity": "sev4"})
    assert (obs.cause, obs.severity) == ("slow", "sev4")
    assert obs.values["latency_seconds"] >= 0.3


def test_expect_body_and_expect_json_both_apply(web: NetHttpPeer) -> None:
    both = {"expect_body": '"status"', "expect_json": {"status": "ok"}}
    assert run_probe(HttpProbe, {"url": web.url("/json?status=ok"), **both}).ok
    bad = run_probe(HttpProbe, {"url": web.url("/json?state=ok"), **both})
    assert bad.cause == "bad_body" and "does not match" in bad.summary
