"""A STAND-IN for Sentry's web API (the SaaS cannot run here): `python sentry_api.py PORT`.

It serves the two endpoints the sentry probe reads, in the shapes Sentry documents
(docs.sentry.io/api/issues/list-a-projects-issues/, /api/projects/get-project-stats/,
/api/pagination/, /api/ratelimits/), and behaves like Sentry where the probe depends on it:

  GET /api/0/projects/{org}/{project}/issues/?query=...firstSeen:-15m...&cursor=0:N:0
      issues whose firstSeen is within the query's window, `page_size` per page, with
      `Link: <...>; rel="previous"; results=..; cursor=.., <...>; rel="next"; results=..`
  GET /api/0/projects/{org}/{project}/stats/?stat=received&since=S&until=U&resolution=10s
      `[[bucket_timestamp, count], ...]` for the events within [S, U]
  401 {"detail": "Invalid token"} unless `Authorization: Bearer <$SENTRY_STANDIN_TOKEN>`
  404 for another organization/project; 429 + Retry-After for the next `rate_limited`
  requests; no answer at all with `hang`.

Test control (not Sentry): POST /_control with a JSON object merged into the state
(`issues`: [{shortId, title, age, count}], `events`: [[age_seconds, count]], `page_size`,
`rate_limited`, `retry_after`, `hang`, `next_host`), GET /_requests (what was asked).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import zlib
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

if TYPE_CHECKING:  # run as a script, next to http_peer.py
    from tests.peers.http_peer import serve
else:
    from http_peer import serve

LOCK = threading.Lock()
STATE: dict[str, Any] = {"org": "acme", "project": "backend", "issues": [], "events": [],
                         "page_size": 100, "rate_limited": 0, "retry_after": "1", "hang": False,
                         "next_host": None}
REQUESTS: list[dict[str, Any]] = []
FOREVER = threading.Event()
TOKEN = os.environ.get("SENTRY_STANDIN_TOKEN", "")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ROUTE = re.compile(r"^/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/(?P<what>issues|stats)/$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/_control":
            return self._send(404, {"detail": "Not found"})
        length = int(self.headers.get("Content-Length", "0"))
        with LOCK:
            STATE.update(json.loads(self.rfile.read(length) or b"{}"))
            REQUESTS.clear()
        return self._send(200, {"ok": True})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_requests":
            with LOCK:
                return self._send(200, list(REQUESTS))
        query = parse_qs(url.query, keep_blank_values=True)
        authorized = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        with LOCK:
            REQUESTS.append({"path": url.path, "query": query, "authorized": authorized,
                             "host": self.headers.get("Host")})
        if STATE["hang"]:
            FOREVER.wait()
        return self._route(url.path, query, authorized)

    def _route(self, path: str, query: dict[str, list[str]], authorized: bool) -> None:
        match = _ROUTE.match(path)
        if match is None:
            return self._send(404, {"detail": "Not found"})
        if not authorized:
            return self._send(401, {"detail": "Invalid token"})
        if (match["org"], match["project"]) != (STATE["org"], STATE["project"]):
            return self._send(404, {"detail": "The requested resource does not exist"})
        if self._rate_limited():
            return None
        if match["what"] == "issues":
            return self._issues(path, query)
        return self._stats(query)

    def _rate_limited(self) -> bool:
        with LOCK:
            if STATE["rate_limited"] <= 0:
                return False
            STATE["rate_limited"] -= 1
        reset = str(int(time.time()) + 1)
        self._send(429, {"detail": "You are attempting to use this endpoint too frequently. "
                                   "Limit is 40 requests in 1 seconds"},
                   {"Retry-After": str(STATE["retry_after"]),
                    "X-Sentry-Rate-Limit-Limit": "40", "X-Sentry-Rate-Limit-Remaining": "0",
                    "X-Sentry-Rate-Limit-Reset": reset})
        return True

    # -- issues ------------------------------------------------------------------------
    def _issues(self, path: str, query: dict[str, list[str]]) -> None:
        window = _first_seen_window(query.get("query", [""])[0])
        matching = [i for i in STATE["issues"] if window is None or i["age"] <= window]
        offset = int(query.get("cursor", ["0:0:0"])[0].split(":")[1])
        size = int(STATE["page_size"])
        page = matching[offset:offset + size]
        link = self._link(path, query, offset, size, len(matching))
        return self._send(200, [_issue(i) for i in page], {"Link": link})

    def _link(self, path: str, query: dict[str, list[str]], offset: int, size: int,
              total: int) -> str:
        host = STATE["next_host"] or f"http://{self.headers.get('Host')}"

        def url(cursor: str) -> str:
            params = {k: v[0] for k, v in query.items() if k != "cursor"}
            return f"{host}{path}?{urlencode({**params, 'cursor': cursor})}"

        prev_cursor, next_cursor = f"0:{max(0, offset - size)}:1", f"0:{offset + size}:0"
        return (f'<{url(prev_cursor)}>; rel="previous"; results="{_bool(offset > 0)}"; '
                f'cursor="{prev_cursor}", <{url(next_cursor)}>; rel="next"; '
                f'results="{_bool(offset + size < total)}"; cursor="{next_cursor}"')

    # -- stats -------------------------------------------------------------------------
    def _stats(self, query: dict[str, list[str]]) -> None:
        if query.get("stat") != ["received"] or query.get("resolution") != ["10s"]:
            return self._send(400, {"detail": "Invalid stat or resolution"})
        since, until = int(query["since"][0]), int(query["until"][0])
        now = time.time()
        buckets = {ts: 0 for ts in range(since - since % 10, until + 1, 10)}
        for age, count in STATE["events"]:
            when = int(now - age)
            if since <= when <= until:
                buckets[when - when % 10] += count
        return self._send(200, [[ts, n] for ts, n in sorted(buckets.items())])


def _first_seen_window(query: str) -> int | None:
    match = re.search(r"firstSeen:-(\d+)([smhdw])", query)
    return int(match[1]) * _UNITS[match[2]] if match else None


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _iso(age: float) -> str:
    return datetime.fromtimestamp(time.time() - age, UTC).isoformat().replace("+00:00", "Z")


def _issue(item: dict[str, Any]) -> dict[str, Any]:
    """An issue in the shape of Sentry's list endpoint (fields the probe ignores included)."""
    number = zlib.crc32(item["shortId"].encode())
    return {
        "id": str(number), "shareId": None, "shortId": item["shortId"],
        "title": item["title"], "culprit": item.get("culprit", "app/handlers"),
        "permalink": f"https://sentry.io/organizations/{STATE['org']}/issues/{number}/",
        "logger": None, "level": "error", "status": "unresolved", "statusDetails": {},
        "isPublic": False, "platform": "node",
        "project": {"id": "42", "name": STATE["project"], "slug": STATE["project"]},
        "type": "error", "metadata": {"type": item["title"].split(":")[0], "value": ""},
        "numComments": 0, "assignedTo": None, "isBookmarked": False, "isSubscribed": False,
        "hasSeen": False, "annotations": [], "count": str(item.get("count", 1)),
        "userCount": 1, "firstSeen": _iso(item["age"]), "lastSeen": _iso(0),
        "stats": {"24h": []},
    }


def main() -> None:
    serve(Handler, int(sys.argv[1]))


if __name__ == "__main__":
    main()
