"""Run an external command as an argument list with a timeout (never through a shell)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

from watchdog.remediation.contract import ActionFailed


async def run_command(argv: Sequence[str], timeout: float, *,
                      env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """stdout of `argv`; ActionFailed on a non-zero exit, a missing program or a timeout."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=None if env is None else dict(env), cwd=cwd)
    except OSError as exc:
        raise ActionFailed(f"cannot run {argv[0]}: {exc.strerror}") from exc
    try:
        async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancel on 3.11
            out, err = await proc.communicate()
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise ActionFailed(f"{argv[0]} did not finish within {timeout:g}s") from exc
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise ActionFailed(f"{argv[0]} exited {proc.returncode}: {detail[0][:200]}")
    return out.decode(errors="replace")
