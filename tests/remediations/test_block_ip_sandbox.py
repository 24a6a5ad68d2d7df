"""block_ip with nftables as the unit runs it: an unprivileged user whose only capability is
CAP_NET_ADMIN, passed on as an ambient capability (the drop-in `unit-drop-in` generates for
block_ip), and the same user without it (the shipped unit alone).

Each case runs in a private network namespace (`unshare -n`, so the host's firewall is never
touched); `setpriv` drops to `nobody` with the unit's capability sets, and the remediation
runs through the policy (the World) there, creating its own table (nftables backend).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from remediations._nftables import element
from tests.support import ROOT

RUN = """\
import asyncio, json, sys
from pathlib import Path
from remediations.block_ip import BlockIp
from tests.remediation_world import World
from watchdog.pipeline.observation import Observation, Status

tmp = Path(sys.argv[1])
w = World(tmp, (tmp / "config.yaml").read_text(), {"block_ip": BlockIp})
abuse = Observation(Status.FAILED, "abusive_client", "1 client over the limit",
                    details={"offenders": [{"ip": "45.155.205.7", "requests": 900}]})

async def go():
    await w.observe("access-log", abuse, then=0)
    await w.finish()

asyncio.run(go())
print(json.dumps([[e["decision"], e["reason"]] for e in w.ledger.entries()]))
"""
SET = ["inet", "runbook_watchdog", "blocked_v4"]


def config(tmp: Path) -> str:
    return yaml.safe_dump({
        "watchdog": {"state_dir": str(tmp / "state"), "kill_switch": str(tmp / "kill")},
        "probes": {"access-log": {"type": "http", "url": "http://127.0.0.1:1/",
                                  "fail_after": 1, "severity": "sev3"}},
        "remediations": {"block-abusers": {
            "type": "block_ip", "mode": "auto", "on": ["access-log"], "after": 1,
            "verify": {"within": "5s"}, "start_period": "0s"}}})


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory `nobody` can write (pytest's own is root's, 0700)."""
    where = Path(tempfile.mkdtemp(prefix="rw-blockip-"))
    where.chmod(0o777)
    try:
        yield where
    finally:
        shutil.rmtree(where)


def as_the_unit(tmp: Path, capabilities: str) -> tuple[list[list[str]], list[str]]:
    """(the journal, the set's elements) after one abusive client, run as `nobody` with
    `capabilities` (setpriv's syntax, e.g. "+net_admin") as bounding and ambient sets."""
    (tmp / "config.yaml").write_text(config(tmp))
    caps = f"-all,{capabilities}" if capabilities else "-all"
    run = " ".join(shlex.quote(a) for a in (
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set={caps}",
        sys.executable, "-c", RUN, str(tmp)))
    listing = f"nft -j list set {' '.join(SET)} 2>/dev/null || echo '{{\"nftables\": []}}'"
    result = subprocess.run(["unshare", "-n", "sh", "-c", f"{run} && {listing}"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    journal, nft = result.stdout.splitlines()
    found = [item["set"] for item in json.loads(nft)["nftables"] if "set" in item]
    return json.loads(journal), [element(e).ip for s in found for e in s.get("elem", [])]


def test_with_the_drop_ins_capability_nftables_blocks_the_offender(shared_tmp: Path) -> None:
    journal, elements = as_the_unit(shared_tmp, "+net_admin")
    assert journal == [["acted", "block 45.155.205.7 at the firewall"],
                       ["succeeded", "block 45.155.205.7 at the firewall: verified"]]
    assert elements == ["45.155.205.7"]


def test_without_it_the_block_is_refused_by_the_sandbox_and_nothing_runs(
        shared_tmp: Path) -> None:
    journal, elements = as_the_unit(shared_tmp, "")
    assert journal == [["refused", "not permitted by the service's sandbox: CAP_NET_ADMIN not "
                                   "among the process's capabilities (CapabilityBoundingSet=, "
                                   "AmbientCapabilities=)"]]
    assert elements == []
