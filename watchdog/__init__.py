"""runbook-watchdog, one subpackage per part of the pipeline (docs/design.md has the map).

    probes/ (plugins) -> pipeline -> remediation (+ remediations/ plugins) -> notification
    runtime   the process: config, the daemon wiring the stages, HTTP, metrics, systemd
    cli       the `runbook-watchdog` command
    common    shared by every stage: errors, secrets, clock, the SQLite store, registries
    peers     what probes and remediations share: Docker Engine API, network errors
"""

__version__ = "0.1.0"
# The launcher checks this marker: the import name `watchdog` is shared with a popular
# filesystem-events library, and a shadowing package must fail loudly, not half-work.
__runbook_watchdog__ = True
