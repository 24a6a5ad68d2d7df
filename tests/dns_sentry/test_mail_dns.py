"""The mail_dns probe against a real DNS server (dnsmasq on loopback) serving test zones."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from probes.mail_dns import MailDnsParams, MailDnsProbe, resolver_address
from tests.peers.dns_peer import DnsPeer
from tests.support import free_port, run_probe
from watchdog.pipeline.observation import Observation, Status


def check(dns_peer: DnsPeer, domain: str, selectors: list[str] | None = None,
          **kw: Any) -> Observation:
    params = {"domain": domain, "dkim_selectors": selectors or ["s1"],
              "resolver": dns_peer.address}
    return run_probe(MailDnsProbe, params, **kw)


def causes(obs: Observation) -> list[str]:
    return [p["cause"] for p in obs.details["problems"]]


def test_a_domain_with_spf_dkim_and_dmarc_is_ok(dns_peer: DnsPeer) -> None:
    obs = check(dns_peer, "good.test", ["s1", "s2"])
    assert (obs.status, obs.cause) == (Status.OK, "ok")
    assert obs.values["dkim_selectors"] == 2
    assert "SPF, DMARC and 2 DKIM selector(s)" in obs.summary


def test_a_missing_dkim_selector_is_dkim_missing(dns_peer: DnsPeer) -> None:
    obs = check(dns_peer, "nodkim.test")
    assert (obs.status, obs.cause) == (Status.FAILED, "dkim_missing")
    assert causes(obs) == ["dkim_missing"]
    assert "'s1'" in obs.summary and "s1._domainkey.nodkim.test" in obs.summary
    assert obs.hint is not None and "3.5" in obs.hint


def test_one_missing_selector_among_several_is_named(dns_peer: DnsPeer) -> None:
    obs = check(dns_peer, "good.test", ["s1", "s2", "s3"])
    assert obs.cause == "dkim_missing"
    assert "'s3'" in obs.summary and "'s1'" not in obs.summary


def test_two_spf_records_are_spf_invalid(dns_peer: DnsPeer) -> None:
    obs = check(dns_peer, "twospf.test")
    assert (obs.status, obs.cause) == (Status.FAILED, "spf_invalid")
    assert "2 SPF records" in obs.summary
    assert len(obs.details["records"]["twospf.test"]) == 2


def test_a_misspelt_spf_mechanism_is_spf_invalid(dns_peer: DnsPeer) -> None:
    obs = check(dns_peer, "badspf.test", [])
    assert obs.cause == "spf_invalid"
    assert "inclde:_spf.mailer.example" in obs.summary


def test_every_problem_is_listed_and_the_first_to_fix_is_the_cause(dns_peer: DnsPeer) -> None:
    obs = check(dns_peer, "bare.test")
    assert obs.cause == "spf_missing"
    assert causes(obs) == ["spf_missing", "dmarc_missing", "dkim_missing"]
    assert obs.values["problems"] == 3
    assert "revoked (empty p=)" in obs.summary


def test_a_domain_that_does_not_exist_is_one_dns_error(dns_peer: DnsPeer) -> None:
    obs = check(dns_peer, "missing.test")
    assert (obs.status, obs.cause) == (Status.FAILED, "dns_error")
    assert causes(obs) == ["dns_error"]
    assert "NXDOMAIN" in obs.summary


def test_a_refused_lookup_is_dns_error(dns_peer: DnsPeer) -> None:
    obs = check(dns_peer, "amn.example")
    assert obs.cause == "dns_error"
    assert "SERVFAIL or REFUSED" in obs.summary


def test_an_upstream_that_never_answers_is_timeout_within_the_budget(dns_peer: DnsPeer) -> None:
    obs = check(dns_peer, "slow.test", timeout=0.5)
    assert (obs.status, obs.cause) == (Status.FAILED, "timeout")
    assert obs.latency < 1.0  # within timeout + grace: not the framework's probe_hung


def test_a_resolver_nobody_runs_is_timeout_not_a_crash() -> None:
    obs = run_probe(MailDnsProbe, {"domain": "good.test",
                                   "resolver": f"127.0.0.1:{free_port()}"}, timeout=0.5)
    assert (obs.status, obs.cause) == (Status.FAILED, "timeout")


@pytest.mark.parametrize(("text", "expected"), [
    ("1.1.1.1", ("1.1.1.1", 53)),
    ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("::1", ("::1", 53)),
    ("[::1]:5353", ("::1", 5353)),
])
def test_resolver_addresses(text: str, expected: tuple[str, int]) -> None:
    assert resolver_address(text) == expected


@pytest.mark.parametrize("text", ["dns.google", "127.0.0.1:0", "127.0.0.1:x", "[::1]:99999"])
def test_a_bad_resolver_address_is_rejected_at_config_time(text: str) -> None:
    with pytest.raises(ValidationError, match="resolver"):
        MailDnsParams(domain="amn.gg", resolver=text)
