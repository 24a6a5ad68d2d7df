"""block_ip's nftables backend (the default) against real nftables, in network namespaces
(tests/peers/netns_lab.py): a client, a host that publishes a container's port the way
Docker does (DNAT in nat prerouting, then its forward chain), and the container."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from remediations._nftables import Element, element
from remediations.block_ip import BlockIp
from tests.peers.netns_lab import CLIENTS, OWN, NetLab
from tests.remediation_world import World, world_settings
from tests.remediations.conftest import act
from tests.support import cli, wait_for
from watchdog.pipeline.observation import Observation, Status
from watchdog.remediation.contract import Plan

ABUSER, BYSTANDER, ALLOWED = CLIENTS
TABLE = "inet runbook_watchdog"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NetLab]:
    peer = NetLab.start(tmp_path)
    try:
        yield peer
    finally:
        peer.stop()


def config(tmp: Path, lab: NetLab, expire: str = "1h") -> str:
    return world_settings(tmp) + yaml.safe_dump({
        "probes": {"access-log": {"type": "http", "url": "http://127.0.0.1:1/",
                                  "fail_after": 1, "severity": "sev3"}},
        "remediations": {"block-abusers": {
            "type": "block_ip", "mode": "auto", "on": ["access-log"], "after": 1,
            "verify": {"within": "5s"}, "start_period": "0s", "nft": lab.nft,
            "allow": [f"{ALLOWED}/32"], "expire": expire}}})


def world(tmp: Path, lab: NetLab, expire: str = "1h") -> World:
    return World(tmp, config(tmp, lab, expire), {"block_ip": BlockIp})


def abuse(*ips: str) -> Observation:
    return Observation(Status.FAILED, "abusive_client", f"{len(ips)} clients over the limit",
                       details={"offenders": [{"ip": ip, "requests": 900} for ip in ips]})


def elements(lab: NetLab, name: str = "blocked_v4") -> list[Element]:
    listing = json.loads(lab.exec(lab.host, "nft", "-j", "list", "set", *TABLE.split(), name))
    [found] = [item["set"] for item in listing["nftables"] if "set" in item]
    return [element(e) for e in found.get("elem", [])]


def rules(lab: NetLab) -> int:
    listing = json.loads(lab.exec(lab.host, "nft", "-j", "list", "chain", *TABLE.split(),
                                  "prerouting"))
    return sum("rule" in item for item in listing["nftables"])


def test_a_blocked_client_cannot_reach_the_published_port_nor_the_hosts_own(
        tmp_path: Path, lab: NetLab) -> None:
    w = act(world(tmp_path, lab), abuse(ABUSER, ALLOWED), "access-log")
    assert w.decisions() == ["acted", "succeeded"]
    assert w.ledger.entries()[0]["reason"] == f"block {ABUSER} at the firewall"
    [blocked] = elements(lab)  # the allowed network never enters the set
    assert (blocked.ip, blocked.timeout) == (ABUSER, 3600.0)
    assert not lab.reaches(ABUSER) and not lab.reaches(ABUSER, OWN)
    assert lab.reaches(BYSTANDER) and lab.reaches(ALLOWED)


def test_what_ufw_adds_in_input_does_not_stop_a_published_port(lab: NetLab) -> None:
    """Why the chain hooks prerouting: a drop in the input hook (where ufw's rules live)
    stops the host's own port, while the DNATed, forwarded published port still answers."""
    lab.exec(lab.host, "nft", "; ".join([
        "add table ip lab_ufw",
        "add chain ip lab_ufw input { type filter hook input priority 0; }",
        f"add rule ip lab_ufw input ip saddr {ABUSER} drop"]))
    assert not lab.reaches(ABUSER, OWN)
    assert lab.reaches(ABUSER)


def test_the_kernel_lifts_an_expired_block_without_the_watchdog(
        tmp_path: Path, lab: NetLab) -> None:
    w = act(world(tmp_path, lab, expire="3s"), abuse(ABUSER), "access-log")
    assert w.decisions() == ["acted", "succeeded"]
    assert not lab.reaches(ABUSER)
    wait_for(functools.partial(lab.reaches, ABUSER), timeout=60, what="the block expired")
    assert elements(lab) == []


def test_a_restart_neither_loses_nor_duplicates_a_block(tmp_path: Path, lab: NetLab) -> None:
    act(world(tmp_path, lab), abuse(ABUSER), "access-log")
    [first] = elements(lab)
    # The watchdog restarted (a new policy on the same state) and the abuser is reported
    # again with a neighbour: one element each, the chain's two rules written once.
    again = act(world(tmp_path, lab), abuse(ABUSER, BYSTANDER), "access-log")
    assert "succeeded" in again.decisions()
    assert sorted(e.ip for e in elements(lab)) == [ABUSER, BYSTANDER]
    assert rules(lab) == 2
    assert not lab.reaches(ABUSER) and not lab.reaches(BYSTANDER)
    assert first.expires is not None and first.expires <= 3600


def test_undo_unblocks_the_journaled_plans_addresses(tmp_path: Path, lab: NetLab) -> None:
    w = act(world(tmp_path, lab), abuse(ABUSER), "access-log")
    [row] = w.store.query("SELECT id, plan FROM remediation_actions")
    path = str(tmp_path / "watchdog.yaml")
    undone = cli("undo", str(row["id"]), "--config", path)  # the operator's command
    assert (undone.returncode, undone.stdout) == (
        0, f"action #{row['id']} undone: unblocked {ABUSER}\n"), undone.stderr
    assert lab.reaches(ABUSER) and elements(lab) == []
    recorded = json.loads(row["plan"])
    plan = Plan(w.action.target, recorded["summary"], recorded["detail"])
    assert asyncio.run(w.action.undo(plan)) == \
        f"{ABUSER} no longer blocked (expired or removed)"


def test_blocks_lists_and_removes_through_the_cli(tmp_path: Path, lab: NetLab) -> None:
    w = world(tmp_path, lab)
    path = str(tmp_path / "watchdog.yaml")
    before = cli("blocks", "--config", path)  # no table yet: nothing was ever blocked
    assert (before.returncode, before.stdout) == (0, "no address is blocked\n")
    act(w, abuse(ABUSER), "access-log")
    listing = cli("blocks", "--config", path)
    assert listing.returncode == 0, listing.stderr
    [line] = listing.stdout.splitlines()
    assert line.startswith(f"{ABUSER}  expires in ") and line.endswith(" (of 1h)")
    removed = cli("blocks", "remove", ABUSER, "--config", path)
    assert (removed.returncode, removed.stdout) == (0, f"unblocked {ABUSER}\n")
    assert lab.reaches(ABUSER)
    assert cli("blocks", "--config", path).stdout == "no address is blocked\n"
    again = cli("blocks", "remove", ABUSER, "--config", path)
    assert (again.returncode, again.stdout) == (1, f"{ABUSER} is not blocked\n")


def test_an_ipv6_offender_goes_into_the_v6_set_in_its_canonical_form(
        tmp_path: Path, lab: NetLab) -> None:
    w = act(world(tmp_path, lab), abuse("2A03:2880:0:0::7"), "access-log")
    assert w.decisions() == ["acted", "succeeded"]
    assert [e.ip for e in elements(lab, "blocked_v6")] == ["2a03:2880::7"]
    assert elements(lab) == []
