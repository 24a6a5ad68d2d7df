"""TLS helpers shared by probes: verification contexts and certificate expiry."""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Any


def client_context(ca_file: Path | None = None, verify: bool = True) -> ssl.SSLContext:
    """A client context that verifies against the system CAs, or `ca_file` (a private CA)."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the operator asked for it (verify_tls: false)
    return context


def days_left(peer_cert: dict[str, Any], now: float | None = None) -> float | None:
    """Days until the certificate's notAfter; None when the cert was not verified/decoded."""
    not_after = peer_cert.get("notAfter")
    if not isinstance(not_after, str):
        return None
    return (ssl.cert_time_to_seconds(not_after) - (now or time.time())) / 86400.0
