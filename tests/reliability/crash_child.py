"""One life of a watchdog for the crash tests; killed with SIGKILL at a named step.

    python -m tests.reliability.crash_child TMP RECEIVER_URL first STEP
    python -m tests.reliability.crash_child TMP RECEIVER_URL restart

`first` plays an incident with a remediation (the block_ip action against the recording
ufw stand-in) and a webhook channel: the access-log probe fails (incident opened, page
queued and delivered, offender blocked and verified), the incident is escalated, the probe
recovers (incident resolved, message delivered). At STEP the process sends itself
SIGKILL: nothing is flushed, no handler runs. `restart` is the next process on the same
state: it resumes what the first left (unfinished actions verified, not repeated; queued
and lost messages delivered), sees the next probe runs and settles.

The engine, ledger, remediator and notifier are the product's own; only the probe is
replaced by observations fed in (tests/remediation_world.py), on a manual clock.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remediations.block_ip import BlockIp
from tests.remediation_world import World
from tests.support import PEERS
from watchdog.notification.channels.http import WebhookSender
from watchdog.notification.stage import NotificationStage
from watchdog.notification.store import NotifyStore
from watchdog.pipeline.classifier import Transition
from watchdog.pipeline.incidents import IncidentBook
from watchdog.pipeline.observation import Observation, Status, ok
from watchdog.remediation.journal import Ledger

OFFENDER = "45.155.205.7"
CONFIG = """\
watchdog:
  state_dir: {tmp}/state
  kill_switch: {tmp}/kill
probes:
  access-log: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1, recover_after: 1,
               severity: sev3}}
remediations:
  block-abusers:
    type: block_ip
    mode: auto
    on: [access-log]
    after: 1
    verify: {{within: 3s}}
    start_period: 0s
    backend: command
    command: [{py}, {ufw}, {rules}, deny, from, "{{ip}}"]
    check_command: [{py}, {ufw}, {rules}, status]
    unblock_command: [{py}, {ufw}, {rules}, delete, deny, from, "{{ip}}"]
notify:
  check_every: 1s
  retry_after: 1s
  flapping: null
  channels:
    oncall: {{type: webhook, url: "{hook}", timeout: 2s}}
"""
STEPS = ("open:before-commit", "open:after-commit", "open:after-enqueue", "notify:mid-send",
         "act:after-begin", "act:after-execute", "act:after-verifying", "act:after-succeeded",
         "escalate:after-commit", "resolve:after-commit", "resolve:after-enqueue")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def around(owner: Any, name: str, *, before: Callable[..., bool] | None = None,
           after: Callable[..., bool] | None = None) -> None:
    """Wrap owner.name: SIGKILL before the call when `before(args)`, after when `after(result,
    args)`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before is not None and before(*args, **kwargs):
            die()
        result = original(*args, **kwargs)
        if after is not None and after(result, *args, **kwargs):
            die()
        return result

    setattr(owner, name, wrapper)


def around_async(owner: Any, name: str, after: Callable[..., bool]) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        if after(result, *args, **kwargs):
            die()
        return result

    setattr(owner, name, wrapper)


def transition_is(kind: Transition) -> Callable[..., bool]:
    return lambda change, *a, **k: change is not None and change.transition is kind


def arm(step: str) -> None:
    """Install the SIGKILL at `step`."""
    def verdict_opens(self: Any, probe: str, verdict: Any, *a: Any, **k: Any) -> bool:
        return bool(verdict.transition is Transition.OPEN)

    def kind_is(kind: str) -> Callable[..., bool]:
        return lambda result, self, channel, message, *a, **k: message.kind == kind

    def state_is(state: str) -> Callable[..., bool]:
        return lambda result, self, action_id, new, *a, **k: new == state

    table: dict[str, Callable[[], None]] = {
        "open:before-commit": lambda: around(IncidentBook, "record", before=verdict_opens),
        "open:after-commit": lambda: around(IncidentBook, "record",
                                            after=transition_is(Transition.OPEN)),
        "open:after-enqueue": lambda: around(NotifyStore, "enqueue", after=kind_is("started")),
        "notify:mid-send": lambda: around_async(WebhookSender, "send", lambda *a, **k: True),
        "act:after-begin": lambda: around(Ledger, "begin", after=lambda r, *a, **k: r),
        "act:after-execute": lambda: around_async(BlockIp, "execute", lambda *a, **k: True),
        "act:after-verifying": lambda: around(Ledger, "mark", after=state_is("verifying")),
        "act:after-succeeded": lambda: around(Ledger, "mark", after=state_is("succeeded")),
        "escalate:after-commit": lambda: around(IncidentBook, "escalate",
                                                after=lambda r, *a, **k: r is not None),
        "resolve:after-commit": lambda: around(IncidentBook, "record",
                                               after=transition_is(Transition.RESOLVE)),
        "resolve:after-enqueue": lambda: around(NotifyStore, "enqueue",
                                                after=kind_is("resolved")),
    }
    if step != "none":
        table[step]()


def abuse() -> Observation:
    return Observation(Status.FAILED, "abusive_client", "1 client over the limit",
                       details={"offenders": [{"ip": OFFENDER, "requests": 900}]})


class Life:
    def __init__(self, tmp: Path, hook: str) -> None:
        text = CONFIG.format(tmp=tmp, py=sys.executable, ufw=PEERS / "fake_ufw.py",
                             rules=tmp / "rules", hook=hook)
        self.world = World(tmp, text, {"block_ip": BlockIp})
        w = self.world
        self.notifier = NotificationStage(w.config, w.store, w.engine, w.clock)
        w.engine.subscribers.insert(0, self.notifier.on_result)  # as the daemon orders them

    async def delivered(self) -> None:
        """Wait (real time) until the outbox has nothing pending."""
        for _ in range(400):
            if not self.world.store.query("SELECT 1 FROM outbox WHERE status = 'pending'"):
                return
            await asyncio.sleep(0.025)
        raise SystemExit("outbox never drained")

    async def first(self) -> None:
        w = self.world
        await self.notifier.start()
        await w.observe("access-log", abuse(), then=0)
        await w.finish()
        await self.delivered()
        w.engine.escalate("access-log", "the offender is still hammering the login")
        await self.delivered()
        await w.observe("access-log", ok("quiet"), then=0)
        await self.delivered()
        await self.notifier.aclose()

    async def restart(self) -> None:
        w = self.world
        await self.notifier.start()
        w.remediator.resume()
        await w.finish()
        if not w.engine.book.open_incidents() and not w.engine.book.all_incidents():
            await w.observe("access-log", abuse(), then=0)  # the failure is still there
            await w.finish()
        await w.observe("access-log", ok("quiet"), then=0)
        await self.delivered()
        await self.notifier.aclose()


def main() -> None:
    tmp, hook, phase = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    life = Life(tmp, hook)
    if phase == "first":
        arm(sys.argv[4])
        asyncio.run(life.first())
    else:
        asyncio.run(life.restart())


if __name__ == "__main__":
    main()
