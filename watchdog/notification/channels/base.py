"""What every channel shares: the delivery error and the HTTP status check."""

from __future__ import annotations

import httpx


class DeliveryError(Exception):
    """The receiver answered, but did not accept the message."""


def accepted(response: httpx.Response) -> httpx.Response:
    if not response.is_success:
        raise DeliveryError(f"HTTP {response.status_code} from the receiver")
    return response
