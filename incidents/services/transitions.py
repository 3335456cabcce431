"""Incident state changes. Each is one function: lock, check, change, record, then side effects
on commit. Acknowledge, resolve and reassign are no-ops when the incident is already there.

Reassigning hands the incident to one person, PagerDuty's way: it is triggered again (an
acknowledgement was the previous owner's, so it is cleared: acknowledged_at/by and the MTTA
computed from them are always the final owner's, and the timeline keeps every one), the new
assignee is paged at once, and the current level's timer restarts, so that if they do not
acknowledge within that level's delay the policy carries on with its next level.
"""

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident, IncidentEvent, Notification
from incidents.services.actors import Actor
from incidents.services.errors import DomainError, InvalidTransition
from incidents.services.escalation import (
    escalation_advance,
    escalation_disarm,
    escalation_reassign,
)
from incidents.services.scheduling import schedule_escalation_step
from incidents.services.timeline import record_event
from schedules.models import TeamMembership

Status = Incident.Status
Kind = IncidentEvent.Kind
NOTE_MAX_LENGTH = 5000

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    Status.TRIGGERED: {Status.ACKNOWLEDGED, Status.RESOLVED},
    Status.ACKNOWLEDGED: {Status.RESOLVED},
    Status.RESOLVED: set(),
}
# Reassigning is not a move in the table above: it returns an open incident to triggered.
REASSIGNABLE = {Status.TRIGGERED, Status.ACKNOWLEDGED}


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


def _clean_note(text: str, *, what: str = "A note", required: bool = True) -> str:
    """The text as it is kept: stripped, 1 to NOTE_MAX_LENGTH characters (0 if optional)."""
    cleaned = text.strip()
    if required and not cleaned:
        raise DomainError(f"{what} cannot be blank.")
    if len(cleaned) > NOTE_MAX_LENGTH:
        raise DomainError(
            f"{what} may be at most {NOTE_MAX_LENGTH} characters long (this one has "
            f"{len(cleaned)})."
        )
    return cleaned


def _stop_paging(incident: Incident) -> None:
    escalation_disarm(incident)
    # Pages still waiting in the outbox (first try queued, or backing off) are moot now, and so
    # are claims whose lease is over (their worker died; the reconciler would bring them back).
    # Locked so a delivery claiming one at this moment either wins (and sends) or sees it
    # cancelled. A claim still in its lease is a worker sending right now: it finishes.
    moot = Q(status=Notification.Status.PENDING) | Q(
        status=Notification.Status.SENDING, next_attempt_at__lte=timezone.now()
    )
    for notification in incident.notifications.select_for_update().filter(moot):
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


def incident_resolve(*, incident_id: int, actor: Actor, note: str = "") -> Incident:
    """Resolve: stop escalating and close the incident, with an optional resolution note for
    the incident record. A no-op if already resolved (see _late_resolution_note)."""
    note = _clean_note(note, what="A resolution note", required=False)
    with transaction.atomic():
        incident = lock_incident(incident_id)
        if incident.status == Status.RESOLVED:
            _late_resolution_note(incident, actor, note)
            return incident
        _check_transition(incident, Status.RESOLVED)
        incident.status = Status.RESOLVED
        incident.resolved_at = timezone.now()
        incident.resolved_by = actor.user
        incident.resolution_note = note
        _stop_paging(incident)
        incident.save()
        message = f"Resolved by {actor.label}." + (f" Resolution note: {note}" if note else "")
        record_event(incident, Kind.RESOLVED, message, actor=actor)
    return incident


def _late_resolution_note(incident: Incident, actor: Actor, note: str) -> None:
    """An incident resolved without a note (by its monitoring tool, typically) may still get
    its resolution note from a person resolving it again. One note stands: a different one
    is refused rather than silently dropped, and the same one again (a retry) changes nothing.
    """
    if not note or note == incident.resolution_note:
        return
    if incident.resolution_note:
        raise DomainError(
            f"Incident #{incident.pk} already has a resolution note; add a note instead."
        )
    incident.resolution_note = note
    incident.save(update_fields=["resolution_note"])
    record_event(incident, Kind.NOTE, f"Resolution note: {note}", actor=actor)


def incident_reassign(*, incident_id: int, actor: Actor, to_user: Any, note: str = "") -> Incident:
    """Hand an open incident to `to_user`, an active member of the service's team: it is
    triggered again, they are paged at once, and escalation goes on from the current level if
    they do not acknowledge within its delay (see the module's docstring). A no-op if it is
    already theirs: assigned to them and triggered, or acknowledged by them."""
    note = _clean_note(note, what="A reassignment note", required=False)
    with transaction.atomic():
        incident = lock_incident(incident_id)
        if incident.status not in REASSIGNABLE:
            raise InvalidTransition(
                f"Incident #{incident.pk} is {incident.status} and cannot be reassigned."
            )
        _check_assignable(incident, to_user)
        if not _already_with(incident, to_user):
            _hand_over(incident, actor, to_user, note)
    return incident


def _hand_over(incident: Incident, actor: Actor, to_user: Any, note: str) -> None:
    previous = incident.assignee
    incident.status = Status.TRIGGERED
    incident.acknowledged_at = None
    incident.acknowledged_by = None
    incident.assignee = to_user
    _stop_paging(incident)
    reason = f"Reassigned to you by {actor.label}" + (f": {note}" if note else ".")
    reachable = escalation_reassign(incident, to_user, reason=reason)
    incident.save()
    record_event(
        incident,
        Kind.REASSIGNED,
        _reassigned_message(actor, to_user, note, reachable),
        actor=actor,
        data={
            "from": previous.get_username() if previous else None,
            "to": to_user.get_username(),
            "paged": reachable,
        },
    )


def _check_assignable(incident: Incident, user: Any) -> None:
    team_id = incident.service.team_id
    members = TeamMembership.objects.filter(team_id=team_id, user__is_active=True)
    if not members.filter(user_id=user.pk).exists():
        raise DomainError(
            f"{user.get_username()} is not an active member of team "
            f"{incident.service.team.name} and cannot be assigned incident #{incident.pk}."
        )


def _already_with(incident: Incident, user: Any) -> bool:
    if incident.assignee_id != user.pk:
        return False
    return incident.status == Status.TRIGGERED or incident.acknowledged_by_id == user.pk


def _reassigned_message(actor: Actor, to_user: Any, note: str, reachable: bool) -> str:
    name = to_user.get_username()
    message = f"Reassigned to {name} by {actor.label}."
    if note:
        message += f" Note: {note}"
    if not reachable:
        message += f" {name} has no contact method and could not be paged."
    return message


def incident_add_note(*, incident_id: int, actor: Actor, text: str) -> IncidentEvent:
    """Add a note to the incident's timeline, in any state (post-mortem notes on a resolved
    incident too). Returns the note: an event of kind NOTE whose actor is its author."""
    text = _clean_note(text)
    with transaction.atomic():
        # Not a state change, but taking the lock orders the note with the transitions, so
        # the timeline reads in the order things happened.
        incident = lock_incident(incident_id)
        return record_event(incident, Kind.NOTE, text, actor=actor)


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
        # An assignee who let the level time out hands the incident back to the policy.
        incident.assignee = None
        escalation_advance(incident)
        incident.save()
    return "escalated"
