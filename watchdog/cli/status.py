"""Client side of `runbook-watchdog status`: read /api/status from the running daemon."""

from __future__ import annotations

from typing import Any

import httpx

from watchdog.common.errors import WatchdogError
from watchdog.common.secrets import scrub
from watchdog.runtime.config_models import WatchdogSettings


class DaemonUnreachable(WatchdogError):
    """The daemon's listener did not answer /api/status."""


def listener_url(settings: WatchdogSettings) -> str:
    """Where the configured listener is reached from this host (a wildcard means loopback)."""
    host = settings.listen_host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.listen_port}"


def fetch_status(base_url: str, timeout: float = 10.0) -> dict[str, Any]:
    url = base_url.rstrip("/") + "/api/status"
    try:
        response = httpx.get(url, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        raise DaemonUnreachable(f"cannot reach the daemon at {url}: {exc} "
                                "(is it running? see `systemctl status runbook-watchdog`)") \
            from exc
    if response.status_code != 200:
        raise DaemonUnreachable(f"{url} answered {response.status_code}: "
                                f"{scrub(response.text.strip())[:200]}")
    data: dict[str, Any] = response.json()
    return data
