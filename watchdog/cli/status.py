"""Client side of `runbook-watchdog status`: read /api/status from the running daemon."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from watchdog.common.errors import WatchdogError
from watchdog.common.secrets import scrub
from watchdog.runtime.config_models import WatchdogSettings
from watchdog.runtime.webconfig import WebConfig

WEB_USER, WEB_PASSWORD = "RUNBOOK_WATCHDOG_WEB_USER", "RUNBOOK_WATCHDOG_WEB_PASSWORD"


class DaemonUnreachable(WatchdogError):
    """The daemon's listener did not answer /api/status."""


def listener_url(settings: WatchdogSettings, web: WebConfig | None = None) -> str:
    """Where the configured listener is reached from this host (a wildcard means loopback)."""
    host = settings.listen_host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    return f"{web.scheme if web else 'http'}://{host}:{settings.listen_port}"


def client_options(web: WebConfig | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """How to reach a listener behind watchdog.web_config_file: trust exactly the
    certificate it serves (its cert_file, read from the same config), and the user and
    password in $RUNBOOK_WATCHDOG_WEB_USER / $RUNBOOK_WATCHDOG_WEB_PASSWORD."""
    options: dict[str, Any] = {}
    if web is not None and web.cert_file is not None:
        pinned = ssl.create_default_context(cafile=str(web.cert_file))
        pinned.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf is the anchor
        pinned.check_hostname = False  # that very certificate, whatever names it carries
        options["verify"] = pinned
    if environ.get(WEB_USER):
        options["auth"] = (environ[WEB_USER], environ.get(WEB_PASSWORD, ""))
    return options


def fetch_status(base_url: str, timeout: float = 10.0, **options: Any) -> dict[str, Any]:
    url = base_url.rstrip("/") + "/api/status"
    try:
        response = httpx.get(url, timeout=timeout, trust_env=False, **options)
    except httpx.HTTPError as exc:
        raise DaemonUnreachable(f"cannot reach the daemon at {url}: {exc} "
                                "(is it running? see `systemctl status runbook-watchdog`)") \
            from exc
    if response.status_code == 401:
        raise DaemonUnreachable(f"{url} answered 401: set ${WEB_USER} and ${WEB_PASSWORD} to "
                                "a user of watchdog.web_config_file's basic_auth_users")
    if response.status_code != 200:
        raise DaemonUnreachable(f"{url} answered {response.status_code}: "
                                f"{scrub(response.text.strip())[:200]}")
    data: dict[str, Any] = response.json()
    return data
