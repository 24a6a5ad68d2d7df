"""redis_eviction_policy against a real redis-server that is full under noeviction."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis

from probes.redis import RedisProbe
from remediations.redis_eviction_policy import RedisEvictionPolicy
from tests.peers.redis_server import PASSWORD, RedisServer
from tests.remediation_world import World, world_settings
from tests.support import Daemon, run_probe
from watchdog.common.state import StateStore
from watchdog.pipeline.observation import Status
from watchdog.remediation.journal import Ledger

CONFIG = """\
probes:
  redis:
    type: redis
    url: {url}
    password: {password}
    fail_after: 1
remediations:
  redis-eviction:
    type: redis_eviction_policy
    mode: {mode}
    on: [redis:oom_rejecting_writes]
    after: 2
    probe: redis
    persist: {persist}
    verify: {{probe: redis, within: 5s}}
    start_period: 0s
"""


def world(tmp: Path, server: RedisServer, mode: str = "auto", persist: bool = False) -> World:
    text = world_settings(tmp) + CONFIG.format(url=server.url, password=PASSWORD, mode=mode,
                                               persist=str(persist).lower())
    return World(tmp, text, {"redis_eviction_policy": RedisEvictionPolicy},
                 probe_types={"redis": RedisProbe})


def drive(w: World, server: RedisServer) -> World:
    """Feed the real redis probe's findings until the remediation has decided."""

    async def go() -> World:
        for _ in range(2):
            obs = await asyncio.to_thread(run_probe, RedisProbe,
                                          {"url": server.url, "password": PASSWORD})
            await w.observe("redis", obs, then=0)
        # verification waits for the probe to pass again: feed it while deciding
        while w.remediator.tasks:
            obs = await asyncio.to_thread(run_probe, RedisProbe,
                                          {"url": server.url, "password": PASSWORD})
            await w.observe("redis", obs, then=1.0)
        return w

    return asyncio.run(go())


def test_a_full_redis_under_noeviction_gets_allkeys_lru_and_writes_work_again(
        tmp_path: Path, full_redis: RedisServer) -> None:
    before = run_probe(RedisProbe, {"url": full_redis.url, "password": PASSWORD})
    assert (before.status, before.cause) == (Status.FAILED, "oom_rejecting_writes")

    w = drive(world(tmp_path, full_redis), full_redis)
    assert w.decisions() == ["acted", "succeeded"]
    acted = w.ledger.entries()[0]
    assert acted["reason"] == (f"set maxmemory-policy noeviction -> allkeys-lru on "
                               f"redis://127.0.0.1:{full_redis.port}/0 (not persisted "
                               "(persist: false): lost when Redis restarts)")
    assert full_redis.client().config_get("maxmemory-policy") == {
        "maxmemory-policy": "allkeys-lru"}
    full_redis.client().set("after-the-fix", "x" * 10_000)  # would raise OOM before
    undo = w.store.query("SELECT undo FROM remediation_actions")[0]["undo"]
    assert '"maxmemory-policy": "noeviction"' in undo
    assert PASSWORD not in (tmp_path / "audit.jsonl").read_text()


def test_dry_run_changes_nothing(tmp_path: Path, full_redis: RedisServer) -> None:
    w = drive(world(tmp_path, full_redis, mode="dry-run"), full_redis)
    # later cycles may add "skipped: backoff" (dry-run simulates the budget); never an act
    assert w.decisions()[0] == "would_act" and "acted" not in w.decisions()
    assert full_redis.client().config_get("maxmemory-policy") == {
        "maxmemory-policy": "noeviction"}
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        full_redis.client().set("still-full", "x" * 10_000)


def test_a_refused_config_set_is_failed_and_escalates(tmp_path: Path) -> None:
    # CONFIG renamed away, as hardened production setups do: the action cannot act.
    server = RedisServer(tmp_path, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction",
                         password=PASSWORD).start()
    try:
        server.fill_until_oom()
        w = world(tmp_path, server)
        server.client().acl_setuser("default", enabled=True, passwords=[f"+{PASSWORD}"],
                                    commands=["+@all", "-config|set"], keys=["*"],
                                    channels=["*"])
        w = drive(w, server)
    finally:
        server.stop()
    # later cycles may add "skipped: backoff" while the probe still fails; one act only
    assert w.decisions()[:2] == ["acted", "failed"] and w.decisions().count("acted") == 1
    assert "CONFIG SET refused" in w.ledger.entries()[1]["reason"]
    [incident] = w.engine.book.open_incidents()
    assert incident.severity == "sev1"  # sev2 raised by the failed remediation


# -- persist: CONFIG REWRITE, and whether the policy survives a restart of Redis ------------
FULL = ("maxmemory 2mb", "maxmemory-policy noeviction")


def full_server(tmp: Path, with_config_file: bool) -> RedisServer:
    """A full Redis under noeviction: the limits in its config file, or on its command line
    when it has none (a command-line option would override the file after a restart)."""
    if not with_config_file:
        args = [word for line in FULL for word in (f"--{line.split()[0]}", line.split()[1])]
        server = RedisServer(tmp, *args, password=PASSWORD)
    else:
        conf = tmp / "redis.conf"
        conf.write_text("# the production config\n" + "\n".join(FULL) + "\n")
        server = RedisServer(tmp, password=PASSWORD, config_file=conf)
    server.start().fill_until_oom()
    return server


def policy_after_restart(server: RedisServer) -> str:
    server.stop()
    server.start()
    return str(server.client().config_get("maxmemory-policy")["maxmemory-policy"])


@pytest.mark.parametrize(("persist", "with_config_file", "lasting", "after_restart"), [
    (True, True, "persisted by CONFIG REWRITE to {conf}: survives a restart", "allkeys-lru"),
    (True, False, "cannot persist: the server runs without a config file, so CONFIG REWRITE "
                  "has nowhere to write: lost when Redis restarts", "noeviction"),
    (False, True, "not persisted (persist: false): lost when Redis restarts", "noeviction"),
])
def test_the_policy_survives_a_restart_only_when_persisted_to_a_config_file(
        tmp_path: Path, persist: bool, with_config_file: bool, lasting: str,
        after_restart: str) -> None:
    server = full_server(tmp_path, with_config_file)
    try:
        w = drive(world(tmp_path, server, persist=persist), server)
        assert w.decisions() == ["acted", "succeeded"], w.ledger.entries()
        reason = w.ledger.entries()[0]["reason"]
        assert reason.endswith(f"({lasting.format(conf=tmp_path / 'redis.conf')})"), reason
        assert policy_after_restart(server) == after_restart
    finally:
        server.stop()


def test_a_refused_config_rewrite_fails_the_action_saying_the_change_is_lost(
        tmp_path: Path) -> None:
    server = full_server(tmp_path, with_config_file=True)
    try:
        server.client().acl_setuser("default", enabled=True, passwords=[f"+{PASSWORD}"],
                                    commands=["+@all", "-config|rewrite"], keys=["*"],
                                    channels=["*"])
        w = drive(world(tmp_path, server, persist=True), server)
        assert w.decisions()[:2] == ["acted", "failed"]
        assert w.ledger.entries()[1]["reason"].endswith(
            "maxmemory-policy is allkeys-lru now, but CONFIG REWRITE was refused "
            "(NoPermissionError: this user has no permissions to run the 'config|rewrite' "
            "command): the change is lost when Redis restarts")
        assert policy_after_restart(server) == "noeviction"
    finally:
        server.stop()


# -- `runbook-watchdog undo ACTION-ID`, through the real CLI --------------------------------
def undo_daemon_config(tmp: Path, server: RedisServer) -> Daemon:
    """A config on disk (the daemon itself is not started) and the state a daemon leaves."""
    daemon = Daemon.from_config(tmp / "dog", {
        "probes": {"redis": {"type": "redis", "url": server.url, "password": PASSWORD}},
        "remediations": {
            "redis-eviction": {"type": "redis_eviction_policy", "mode": "auto",
                               "on": ["redis:oom_rejecting_writes"], "probe": "redis",
                               "persist": True, "start_period": "0s",
                               "verify": {"probe": "redis", "within": "30s"}},
            "restart-redis": {"type": "restart_container", "mode": "off", "on": ["redis"],
                              "container": "nickapp-redis"}}})
    (daemon.dir / "state").mkdir()
    StateStore(daemon.dir / "state" / "state.db").close()
    return daemon


def test_undo_restores_the_previous_policy_persisted_and_journals_it(tmp_path: Path) -> None:
    server = full_server(tmp_path, with_config_file=True)
    try:
        daemon = undo_daemon_config(tmp_path, server)
        done = daemon.cli("remediate", "redis-eviction", "--execute")
        assert done.returncode == 0, done.stdout + done.stderr
        listing = daemon.cli("remediations").stdout
        assert "succeeded (action #1): set maxmemory-policy noeviction -> allkeys-lru" in listing

        undone = daemon.cli("undo", "1")
        assert (undone.returncode, undone.stdout) == (0, (
            "action #1 undone: maxmemory-policy noeviction restored on "
            f"redis://127.0.0.1:{server.port}/0 (persisted by CONFIG REWRITE)\n")), undone.stderr
        assert policy_after_restart(server) == "noeviction"  # the undo survives a restart too

        audit = (daemon.dir / "state" / "audit.jsonl").read_text()
        entries = [json.loads(line) for line in audit.splitlines()]
        assert [(e["decision"], e["action_id"], e["mode"]) for e in entries][-1] == \
            ("undone", 1, "operator")
        assert PASSWORD not in audit

        again = daemon.cli("undo", "1")
        assert again.returncode == 1
        said = again.stderr.splitlines()[-1]
        assert said.startswith("runbook-watchdog: action #1 (redis-eviction: set "
                               "maxmemory-policy noeviction -> allkeys-lru")
        assert "was already undone: maxmemory-policy noeviction restored" in said
    finally:
        server.stop()


def test_undo_refuses_a_dry_run_an_unknown_id_and_a_type_without_undo(tmp_path: Path) -> None:
    server = full_server(tmp_path, with_config_file=False)
    try:
        daemon = undo_daemon_config(tmp_path, server)
        assert daemon.cli("remediate", "redis-eviction", "--dry-run").returncode == 0
        store = StateStore(daemon.dir / "state" / "state.db")
        ledger = Ledger(store, None)
        restart = ledger.begin("restart-redis", "nickapp-redis", "auto", "redis", None,
                               {"summary": "restart nickapp-redis", "detail": {}}, 1.0)
        assert restart is not None
        ledger.mark(restart, "succeeded", 2.0, outcome="verified")
        store.close()

        dry = daemon.cli("undo", "1")
        assert (dry.returncode, dry.stdout) == (1, "")
        said = dry.stderr.splitlines()[-1]
        assert said.startswith("runbook-watchdog: action #1 (redis-eviction: set "
                               "maxmemory-policy noeviction -> allkeys-lru")
        assert said.endswith(") was a dry run: it changed nothing, so there is nothing to undo")
        journal = StateStore(daemon.dir / "state" / "state.db")
        refused = Ledger(journal, None).entries()[-1]
        journal.close()
        assert (refused["decision"], refused["action_id"], refused["mode"]) == (
            "undo_refused", 1, "operator")
        unknown = daemon.cli("undo", "99")
        assert (unknown.returncode, unknown.stderr) == (
            1, "runbook-watchdog: no action #99 in the state\n")
        no_undo = daemon.cli("undo", str(restart))
        assert no_undo.returncode == 1
        assert no_undo.stderr.endswith(f"\nrunbook-watchdog: action #{restart} not undone: "
                                       "remediation type restart_container has no undo\n")
        assert "undo_refused (remediation type restart_container has no undo)" in \
            no_undo.stderr  # journaled, as every decision
        assert server.client().config_get("maxmemory-policy") == {
            "maxmemory-policy": "noeviction"}
    finally:
        server.stop()
