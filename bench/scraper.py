"""Scrape a /metrics URL from another process: `python -m bench.scraper URL COUNT EVERY THREADS`.

Prints one JSON list of scrape durations (seconds) when done. Bounded by COUNT per thread
and a 10 s timeout per request.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request


def scrape(url: str, count: int, every: float, out: list[float]) -> None:
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
        out.append(time.perf_counter() - started)
        time.sleep(every)


def main() -> None:
    url, count, every, workers = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
        int(sys.argv[4])
    out: list[float] = []
    threads = [threading.Thread(target=scrape, args=(url, count, every, out))
               for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
