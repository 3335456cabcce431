from typing import Any

from django.utils import timezone

from incidents.models import Incident, IncidentEvent
from incidents.services.actors import Actor


def record_event(
    incident: Incident, kind: str, message: str, *, actor: Actor, data: dict[str, Any] | None = None
) -> IncidentEvent:
    return IncidentEvent.objects.create(
        incident=incident,
        at=timezone.now(),
        kind=kind,
        message=message,
        actor=actor.user,
        actor_label=actor.label,
        data=data or {},
    )
