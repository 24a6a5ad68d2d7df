"""A real DNS server for the mail_dns tests: Debian's dnsmasq on a loopback port.

It answers with the records of a few test domains (see ZONES) and, for names under
`.test` it does not know, NXDOMAIN (`--local=/test/`) like an authoritative zone would.
Anything else is REFUSED; `slow.test` is forwarded to a port where nobody answers, so
its lookups time out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dns.resolver

from tests.support import Process, free_port, wait_for

# A DKIM key long enough to be split into two TXT strings, as real 2048-bit keys are.
DKIM_KEY = "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 250 + "IDAQAB"
SPF = "v=spf1 ip4:192.0.2.0/24 include:_spf.mailer.example ~all"
DMARC = "v=DMARC1; p=quarantine; rua=mailto:dmarc@good.test"

ZONES: dict[str, list[list[str]]] = {
    # name: one list of strings per TXT record
    "good.test": [[SPF], ["google-site-verification=abc123"]],
    "s1._domainkey.good.test": [["v=DKIM1; k=rsa; ", DKIM_KEY[:200], DKIM_KEY[200:]]],
    "s2._domainkey.good.test": [["v=DKIM1; k=rsa; " + DKIM_KEY[:120]]],
    "_dmarc.good.test": [[DMARC]],
    # SPF and DMARC published, the selector s1 never was.
    "nodkim.test": [[SPF]],
    "_dmarc.nodkim.test": [[DMARC]],
    # Two SPF records: a permanent error for every receiver (RFC 7208 4.5).
    "twospf.test": [[SPF], ["v=spf1 include:_spf.google.com ~all"]],
    "s1._domainkey.twospf.test": [["v=DKIM1; k=rsa; " + DKIM_KEY[:120]]],
    "_dmarc.twospf.test": [[DMARC]],
    # A typo in a mechanism.
    "badspf.test": [["v=spf1 ip4:192.0.2.1 inclde:_spf.mailer.example -all"]],
    "_dmarc.badspf.test": [[DMARC]],
    # No SPF at all (only another TXT record), no DMARC, a revoked DKIM key.
    "bare.test": [["google-site-verification=abc123"]],
    "s1._domainkey.bare.test": [["v=DKIM1; p="]],
}


def _txt_arg(name: str, strings: list[str]) -> str:
    # On the command line dnsmasq splits strings at commas and keeps quotes: none in ZONES.
    assert not any("," in s or '"' in s for s in strings)
    return f"--txt-record={name},{','.join(strings)}"


class DnsPeer:
    """dnsmasq serving ZONES on 127.0.0.1:<free port>."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dead_port = free_port()  # nobody listens: lookups forwarded there time out
        self.tmp = tmp
        self.process: Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        records = [_txt_arg(name, strings) for name, recs in ZONES.items() for strings in recs]
        return [exe, "-k", "--conf-file=/dev/null", f"--port={self.port}",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                "--user=root", "--pid-file=", "--log-facility=-", "--cache-size=0",
                "--local=/test/", f"--server=/slow.test/127.0.0.1#{self.dead_port}", *records]

    def start(self) -> DnsPeer:
        self.process = Process(self.argv(), self.tmp / f"dnsmasq-{self.port}.log").start()
        wait_for(self._answers, what=f"dnsmasq on {self.port}")
        return self

    def _answers(self) -> bool:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], self.port, 0.5
        return len(resolver.resolve("good.test", "TXT")) == 2

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
