"""Incident state changes. Each is one function: lock, check, change, record, then side effects
on commit. Acknowledge and resolve are no-ops when the incident is already there."""

from django.db import transaction
from django.utils import timezone

from incidents.models import Incident, IncidentEvent, Notification
from incidents.services.actors import Actor
from incidents.services.errors import InvalidTransition
from incidents.services.escalation import escalation_advance, escalation_disarm
from incidents.services.scheduling import schedule_escalation_step
from incidents.services.timeline import record_event

Status = Incident.Status

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    Status.TRIGGERED: {Status.ACKNOWLEDGED, Status.RESOLVED},
    Status.ACKNOWLEDGED: {Status.RESOLVED},
    Status.RESOLVED: set(),
}


def lock_incident(incident_id: int) -> Incident:
    """Re-read the incident under a row lock; raises Incident.DoesNotExist.

    FOR NO KEY UPDATE of the incident row alone: it still serialises every state change of
    the incident, but lets other transactions insert rows that reference it (timeline events,
    a delivery recording its page) and leaves the service row unlocked, so one incident's
    transition never blocks another incident's creation, and no deadlock forms with a delivery.
    """
    return (
        Incident.objects.select_for_update(no_key=True, of=("self",))
        .select_related("service")
        .get(pk=incident_id)
    )


def _check_transition(incident: Incident, target: str) -> None:
    if target not in ALLOWED_TRANSITIONS[incident.status]:
        raise InvalidTransition(
            f"Incident #{incident.pk} is {incident.status} and cannot become {target}."
        )


def _stop_paging(incident: Incident) -> None:
    escalation_disarm(incident)
    # Pages still waiting in the outbox (first try queued, or backing off) are moot now. Locked
    # so a delivery claiming one at this moment either wins (and sends) or sees it cancelled.
    pending = incident.notifications.select_for_update().filter(status=Notification.Status.PENDING)
    for notification in pending:
        notification.status = Notification.Status.CANCELLED
        notification.save(update_fields=["status"])


def incident_acknowledge(*, incident_id: int, actor: Actor) -> Incident:
    """Acknowledge: stop escalating. A no-op if already acknowledged."""
    with transaction.atomic():
        incident = lock_incident(incident_id)
        if incident.status == Status.ACKNOWLEDGED:
            return incident
        _check_transition(incident, Status.ACKNOWLEDGED)
        incident.status = Status.ACKNOWLEDGED
        incident.acknowledged_at = timezone.now()
        incident.acknowledged_by = actor.user
        _stop_paging(incident)
        incident.save()
        record_event(
            incident,
            IncidentEvent.Kind.ACKNOWLEDGED,
            f"Acknowledged by {actor.label}.",
            actor=actor,
        )
    return incident


def incident_resolve(*, incident_id: int, actor: Actor) -> Incident:
    """Resolve: stop escalating and close the incident. A no-op if already resolved."""
    with transaction.atomic():
        incident = lock_incident(incident_id)
        if incident.status == Status.RESOLVED:
            return incident
        _check_transition(incident, Status.RESOLVED)
        incident.status = Status.RESOLVED
        incident.resolved_at = timezone.now()
        incident.resolved_by = actor.user
        _stop_paging(incident)
        incident.save()
        record_event(
            incident, IncidentEvent.Kind.RESOLVED, f"Resolved by {actor.label}.", actor=actor
        )
    return incident


def incident_escalate(*, incident_id: int, token: str) -> str:
    """Run the escalation step fenced by `token`. Returns what happened, for logs and tests.

    Only the job whose token is still the incident's active job acts; duplicates, stale jobs
    after an acknowledge, and reconciler re-enqueues all end here as no-ops. A job that wakes
    before the due time stored in the database (RQ can fire a second early) re-arms itself.
    """
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update(no_key=True, of=("self",))
            .filter(pk=incident_id)
            .first()
        )
        if incident is None or incident.status != Status.TRIGGERED:
            return "not-triggered"
        if incident.active_job_id != token:
            return "stale"
        due = incident.next_escalation_at
        if due is not None and timezone.now() < due:
            schedule_escalation_step(incident.pk, token, due)
            return "early"
        escalation_advance(incident)
        incident.save()
    return "escalated"
