"""`runbook-watchdog blocks [remove IP]`: the addresses block_ip's nftables backend blocks.

Reads the kernel's sets (the table named by the config's block_ip remediation), so it
shows what is blocked now, whatever the watchdog did or remembers: each address with the
time left before the kernel lifts it. `remove IP` unblocks one address at once (the
operator's own action; the watchdog's `undo` command undoes a journaled block).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
from collections.abc import Callable
from pathlib import Path

from remediations._nftables import Element, NftBlocklist
from remediations.block_ip import BlockIpParams
from watchdog.common.durations import format_duration
from watchdog.common.errors import UsageError, unknown_name
from watchdog.remediation.contract import ActionFailed
from watchdog.runtime.config import Config, load_config

Handler = Callable[[argparse.Namespace, Path], int]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                common: argparse.ArgumentParser) -> dict[str, Handler]:
    which = argparse.ArgumentParser(add_help=False, parents=[common])
    which.add_argument("--remediation", help="the block_ip remediation (default: the only one)")
    blocks = sub.add_parser("blocks", parents=[which],
                            help="addresses block_ip blocks (nftables), with the time left")
    verbs = blocks.add_subparsers(dest="verb")
    remove = verbs.add_parser("remove", parents=[which], help="unblock an address now")
    remove.add_argument("ip")
    return {"blocks": cmd_blocks}


def cmd_blocks(args: argparse.Namespace, path: Path) -> int:
    sets = blocklist(load_config(path), args.remediation, path)
    try:
        if args.verb == "remove":
            return asyncio.run(_remove(sets, _address(args.ip)))
        shown = asyncio.run(sets.elements())
    except ActionFailed as exc:
        raise UsageError(f"cannot read the firewall: {exc}") from exc
    for line in [describe(e) for e in shown] or ["no address is blocked"]:
        print(line)
    return 0


async def _remove(sets: NftBlocklist, ip: str) -> int:
    gone = await sets.remove([ip])
    print(f"unblocked {ip}" if gone else f"{ip} is not blocked")
    return 0 if gone else 1


def blocklist(config: Config, name: str | None, path: Path) -> NftBlocklist:
    """The nftables sets of the config's block_ip remediation (`name`, else the only one)."""
    specs = {n: s for n, s in config.remediations.items() if s.common.type == "block_ip"}
    if name is not None and name not in specs:
        raise unknown_name("block_ip remediation", name, specs, path)
    if name is None and len(specs) != 1:
        raise UsageError(f"{path} has {len(specs)} block_ip remediations: name one with "
                         f"--remediation ({', '.join(sorted(specs)) or 'none'})")
    params = specs[name or next(iter(specs))].params
    assert isinstance(params, BlockIpParams)
    if params.backend != "nftables":
        raise UsageError(f"block_ip uses backend {params.backend} in {path}: its blocks are "
                         f"the firewall's own listing ({' '.join(params.check_command)})")
    return NftBlocklist(params.nft, params.table, params.command_timeout)


def describe(e: Element) -> str:
    if e.expires is None:
        return f"{e.ip}  until removed"
    return f"{e.ip}  expires in {format_duration(e.expires)} (of {format_duration(e.timeout or 0)})"


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise UsageError(f"not an IP address: {text!r}") from exc
