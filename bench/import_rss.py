"""Where the idle daemon's RSS goes: resident memory added by importing each dependency.

Run as `python -m bench.import_rss`; B4 keeps its output as the memory profile.
`python -m bench.import_rss plugins`: the daemon with every plugin loaded and which SDKs
that imported (SDKs are imported when a probe or action needing them first runs).
"""

from __future__ import annotations

import importlib
import sys

MODULES = ("pydantic", "yaml", "httpx", "prometheus_client", "tenacity", "dns.asyncresolver",
           "redis.asyncio", "pymongo", "docker", "watchdog.runtime.daemon", "probes.http",
           "probes.mongo", "probes.container", "probes.redis", "probes.smtp",
           "probes.mail_dns", "probes.shkeeper", "probes.logs", "probes.deploy",
           "probes.access_log")


def rss() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


SDKS = ("docker", "requests", "pymongo", "dns", "redis")


def plugins_only() -> None:
    """The daemon with every plugin loaded, before any probe runs: which SDKs came along."""
    from watchdog.pipeline.probe import ProbeRegistry
    from watchdog.remediation.contract import RemediationRegistry

    importlib.import_module("watchdog.runtime.daemon")
    ProbeRegistry.from_entry_points()
    RemediationRegistry.from_entry_points()
    loaded = [name for name in SDKS if name in sys.modules]
    print(f"{'daemon + every plugin loaded':34s} {rss():6.1f} MiB; SDKs imported: "
          f"{', '.join(loaded) or 'none'}")


def main() -> None:
    if sys.argv[1:] == ["plugins"]:
        plugins_only()
        return
    print(f"{'python interpreter':34s} {rss():6.1f} MiB")
    for name in MODULES:
        before = rss()
        importlib.import_module(name)
        print(f"import {name:27s} +{rss() - before:5.1f} MiB")
    print(f"{'after every import':34s} {rss():6.1f} MiB")


if __name__ == "__main__":
    main()
