"""Mail DNS probe (runbook §3.5 step 4): the sending domain's SPF, DKIM and DMARC records.

Looks up, concurrently, the domain's TXT records (exactly one `v=spf1` record, RFC 7208
4.5), `<selector>._domainkey.<domain>` TXT for each DKIM selector (a public key `p=`),
and `_dmarc.<domain>` TXT (`v=DMARC1`). Receivers that cannot verify these reject or
spam-folder the mail: the "specific domains bounce" branch of the runbook.

Causes: dns_error, spf_missing, spf_invalid, dmarc_missing, dkim_missing, timeout.
Sev3 by default (`common_defaults`): mail still leaves, some of it lands badly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from watchdog.pipeline.observation import Observation, failed, ok
from watchdog.pipeline.probe import ProbeContext, ProbeParams

if TYPE_CHECKING:
    import dns.asyncresolver

HINTS = {
    "dns_error": "the domain's records cannot be resolved: check the zone at the DNS provider "
                 "(runbook 3.5 step 4)",
    "timeout": "the resolver did not answer in time: check the resolver, then the zone "
               "(runbook 3.5 step 4)",
    "spf_missing": "publish one TXT record `v=spf1 include:<provider> -all` for the domain "
                   "(runbook 3.5 step 4)",
    "spf_invalid": "merge into exactly one valid `v=spf1` TXT record; receivers treat more "
                   "than one as a permanent error (runbook 3.5 step 4)",
    "dmarc_missing": "publish `_dmarc` TXT `v=DMARC1; p=none; rua=mailto:...` at least "
                     "(runbook 3.5 step 4)",
    "dkim_missing": "publish the provider's DKIM key at <selector>._domainkey, or fix the "
                    "selector in the config (runbook 3.5 step 4)",
}
# Causes in the order a human should fix them: nothing else matters while DNS fails.
_ORDER = ("dns_error", "timeout", "spf_missing", "spf_invalid", "dmarc_missing", "dkim_missing")
_SPF_TERM = re.compile(
    r"[+\-~?]?(all|include:\S+|exists:\S+|ptr(:\S+)?|ip4:[0-9./]+|ip6:[0-9a-f:./]+"
    r"|(a|mx)(:[^/\s]+)?(/\d+)?(//\d+)?)"
    r"|[a-z][a-z0-9_.\-]*=\S*", re.IGNORECASE)


class MailDnsParams(ProbeParams):
    domain: str
    dkim_selectors: list[str] = Field(default_factory=list)
    resolver: str | None = None

    @field_validator("resolver")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            resolver_address(value)
        return value


def resolver_address(text: str) -> tuple[str, int]:
    """`1.1.1.1`, `127.0.0.1:5353`, `::1` or `[::1]:5353` -> (address, port)."""
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address with an optional :port") from None
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is out of range")
    return host, number


@dataclass(frozen=True)
class Problem:
    cause: str
    what: str

    def detail(self) -> dict[str, str]:
        return {"cause": self.cause, "what": self.what}


@dataclass(frozen=True)
class Lookup:
    """One TXT lookup: the texts found, or why there are none (`missing`/`nxdomain`/error)."""

    name: str
    texts: tuple[str, ...] = ()
    failure: str | None = None  # None | "missing" | "nxdomain" | "servfail" | "timeout"


class MailDnsProbe:
    Params: ClassVar[type[MailDnsParams]] = MailDnsParams
    causes: ClassVar[frozenset[str]] = frozenset({"ok", *_ORDER})
    # Warnings, not "down": mail still leaves, some of it lands badly.
    warning_causes: ClassVar[frozenset[str]] = frozenset(
        {"spf_missing", "spf_invalid", "dmarc_missing", "dkim_missing"})
    common_defaults: ClassVar[Mapping[str, Any]] = {"severity": "sev3", "runbook": "3.5"}

    def __init__(self, params: MailDnsParams, ctx: ProbeContext) -> None:
        self.params = params
        self.timeout = ctx.timeout
        self.domain = params.domain.rstrip(".").lower()
        self._resolver: dns.asyncresolver.Resolver | None = None

    async def check(self) -> Observation:
        started = time.monotonic()
        resolver = self._get_resolver()
        if isinstance(resolver, Problem):
            return failed(resolver.cause, resolver.what, hint=HINTS[resolver.cause])
        names = [self.domain, f"_dmarc.{self.domain}", *self._dkim_names()]
        lookups = await asyncio.gather(*(self._txt(resolver, name) for name in names))
        found = dict(zip(names, lookups, strict=True))
        return self._judge(found).with_latency(time.monotonic() - started)

    def _dkim_names(self) -> list[str]:
        return [f"{selector}._domainkey.{self.domain}" for selector in self.params.dkim_selectors]

    def _get_resolver(self) -> dns.asyncresolver.Resolver | Problem:
        import dns.resolver  # dnspython (~3 MiB) only once a mail_dns probe runs

        if self._resolver is None:
            try:
                self._resolver = _build_resolver(self.params.resolver, self.timeout)
            except dns.resolver.NoResolverConfiguration:
                return Problem("dns_error", "no resolver configured (/etc/resolv.conf) "
                                            "and no `resolver` key")
        return self._resolver

    async def _txt(self, resolver: dns.asyncresolver.Resolver, name: str) -> Lookup:
        import dns.exception
        import dns.rdatatype
        import dns.resolver

        try:
            # dnspython sleeps a 0.1 s backoff before noticing its lifetime ran out: the
            # asyncio bound keeps the answer within the probe's timeout.
            async with asyncio.timeout(self.timeout):
                answer = await resolver.resolve(name, dns.rdatatype.TXT, search=False)
        except dns.resolver.NXDOMAIN:
            return Lookup(name, failure="nxdomain")
        except dns.resolver.NoAnswer:
            return Lookup(name, failure="missing")
        except (dns.exception.Timeout, TimeoutError):
            return Lookup(name, failure="timeout")
        except dns.resolver.NoNameservers:
            return Lookup(name, failure="servfail")
        return Lookup(name, tuple(_text(rdata) for rdata in answer))

    async def aclose(self) -> None:
        """dnspython's resolver holds no sockets between queries."""

    # -- judging -------------------------------------------------------------------------
    def _judge(self, found: Mapping[str, Lookup]) -> Observation:
        problems = self._problems(found)
        count = len(self.params.dkim_selectors)
        if not problems:
            return ok(f"{self.domain}: SPF, DMARC and {count} DKIM selector(s) published",
                      dkim_selectors=count)
        problems.sort(key=lambda p: _ORDER.index(p.cause))
        first = problems[0]
        return failed(first.cause, f"{self.domain}: " + "; ".join(p.what for p in problems),
                      hint=HINTS[first.cause], values={"problems": len(problems)},
                      details={"problems": [p.detail() for p in problems],
                               "records": {k: list(v.texts) for k, v in found.items()}})

    def _problems(self, found: Mapping[str, Lookup]) -> list[Problem]:
        apex = found[self.domain]
        if apex.failure == "nxdomain":
            # The other lookups only repeat it: one clear problem, not four.
            return [Problem("dns_error", "the domain does not exist (NXDOMAIN)")]
        problems = [*_spf_problems(apex), *_dmarc_problems(found[f"_dmarc.{self.domain}"])]
        for name in self._dkim_names():
            problems += _dkim_problems(found[name])
        return problems


def _build_resolver(address: str | None, timeout: float) -> dns.asyncresolver.Resolver:
    import dns.asyncresolver

    if address is None:
        resolver = dns.asyncresolver.Resolver()
    else:
        host, port = resolver_address(address)
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = [host], port
    resolver.lifetime = timeout
    resolver.cache = None  # each run must see the zone as it is now
    return resolver


def _text(rdata: Any) -> str:
    # A long TXT record (a DKIM key) arrives as several strings: one record, concatenated.
    return b"".join(rdata.strings).decode("utf-8", errors="replace")


def _lookup_error(lookup: Lookup, what: str) -> Problem | None:
    if lookup.failure == "timeout":
        return Problem("timeout", f"{what}: no answer from the resolver ({lookup.name})")
    if lookup.failure == "servfail":
        return Problem("dns_error", f"{what}: the resolver could not answer for {lookup.name} "
                                    "(SERVFAIL or REFUSED)")
    return None


def _spf_problems(lookup: Lookup) -> list[Problem]:
    error = _lookup_error(lookup, "SPF")
    if error is not None:
        return [error]
    spf = [t for t in lookup.texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
    if not spf:
        return [Problem("spf_missing", "no SPF record (TXT v=spf1)")]
    if len(spf) > 1:
        return [Problem("spf_invalid", f"{len(spf)} SPF records (exactly one is allowed)")]
    bad = [term for term in spf[0].split()[1:] if not _SPF_TERM.fullmatch(term)]
    if bad:
        return [Problem("spf_invalid", f"SPF record has invalid terms: {' '.join(bad[:3])}")]
    return []


def _dmarc_problems(lookup: Lookup) -> list[Problem]:
    error = _lookup_error(lookup, "DMARC")
    if error is not None:
        return [error]
    if not any(t.replace(" ", "").lower().startswith("v=dmarc1") for t in lookup.texts):
        return [Problem("dmarc_missing", f"no DMARC record (TXT v=DMARC1 at {lookup.name})")]
    return []


def _dkim_problems(lookup: Lookup) -> list[Problem]:
    selector = lookup.name.split(".", 1)[0]
    error = _lookup_error(lookup, f"DKIM {selector}")
    if error is not None:
        return [error]
    tags = [_tags(text) for text in lookup.texts]
    if not any(t.get("p") for t in tags):
        revoked = any("p" in t for t in tags)
        state = "revoked (empty p=)" if revoked else "no public key"
        return [Problem("dkim_missing", f"DKIM selector {selector!r}: {state} at {lookup.name}")]
    return []


def _tags(text: str) -> dict[str, str]:
    """`v=DKIM1; k=rsa; p=MIG...` -> {"v": "DKIM1", "k": "rsa", "p": "MIG..."}."""
    pairs = (part.partition("=") for part in text.split(";"))
    return {k.strip().lower(): v.strip() for k, sep, v in pairs if sep}
