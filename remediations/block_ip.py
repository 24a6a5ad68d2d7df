"""Block abusive client IPs at the host firewall (runbook §3.7 step 2). Destructive: off by default.

Offenders come from the access-log probe's finding (`details.offenders`). Loopback,
private, link-local and reserved addresses, and the configured `allow` networks, are
never blocked. Two backends (`backend`):

- `nftables` (default): the addresses go into sets of the watchdog's own table, dropped
  in a prerouting chain that sees Docker-published ports too, each with its own timeout
  (`expire`) that the kernel enforces (remediations/_nftables.py says why that hook).
  Verified by exact membership in the sets (`nft -j`), with the drop rules in place.
- `command`: argument lists for hosts that insist on ufw. Its limits: `ufw deny` is
  appended after existing allow rules (an `allow 443` before it wins), it does not cover
  ports Docker publishes (Docker's DNAT and forward chains come first), and nothing
  expires (`expire` is only recorded; `unblock_command` undoes it). Verified by the IP
  appearing as a whole word in `check_command`'s output.

Undo (`undo(plan)`, for `runbook-watchdog undo ID`): the plan's addresses still blocked
are unblocked; `runbook-watchdog blocks` lists and removes nftables blocks by hand.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol

from pydantic import Field

from remediations._command import run_command
from remediations._nftables import NftBlocklist, canonical
from watchdog.common.durations import Duration
from watchdog.remediation.contract import (
    ActionContext,
    ActionParams,
    ActionRefused,
    BaseAction,
    Plan,
    Trigger,
)
from watchdog.remediation.sandbox import SandboxNeeds, require_capabilities
from watchdog.runtime.config_models import WatchdogSettings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NFT_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"  # goes into nft's command text: a plain name only


class BlockIpParams(ActionParams):
    backend: Literal["nftables", "command"] = "nftables"
    nft: list[str] = Field(default_factory=lambda: ["nft"], min_length=1)  # e.g. [sudo, nft]
    table: str = Field(default="runbook_watchdog", pattern=NFT_NAME)  # family inet
    command: list[str] = Field(default_factory=lambda: ["ufw", "deny", "from", "{ip}"])
    check_command: list[str] = Field(default_factory=lambda: ["ufw", "status"])
    unblock_command: list[str] = Field(
        default_factory=lambda: ["ufw", "delete", "deny", "from", "{ip}"])
    allow: list[str] = Field(default_factory=list)  # networks never blocked, e.g. the office
    expire: Duration | None = 3600.0  # nftables: the kernel unblocks; null: until removed
    max_ips: int = Field(default=10, ge=1)  # a longer list smells like a shared cause
    command_timeout: Duration = 10.0

    def sandbox_needs(self, settings: WatchdogSettings) -> SandboxNeeds:
        # The firewall command runs as the service's user: it changes netfilter rules over
        # netlink, which takes CAP_NET_ADMIN (passed on as an ambient capability).
        program = self.nft[0] if self.backend == "nftables" else self.command[0]
        return SandboxNeeds(capabilities=("CAP_NET_ADMIN",), address_families=("AF_NETLINK",),
                            why=f"{program} changes the host firewall over netlink")


class Firewall(Protocol):
    async def block(self, ips: list[str], expire: float | None) -> dict[str, Any]:
        """Block `ips`; how to undo it (JSON-able)."""
        ...

    async def blocked(self, ips: list[str]) -> bool:
        """Every one of `ips` is blocked now (exactly that address, not a substring)."""
        ...

    async def unblock(self, ips: list[str]) -> str:
        """Unblock `ips`; one line saying what was restored."""
        ...


class NftFirewall:
    def __init__(self, params: BlockIpParams) -> None:
        self.sets = NftBlocklist(params.nft, params.table, params.command_timeout)
        self.table = params.table

    async def block(self, ips: list[str], expire: float | None) -> dict[str, Any]:
        await self.sets.ensure()
        await self.sets.add(ips, expire)
        return {"backend": "nftables", "table": f"inet {self.table}", "ips": ips,
                "expire": expire, "undo": [f"runbook-watchdog blocks remove {ip}" for ip in ips]}

    async def blocked(self, ips: list[str]) -> bool:
        present = {e.ip for e in await self.sets.elements()}
        return {canonical(ip) for ip in ips} <= present and await self.sets.hooked()

    async def unblock(self, ips: list[str]) -> str:
        gone = await self.sets.remove(ips)
        expired = [ip for ip in ips if canonical(ip) not in gone]
        return "; ".join(filter(None, (
            f"unblocked {', '.join(gone)}" if gone else "",
            f"{', '.join(expired)} no longer blocked (expired or removed)" if expired else "")))


class CommandFirewall:
    def __init__(self, params: BlockIpParams) -> None:
        self.params = params

    async def block(self, ips: list[str], expire: float | None) -> dict[str, Any]:
        for ip in ips:
            await run_command(_fill(self.params.command, ip), self.params.command_timeout)
        return {"backend": "command", "expire": expire,  # recorded only: nothing expires it
                "undo_commands": [_fill(self.params.unblock_command, ip) for ip in ips]}

    async def blocked(self, ips: list[str]) -> bool:
        listing = await run_command(self.params.check_command, self.params.command_timeout)
        words = {word.removesuffix("/32") for word in listing.split()}
        return all(ip in words for ip in ips)

    async def unblock(self, ips: list[str]) -> str:
        for ip in ips:
            await run_command(_fill(self.params.unblock_command, ip), self.params.command_timeout)
        return f"ran unblock_command for {', '.join(ips)}"


BACKENDS: dict[str, type[NftFirewall] | type[CommandFirewall]] = {
    "nftables": NftFirewall, "command": CommandFirewall}


class BlockIp(BaseAction[BlockIpParams]):
    Params = BlockIpParams
    target = "firewall"  # one firewall, whatever the remediation is named

    def __init__(self, params: BlockIpParams, ctx: ActionContext) -> None:
        super().__init__(params, ctx)
        self.allow = [ipaddress.ip_network(n, strict=False) for n in params.allow]
        self.firewall: Firewall = BACKENDS[params.backend](params)

    async def plan(self, trigger: Trigger) -> Plan:
        candidates = offenders(trigger.observation.details)
        blockable = [ip for ip in candidates if not self._protected(ip)]
        if not blockable:
            raise ActionRefused(f"no blockable offender among {len(candidates)} "
                                "(loopback, private and allowed networks are never blocked)")
        if len(blockable) > self.params.max_ips:
            raise ActionRefused(f"{len(blockable)} offenders exceed max_ips "
                                f"{self.params.max_ips}: a shared cause, not one abuser")
        require_capabilities(("CAP_NET_ADMIN",))
        return Plan(self.target, f"block {', '.join(blockable)} at the firewall",
                    {"ips": blockable, "expire": self.params.expire,
                     "backend": self.params.backend})

    def _protected(self, text: str) -> bool:
        ip = ipaddress.ip_address(text)
        if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved \
                or ip.is_multicast or ip.is_unspecified:
            return True
        return any(ip in net for net in self.allow)

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        return await self.firewall.block(list(plan.detail["ips"]), self.params.expire)

    async def verify(self, plan: Plan) -> bool:
        return await self.firewall.blocked(list(plan.detail["ips"]))

    async def undo(self, plan: Plan) -> str:
        """Unblock the journaled plan's addresses (those the kernel has not expired yet)."""
        ips = [str(ip) for ip in plan.detail.get("ips") or []]
        if not ips:
            raise ActionRefused("the plan names no address to unblock")
        require_capabilities(("CAP_NET_ADMIN",))
        return await self.firewall.unblock(ips)


def offenders(details: Mapping[str, Any]) -> list[str]:
    """Valid IP strings from `details["offenders"]` (strings or {"ip": ...} objects)."""
    raw: Iterable[Any] = details.get("offenders") or ()
    found = []
    for item in raw:
        text = item.get("ip") if isinstance(item, Mapping) else item
        try:
            found.append(str(ipaddress.ip_address(str(text))))
        except ValueError:
            continue  # log garbage is not an address
    return list(dict.fromkeys(found))


def _fill(argv: list[str], ip: str) -> list[str]:
    return [part.replace("{ip}", ip) for part in argv]
