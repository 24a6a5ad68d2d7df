"""Maintenance windows: is a probe inside one right now? (one-off or recurring, cron-style)

During a window incidents are still recorded and notifications are held; the remediation
stage asks `in_maintenance` and follows each remediation's own `in_maintenance` flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from watchdog.notification.models import MaintenanceWindow


def active(window: MaintenanceWindow, now: float) -> bool:
    local = datetime.fromtimestamp(now, window.zone)
    if window.start is not None and window.end is not None:
        start = window.start if window.start.tzinfo else window.start.replace(tzinfo=window.zone)
        end = window.end if window.end.tzinfo else window.end.replace(tzinfo=window.zone)
        return start <= local < end
    schedule = window.schedule()
    assert schedule is not None and window.duration is not None  # the model guarantees it
    return schedule.last_start(local, window.duration) is not None


def window_for(windows: Iterable[MaintenanceWindow], probe: str,
               now: float) -> MaintenanceWindow | None:
    """The first window covering `probe` at `now`."""
    for window in windows:
        if (not window.probes or probe in window.probes) and active(window, now):
            return window
    return None


def in_maintenance(windows: Iterable[MaintenanceWindow], probe: str, now: float) -> bool:
    return window_for(windows, probe, now) is not None
