"""Hints name an installation's own things (its containers, its env file) only from config.

A probe's hints are templates: `{container}` is the container the probe's own `container`
key names, `{env_file}` the env file the operator configured (`watchdog.env_file`, where
the backend's variables live). They are filled once, when the probe is built; where
nothing is configured they say it in neutral words ("<the Redis container>").

`HUMAN_STEPS` are the runbook's steps no remediation takes; `with_human_steps` appends
them to the hints of the findings they belong to, marked "never automated".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from watchdog.common.handoff import HUMAN_ONLY
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


@dataclass(frozen=True)
class HumanStep:
    """A runbook step the watchdog never takes: hints of the findings it belongs to name it."""

    ref: str  # the runbook step, as hints cite it: "3.2 step 7"
    text: str

    def __str__(self) -> str:
        return f"{self.text} (runbook {self.ref})"


# What a person does that no remediation will (docs/runbook-coverage.md lists every step).
HUMAN_STEPS = {
    "restore": HumanStep("3.2 step 7", "restore — if the data is corrupt, stop the backend "
                         "container first (no partial writes), then restore the latest dump "
                         "(Backup & Recovery)"),
    "disable_account": HumanStep("3.7 step 4", "disable the abusing user account — "
                                 "User.updateOne({email}, {$set: {disabled: true}}) from the "
                                 "backend container"),
    "data_breach": HumanStep("3.7", "if user data may have leaked: treat as Sev1 and follow "
                             "the data-breach disclosure process"),
    "provider_mode": HumanStep("3.8 rollback step 3", "confirm PAYMENT_PROVIDER_MODE is a safe "
                               "mode (live, read-only or dry-run)"),
    "reconciliation": HumanStep("3.8 reconciliation steps 1-3", "reconciliation — keep "
                                "PAYMENT_RECONCILIATION_ENABLED=false until the investigation "
                                "is done, run a dry reconciliation pass and read its counters, "
                                "then apply=true for the payment window"),
    "reenable": HumanStep("3.8 reconciliation step 4", "re-enable Request Network only after "
                          "two deployment health checks pass"),
}


def with_human_steps(hint: str, *steps: str) -> str:
    """`hint` followed by the named human-only steps (`HUMAN_STEPS` keys)."""
    named = "; ".join(str(HUMAN_STEPS[step]) for step in steps)
    return f"{hint}. {HUMAN_ONLY} {named}"
