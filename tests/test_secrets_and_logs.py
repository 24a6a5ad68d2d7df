"""The scrubber and the log formatter."""

from __future__ import annotations

import io
import json
import logging

from watchdog.common.secrets import SCRUBBER, redact_uri, scrub
from watchdog.runtime.logsetup import setup_logging


def test_registered_secrets_and_their_url_encoded_forms_are_masked() -> None:
    SCRUBBER.register(["p@ss/word!"])
    assert scrub("auth p@ss/word! and p%40ss%2Fword%21") == "auth *** and ***"


def test_uri_credentials_are_masked_by_shape() -> None:
    assert scrub("mongodb://app:s3cr3t@mongo:27017/db") == "mongodb://app:***@mongo:27017/db"
    assert redact_uri("redis://:pw@localhost:6379/0") == "redis://:***@localhost:6379/0"
    assert redact_uri("http://host/path") == "http://host/path"


def test_text_and_json_logs_are_scrubbed_including_tracebacks() -> None:
    SCRUBBER.register(["hunter2"])
    for fmt in ("text", "json"):
        out = io.StringIO()
        setup_logging(fmt, "INFO", stream=out)
        log = logging.getLogger("test")
        try:
            raise RuntimeError("password hunter2 rejected")
        except RuntimeError:
            log.exception("login with hunter2 failed")
        text = out.getvalue()
        assert "hunter2" not in text
        assert "***" in text
        if fmt == "json":
            doc = json.loads(text.splitlines()[0])
            assert doc["level"] == "error" and "Traceback" in doc["exc"]
    setup_logging("text", "WARNING")


def test_httpx_request_logs_are_held_at_warning() -> None:
    setup_logging("text", "DEBUG", stream=io.StringIO())
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    setup_logging("text", "WARNING")
