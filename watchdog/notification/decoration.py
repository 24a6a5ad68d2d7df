"""What the notification stage adds to /api/status: grouping, acknowledgements, silences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from watchdog.notification.maintenance import active
from watchdog.notification.models import MaintenanceWindow
from watchdog.notification.store import NotifyStore, parents


def decorate_status(status: dict[str, Any], db: NotifyStore,
                    maintenance: Sequence[MaintenanceWindow], now: float) -> dict[str, Any]:
    """Symptoms nested under their root cause, active silences and maintenance windows."""
    roots = nest_symptoms(status.get("incidents", []), parents(db.store))
    for incident in roots:
        incident.setdefault("attached", [])
        incident["acknowledged"] = db.acknowledged(incident["id"])
    status["incidents"] = sorted(roots, key=lambda i: i["id"])
    status["silences"] = [s.to_dict() for s in db.active_silences(now)]
    status["maintenance"] = [w.name for w in maintenance if active(w, now)]
    return status


def nest_symptoms(incidents: list[dict[str, Any]], links: dict[int, int]) -> list[dict[str, Any]]:
    """The root incidents, each with its symptoms under "attached".

    A symptom whose root is not among the listed roots stays at the top level, with the
    root's id in "attached_to", rather than disappear from the page.
    """
    roots = [i for i in incidents if i["id"] not in links]
    by_id = {i["id"]: i for i in roots}
    for incident in incidents:
        parent = by_id.get(links.get(incident["id"], -1))
        if parent is not None:
            parent.setdefault("attached", []).append(incident)
        elif incident["id"] in links:
            incident["attached_to"] = links[incident["id"]]
            roots.append(incident)
    return roots
