"""Secret hygiene: config secrets are `SecretStr`, and every outgoing text passes `scrub()`.

One process-wide scrubber (like DataDog's) knows every configured secret; logs, the status
API, incident summaries, notifications and exception messages go through it. URIs with
credentials are masked by shape as well, so a password nobody registered still stays out.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

MASK = "***"
_URI_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s/]+)@")


class Scrubber:
    """Replaces every registered secret (and its URL-encoded form) with `***`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def register(self, secrets: Iterable[str]) -> None:
        """Add secrets; registered secrets stay registered (a reload must not unmask old logs)."""
        forms = {s for secret in secrets if secret for s in (secret, quote(secret, safe=""))}
        with self._lock:
            self._secrets = self._secrets | forms
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _URI_CREDENTIALS.sub(rf"\g<scheme>\g<user>:{MASK}@", text)

    def clear(self) -> None:
        """Forget every secret (tests only)."""
        with self._lock:
            self._secrets, self._pattern = frozenset(), None


SCRUBBER = Scrubber()


def scrub(text: str) -> str:
    """Scrub with the process-wide scrubber."""
    return SCRUBBER.scrub(text)


def redact_uri(uri: str) -> str:
    """`mongodb://u:p@h/db` -> `mongodb://u:***@h/db`; URIs without a password are unchanged."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def uri_password(uri: str) -> str | None:
    """The password embedded in a URI, if any, so it can be registered as a secret."""
    try:
        return urlsplit(uri).password
    except ValueError:
        return None


def collect_secrets(model: object) -> list[str]:
    """Every SecretStr value and URI password inside a (nested) pydantic model."""
    found: list[str] = []
    _walk(model, found)
    return found


def _walk(value: object, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        found.append(secret)
        password = uri_password(secret) if "://" in secret else None
        if password:
            found.append(password)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _walk(getattr(value, name), found)
    elif isinstance(value, dict):
        for item in value.values():
            _walk(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, found)
    elif isinstance(value, str) and "://" in value:
        password = uri_password(value)
        if password:
            found.append(password)
