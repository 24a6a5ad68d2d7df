"""Notification: who is told what, when, through which channel.

    stage.py        `NotificationStage`: subscribes to incident changes, decides what is sent
    flapping.py     the flapping rule (pure)
    maintenance.py  maintenance windows; cron.py their five-field schedule
    messages.py     messages rendered from templates/ (editable text files)
    store.py        the outbox, acknowledgements, silences (SQLite)
    delivery.py     `Dispatcher`: one retrying delivery task per channel
    channels/       webhook, Slack, Telegram, e-mail, Alertmanager senders
    postmortem.py   the post-mortem draft at resolution
    models.py       the `notify:` and `maintenance:` config sections
"""
