"""`runbook-watchdog notify-test [CHANNEL]`: send a test message through each channel.

Straight to the receiver, not through the outbox or routing (a channel's `severities` and
silences do not apply): the point is to see that each configured channel delivers, with
the configured timeout and attempts. Alertmanager gets an alert that is already resolved,
so nobody is paged. Exit 0 when every channel accepted it, 1 when one did not, 3 for an
unknown channel name.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from watchdog.common.errors import unknown_name
from watchdog.common.secrets import SCRUBBER, scrub
from watchdog.notification.channels import build_sender
from watchdog.notification.messages import Message
from watchdog.notification.models import ChannelBase
from watchdog.peers.tls import default_context
from watchdog.runtime.config import load_config

Handler = Callable[[argparse.Namespace, Path], int]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                common: argparse.ArgumentParser) -> dict[str, Handler]:
    test = sub.add_parser("notify-test", parents=[common],
                          help="send a test message through each configured channel (or one)")
    test.add_argument("channel", nargs="?", help="only this channel")
    return {"notify-test": cmd_notify_test}


def test_message(channel: str, now: float) -> Message:
    text = (f"runbook-watchdog test message on {socket.gethostname()} through channel "
            f"{channel}\nNothing is wrong: this checks that the channel delivers.")
    return Message("test", 0, "notify-test", "test", False, text,
                   {"opened_at": now, "resolved_at": now})


async def send_test(name: str, channel: ChannelBase, http: httpx.AsyncClient) -> str | None:
    """None when the receiver accepted the test message, else why not (scrubbed)."""
    sender, now, problem = build_sender(channel, http), time.time(), None
    for _ in range(channel.attempts):
        try:
            async with asyncio.timeout(channel.timeout):
                await sender.send(test_message(name, now), now)
            return None
        except Exception as exc:  # any failure is this channel's result, not the command's
            what = f"no answer within {channel.timeout:g}s" if isinstance(exc, TimeoutError) \
                else str(exc)
            problem = scrub(f"{type(exc).__name__}: {what}")[:300]
    return problem


async def _send_all(channels: Mapping[str, ChannelBase]) -> dict[str, str | None]:
    async with httpx.AsyncClient(verify=default_context(), trust_env=False,
                                       follow_redirects=False) as http:
        results = await asyncio.gather(*(send_test(n, c, http) for n, c in channels.items()))
    return dict(zip(channels, results, strict=True))


def cmd_notify_test(args: argparse.Namespace, path: Path) -> int:
    config = load_config(path)
    channels = dict(config.notify.channels)
    if args.channel is not None:
        if args.channel not in channels:
            raise unknown_name("channel", args.channel, channels, path)
        channels = {args.channel: channels[args.channel]}
    if not channels:
        sys.stderr.write(f"runbook-watchdog: no notification channels in {path} "
                         "(notify.channels): nothing to test\n")
        return 1
    SCRUBBER.register(config.secrets)
    results = asyncio.run(_send_all(channels))
    for name, problem in results.items():
        said = "delivered" if problem is None else f"FAILED: {problem}"
        print(f"{name} ({channels[name].type}): {said}")
    return 0 if all(p is None for p in results.values()) else 1
