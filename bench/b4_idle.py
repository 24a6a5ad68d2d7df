"""B4 idle footprint: the bundled config against local peers, CPU % and RSS over 10 minutes.

The daemon runs as its own process (`runbook-watchdog run`) on config/watchdog.yaml with
its settings unchanged; only where it looks is redirected to loopback peers (nginx for the
health URL, redis-server, nx-27017 for MongoDB, a static SHKeeper health check, aiosmtpd
(no TLS), a closed port for Alertmanager, a missing Docker socket, a fresh MongoDB
backup), and mail-dns, the one probe that would query DNS servers off this host, is left
out. Every probe is healthy or UNKNOWN, so no incident opens and no action runs: idling.
blackbox_exporter and monit (10 host checks at 30 s) idle beside it for reference.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import (
    RESULTS,
    ROOT,
    Figure,
    Peer,
    Targets,
    cpu_seconds,
    free_port,
    load1,
    report,
    rss_mib,
    threads,
    wait_port,
)

SECONDS = float(os.environ.get("B4_SECONDS", "600"))  # shorter for development only
WARMUP = 20.0
SAMPLE = 10.0


def bundled_config(tmp: Path) -> Path:
    """config/watchdog.yaml with its settings, pointed at this run's ports and directories.

    Edited as text: a YAML round trip would turn the remediations' `on:` keys into booleans.
    """
    text = (ROOT / "config" / "watchdog.yaml").read_text()
    text = text.replace("listen: 127.0.0.1:9877", f"listen: 127.0.0.1:{free_port()}\n"
                        f"  docker_url: unix://{tmp}/no-docker.sock\n"
                        f"  kill_switch: {tmp}/no-kill-switch", 1)
    text = re.sub(r"\n  mail-dns:\n(?:    .*\n)+", "\n", text, count=1)
    # A fresh backup, as on a healthy stack: a missing one opens an incident whose evidence
    # action runs (and loads the docker SDK), which is not idling.
    (tmp / "backups").mkdir()
    (tmp / "backups" / "marketplace.gz").write_bytes(b"\x1f\x8b" + bytes(4096))
    text = text.replace("glob: /var/backups/mongodb/*.gz", f"glob: {tmp}/backups/*.gz", 1)
    path = tmp / "watchdog.yaml"
    path.write_text(text)
    return path


def peers(tmp: Path, targets: Targets) -> tuple[list[Peer], dict[str, str]]:
    """Healthy peers: an idle daemon opens no incident (an incident runs the evidence
    action, which is work, and loads the docker SDK that actions use)."""
    redis, mongo, shkeeper, smtp = free_port(), free_port(), free_port(), free_port()
    nx = shutil.which("nx-27017") or str(Path(sys.executable).parent / "nx-27017")
    health = tmp / "shkeeper" / "api" / "v1" / "healthcheck"  # SHKeeper's JSON health check
    health.parent.mkdir(parents=True)
    health.write_text('{"status": "success"}')
    started = [
        Peer(["redis-server", "--port", str(redis), "--save", "", "--appendonly", "no"],
             tmp / "redis.log").start(),
        Peer([nx, "--db", "memory", "-p", str(mongo), "--log-file", str(tmp / "nx.log"),
              "--pid-file", str(tmp / "nx.pid")], tmp / "nx.out").start(),
        Peer([sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d",
              str(tmp / "shkeeper"), str(shkeeper)], tmp / "shkeeper.log").start(),
        Peer([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp}"],
             tmp / "smtp.log").start(),
    ]
    base = f"http://127.0.0.1:{targets.port}"
    env = {"RUNBOOK_WATCHDOG_STATE_DIR": str(tmp / "state"),
           "BACKEND_HEALTH_URL": f"{base}/api/health",
           "SHKEEPER_API_URL": f"http://127.0.0.1:{shkeeper}", "SHKEEPER_API_KEY": "bench",
           "REDIS_URL": f"redis://127.0.0.1:{redis}/0",
           "MONGO_URI": f"mongodb://127.0.0.1:{mongo}/marketplace",
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp), "SMTP_TLS": "none",
           "ALERTMANAGER_URL": f"http://127.0.0.1:{free_port()}"}
    for port in (redis, mongo, shkeeper, smtp):
        wait_port(port)
    return started, env


def monit(tmp: Path, port: int) -> Peer:
    rc = tmp / "monitrc"
    checks = "".join(f'check host idle{i} with address 127.0.0.1\n  if failed port {port} '
                     f'protocol http request "/m/{i}" then alert\n' for i in range(10))
    rc.write_text(f"set daemon 30\nset logfile {tmp}/monit.log\nset pidfile {tmp}/monit.pid\n"
                  f"set idfile {tmp}/monit.id\nset statefile {tmp}/monit.state\n" + checks)
    rc.chmod(0o600)
    return Peer(["monit", "-I", "-c", str(rc)], tmp / "monit.out")


async def measure(procs: dict[str, Peer]) -> dict[str, dict[str, float]]:
    await asyncio.sleep(WARMUP)
    cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
    rss: dict[str, list[float]] = {name: [] for name in procs}
    elapsed = 0.0
    while elapsed < SECONDS:
        await asyncio.sleep(SAMPLE)
        elapsed += SAMPLE
        for name, p in procs.items():
            rss[name].append(rss_mib(p.pid))
    result = {name: {"cpu": (cpu_seconds(p.pid) - cpu0[name]) / elapsed * 100,
                     "rss": max(rss[name]), "load": load1()} for name, p in procs.items()}
    result["watchdog"].update(breakdown(procs["watchdog"].pid))
    return result


def breakdown(pid: int) -> dict[str, float]:
    """The idle daemon's resident memory by kind (MiB): malloc's main heap, other anonymous
    memory (pymalloc arenas, thread arenas and stacks, large blocks) and file-backed pages
    (the interpreter, OpenSSL and extension modules' code), and its threads."""
    kib: dict[str, int] = {}
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", fields[0]):  # a mapping's header line
            name = fields[5] if len(fields) > 5 else ""
        elif fields[0] == "Rss:":
            kib[name] = kib.get(name, 0) + int(fields[1])
    anon = sum(v for k, v in kib.items() if not k.startswith("/"))
    return {"heap": kib.get("[heap]", 0) / 1024, "anon": anon / 1024,
            "file": (sum(kib.values()) - anon) / 1024, "threads": threads(pid)}


async def main() -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-b4-"))
    targets = Targets(tmp).start()
    started, env = peers(tmp, targets)
    bb_port = free_port()
    (tmp / "blackbox.yml").write_text("modules:\n  http_2xx:\n    prober: http\n")
    procs = {
        "watchdog": Peer([str(Path(sys.executable).parent / "runbook-watchdog"), "run",
                          "--config", str(bundled_config(tmp))], tmp / "watchdog.log",
                         env={**os.environ, **env}),
        "blackbox_exporter": Peer(["prometheus-blackbox-exporter",
                                   f"--config.file={tmp / 'blackbox.yml'}",
                                   f"--web.listen-address=127.0.0.1:{bb_port}"],
                                  tmp / "blackbox.log"),
        "monit": monit(tmp, targets.port),
    }
    try:
        for p in procs.values():
            p.start()
        result = await measure(procs)
    finally:
        for p in [*procs.values(), *started]:
            p.stop()
        targets.stop()
    figures = figures_of(result)
    report(figures, result)
    memory_profile()
    return figures


def memory_profile() -> None:
    """The idle RSS, broken down by import (run after the measurement, in their own
    processes): in import order, then each idle SDK's own cost on top of the rest."""
    memory = "".join(subprocess.run([sys.executable, "-m", "bench.import_rss", *mode],
                                    capture_output=True, text=True, timeout=600, cwd=ROOT,
                                    check=False).stdout for mode in ([], ["context"]))
    (RESULTS / "B4-memory-profile.txt").write_text(memory)


def figures_of(r: dict[str, dict[str, float]]) -> list[Figure]:
    w, bb, mo = r["watchdog"], r["blackbox_exporter"], r["monit"]
    return [
        Figure("B4", "idle CPU, bundled config", w["cpu"], "% of one core", "<= 0.5 %",
               w["cpu"] <= 0.5, f"blackbox {bb['cpu']:.2f} %, monit {mo['cpu']:.2f} %",
               w["load"], f"over {SECONDS:.0f} s"),
        Figure("B4", "idle RSS (max), bundled config", w["rss"], "MiB", "<= 60 MiB",
               w["rss"] <= 60, f"{w['rss'] / bb['rss']:.1f} x blackbox, "
               f"{w['rss'] / mo['rss']:.1f} x monit", w["load"],
               f"at the end: anonymous {w['anon']:.1f} (malloc heap {w['heap']:.1f}), "
               f"file-backed {w['file']:.1f}, {w['threads']:.0f} threads"),
        Figure("B4", "blackbox_exporter idle CPU / RSS (peer)", bb["cpu"], "% of one core",
               load=bb["load"], note=f"RSS {bb['rss']:.1f} MiB"),
        Figure("B4", "monit idle CPU / RSS (peer, 10 host checks at 30 s)", mo["cpu"],
               "% of one core", load=mo["load"], note=f"RSS {mo['rss']:.1f} MiB"),
    ]


if __name__ == "__main__":
    from bench.common import bench_main

    bench_main(main)
