"""Runbook steps left to a person, and how a hint names them.

Some of the runbook's steps are never automated (a restore, disabling a user account,
re-enabling a payment provider): the probes' hints end with them after `HUMAN_ONLY`, each
with its runbook step, so the messages that carry a hint (started, update, reminder) say
them. `human_part` finds them again for the messages that do not carry the hint
(resolved), where the steps after recovery matter most.
"""

from __future__ import annotations

HUMAN_ONLY = "Human only, never automated:"


def human_part(hint: str | None) -> str | None:
    """The hint's human-only steps (`HUMAN_ONLY ...`), or None when it names none."""
    if not hint or HUMAN_ONLY not in hint:
        return None
    return HUMAN_ONLY + hint.split(HUMAN_ONLY, 1)[1]
