"""Where the idle daemon's RSS goes: resident memory added by importing each dependency.

Run as `python -m bench.import_rss`; B4 keeps its output as the memory profile.
"""

from __future__ import annotations

import importlib

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


def main() -> None:
    print(f"{'python interpreter':34s} {rss():6.1f} MiB")
    for name in MODULES:
        before = rss()
        importlib.import_module(name)
        print(f"import {name:27s} +{rss() - before:5.1f} MiB")
    print(f"{'after every import':34s} {rss():6.1f} MiB")


if __name__ == "__main__":
    main()
