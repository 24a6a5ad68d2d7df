"""TLS client contexts, one per distinct configuration, shared by probes and HTTP clients."""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path

# What every HTTP client here speaks. httpcore sets this on the context it is given before
# each connection; with it set already, that call changes nothing another user would see.
HTTP_ALPN = ("http/1.1",)
_CaKey = tuple[str, int, int, int, int] | None


def client_context(ca_file: Path | None = None, verify: bool = True,
                   alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
    """A client context that verifies against the system CAs, or `ca_file` (a private CA).

    One context per distinct configuration, shared: each holds its own copy of ~140 CA
    certificates (~0.7 MiB). The key has the CA file's identity (device, inode, mtime,
    size), so a reload after the operator replaced or edited the file builds a new one.
    A returned context is shared: nobody may change it (alpn is part of the key instead).
    """
    return _context(_ca_key(ca_file), verify, alpn)


def default_context() -> ssl.SSLContext:
    """The context of every HTTP client with no TLS settings: system CAs, verified."""
    return client_context(alpn=HTTP_ALPN)


def _ca_key(ca_file: Path | None) -> _CaKey:
    if ca_file is None:
        return None
    st = os.stat(ca_file)
    return str(ca_file), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=32)  # a reload with an edited CA adds one
def _context(ca: _CaKey, verify: bool, alpn: tuple[str, ...]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca[0] if ca else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the operator asked for it (verify_tls: false)
    if alpn:
        context.set_alpn_protocols(alpn)
    return context
