"""Logging: one line per event on stderr, text or JSON, every line through the scrubber.

In text mode a journald priority prefix (`<3>`) is added when stderr is the journal
(JOURNAL_STREAM names it), so `journalctl -p err` works; on a terminal it is left out.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TextIO

from watchdog.common.secrets import scrub

_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
             logging.DEBUG: 7}


def _stderr_is_journal(stream: TextIO) -> bool:
    journal = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return journal == f"{st.st_dev}:{st.st_ino}"


class ScrubbingFormatter(logging.Formatter):
    """Formats, then scrubs the whole line, traceback included."""

    def __init__(self, json_lines: bool, journal_prefix: bool) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.json_lines = json_lines
        self.journal_prefix = journal_prefix

    def format(self, record: logging.LogRecord) -> str:
        if self.json_lines:
            return scrub(self._json(record))
        line = super().format(record).replace("\n", "\n  ")
        prefix = f"<{_PRIORITY.get(record.levelno, 6)}>" if self.journal_prefix else ""
        return prefix + scrub(line)

    def _json(self, record: logging.LogRecord) -> str:
        doc = {"ts": round(record.created, 3),
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
               "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(fmt: str = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(ScrubbingFormatter(fmt == "json", _stderr_is_journal(out)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO, with URLs: too chatty, and URLs can carry secrets.
    for noisy in ("httpx", "httpcore", "urllib3", "docker", "pymongo", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
