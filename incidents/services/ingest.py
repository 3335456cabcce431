"""Alert intake: turn a source's events into alerts and incident changes, all or nothing."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from incidents.intake.events import AlertEvent
from incidents.models import Alert, Incident, IncidentEvent, Integration, Service, Severity
from incidents.services.actors import Actor
from incidents.services.escalation import escalation_start
from incidents.services.timeline import record_event
from incidents.services.transitions import incident_acknowledge, incident_resolve


@dataclass(frozen=True)
class IngestResult:
    dedup_key: str
    incident_id: int | None
    created: bool


def alert_ingest(*, integration: Integration, events: Sequence[AlertEvent]) -> list[IngestResult]:
    """Store every event as an Alert and apply it, in one transaction.

    When this returns, everything is committed; the intake answers 2xx only then.
    """
    actor = Actor.of_integration(integration)
    with transaction.atomic():
        return [_ingest_one(integration, event, actor) for event in events]


def _ingest_one(integration: Integration, event: AlertEvent, actor: Actor) -> IngestResult:
    service = integration.service
    created = False
    incident: Incident | None
    if event.action == Alert.Action.TRIGGER:
        incident, created = _open_incident(service, event)
    else:
        incident = _find_open_incident(service, event.dedup_key)
    _store_alert(integration, incident, event)
    if incident is not None:
        _apply(incident, event, actor, created)
    return IngestResult(event.dedup_key, incident.pk if incident else None, created)


def _apply(incident: Incident, event: AlertEvent, actor: Actor, created: bool) -> None:
    if event.action == Alert.Action.ACKNOWLEDGE:
        incident_acknowledge(incident_id=incident.pk, actor=actor)
    elif event.action == Alert.Action.RESOLVE:
        incident_resolve(incident_id=incident.pk, actor=actor)
    elif created:
        record_event(
            incident,
            IncidentEvent.Kind.TRIGGERED,
            f"Triggered by {actor.label}: {incident.title}",
            actor=actor,
        )
        escalation_start(incident)
        incident.save()
    else:
        _add_alert(incident, event, actor)


def _add_alert(incident: Incident, event: AlertEvent, actor: Actor) -> None:
    """A trigger for an open incident: attach it, page nobody new, raise the severity."""
    message = f"Alert added by {actor.label}: {event.summary}"
    severity = Severity.highest(incident.severity, event.severity)
    if severity != incident.severity:
        message += f" (severity raised from {incident.severity} to {severity})"
        incident.severity = severity
        incident.save(update_fields=["severity"])
    record_event(incident, IncidentEvent.Kind.ALERT_ADDED, message, actor=actor)


def _find_open_incident(service: Service, dedup_key: str) -> Incident | None:
    return (
        Incident.objects.select_for_update(no_key=True, of=("self",))
        .filter(service=service, dedup_key=dedup_key, status__in=Incident.OPEN_STATUSES)
        .first()
    )


def _open_incident(service: Service, event: AlertEvent) -> tuple[Incident, bool]:
    """The open incident for the event's dedup key, locked, creating it if there is none.

    Concurrent identical triggers race to insert; the partial unique index lets exactly one
    win, and the losers (who waited on the winner's commit) attach to the winner's incident.
    """
    incident = _find_open_incident(service, event.dedup_key)
    if incident is not None:
        return incident, False
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                service=service,
                title=event.summary[:1024] or event.dedup_key,
                severity=event.severity or Severity.CRITICAL,
                dedup_key=event.dedup_key,
            )
        return incident, True
    except IntegrityError:
        incident = _find_open_incident(service, event.dedup_key)
        if incident is None:
            raise
        return incident, False


def _store_alert(integration: Integration, incident: Incident | None, event: AlertEvent) -> Alert:
    return Alert.objects.create(
        integration=integration,
        incident=incident,
        action=event.action,
        dedup_key=event.dedup_key,
        alert_key=event.alert_key[:255],
        severity=event.severity,
        summary=event.summary[:1024],
        source=event.source[:255],
        occurred_at=event.occurred_at,
        payload=event.payload,
    )
