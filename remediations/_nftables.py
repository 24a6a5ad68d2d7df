"""block_ip's nftables backend: a table and two sets of the watchdog's own.

    table inet runbook_watchdog {
        set blocked_v4 { type ipv4_addr; flags timeout; }
        set blocked_v6 { type ipv6_addr; flags timeout; }
        chain prerouting {
            type filter hook prerouting priority -300; policy accept;
            ip saddr @blocked_v4 counter drop
            ip6 saddr @blocked_v6 counter drop
        }
    }

Why the prerouting hook at priority -300 (raw): Docker publishes a port by a DNAT in nat
prerouting (priority -100, dstnat) and then filters the rewritten packet in *forward*,
through its own chains, which come before anything ufw adds to input. A drop in a
prerouting chain below -100 sees every packet before that DNAT, so it covers the host's
own ports and every published one alike; at -300 it also runs before conntrack (-200),
so a flood from a blocked address creates no connection-tracking entries, and a blocked
client's established connections stop too. Nothing else in the ruleset is touched, and
the table outlives the watchdog (it is the kernel's).

Each element carries its own timeout (`expire`): the kernel removes it, so an expiry
needs no watchdog and survives its crash. Every call is `nft` as an argument list with a
timeout (never a shell); commands joined by ";" in one call are one transaction.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from remediations._command import run_command
from watchdog.remediation.contract import ActionFailed

CHAIN = "prerouting"
PRIORITY = -300  # raw: before conntrack (-200) and Docker's DNAT (-100); see above
SETS = {4: ("blocked_v4", "ipv4_addr", "ip"), 6: ("blocked_v6", "ipv6_addr", "ip6")}
RULES = [(proto, f"@{name}") for name, _, proto in SETS.values()]  # (protocol, set), in order


@dataclass(frozen=True)
class Element:
    """One blocked address; `expires` in seconds from now (None: until removed)."""

    ip: str
    timeout: float | None
    expires: float | None


class NftBlocklist:
    def __init__(self, nft: Sequence[str], table: str, timeout: float) -> None:
        self.nft = list(nft)
        self.table = f"inet {table}"
        self.timeout = timeout

    async def _run(self, *commands: str) -> str:
        return await run_command([*self.nft, "; ".join(commands)], self.timeout)

    async def _list(self, what: str) -> list[dict[str, Any]]:
        return _items(await run_command([*self.nft, "-j", f"list {what}"], self.timeout))

    # -- the table ---------------------------------------------------------------------------
    async def ensure(self) -> None:
        """Create what is missing; never flush a set. The chain's rules are written again
        (in one transaction) only when they are not exactly the two drops."""
        sets = [f"add set {self.table} {name} {{ type {kind}; flags timeout; }}"
                for name, kind, _ in SETS.values()]
        await self._run(f"add table {self.table}", *sets,
                        f"add chain {self.table} {CHAIN} {{ type filter hook prerouting "
                        f"priority {PRIORITY}; policy accept; }}")
        if not await self.hooked():
            await self._run(f"flush chain {self.table} {CHAIN}", *(
                f"add rule {self.table} {CHAIN} {proto} saddr {name} counter drop"
                for proto, name in RULES))

    async def hooked(self) -> bool:
        """The drop rules are in place (a set nobody drops from blocks nothing)."""
        items = await self._list(f"chain {self.table} {CHAIN}")
        return [rule_key(item["rule"]) for item in items if "rule" in item] == RULES

    # -- elements ------------------------------------------------------------------------------
    async def add(self, ips: Iterable[str], expire: float | None) -> None:
        """Block `ips`; an address already there gets the new timeout (add, delete, add:
        one transaction, and the delete never fails on a missing element)."""
        timeout = "" if expire is None else f" timeout {max(1, round(expire))}s"
        commands = []
        for ip in ips:
            where = f"element {self.table} {set_of(ip)} {{ {ip} }}"
            commands += [f"add {where}", f"delete {where}",
                         f"add element {self.table} {set_of(ip)} {{ {ip}{timeout} }}"]
        await self._run(*commands)

    async def remove(self, ips: Iterable[str]) -> list[str]:
        """Unblock those of `ips` still blocked (the kernel may have expired the others);
        the ones removed."""
        present = {e.ip for e in await self.elements()}
        gone = [ip for ip in map(canonical, ips) if ip in present]
        if gone:
            await self._run(*(f"delete element {self.table} {set_of(ip)} {{ {ip} }}"
                              for ip in gone))
        return gone

    async def exists(self) -> bool:
        """The table is there (not yet after a boot, nor after a `flush ruleset`)."""
        family, name = self.table.split()
        return any(t.get("family") == family and t.get("name") == name
                   for t in (item.get("table") or {} for item in await self._list("tables")))

    async def elements(self) -> list[Element]:
        """What the sets hold now; nothing when the table does not exist."""
        found: list[Element] = []
        if not await self.exists():
            return found
        for name, _, _ in SETS.values():
            for item in await self._list(f"set {self.table} {name}"):
                found += [element(e) for e in (item.get("set") or {}).get("elem", [])]
        return found


def rule_key(rule: dict[str, Any]) -> tuple[str, str]:
    """(protocol, set) a drop rule matches the source address against; ("", "") else."""
    exprs = [e for e in rule.get("expr", []) if isinstance(e, dict)]
    if not any("drop" in e for e in exprs):
        return "", ""
    for match in (e["match"] for e in exprs if "match" in e):
        payload = (match.get("left") or {}).get("payload") or {}
        if payload.get("field") == "saddr":
            return str(payload.get("protocol")), str(match.get("right"))
    return "", ""


def element(raw: Any) -> Element:
    """One entry of `nft -j list set`: "1.2.3.4", or {"elem": {"val", "timeout", "expires"}}."""
    if isinstance(raw, dict) and "elem" in raw:
        body = raw["elem"]
        return Element(canonical(str(body["val"])), _seconds(body.get("timeout")),
                       _seconds(body.get("expires")))
    return Element(canonical(str(raw)), None, None)


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def _items(listing: str) -> list[dict[str, Any]]:
    try:
        items = json.loads(listing)["nftables"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ActionFailed(f"nft printed no JSON listing: {listing[:120]!r}") from exc
    return [item for item in items if isinstance(item, dict)]


def canonical(ip: str) -> str:
    return str(ipaddress.ip_address(ip))


def set_of(ip: str) -> str:
    return SETS[ipaddress.ip_address(ip).version][0]
