"""nginx access-log lines (the `combined` and `common` formats) as small values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_LINE = re.compile(r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) '
                   r'(?P<path>\S+)[^"]*" (?P<status>\d{3})\b')


@dataclass(frozen=True)
class Request:
    ip: str
    at: float  # epoch seconds
    method: str
    path: str  # without the query string
    status: int


def parse(line: str) -> Request | None:
    """The request in one access-log line, or None for a line in another shape."""
    match = _LINE.match(line)
    if match is None:
        return None
    try:
        at = datetime.strptime(match["time"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
    except ValueError:
        return None
    return Request(ip=match["ip"], at=at, method=match["method"],
                   path=match["path"].split("?", 1)[0], status=int(match["status"]))
