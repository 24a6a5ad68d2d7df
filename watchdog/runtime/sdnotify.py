"""Service manager protocol: sd_notify(3) written with the standard library.

A datagram of `KEY=VALUE` lines sent to the unix socket named by `NOTIFY_SOCKET`; an
address starting with `@` is in the abstract namespace. Without `NOTIFY_SOCKET` (not run
by systemd, or run by it as Type=simple) every call is a no-op. Sending never raises: a
service manager that went away must not take the daemon with it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(raw: str) -> str | bytes:
    """`@name` -> the abstract address b"\\0name"; a path stays a path."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None if not asked.

    As sd_watchdog_enabled(3): WATCHDOG_PID, when set, must be this process.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1e6 / 2


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd compares RELOADING=1 against."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class SdNotifier:
    """Sends state changes to the service manager; a no-op without an address."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self._sock: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SdNotifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send one datagram of `KEY=VALUE` lines; False if it could not be delivered."""
        if self.address is None:
            return False
        payload = "\n".join(fields).encode()
        try:
            self._socket().sendto(payload, socket_address(self.address))
        except OSError as exc:
            self._report(exc)
            return False
        self._failed = False
        return True

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            sock.setblocking(False)  # a full socket buffer must never block the event loop
            self._sock = sock
        return self._sock

    def _report(self, exc: OSError) -> None:
        if not self._failed:  # once per outage, not once per ping
            log.warning("cannot notify the service manager at %s: %s", self.address,
                        exc.strerror or exc)
        self._failed = True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.send(*_status(text))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        return self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str | None) -> tuple[str, ...]:
    # STATUS is one line: a newline would start a new (unknown) assignment.
    return () if text is None else (f"STATUS={' '.join(text.split())}",)
