"""block_ip's `command` backend through the policy, against a recording stand-in for ufw
(tests/peers/fake_ufw.py; the nftables backend is tested for real in test_block_ip_nft.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from remediations.block_ip import BlockIp
from tests.remediation_world import World, world_settings
from tests.remediations.conftest import act
from tests.support import PEERS
from watchdog.pipeline.observation import Observation, Status

CONFIG = """\
probes:
  access-log: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1, severity: sev3}}
remediations:
  block-abusers:
    type: block_ip
    mode: auto
    on: [access-log]
    after: 1
    verify: {{within: 2s}}
    start_period: 0s
    backend: command
    command: [{py}, {ufw}, {state}, deny, from, "{{ip}}"]
    check_command: [{py}, {ufw}, {state}, status]
    unblock_command: [{py}, {ufw}, {state}, delete, deny, from, "{{ip}}"]
    allow: [8.8.4.0/24]
"""


def world(tmp: Path, **changes: str) -> World:
    text = world_settings(tmp) + CONFIG.format(py=sys.executable, ufw=PEERS / "fake_ufw.py",
                                              state=tmp / "rules")
    for old, new in changes.items():
        text = text.replace(old, new)
    return World(tmp, text, {"block_ip": BlockIp})


def abuse(*ips: str) -> Observation:
    return Observation(Status.FAILED, "abusive_client", f"{len(ips)} clients over the limit",
                       details={"offenders": [{"ip": ip, "requests": 900} for ip in ips]})


def run(w: World, obs: Observation) -> World:
    return act(w, obs, "access-log")


def test_public_offenders_are_blocked_and_verified(tmp_path: Path) -> None:
    w = run(world(tmp_path), abuse("45.155.205.7", "10.0.0.5", "127.0.0.1", "8.8.4.9",
                                   "not-an-ip"))
    assert (tmp_path / "rules").read_text().split() == ["45.155.205.7"]
    assert w.decisions() == ["acted", "succeeded"]
    assert w.ledger.entries()[0]["reason"] == "block 45.155.205.7 at the firewall"


def test_only_protected_addresses_means_refused(tmp_path: Path) -> None:
    w = run(world(tmp_path), abuse("192.168.1.4", "::1", "8.8.4.1"))
    assert not (tmp_path / "rules").exists()
    assert w.decisions() == ["refused"]


def test_a_failing_firewall_command_is_failed_not_done(tmp_path: Path) -> None:
    w = run(world(tmp_path, **{"deny, from": "fail, from"}), abuse("45.155.205.7"))
    assert w.decisions() == ["acted", "failed"]
    assert "exited 1: ERROR: could not talk to the firewall" in w.ledger.entries()[1]["reason"]


def test_a_block_that_does_not_show_up_is_not_verified(tmp_path: Path) -> None:
    # the "firewall" accepts the command but lists nothing: the block cannot be proven
    w = run(world(tmp_path, **{f"{tmp_path}/rules, status":
                               f"{tmp_path}/other, status"}), abuse("45.155.205.7"))
    assert w.decisions() == ["acted", "verify_failed"]


def test_too_many_offenders_is_a_shared_cause_not_an_abuser(tmp_path: Path) -> None:
    ips = [f"45.155.205.{i}" for i in range(1, 13)]
    w = run(world(tmp_path), abuse(*ips))
    assert w.decisions() == ["refused"]
    assert "exceed max_ips 10" in w.ledger.entries()[0]["reason"]


def test_dry_run_says_what_it_would_block(tmp_path: Path) -> None:
    w = run(world(tmp_path, **{"mode: auto": "mode: dry-run"}), abuse("45.155.205.7"))
    assert not (tmp_path / "rules").exists()
    assert w.ledger.entries()[0]["reason"] == "would block 45.155.205.7 at the firewall"


def test_an_address_that_merely_contains_the_offender_does_not_verify(tmp_path: Path) -> None:
    # "45.155.205.7" is a substring of "145.155.205.71": the block is not proven by it
    (tmp_path / "other").write_text("145.155.205.71")
    w = run(world(tmp_path, **{f"{tmp_path}/rules, status": f"{tmp_path}/other, status"}),
            abuse("45.155.205.7"))
    assert w.decisions() == ["acted", "verify_failed"]
