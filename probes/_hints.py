"""Hints name an installation's own things (its containers, its env file) only from config.

A probe's hints are templates: `{container}` is the container the probe's own `container`
key names, `{env_file}` the env file the operator configured (`watchdog.env_file`, where
the backend's variables live). They are filled once, when the probe is built; where
nothing is configured they say it in neutral words ("<the Redis container>").
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from watchdog.pipeline.probe import ProbeContext

ENV_FILE = "the backend's env file"
_FIELD = re.compile(r"\{(container|env_file)\}")


def env_file(ctx: ProbeContext) -> str:
    """The configured env file's path, or neutral words when there is none."""
    path = ctx.settings.env_file
    return str(path) if path is not None else ENV_FILE


def fill(template: str, **values: str) -> str:
    """`template` with `{container}` and `{env_file}` replaced; other braces left alone."""
    return _FIELD.sub(lambda m: values.get(m[1], m[0]), template)


def fill_all(hints: Mapping[str, str], **values: str) -> dict[str, str]:
    """Every hint of a probe, filled."""
    return {cause: fill(text, **values) for cause, text in hints.items()}
