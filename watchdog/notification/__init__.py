"""Notification: who is told what, when, through which channel.

    stage.py        `NotificationStage`: subscribes to incident changes, wires the parts below
    grouping.py     symptoms attached to their root cause (`depends_on`); dependents' held pages
    escalation.py   the runbook's escalation rule over an incident's distinct reports
    reports.py      user reports: which incident, the "user reports" incident
    flapping.py     the flapping rule (pure) and each probe's state
    routing.py      which channels; what holds a message (silence, window, flapping)
    rendering.py    a message's text and data about an incident
    messages.py     the message, its templates/ (editable text files), time formats
    announcer.py    a message rendered once and queued, one row per channel
    followup.py     late starts, reminders, Alertmanager re-sends (on each tick)
    decoration.py   what the stage adds to /api/status
    maintenance.py  maintenance windows; cron.py their five-field schedule
    store.py        the outbox, attachments, acknowledgements, silences (SQLite)
    delivery.py     `Dispatcher`: one retrying delivery task per channel
    channels/       webhook, Slack, Telegram, e-mail, Alertmanager senders
    postmortem.py   the post-mortem draft at resolution
    models.py       the `notify:` and `maintenance:` config sections
"""
