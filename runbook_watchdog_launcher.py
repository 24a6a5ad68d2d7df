"""Console-script entry point that refuses to run when another `watchdog` package shadows ours.

It lives outside the `watchdog` package on purpose: if another distribution owns the
import name, nothing inside our package would ever be imported to say so.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys

FIX = (
    "runbook-watchdog must be installed in a dedicated virtual environment, e.g.\n"
    "  python3 -m venv /opt/runbook-watchdog && "
    "/opt/runbook-watchdog/bin/pip install runbook-watchdog\n"
)


def shadowing_problem() -> str | None:
    """Return why `import watchdog` does not give this project's package, or None."""
    others = sorted(
        d for d in importlib.metadata.packages_distributions().get("watchdog", [])
        if d.lower().replace("_", "-") != "runbook-watchdog"
    )
    try:
        module = importlib.import_module("watchdog")
    except ImportError as exc:
        return f"cannot import the 'watchdog' package: {exc}"
    if getattr(module, "__runbook_watchdog__", False) and not others:
        return None
    where = getattr(module, "__file__", None) or "an unknown location"
    owner = f" (installed by: {', '.join(others)})" if others else ""
    return (
        f"the import name 'watchdog' resolves to {where}{owner}, which is not "
        "runbook-watchdog; the filesystem-events library 'watchdog' uses the same name."
    )


def main() -> None:
    problem = shadowing_problem()
    if problem is not None:
        sys.stderr.write(f"runbook-watchdog: {problem}\n{FIX}")
        raise SystemExit(3)
    from watchdog.cli.main import main as cli_main

    raise SystemExit(cli_main())


if __name__ == "__main__":
    main()
