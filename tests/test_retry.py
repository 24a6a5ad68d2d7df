"""probes/_retry.py: one immediate retry of a transient failure, and only of that."""

from __future__ import annotations

import asyncio

import pytest

from probes._retry import is_reset, retry_once


def attempts_of(outcomes: list[BaseException | str]) -> tuple[list[int], object]:
    """Run retry_once over attempts that raise or return `outcomes` in turn."""
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls) + 1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    try:
        result: object = asyncio.run(retry_once(attempt, is_reset))
    except Exception as exc:
        result = exc
    return calls, result


@pytest.mark.parametrize(("outcomes", "calls", "result"), [
    (["fine"], [1], "fine"),
    ([ConnectionResetError("stale"), "fine"], [1, 2], "fine"),  # transient: retried once
    ([ConnectionRefusedError("refused"), "fine"], [1], ConnectionRefusedError),  # an answer
    ([ConnectionResetError("a"), BrokenPipeError("b"), "fine"], [1, 2], BrokenPipeError),
])
def test_only_a_transient_failure_is_retried_and_only_once(
        outcomes: list[BaseException | str], calls: list[int],
        result: str | type[Exception]) -> None:
    seen_calls, seen = attempts_of(outcomes)
    assert seen_calls == calls
    assert (seen if isinstance(result, str) else type(seen)) == result
