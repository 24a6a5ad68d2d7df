"""TLS helpers shared by probes: verification contexts and certificate expiry."""

from __future__ import annotations

import ssl
import time
from typing import Any

from watchdog.peers.tls import HTTP_ALPN, client_context

__all__ = ["HTTP_ALPN", "client_context", "days_left"]


def days_left(peer_cert: dict[str, Any], now: float | None = None) -> float | None:
    """Days until the certificate's notAfter; None when the cert was not verified/decoded."""
    not_after = peer_cert.get("notAfter")
    if not isinstance(not_after, str):
        return None
    return (ssl.cert_time_to_seconds(not_after) - (now or time.time())) / 86400.0
