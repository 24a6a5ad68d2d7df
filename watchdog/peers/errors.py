"""Translate network-library exceptions into the cause vocabulary (shared by probes)."""

from __future__ import annotations

import socket
import ssl

_DNS_TEXT = ("name or service not known", "temporary failure in name resolution",
             "nodename nor servname", "no address associated", "name resolution")


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def network_cause(exc: BaseException) -> str | None:
    """`refused`, `dns`, `tls_error` or `timeout` when the chain shows one, else None."""
    for item in chain(exc):
        if isinstance(item, ConnectionRefusedError):
            return "refused"
        if isinstance(item, socket.gaierror):
            return "dns"
        if isinstance(item, ssl.SSLError | ssl.CertificateError):
            return "tls_error"
        if isinstance(item, TimeoutError | socket.timeout):
            return "timeout"
        if isinstance(item, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
            # A peer that drops the connection (even mid-handshake) is a connection error,
            # not a TLS one, whatever the wrapping message says (aiohttp's names "ssl:").
            return None
    text = " ".join(str(item).lower() for item in chain(exc))
    if "connection refused" in text or "errno 111" in text:
        return "refused"
    if any(marker in text for marker in _DNS_TEXT):
        return "dns"
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "tls_error"
    return None
