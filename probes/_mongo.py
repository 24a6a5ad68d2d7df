"""MongoDB helpers shared by probes: a bounded AsyncMongoClient and the error causes.

Server selection is bounded well inside the probe's timeout (pymongo overshoots its
selection timeout by up to ~0.5 s, its minimum heartbeat), so pymongo reports *why* it
found no server (refused, timed out) before the probe's own timeout cuts it off.

pymongo (~6 MiB) is imported when a probe builds its client, so a config without MongoDB
probes never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient

_AUTH_CODES = frozenset({18})  # AuthenticationFailed


def bounded_client(uri: str, timeout: float) -> AsyncMongoClient[dict[str, Any]]:
    from pymongo import AsyncMongoClient

    budget_ms = max(100, int(1000 * min(timeout * 0.8, timeout - 0.6)))
    # pymongo's own retries would hide a flapping server; the probe retries once itself.
    return AsyncMongoClient(uri, serverSelectionTimeoutMS=budget_ms, connectTimeoutMS=budget_ms,
                            socketTimeoutMS=budget_ms, retryReads=False, retryWrites=False,
                            appname="runbook-watchdog", connect=False)


def mongo_cause(exc: BaseException) -> str | None:
    """`unreachable`, `auth_failed`, `timeout` or `error` for a pymongo error, else None."""
    from pymongo.errors import (
        ConnectionFailure,
        ExecutionTimeout,
        NetworkTimeout,
        OperationFailure,
        PyMongoError,
        ServerSelectionTimeoutError,
        WTimeoutError,
    )

    if isinstance(exc, ServerSelectionTimeoutError):
        return _selection_cause(str(exc).lower())
    if isinstance(exc, NetworkTimeout | ExecutionTimeout | WTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, OperationFailure):
        return "auth_failed" if exc.code in _AUTH_CODES else "error"
    if isinstance(exc, ConnectionFailure):
        return "unreachable"
    return "error" if isinstance(exc, PyMongoError) else None


def _selection_cause(text: str) -> str:
    # The server was found but did not answer in time: not the same as "nothing there".
    unreachable = ("refused", "connect call failed", "errno 111", "name or service",
                   "resolution", "nodename", "no address")
    if "timed out" in text and not any(marker in text for marker in unreachable):
        return "timeout"
    return "unreachable"


def mongo_transient(exc: BaseException) -> bool:
    """A pooled connection dropped under us (not a failed server selection)."""
    from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError

    return isinstance(exc, AutoReconnect) and \
        not isinstance(exc, ServerSelectionTimeoutError | NetworkTimeout)


def mongo_errors() -> tuple[type[BaseException], ...]:
    """What a MongoDB call raises as an answer: pymongo's errors and the probe's timeout."""
    from pymongo.errors import PyMongoError

    return (PyMongoError, TimeoutError)


def hosts_of(client: AsyncMongoClient[dict[str, Any]]) -> str:
    """The seed hosts, for summaries: never the URI, which may carry credentials."""
    seeds = client.topology_description.server_descriptions()
    return ",".join(f"{host}:{port}" for host, port in seeds) or "mongodb"
