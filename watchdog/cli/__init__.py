"""The `runbook-watchdog` command: one module per group of subcommands.

    main.py          the parser; run, check, validate, incidents, status
    notification.py  ack, silence, postmortem
    remediation.py   remediations, reset, remediate
    status.py        the client side of `status` (reads the daemon's /api/status)
    sandbox.py       unit-drop-in, and the sandbox check of validate
    report.py        report (a user report, posted to the running daemon)
"""
