"""SMTP probe (runbook §3.5): connect, EHLO, TLS as configured, AUTH; no mail is sent.

Causes: auth_failed (the provider rotated the password), timeout (the provider
rate-limits or drops us), refused, dns, tls_error (handshake, certificate, or STARTTLS not
offered), protocol_error (any other SMTP error reply or a dropped session).

smtplib is blocking, so the session runs in the SMTP probes' own bounded pool
(ctx.run_blocking, pool "smtp"), never on the event loop and never queued behind other
peers' blocking calls. The timeout bounds the time the sessions run (both, with the one
retry): time queued for a worker is not the server's and is not charged to it
(watchdog/pipeline/blocking.py). An SMTP session is not kept between runs (servers drop
idle ones); what the probe reuses across runs is its TLS context.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import SecretStr, model_validator

from probes._hints import env_file, fill_all
from probes._retry import is_reset, retry_once
from probes._tls import client_context
from watchdog.peers.errors import chain, network_cause
from watchdog.pipeline.observation import Observation, failed, ok
from watchdog.pipeline.probe import BlockingTimeout, ProbeContext, ProbeParams

HINTS = {
    "auth_failed": "password rotated by provider: update SMTP_PASS in {env_file} "
                   "(runbook 3.5 step 2)",
    "timeout": "connection timed out: provider rate-limit; switch provider/sender "
               "(runbook 3.5 step 3)",
    "refused": "nothing listens on the SMTP port: host/port changed or the provider is down "
               "(runbook 3.5 step 1)",
    "dns": "the SMTP host does not resolve: SMTP_HOST in {env_file} (runbook 3.5 step 1)",
    "tls_error": "TLS with the SMTP server failed: certificate, or STARTTLS/implicit TLS "
                 "mismatch (SMTP_SECURE, SMTP_PORT) (runbook 3.5 step 1)",
    "protocol_error": "the SMTP server refused the session: test the credentials from the "
                      "container (runbook 3.5 step 1)",
    "connect_error": "cannot connect to the SMTP server (runbook 3.5 step 1)",
}


class SmtpParams(ProbeParams):
    host: str
    port: int = 587
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    verify_tls: bool = True
    ca_file: Path | None = None
    helo_name: str | None = None

    @model_validator(mode="after")
    def _credentials_together(self) -> SmtpParams:
        # An empty username (an unset ${SMTP_USER:-}) means: no AUTH.
        if self.username and self.password is None:
            raise ValueError("username needs a password")
        return self


class SmtpProbe:
    Params: ClassVar[type[SmtpParams]] = SmtpParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "auth_failed", "timeout", "refused", "dns", "tls_error", "protocol_error",
         "connect_error"})

    def __init__(self, params: SmtpParams, ctx: ProbeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.timeout = ctx.timeout
        self.where = f"smtp {params.host}:{params.port}"
        self.tls_context = client_context(params.ca_file, params.verify_tls)
        self.hints = fill_all(HINTS, env_file=env_file(ctx))

    async def check(self) -> Observation:
        spent = Stopwatch()
        try:
            await retry_once(lambda: self._run_session(spent), _transient)
        except (smtplib.SMTPException, OSError, TimeoutError, BlockingTimeout) as exc:
            return self._failure(exc, spent.total)
        latency = spent.total
        steps = "EHLO" + (", TLS" if self.params.tls != "none" else "") + \
            (", AUTH" if self.params.username else "")
        return ok(f"{self.where}: {steps} ok in {latency * 1000:.0f} ms",
                  latency_seconds=latency).with_latency(latency)

    async def _run_session(self, spent: Stopwatch) -> None:
        budget = self.timeout - spent.total  # what the first session left for the retry
        if budget <= 0:
            raise TimeoutError(f"no time left within {self.timeout:g}s for a retry")
        await self.ctx.run_blocking(spent.timed, self._session, timeout=budget, pool="smtp")

    def _session(self) -> None:
        """One SMTP session, blocking: runs in a worker thread."""
        with self._connect() as smtp:
            smtp.ehlo()
            if self.params.tls == "starttls":
                smtp.starttls(context=self.tls_context)
                smtp.ehlo()
            if self.params.username and self.params.password is not None:
                smtp.login(self.params.username, self.params.password.get_secret_value())

    def _connect(self) -> smtplib.SMTP:
        host, port, name = self.params.host, self.params.port, self.params.helo_name
        if self.params.tls == "implicit":
            return smtplib.SMTP_SSL(host, port, local_hostname=name, timeout=self.timeout,
                                    context=self.tls_context)
        return smtplib.SMTP(host, port, local_hostname=name, timeout=self.timeout)

    async def aclose(self) -> None:
        """Nothing to release: sessions end with each run."""

    def _failure(self, exc: BaseException, latency: float) -> Observation:
        cause = _cause(exc)
        reply = f" {exc.smtp_code}" if isinstance(exc, smtplib.SMTPResponseException) else ""
        return failed(cause, f"{self.where}: {cause.replace('_', ' ')} "
                      f"({type(exc).__name__}{reply})", hint=self.hints[cause], latency=latency)


class Stopwatch:
    """Seconds the sessions ran in their worker thread (never the time queued for one)."""

    def __init__(self) -> None:
        self.total = 0.0

    def timed(self, fn: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            fn()
        finally:
            self.total += time.monotonic() - started


def _cause(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "auth_failed"
    if isinstance(exc, BlockingTimeout) or any(isinstance(e, TimeoutError) for e in chain(exc)):
        return "timeout"  # smtplib turns a socket timeout into SMTPServerDisconnected
    if isinstance(exc, smtplib.SMTPNotSupportedError) and "STARTTLS" in str(exc):
        return "tls_error"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls_error"
    if isinstance(exc, smtplib.SMTPException):  # an error reply, or a dropped session
        return "protocol_error"
    return network_cause(exc) or "connect_error"


def _transient(exc: BaseException) -> bool:
    """The server dropped the session (a reset), not a reply: worth one more try."""
    return is_reset(exc)
