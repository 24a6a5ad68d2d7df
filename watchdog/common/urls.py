"""URL-valued config keys: bounded in length and, where a request is made to them, parsed
at validation, so that a URL no HTTP client accepts is a config error, not a crashed probe.

8 KiB is what common servers accept in a request line (nginx's default large header
buffer); httpx refuses more than 64 KiB at request time, long after `validate` said yes.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from pydantic import AfterValidator, BeforeValidator, SecretStr

MAX_URL_LENGTH = 8192


def bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is {len(value)} characters long; at most {MAX_URL_LENGTH} "
                         "are accepted")
    return value


def http_url(value: str) -> str:
    """A URL httpx can request: http or https, with a host."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    return value


Url = Annotated[str, BeforeValidator(bounded)]
HttpUrl = Annotated[str, BeforeValidator(bounded), AfterValidator(http_url)]
# A webhook URL often is the credential: bounded before it is hidden.
SecretUrl = Annotated[SecretStr, BeforeValidator(bounded)]
