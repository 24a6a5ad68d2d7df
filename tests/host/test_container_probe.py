"""The container probe against Podman's Docker API: state, crashloop, exit codes, health."""

from __future__ import annotations

from pathlib import Path

from probes.container import ContainerProbe
from tests.peers.podman import PodmanPeer
from tests.support import free_port, run_probe, wait_for
from watchdog.pipeline.observation import Observation, Status


def check(podman: PodmanPeer, short: str, **params: object) -> Observation:
    return run_probe(ContainerProbe, {"container": podman.name(short), **params},
                     timeout=5, settings={"docker_url": podman.url})


def test_a_running_http_container_is_ok(podman: PodmanPeer) -> None:
    port = free_port()
    podman.run("web", ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"])
    try:
        obs = check(podman, "web")
        assert (obs.status, obs.cause) == (Status.OK, "ok")
        assert obs.details["state"] == "running"
        assert obs.values["restart_count"] == 0
    finally:
        podman.remove("web")


def test_a_container_that_does_not_exist_is_missing(podman: PodmanPeer) -> None:
    obs = check(podman, "never-created")
    assert (obs.status, obs.cause) == (Status.FAILED, "missing")
    assert podman.name("never-created") in obs.summary


def test_a_restart_loop_is_a_crashloop_even_while_docker_ps_says_up(podman: PodmanPeer) -> None:
    podman.run("crashy", ["sh", "-c", "echo starting; sleep 0.2; exit 3"],
               restart_policy={"Name": "always"})
    try:
        wait_for(lambda: podman.attrs("crashy")["RestartCount"] >= 3, what="3 restarts")
        obs = check(podman, "crashy", crashloop={"restarts": 3, "within": "5m"})
        assert (obs.status, obs.cause) == (Status.FAILED, "crashloop")
        assert obs.values["restarts_in_window"] >= 3
        assert obs.hint is not None and "3.1" in obs.hint
    finally:
        podman.remove("crashy")


def test_restart_growth_across_cycles_is_counted_from_the_store(
        podman: PodmanPeer, tmp_path: Path) -> None:
    podman.run("slowcrash", ["sh", "-c", "sleep 0.3; exit 1"], restart_policy={"Name": "always"})
    store = str(tmp_path / "state.db")
    try:
        # The window is shorter than the container's age, so only growth seen by the probe counts.
        wait_for(lambda: podman.attrs("slowcrash")["RestartCount"] >= 1, what="a restart")
        first = run_probe(ContainerProbe, {"container": podman.name("slowcrash"),
                                           "crashloop": {"restarts": 3, "within": "0.01s"}},
                          timeout=5, store_path=store, settings={"docker_url": podman.url})
        assert first.cause != "crashloop"
        base = podman.attrs("slowcrash")["RestartCount"]
        wait_for(lambda: podman.attrs("slowcrash")["RestartCount"] >= base + 3, what="growth")
        params = {"container": podman.name("slowcrash"), "crashloop": {"restarts": 3,
                                                                       "within": "5m"}}
        second = run_probe(ContainerProbe, params, timeout=5, store_path=store,
                           settings={"docker_url": podman.url})
        assert (second.status, second.cause) == (Status.FAILED, "crashloop")
    finally:
        podman.remove("slowcrash")


def test_exit_137_without_oomkilled_is_a_probable_oom(podman: PodmanPeer) -> None:
    # A real memory hog under a 16 MiB limit: the kernel kills it with SIGKILL (137).
    podman.run("hog", ["sh", "-c", "x=$(yes | head -c 200000000); sleep 60"], mem_limit="16m")
    try:
        wait_for(lambda: podman.attrs("hog")["State"]["Status"] == "exited", what="the OOM kill")
        obs = check(podman, "hog")
        assert (obs.status, obs.cause) == (Status.FAILED, "probable_oom")
        assert obs.values["exit_code"] == 137
        assert obs.details["oom_killed"] is False
    finally:
        podman.remove("hog")


def test_a_container_that_exited_reports_its_exit_code(podman: PodmanPeer) -> None:
    podman.run("quitter", ["sh", "-c", "exit 4"])
    try:
        wait_for(lambda: podman.attrs("quitter")["State"]["Status"] == "exited", what="exit")
        obs = check(podman, "quitter")
        assert (obs.status, obs.cause) == (Status.FAILED, "exited")
        assert obs.values["exit_code"] == 4
    finally:
        podman.remove("quitter")


def test_a_failing_healthcheck_is_unhealthy(podman: PodmanPeer) -> None:
    podman.run("sick", ["sleep", "600"],
               healthcheck={"test": ["CMD", "false"], "interval": 3_600_000_000_000,
                            "retries": 1})
    try:
        # Podman schedules health checks with systemd timers; there is no systemd here, so the
        # test runs the image's HEALTHCHECK through the engine itself.
        wait_for(lambda: podman.podman("healthcheck", "run", podman.name("sick")).returncode
                 != 0 and podman.attrs("sick")["State"]["Health"]["Status"] == "unhealthy",
                 what="unhealthy")
        obs = check(podman, "sick")
        assert (obs.status, obs.cause) == (Status.FAILED, "unhealthy")
        assert obs.details["health"] == "unhealthy"
    finally:
        podman.remove("sick")
