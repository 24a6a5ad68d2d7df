"""Block abusive client IPs at the host firewall (runbook §3.7 step 2). Destructive: off by default.

Offenders come from the access-log probe's finding (`details.offenders`). Loopback,
private, link-local and reserved addresses, and the configured `allow` networks, are
never blocked. Verification re-reads the firewall (`check_command`) and looks for each IP.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from remediations._command import run_command
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


class BlockIpParams(ActionParams):
    command: list[str] = Field(default_factory=lambda: ["ufw", "deny", "from", "{ip}"])
    check_command: list[str] = Field(default_factory=lambda: ["ufw", "status"])
    unblock_command: list[str] = Field(
        default_factory=lambda: ["ufw", "delete", "deny", "from", "{ip}"])
    allow: list[str] = Field(default_factory=list)  # networks never blocked, e.g. the office
    expire: Duration | None = None  # recorded with the block; `unblock_command` undoes it
    max_ips: int = Field(default=10, ge=1)  # a longer list smells like a shared cause
    command_timeout: Duration = 10.0

    def sandbox_needs(self, settings: WatchdogSettings) -> SandboxNeeds:
        # The firewall command runs as the service's user: it changes netfilter rules over
        # netlink, which takes CAP_NET_ADMIN (passed on as an ambient capability).
        return SandboxNeeds(capabilities=("CAP_NET_ADMIN",), address_families=("AF_NETLINK",),
                            why=f"{self.command[0]} changes the host firewall over netlink")


class BlockIp(BaseAction[BlockIpParams]):
    Params = BlockIpParams
    target = "firewall"  # one firewall, whatever the remediation is named

    def __init__(self, params: BlockIpParams, ctx: ActionContext) -> None:
        super().__init__(params, ctx)
        self.allow = [ipaddress.ip_network(n, strict=False) for n in params.allow]

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
                    {"ips": blockable, "expire": self.params.expire})

    def _protected(self, text: str) -> bool:
        ip = ipaddress.ip_address(text)
        if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved \
                or ip.is_multicast or ip.is_unspecified:
            return True
        return any(ip in net for net in self.allow)

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        ips = list(plan.detail["ips"])
        for ip in ips:
            await run_command(_fill(self.params.command, ip), self.params.command_timeout)
        undo = [_fill(self.params.unblock_command, ip) for ip in ips]
        return {"undo_commands": undo, "expire": self.params.expire}

    async def verify(self, plan: Plan) -> bool:
        listing = await run_command(self.params.check_command, self.params.command_timeout)
        return all(ip in listing for ip in plan.detail["ips"])


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
