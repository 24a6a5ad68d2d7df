"""Running under systemd: the daemon's lifecycle told to the service manager, and the loop's pulse.

`ServiceHooks` turns the daemon's lifecycle into sd_notify messages (watchdog/runtime/sdnotify.py):
READY=1 once the first probe round is scheduled, a one-line STATUS=, RELOADING=1 / READY=1
around a reload, STOPPING=1 on stop, and WATCHDOG=1 at half of WATCHDOG_USEC. The pings
come from a task on the event loop and only while the daemon reports progress, so a stalled
loop or a dead scheduler stops them and systemd kills and restarts the service.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from watchdog.pipeline.engine import ResultEvent
from watchdog.runtime.metrics import PREFIX
from watchdog.runtime.sdnotify import SdNotifier, watchdog_interval

log = logging.getLogger(__name__)


def summary_line(probes: int, severities: Iterable[str], order: Iterable[str] = ()) -> str:
    """"12 probes, 1 open incident (sev2)": what `systemctl status` shows next to Status:."""
    counts = Counter(severities)
    head = f"{probes} probe{'' if probes == 1 else 's'}"
    total = sum(counts.values())
    if not total:
        return f"{head}, no open incident"
    ranked = [s for s in order if s in counts] + sorted(set(counts) - set(order))
    detail = ", ".join(s if counts[s] == 1 else f"{counts[s]} {s}" for s in ranked)
    return f"{head}, {total} open incident{'' if total == 1 else 's'} ({detail})"


class ServiceHooks:
    """The daemon's side of Type=notify; every method is a no-op without NOTIFY_SOCKET."""

    def __init__(self, notifier: SdNotifier, ping_every: float | None) -> None:
        self.notifier = notifier
        self.ping_every = ping_every
        self._summary: Callable[[], str] = lambda: ""
        self._last_status: str | None = None
        self._pinger: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceHooks:
        env = os.environ if environ is None else environ
        return cls(SdNotifier.from_env(env), watchdog_interval(env))

    def start(self, summary: Callable[[], str], progress: Callable[[], bool]) -> None:
        """Call once the first probe round is scheduled: READY=1, then the watchdog pings."""
        self._summary = summary
        self._last_status = summary()
        self.notifier.ready(self._last_status)
        if self.notifier.enabled and self.ping_every is not None:
            self._pinger = asyncio.create_task(self._ping(self.ping_every, progress),
                                               name="sd-watchdog")

    async def _ping(self, every: float, progress: Callable[[], bool]) -> None:
        while True:
            if progress():
                self.notifier.watchdog()
            else:
                log.error("no progress: withholding the systemd watchdog ping")
            await asyncio.sleep(every)

    def on_result(self, event: ResultEvent) -> None:
        """Pipeline subscriber: refresh STATUS= when an incident opened, changed or resolved."""
        if event.change is not None:
            self.refresh_status()

    def refresh_status(self) -> None:
        line = self._summary()
        if line != self._last_status:
            self._last_status = line
            self.notifier.status(line)

    def reloading(self) -> None:
        self.notifier.reloading()

    def reloaded(self, ok: bool) -> None:
        # READY=1 ends the reload either way: a rejected file leaves the old config running.
        line = self._summary() + ("" if ok else "; last reload rejected, see the journal")
        self._last_status = line
        self.notifier.ready(line)

    def stopping(self) -> None:
        self.notifier.stopping()

    async def aclose(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            await asyncio.gather(self._pinger, return_exceptions=True)
        self.notifier.close()


class LoopPulseCollector(Collector):
    """Exports how long ago the event loop last beat, computed at scrape time.

    Scrapes are served by the listener's threads, so this keeps rising while the loop is
    stalled: the one metric that can alert on a stall from the outside.
    """

    def __init__(self, age: Callable[[], float]) -> None:
        self.age = age

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(PREFIX + "loop_heartbeat_age_seconds",
                                "Seconds since the event loop last made progress",
                                value=self.age())
