"""Where the idle daemon's RSS goes: resident memory added by importing each dependency.

Run as `python -m bench.import_rss`; B4 keeps its output as the memory profile.
`python -m bench.import_rss plugins`: the daemon with every plugin loaded and which SDKs
that imported (SDKs are imported when a probe or action needing them first runs).
`python -m bench.import_rss context`: what each SDK the bundled config loads at idle costs
on top of everything else the daemon loads (leave one out, each set in its own process).
The first listing charges a shared dependency to whichever import came first; this one
gives the saving that not importing the SDK would bring.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

MODULES = ("pydantic", "yaml", "httpx", "aiohttp", "prometheus_client", "tenacity",
           "dns.asyncresolver", "redis.asyncio", "pymongo", "docker",
           "watchdog.runtime.daemon", "probes.http", "probes.mongo", "probes.container",
           "probes.redis", "probes.smtp", "probes.mail_dns", "probes.shkeeper", "probes.logs",
           "probes.deploy", "probes.access_log", "probes.socketio")
# The SDKs the bundled config's probes import at their first run (mail-dns's dnspython is
# left out of B4, as B4 leaves out the probe), with what each pulls in.
IDLE_SDKS = {"docker": "docker SDK + requests, urllib3, charset_normalizer",
             "redis.asyncio": "redis-py", "pymongo": "pymongo + bson"}


def rss() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


SDKS = ("docker", "requests", "pymongo", "dns", "redis")


def load_plugins() -> None:
    from watchdog.pipeline.probe import ProbeRegistry
    from watchdog.remediation.contract import RemediationRegistry

    importlib.import_module("watchdog.runtime.daemon")
    ProbeRegistry.from_entry_points()
    RemediationRegistry.from_entry_points()


def plugins_only() -> None:
    """The daemon with every plugin loaded, before any probe runs: which SDKs came along."""
    load_plugins()
    loaded = [name for name in SDKS if name in sys.modules]
    print(f"{'daemon + every plugin loaded':34s} {rss():6.1f} MiB; SDKs imported: "
          f"{', '.join(loaded) or 'none'}")


def idle_set(skip: str) -> None:
    """(In a child process) the daemon, every plugin and the idle SDKs but `skip`: RSS."""
    load_plugins()
    for name in IDLE_SDKS:
        if name != skip:
            importlib.import_module(name)
    print(f"{rss():.2f}")


def idle_rss(skip: str = "") -> float:
    out = subprocess.run([sys.executable, "-m", "bench.import_rss", "idle-set", skip],
                         capture_output=True, text=True, timeout=120, check=True)
    return float(out.stdout.split()[-1])


def in_context() -> None:
    full = idle_rss()
    print(f"{'daemon + plugins + idle SDKs':34s} {full:6.1f} MiB")
    for name, what in IDLE_SDKS.items():
        print(f"  {what:52s} {full - idle_rss(name):5.1f} MiB")


def main() -> None:
    modes = {"plugins": plugins_only, "context": in_context}
    if sys.argv[1:2] == ["idle-set"]:
        idle_set(sys.argv[2] if len(sys.argv) > 2 else "")
        return
    if sys.argv[1:] and sys.argv[1] in modes:
        modes[sys.argv[1]]()
        return
    print(f"{'python interpreter':34s} {rss():6.1f} MiB")
    for name in MODULES:
        before = rss()
        importlib.import_module(name)
        print(f"import {name:27s} +{rss() - before:5.1f} MiB")
    print(f"{'after every import':34s} {rss():6.1f} MiB")


if __name__ == "__main__":
    main()
