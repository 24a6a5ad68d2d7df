"""The process: config, the daemon that wires the stages, and how it meets its host.

    config.py / config_models.py  YAML -> `${VAR}` -> typed, frozen models, every error at once
    daemon.py      `Daemon`: wiring, signals (SIGHUP reload, SIGTERM stop), lifecycle
    systemd.py     sd_notify lifecycle and the loop's pulse (`ServiceHooks`)
    sdnotify.py    the sd_notify(3) protocol (`SdNotifier`)
    httpapi.py     /metrics, /healthz, /api/status and the status page
    reportapi.py   POST /api/reports: user reports behind a bearer token
    metrics.py     the Prometheus metrics, on an injected registry
    statusview.py  the status document as a table and as HTML (pure)
    logsetup.py    one scrubbed line per event, text or JSON
"""
