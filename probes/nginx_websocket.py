"""nginx WebSocket probe (runbook §3.6 step 4): the socket.io location can upgrade.

Reads the nginx configuration (following includes), finds the location that serves
`location` (an exact `location` block, else the longest matching prefix location) and
checks, with nginx's inheritance rules (`proxy_set_header` is inherited only by a level
that sets none of its own), that it has:

    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";   (or a variable mapped from $http_upgrade)

Without them nginx answers the upgrade with 502, clients fall back to polling and
reconnect in a loop. When the nginx binary exists, `nginx -t -c CONFIG` runs too.

Causes: missing_upgrade_headers, no_location, config_invalid, unreadable (UNKNOWN).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from probes._nginxconf import Directive, NginxConfError, load
from watchdog.pipeline.observation import Observation, Status, failed, unknown
from watchdog.pipeline.probe import ProbeContext, ProbeParams

HINTS = {
    "missing_upgrade_headers": "add to the socket.io location: proxy_http_version 1.1; "
                               "proxy_set_header Upgrade $http_upgrade; proxy_set_header "
                               "Connection \"upgrade\"; then nginx -t and restart nginx "
                               "(runbook §3.6 step 4)",
    "no_location": "no location serves socket.io: add one with the upgrade headers "
                   "(runbook §3.6 step 4)",
    "config_invalid": "nginx -t rejects the configuration: fix it before any restart",
}
Chain = tuple[Directive, ...]  # the blocks enclosing a location, outermost first


class NginxParams(ProbeParams):
    config: Path
    location: str = "/socket.io/"
    nginx_binary: str = "nginx"
    test_config: bool = True  # run `nginx -t -c` when the binary exists


class NginxWebsocketProbe:
    Params: ClassVar[type[NginxParams]] = NginxParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "missing_upgrade_headers", "no_location", "config_invalid", "unreadable"})
    # Reported UNKNOWN (nothing certain was learnt): never trigger anything.
    unknown_causes: ClassVar[frozenset[str]] = frozenset({"unreadable"})

    def __init__(self, params: NginxParams, ctx: ProbeContext) -> None:
        self.params = params
        self.ctx = ctx

    async def check(self) -> Observation:
        tested = await self._nginx_t()
        if tested is not None and not tested[0]:
            return failed("config_invalid", f"nginx -t -c {self.params.config}: {tested[1]}",
                          hint=HINTS["config_invalid"])
        try:
            tree = await self.ctx.run_blocking(load, self.params.config)
        except NginxConfError as exc:
            return unknown("unreadable", str(exc))
        found = _serving_location(tree, self.params.location)
        if found is None:
            return failed("no_location", f"no location in {self.params.config} serves "
                          f"{self.params.location}", hint=HINTS["no_location"])
        return self._judge(tree, *found, tested)

    def _judge(self, tree: Chain, chain: Chain, location: Directive,
               tested: tuple[bool, str] | None) -> Observation:
        missing = _missing(tree, (*chain, location))
        details: dict[str, Any] = {"location": " ".join(location.args), "at": location.where,
                                   "nginx_t": "ok" if tested else "not run"}
        if missing:
            return failed("missing_upgrade_headers", f"location {' '.join(location.args)} "
                          f"({location.where}) lacks: {'; '.join(missing)}",
                          hint=HINTS["missing_upgrade_headers"],
                          details={**details, "missing": missing})
        return Observation(Status.OK, "ok", f"location {' '.join(location.args)} "
                           f"({location.where}) upgrades WebSockets", details=details)

    async def _nginx_t(self) -> tuple[bool, str] | None:
        """(passed, last error line) of `nginx -t -c`, or None when not run."""
        binary = shutil.which(self.params.nginx_binary)
        if not self.params.test_config or binary is None:
            return None
        proc = await asyncio.create_subprocess_exec(
            binary, "-t", "-c", str(self.params.config.resolve()),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(self.ctx.timeout):  # not wait_for (3.11 cancel race)
                _, err = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return False, f"nginx -t did not finish within {self.ctx.timeout:g}s"
        lines = err.decode(errors="replace").strip().splitlines()
        return proc.returncode == 0, (lines[0] if lines else f"exit {proc.returncode}")

    async def aclose(self) -> None:
        return None


def _walk(block: Sequence[Directive], chain: Chain = ()) -> Iterator[tuple[Chain, Directive]]:
    for directive in block:
        yield chain, directive
        if directive.block is not None:
            yield from _walk(directive.block, (*chain, directive))


def _serving_location(tree: Chain, uri: str) -> tuple[Chain, Directive] | None:
    """The exact location for `uri`, else the longest prefix location that matches it."""
    best: tuple[int, Chain, Directive] | None = None
    for chain, d in _walk(tree):
        if d.name != "location" or not d.args or d.args[0] in ("~", "~*"):
            continue
        prefix = d.args[-1]
        if prefix.rstrip("/") == uri.rstrip("/"):
            return chain, d
        if uri.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), chain, d)
    return (best[1], best[2]) if best is not None else None


def _missing(tree: Chain, levels: Chain) -> list[str]:
    """The upgrade settings the innermost level does not have, after inheritance."""
    version = _nearest(levels, "proxy_http_version")
    headers = {d.args[0].lower(): d.args[1] for d in _nearest(levels, "proxy_set_header")
               if len(d.args) == 2}
    out = []
    if not version or version[-1].args[:1] != ("1.1",):
        out.append("proxy_http_version 1.1")
    if headers.get("upgrade") != "$http_upgrade":
        out.append("proxy_set_header Upgrade $http_upgrade")
    if not _upgrades(headers.get("connection", ""), tree):
        out.append('proxy_set_header Connection "upgrade"')
    return out


def _nearest(levels: Chain, name: str) -> list[Directive]:
    """The directives `name` at the innermost level that has any (nginx inheritance)."""
    for level in reversed(levels):
        found = [d for d in (level.block or ()) if d.name == name]
        if found:
            return found
    return []


def _upgrades(value: str, tree: Chain) -> bool:
    if value.lower() == "upgrade":
        return True
    # The usual `map $http_upgrade $connection_upgrade { default upgrade; '' close; }`.
    return value.startswith("$") and any(
        d.name == "map" and d.args == ("$http_upgrade", value) for _, d in _walk(tree))
