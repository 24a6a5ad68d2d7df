"""B3 detection latency: inject a fault, time injection -> incident open -> remediation start.

Faults: HTTP 500, a refused port, a hang (tests/peers/http_peer.py in its own process), a
killed redis-server (SIGKILL), a stopped container (Podman's Docker API from
tests/peers/podman.py; `stop` with no grace period, timed from when the stop call is made).
Probes run at a 1 s interval, 0.5 s timeout, fail_after 2; a remediation in dry-run fires
on them. Its action is a bench stand-in that records when the policy asked it to plan (the
shipped block_ip refuses without abusive IPs). Each fault is injected REPS times; between
injections the fault is cleared and the incident resolves.

The bad-deploy drill (issue 5's "Done when"), B3_DRILLS times (default 3): the drill of
tests/remediations/test_rollback_drill.py, run through its own helpers on the same Podman
engine. The installed daemon in its own process, http + container + deploy probes at the
bundled config's backend-health timings (every 15 s, fail_after 2; rollback `after: 2`,
verified by backend-health), the rollback remediation in `auto` with the compose strategy
(Debian's docker-compose). `:latest` moves to a broken image and compose recreates the
container; timed from the start of that deploy to the backend-health incident's open, the
rollback's `acted` and its verified outcome in the journal (target <= 60 s).
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from bench.common import (
    Figure,
    Peer,
    daemon_running,
    free_port,
    load1,
    percentile,
    quiet_logs,
    report,
    wait_port,
)
from tests.peers.podman import PodmanPeer
from tests.support import HttpPeer
from watchdog.pipeline.classifier import Transition
from watchdog.remediation.contract import (
    ActionContext,
    ActionParams,
    Plan,
    RemediationRegistry,
    Trigger,
)

REPS = int(os.environ.get("B3_REPS", "5"))
DRILLS = int(os.environ.get("B3_DRILLS", "3"))
DRILL_INTERVAL = "15"  # backend-health's interval in config/watchdog.yaml
DRILL_TARGET = 60.0
INTERVAL, TIMEOUT, K = 1.0, 0.5, 2
PLANNED: list[tuple[str, float]] = []


class StandInAction:
    """Bench stand-in remediation: records when it was asked to plan; never executes."""

    Params: ClassVar[type[ActionParams]] = ActionParams
    fires_on: ClassVar[Literal["failing", "open"]] = "failing"

    def __init__(self, params: ActionParams, ctx: ActionContext) -> None:
        self.target = "bench"

    async def plan(self, trigger: Trigger) -> Plan:
        PLANNED.append((trigger.probe, time.time()))
        return Plan(f"bench-{trigger.probe}", "bench stand-in action")

    async def execute(self, plan: Plan) -> dict[str, Any]:
        return {}

    async def verify(self, plan: Plan) -> bool:
        return True


class Opened:
    """PipelineEngine subscriber: wall time of each incident open, by probe."""

    def __init__(self) -> None:
        self.at: list[tuple[str, float]] = []

    def __call__(self, event: Any) -> None:
        if event.change is not None and event.change.transition is Transition.OPEN:
            self.at.append((event.probe, time.time()))


def config(tmp: Path, web: str, redis_port: int, podman: PodmanPeer) -> Path:
    path = tmp / "b3.yaml"
    common = f"    interval: {INTERVAL}s\n    timeout: {TIMEOUT}s\n    fail_after: {K}\n"
    path.write_text(
        f"watchdog:\n  listen: 127.0.0.1:{free_port()}\n  state_dir: {tmp}/state\n"
        f"  kill_switch: {tmp}/no-kill-switch\n  spread: 1s\n  docker_url: {podman.url}\n"
        "  max_actions: {count: 1000, within: 1h}\n"
        f"probes:\n  web:\n    type: http\n    url: {web}\n{common}"
        f"  cache:\n    type: redis\n    url: redis://127.0.0.1:{redis_port}/0\n{common}"
        f"  box:\n    type: container\n    container: {podman.name('app')}\n{common}"
        "remediations:\n  first-step:\n    type: bench_standin\n    mode: dry-run\n"
        f"    on: [web, cache, box]\n    after: {K}\n    start_period: 0s\n"
        "    budget: {attempts: 1000, within: 1h}\n    backoff: {initial: 0s, max: 0s}\n")
    return path


async def until(predicate: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


class Faults:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.web = HttpPeer(tmp).start()
        self.redis_port = free_port()
        self.redis: Peer | None = None
        self.start_redis()
        self.podman = PodmanPeer.start()
        self.podman.run("app", ["sleep", "3600"])

    def start_redis(self) -> None:
        self.redis = Peer(["redis-server", "--port", str(self.redis_port), "--save", "",
                           "--appendonly", "no"], self.tmp / "redis.log").start()
        wait_port(self.redis_port)

    def inject(self, fault: str) -> str:
        if fault in ("http_500", "hang"):
            self.web.set_mode("500" if fault == "http_500" else "hang")
        elif fault == "refused":
            self.web.stop()
        elif fault == "redis_killed" and self.redis is not None:
            self.redis.signal(signal.SIGKILL)
        elif fault == "container_stopped":
            self.podman.client().api.stop(self.podman.name("app"), timeout=0)
        return {"redis_killed": "cache", "container_stopped": "box"}.get(fault, "web")

    def clear(self, fault: str) -> None:
        if fault == "refused":
            self.web.start()
        elif fault == "redis_killed":
            self.start_redis()
        elif fault == "container_stopped":
            self.podman.client().api.start(self.podman.name("app"))
        else:
            self.web.set_mode("ok")

    def stop(self) -> None:
        self.web.stop()
        if self.redis is not None:
            self.redis.stop()
        self.podman.stop()


async def drill(daemon: Any, faults: Faults, fault: str, opened: Opened
                ) -> tuple[float, float] | None:
    n_open, n_plan = len(opened.at), len(PLANNED)
    injected = time.time()
    probe = faults.inject(fault)
    ok = await until(lambda: len(opened.at) > n_open and len(PLANNED) > n_plan, 15)
    faults.clear(fault)
    await until(lambda: not daemon.engine.tracks[probe].failing, 30)
    if not ok:
        return None
    open_at, plan_at = opened.at[n_open][1], PLANNED[n_plan][1]
    return open_at - injected, plan_at - open_at


async def main() -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-b3-"))
    quiet_logs(tmp / "watchdog.log")
    faults = Faults(tmp)
    types = RemediationRegistry.from_entry_points()
    types.register("bench_standin", StandInAction)
    results: dict[str, list[tuple[float, float] | None]] = {}
    try:
        path = config(tmp, faults.web.url("/health"), faults.redis_port, faults.podman)
        async with daemon_running(path, remediation_types=types) as daemon:
            opened = Opened()
            daemon.engine.subscribers.append(opened)
            await asyncio.sleep(3)
            for fault in ("http_500", "refused", "hang", "redis_killed", "container_stopped"):
                results[fault] = [await drill(daemon, faults, fault, opened)
                                  for _ in range(REPS)]
                print(f"B3 {fault}: {results[fault]}", flush=True)
        deploys = [bad_deploy(faults.podman, tmp / f"drill-{i}") for i in range(DRILLS)]
    finally:
        faults.stop()
    figures = figures_of(results) + deploy_figures(deploys)
    report(figures, {**results, "bad_deploy": deploys})
    return figures


def figures_of(results: dict[str, list[tuple[float, float] | None]]) -> list[Figure]:
    bound = (K + 0.1) * INTERVAL + TIMEOUT
    figures = []
    for fault, runs in results.items():
        done = [r for r in runs if r is not None]
        detect = [d for d, _ in done] or [float("nan")]
        act = [a for _, a in done] or [float("nan")]
        p99, act99 = percentile(detect, 99), percentile(act, 99)
        figures += [
            Figure("B3", f"{fault}: injection -> incident open, p99", p99, "s",
                   f"<= {bound:.1f} s", p99 <= bound, load=load1(),
                   note=f"{len(done)}/{len(runs)} drills; p50 {percentile(detect, 50):.2f} s"),
            Figure("B3", f"{fault}: incident open -> remediation start (dry-run), p99", act99,
                   "s", "<= 1 s", act99 <= 1.0),
        ]
    return figures


def bad_deploy(podman: PodmanPeer, tmp: Path) -> tuple[float, float, float] | None:
    """One bad-deploy drill: seconds from the start of the broken deploy (`:latest` moved,
    `docker-compose up -d`) to incident open, rollback acted and its verified outcome; None
    when it did not end verified."""
    os.environ.setdefault("RW_DRILL_INTERVAL", DRILL_INTERVAL)  # read when the test imports
    from tests.remediations.conftest import make_app
    from tests.remediations.test_rollback_drill import INTERVAL, Drill, start_healthy
    from tests.support import wait_for

    tmp.mkdir()
    app = make_app(podman)
    run = Drill(tmp, app)
    try:
        start_healthy(run)
        broken = time.time()  # from the deploy's start: compose stops the old one, then starts
        run.deploy_broken()
        print(f"B3 bad_deploy: compose up took {time.time() - broken:.1f} s", flush=True)
        outcomes = ("succeeded", "verify_failed", "failed")
        wait_for(lambda: set(outcomes) & set(run.decisions()), timeout=120 + 30 * INTERVAL,
                 what="the rollback's outcome")
        return drill_timings(run, broken)
    except AssertionError as exc:  # wait_for's timeout: a drill that did not finish
        print(f"B3 bad_deploy: {exc}", flush=True)
        return None
    finally:
        run.stop()
        app.compose(run.compose_file, "down")
        app.cleanup()


def drill_timings(run: Any, broken: float) -> tuple[float, float, float] | None:
    entries = {e["decision"]: e["at"] for e in run.journal()
               if e["remediation"] == "rollback-backend"}
    opened = [i["opened_at"] for i in run.cli_json("incidents", "--all")
              if i["probe"] == "backend-health"]
    print(f"B3 bad_deploy: journal {sorted(entries)}, {len(opened)} incident(s)", flush=True)
    if not opened or "succeeded" not in entries or "acted" not in entries:
        return None
    return min(opened) - broken, entries["acted"] - broken, entries["succeeded"] - broken


def deploy_figures(runs: list[tuple[float, float, float] | None]) -> list[Figure]:
    """Max over the drills of each step; every drill's value in the note."""
    done = [r for r in runs if r is not None]
    setup = (f"{len(done)}/{len(runs)} drills verified; backend-health every {DRILL_INTERVAL} s, "
             "fail_after 2, rollback after 2, compose strategy; each: ")
    figures = []
    for i, step in enumerate(("incident open", "rollback acted", "rollback verified")):
        worst = max((r[i] for r in done), default=float("nan"))
        each = ", ".join(f"{r[i]:.1f}" if r else "not verified" for r in runs)
        verified = i == 2
        figures.append(Figure(
            "B3", f"bad deploy: broken deploy -> {step}, max", worst, "s",
            f"<= {DRILL_TARGET:.0f} s" if verified else "",
            worst <= DRILL_TARGET and len(done) == len(runs) if verified else None,
            note=(setup if i == 0 else "each: ") + each))
    return figures if runs else []

if __name__ == "__main__":
    from bench.common import bench_main

    bench_main(main)
